/**
 * A busy-polling stack makes glibc's malloc keep what it frees, and an
 * adaptive one leaves the allocator as it is. What the policy does is shown
 * by the native test addon/heap/heap_policy_test.cc (a burst of 64 KiB
 * blocks freed at the heap's top: the program break moves 830 times in 10
 * bursts under glibc's default policy, 0 times in 100 after it), and on the
 * data path by the VM test's strace of the 10 MB echo (no brk). Each mode
 * runs in a process of its own, since the policy is process-wide.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';

const child = new URL('../helpers/heap-policy-child.ts', import.meta.url).pathname;
const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
const addonBuilt = existsSync(new URL('../../build/Release/ustack.node', import.meta.url));

interface Report { mode: string; echoed: number; keptBefore: boolean; kept: boolean }

async function run(mode: 'busy' | 'adaptive'): Promise<Report> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', child, mode], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

const why = !glibc ? ' (skipped: the C library is not glibc)' : !addonBuilt ? ' (skipped: the addon is not built)' : '';
describe.skipIf(why !== '')(`the C library heap under a busy poller${why}`, () => {
  it("'busy': the policy takes effect when the stack opens", async () => {
    const r = await run('busy');
    expect(r.echoed).toBe(8 * 1024 * 1024);
    expect(r.keptBefore).toBe(false);
    expect(r.kept).toBe(true);
  });

  it("'adaptive': the allocator is left as it is", async () => {
    const r = await run('adaptive');
    expect(r.echoed).toBe(8 * 1024 * 1024);
    expect(r.kept).toBe(false);
  });
});
