/**
 * Allocation measurements in a node process of their own (issues 17, 19).
 *
 * A test starts the measuring script with `runAllocChild`; the script warms
 * up, measures several consecutive windows under V8's sampling heap
 * profiler (test/helpers/alloc-profile.ts) and prints one JSON line with
 * every window's figures, which the test prints and judges by the median.
 *
 * Why a process of its own: ustack's modules load as node loads the
 * published package (native ES modules with direct bindings), not through
 * vitest's module runner, whose export getters allocate and re-tier at
 * their own pace; and V8's flags can be chosen (`ALLOC_CHILD_V8_FLAGS`).
 *
 * Why several windows and the median: V8 keeps re-tiering code that runs
 * once per burst, per ACK or per write long after a warm-up; one window can
 * catch such a transient, the median is the steady state without it.
 *
 * The parent's side (runAllocChild, median) and the child's (childArgs,
 * printReport, topSites) are here; neither runs anything on import.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * V8 optimises hot functions on a background thread by default; on a loaded
 * machine (CI runs the VM test beside vitest) that thread can fall so far
 * behind that code which runs once per burst or idle transition (the
 * socket's maybeDropCold, the IPv6 output's send) is still interpreted
 * after the warm-up, and the interpreter boxes every double it loads: one
 * socket-alloc run at load 9 measured 1,269 B/MB that way, the same code 60
 * when optimised; a tcp6-alloc run inside vitest on node 22 16.7 B/segment
 * where 0.6 is usual. `--no-concurrent-recompilation` optimises on the main
 * thread as soon as a function is hot, so what is measured is the steady
 * state whatever the load (socket-alloc, three runs each beside two busy
 * loops: median windows 54-69 B/MB onread, 0-1 data; without the flag
 * 199-1,004 and 168-849).
 */
export const ALLOC_CHILD_V8_FLAGS: readonly string[] = ['--no-concurrent-recompilation'];

/**
 * Runs `node ALLOC_CHILD_V8_FLAGS --import tsx <script> ...args` with the
 * running node (under scripts/test-node-versions.sh, the version under
 * test) and returns the report its last stdout line holds. A child that
 * fails or outlives `timeoutMs` rejects with its stderr.
 */
export async function runAllocChild<R>(script: URL, args: readonly string[], timeoutMs: number): Promise<R> {
  const argv = [...ALLOC_CHILD_V8_FLAGS, '--import', 'tsx', script.pathname, ...args];
  const { stdout } = await promisify(execFile)(process.execPath, argv, { maxBuffer: 1 << 20, timeout: timeoutMs });
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as R;
  } catch {
    throw new Error(`${script.pathname} printed no report; its stdout:\n${stdout}`);
  }
}

/** The median (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of nothing');
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
}

/** The child's numeric arguments from process.argv[first] on; a missing or non-numeric one takes its default. */
export function childArgs(first: number, defaults: readonly number[]): number[] {
  return defaults.map((d, i) => Number(process.argv[first + i]) || d);
}

/** Prints the report as the one JSON line runAllocChild reads. */
export function printReport(report: object): void {
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** The `most` largest sites, each as "<bytes / per, to `digits` places> <unit> <site>". */
export function topSites(sites: Iterable<[string, number]>, per: number, unit: string, digits: number, most = 8): string[] {
  return [...sites]
    .sort((x, y) => y[1] - x[1])
    .slice(0, most)
    .map(([site, bytes]) => `${(bytes / per).toFixed(digits)} ${unit} ${site}`);
}
