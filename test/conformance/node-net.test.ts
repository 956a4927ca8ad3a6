/**
 * node's own tests for net, dgram, socket and tcp (test/parallel/test-{net,
 * socket,tcp,dgram}-*), taken from Debian's nodejs source package of the
 * runtime's version (node-source.ts; cached outside the tree), run against
 * ustack/net and ustack/dgram on the default loopback stack (runner.ts,
 * preload.mjs). Applicable = selected minus excluded.json (each with its
 * reason).
 *
 * Fails when fewer than 95 % of the applicable tests of either module pass,
 * or when a test in known-passing-v<major>.json fails (so one regression
 * is caught even while the share stays above 95 %). Skips, saying why, only
 * when Debian's archive cannot be reached and nothing is cached.
 *
 * USTACK_CONFORMANCE_NODE=/path/to/node runs another node binary's tests
 * (else USTACK_TEST_NODE, which scripts/test-node-versions.sh sets, else
 * the node running vitest).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { nodeVersionOf, obtainNodeTests, type NodeTests } from './node-source.js';
import { loadExclusions, loadKnownPassing, runTests, selectedTests, tail, type TestResult } from './runner.js';

const MIN_SHARE = 0.95;
const nodeBinary = process.env.USTACK_CONFORMANCE_NODE || process.env.USTACK_TEST_NODE || process.execPath;
const root = packageRoot();

let tests: NodeTests | null = null;
let unreachable = '';
let version = '';

/** The newest modification time under `dir` of files ending in `ext`. */
function newest(dir: string, ext: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (e.name.endsWith(ext)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** The children load ustack from dist/ (the package's exports): compile it when src/ is newer. */
function ensureBuilt(): void {
  const entry = join(root, 'dist', 'entry', 'net-entry.js');
  if (existsSync(entry) && newest(join(root, 'dist'), '.js') >= newest(join(root, 'src'), '.ts')) return;
  console.log('[conformance] compiling src/ into dist/ (tsc -p tsconfig.json)');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
}

beforeAll(async () => {
  version = await nodeVersionOf(nodeBinary);
  try {
    tests = await obtainNodeTests(version, (l) => console.log(`[conformance] ${l}`));
  } catch (e) {
    unreachable = String((e as Error).message ?? e);
    console.log(`[conformance] skipping: node's tests could not be obtained from Debian's archive: ${unreachable}`);
    return;
  }
  ensureBuilt();
}, 600_000);

function report(module: 'net' | 'dgram', results: TestResult[]): { passed: number; total: number } {
  const of = results.filter((r) => r.module === module);
  const passed = of.filter((r) => r.passed).length;
  console.log(`node ${module} tests: ${passed}/${of.length} passed`);
  return { passed, total: of.length };
}

describe("node's own net/dgram tests against ustack/net and ustack/dgram", () => {
  it('every exclusion names a selected test and gives a reason', (ctx) => {
    if (tests === null) return ctx.skip(`node's tests unavailable: ${unreachable}`);
    const selected = new Set(selectedTests(tests.testDir));
    const excluded = loadExclusions();
    const stale = Object.keys(excluded).filter((f) => !selected.has(f));
    if (stale.length > 0) console.log(`[conformance] excluded.json names tests node ${tests.upstreamVersion} does not have: ${stale.join(', ')}`);
    for (const [file, reason] of Object.entries(excluded)) expect(reason.trim().length, file).toBeGreaterThan(10);
    const major = Number(/^v?(\d+)/.exec(version)![1]);
    const both = loadKnownPassing(major).filter((f) => f in excluded);
    expect(both, 'tests both excluded and known to pass').toEqual([]);
  });

  it('at least 95 % of the applicable tests pass, and none known to pass fails', async (ctx) => {
    if (tests === null) return ctx.skip(`node's tests unavailable: ${unreachable}`);
    const excluded = loadExclusions();
    const selected = selectedTests(tests.testDir);
    const files = selected.filter((f) => !(f in excluded));
    const t0 = Date.now();
    const results = await runTests({ nodeBinary, files, testDir: tests.testDir, timeoutMs: 60_000, jobs: 2 });
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(`[conformance] node ${version} against node ${tests.upstreamVersion}'s tests (Debian ${tests.debianVersion}, ${tests.suite}); ` +
      `${files.length} applicable of ${selected.length} selected, ${seconds} s`);
    const net = report('net', results);
    const dgram = report('dgram', results);
    const failed = results.filter((r) => !r.passed);
    for (const r of failed) {
      const why = r.timedOut ? 'did not finish' : r.skipped ? 'skipped itself' : `exit ${r.code ?? r.signal}`;
      console.log(`FAILED ${r.file} (${why}, ${r.ms} ms):\n${tail(r.output).replace(/^/gm, '    ')}`);
    }
    const major = Number(/^v?(\d+)/.exec(version)![1]);
    const known = new Set(loadKnownPassing(major));
    const regressed = failed.filter((r) => known.has(r.file)).map((r) => r.file);
    const newlyPassing = results.filter((r) => r.passed && !known.has(r.file)).map((r) => r.file);
    if (newlyPassing.length > 0) console.log(`[conformance] passing but not in known-passing-v${major}.json yet: ${newlyPassing.join(' ')}`);
    expect(regressed, `known-passing tests that failed (known-passing-v${major}.json)`).toEqual([]);
    expect(net.passed / net.total, `net: ${net.passed}/${net.total}`).toBeGreaterThanOrEqual(MIN_SHARE);
    expect(dgram.passed / dgram.total, `dgram: ${dgram.passed}/${dgram.total}`).toBeGreaterThanOrEqual(MIN_SHARE);
  }, 900_000);
});
