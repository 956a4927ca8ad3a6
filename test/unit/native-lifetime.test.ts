/**
 * The addon's plain C++ lifetime pieces, built and run on their own (no
 * device, no N-API): the device registry (addon/registry: per-environment
 * stop, no fixed bound, stop_all racing threads that open and close devices)
 * and the DMA view holds (addon/dma/view_hold: a region JavaScript still
 * views keeps its addresses, mapped to zero pages, until the last view ends).
 * Skipped with a reason where there is no C++ compiler.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';

const root = packageRoot();
const cxx = process.env.CXX ?? 'c++';

function compilerMissing(): string | undefined {
  try {
    execFileSync(cxx, ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `no C++ compiler (${cxx})`;
  }
}

const skipReason = compilerMissing();
if (skipReason !== undefined) console.log(`[native-lifetime.test] skipping: ${skipReason}`);

const outDir = mkdtempSync(join(tmpdir(), 'ustack-native-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

/** Builds `sources` (relative to the package root) into one program, runs it, returns its stdout. */
function buildAndRun(name: string, sources: readonly string[]): string {
  const exe = join(outDir, name);
  execFileSync(cxx, ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-Iaddon', ...sources, '-o', exe], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    return execFileSync(exe, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    throw new Error(`${name} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

describe.skipIf(skipReason !== undefined)('native lifetime pieces', () => {
  it('device registry: per-environment stop, no fixed bound, stop_all racing add/remove', () => {
    const out = buildAndRun('registry', ['addon/registry/device_registry_test.cc', 'addon/registry/device_registry.cc']);
    expect(out).toMatch(/^\d+ passed, 0 failed/m);
  });

  it('DMA view holds: a viewed region reads zeros after free and is unmapped by its last view', () => {
    const out = buildAndRun('view-hold', ['addon/dma/view_hold_test.cc', 'addon/dma/view_hold.cc', 'addon/dma/dma.cc']);
    expect(out).toMatch(/^\d+ passed, 0 failed/m);
  });
});
