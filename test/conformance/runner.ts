/**
 * Runs node's own net/dgram tests against ustack: each selected file of
 * test/parallel as its own node process, with `net`/`dgram` redirected to
 * ustack's drop-ins by preload.mjs, a bounded time each (a hang is a
 * failure, its output kept) and two at a time.
 *
 * Also a command line, for working on one failure at a time:
 *   node --import tsx test/conformance/runner.ts [--node PATH] [--stock]
 *        [--timeout MS] [--jobs N] [--all] [--write-known-passing] [test-net-foo.js ...]
 * (--stock runs without the preload, i.e. against node's own modules;
 * --all includes the excluded tests; --write-known-passing records the
 * applicable tests that passed as known-passing-v<major>.json, the baseline
 * node-net.test.ts holds ustack to.)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { SELECTED_PREFIXES, nodeVersionOf, obtainNodeTests } from './node-source.js';

const here = dirname(fileURLToPath(import.meta.url));
export const PRELOAD = join(here, 'preload.mjs');

export type Module = 'net' | 'dgram';

export interface TestResult {
  file: string;
  module: Module;
  passed: boolean;
  /** The test skipped itself (common.skip: "1..0 # Skipped: ..."); not a pass. */
  skipped: boolean;
  timedOut: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  output: string;
}

export interface RunOptions {
  nodeBinary?: string;
  /** Test files (basenames in test/parallel). */
  files: string[];
  testDir: string;
  /** Per test; a test still running then is killed and fails. */
  timeoutMs?: number;
  jobs?: number;
  /** Without the preload: node's own net/dgram (to tell ustack's failures from the environment's). */
  stock?: boolean;
  onResult?: (r: TestResult) => void;
}

/** Which module a selected test measures: the dgram tests dgram, the rest net. */
export function moduleOf(file: string): Module {
  return file.startsWith('test-dgram-') ? 'dgram' : 'net';
}

/** The selected files present in the extracted tree, sorted. */
export function selectedTests(testDir: string): string[] {
  return readdirSync(join(testDir, 'parallel'))
    .filter((f) => SELECTED_PREFIXES.some((p) => f.startsWith(p)) && /\.m?js$/.test(f))
    .sort();
}

export interface Exclusion {
  reason: string;
}

/** The committed exclusion list: test file -> reason. */
export function loadExclusions(): Record<string, string> {
  return JSON.parse(readFileSync(join(here, 'excluded.json'), 'utf8')) as Record<string, string>;
}

/** The committed "known to pass" list for a node major (empty when there is none yet). */
export function loadKnownPassing(major: number): string[] {
  const file = join(here, `known-passing-v${major}.json`);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as string[]) : [];
}

/** node's test runner reads `// Flags: ...` from a test's head and passes them to node. */
export function flagsOf(source: string): string[] {
  const m = /^\/\/ Flags: (.+)$/m.exec(source);
  return m ? m[1]!.trim().split(/\s+/) : [];
}

const OUTPUT_LIMIT = 64 * 1024;

function runOne(nodeBinary: string, testDir: string, file: string, slot: number, timeoutMs: number, stock: boolean): Promise<TestResult> {
  const path = join(testDir, 'parallel', file);
  const flags = flagsOf(readFileSync(path, 'utf8'));
  const args = [...flags, ...(stock ? [] : ['--import', pathToFileURL(PRELOAD).href]), path];
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_SERIAL_ID: `ustack-${slot}`, NODE_SKIP_FLAG_CHECK: '1' };
  delete env.NODE_OPTIONS;
  delete env.USTACK_NIC;
  delete env.NODE_TEST_DIR;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(nodeBinary, args, { cwd: dirname(testDir), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    const collect = (d: Buffer): void => {
      output += String(d);
      if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, timeoutMs);
    child.on('error', (err) => collect(Buffer.from(String(err))));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Grandchildren (tests that spawn node) go with the group.
      killGroup();
      const skipped = code === 0 && /^1\.\.0 # Skipped/m.test(output);
      if (timedOut) output += `\n[conformance] killed after ${timeoutMs} ms: the test did not finish`;
      resolve({
        file,
        module: moduleOf(file),
        passed: code === 0 && !timedOut && !skipped,
        skipped,
        timedOut,
        code,
        signal,
        ms: Date.now() - started,
        output,
      });
    });
  });
}

/** Runs the files, `jobs` at a time; results in the order of `files`. */
export async function runTests(opts: RunOptions): Promise<TestResult[]> {
  const nodeBinary = opts.nodeBinary ?? process.execPath;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const jobs = opts.jobs ?? 2;
  const results: TestResult[] = new Array(opts.files.length);
  let next = 0;
  const worker = async (slot: number): Promise<void> => {
    while (next < opts.files.length) {
      const i = next++;
      const r = await runOne(nodeBinary, opts.testDir, opts.files[i]!, slot, timeoutMs, opts.stock ?? false);
      results[i] = r;
      opts.onResult?.(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, opts.files.length) }, (_, k) => worker(k)));
  return results;
}

export function tail(text: string, lines = 25): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    options: {
      node: { type: 'string' },
      stock: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '30000' },
      jobs: { type: 'string', default: '2' },
      quiet: { type: 'boolean', short: 'q', default: false },
      'write-known-passing': { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const nodeBinary = values.node ?? process.execPath;
  const version = await nodeVersionOf(nodeBinary);
  const tests = await obtainNodeTests(version, (l) => console.error(`[conformance] ${l}`));
  console.error(`[conformance] node ${version}; tests from Debian nodejs ${tests.debianVersion} (${tests.suite}): ${tests.testDir}`);
  const excluded = loadExclusions();
  let files = selectedTests(tests.testDir);
  if (positionals.length > 0) files = files.filter((f) => positionals.some((p) => f === p || f.includes(p)));
  else if (!values.all) files = files.filter((f) => !(f in excluded));
  const t0 = Date.now();
  const results = await runTests({
    nodeBinary,
    files,
    testDir: tests.testDir,
    timeoutMs: Number(values.timeout),
    jobs: Number(values.jobs),
    stock: values.stock,
    onResult: (r) => {
      const state = r.passed ? 'pass' : r.skipped ? 'SKIP' : r.timedOut ? 'HANG' : 'FAIL';
      console.log(`${state} ${r.file} (${r.ms} ms)`);
      if (!r.passed && !values.quiet) console.log(`${tail(r.output).replace(/^/gm, '    ')}`);
    },
  });
  for (const m of ['net', 'dgram'] as const) {
    const of = results.filter((r) => r.module === m);
    console.log(`node ${m} tests: ${of.filter((r) => r.passed).length}/${of.length} passed`);
  }
  console.log(`failed: ${results.filter((r) => !r.passed).map((r) => r.file).join(' ') || 'none'}`);
  console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (values['write-known-passing']) {
    if (positionals.length > 0 || values.all || values.stock) throw new Error('--write-known-passing needs a run of exactly the applicable tests against ustack');
    const major = Number(/^v?(\d+)/.exec(version)![1]);
    const file = join(here, `known-passing-v${major}.json`);
    writeFileSync(file, `${JSON.stringify(results.filter((r) => r.passed).map((r) => r.file), null, 2)}\n`);
    console.log(`wrote ${file}`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
