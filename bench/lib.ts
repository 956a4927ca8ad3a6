/**
 * Shared helpers for the benchmarks: statistics, GC-based allocation
 * accounting, table printing. Nothing here asserts on timings: targets are
 * printed beside the figures as goals.
 */
import * as v8 from 'node:v8';
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { Session } from 'node:inspector';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export type Impl = 'ustack' | 'node';

/** One row of the final table: a metric measured for both implementations over several rounds. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  ustack: number[];
  node: number[];
  /** Goal from issue 6, printed beside the figures. */
  target: string;
  /** What the "node" column is when it is not node's own module doing the same thing. */
  nodeNote?: string;
  higherIsBetter: boolean;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Percentile of a typed array's first n values (sorts a copy). */
export function percentile(xs: Float64Array, n: number, p: number): number {
  if (n === 0) return NaN;
  const s = xs.slice(0, n).sort();
  const i = Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
  return s[i]!;
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a >= 1e7) return (x / 1e6).toFixed(1) + 'M';
  if (a >= 1e5) return (x / 1e3).toFixed(0) + 'k';
  if (a >= 1000) return x.toFixed(0);
  if (a >= 100) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves on the next turn of the event loop (lets sockets close, timers fire). */
export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

/**
 * Counts bytes allocated on the V8 heap between start() and stop(): the
 * growth of used heap between GCs plus what each GC collected, from
 * v8.GCProfiler's before/after statistics. Needs no flags.
 */
export class AllocMeter {
  private prof: v8.GCProfiler | null = null;
  private startUsed = 0;

  private session: Session | null = null;

  start(): void {
    if (process.env.BENCH_ALLOC_SITES) {
      // Attribute allocations to stack frames (V8's sampling heap profiler,
      // one sample per 128 bytes, objects later collected included).
      this.session = new Session();
      this.session.connect();
      this.session.post('HeapProfiler.startSampling', {
        samplingInterval: 128,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      } as never);
    }
    this.startUsed = v8.getHeapStatistics().used_heap_size;
    this.prof = new v8.GCProfiler();
    this.prof.start();
  }

  /** Bytes allocated since start(). */
  stop(): number {
    const endUsed = v8.getHeapStatistics().used_heap_size;
    const result = this.prof!.stop() as unknown as {
      statistics: { beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }[];
    };
    this.prof = null;
    let allocated = 0;
    let prev = this.startUsed;
    for (const s of result?.statistics ?? []) {
      allocated += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prev);
      prev = s.afterGC.heapStatistics.usedHeapSize;
    }
    allocated += Math.max(0, endUsed - prev);
    if (this.session !== null) this.reportSites();
    return allocated;
  }

  private reportSites(): void {
    const session = this.session!;
    this.session = null;
    session.post('HeapProfiler.stopSampling', (err, res) => {
      session.disconnect();
      if (err) return;
      interface N { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: N[] }
      const sites = new Map<string, number>();
      let total = 0;
      const walk = (n: N, parent: string): void => {
        const cf = n.callFrame;
        const url = cf.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
        const here = `${cf.functionName || '(anonymous)'} ${url}:${cf.lineNumber + 1}`;
        if (n.selfSize > 0) {
          const key = `${here}  <- ${parent}`;
          sites.set(key, (sites.get(key) ?? 0) + n.selfSize);
          total += n.selfSize;
        }
        for (const c of n.children) walk(c, here);
      };
      walk((res as unknown as { profile: { head: N } }).profile.head, '');
      const top = [...sites.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
      log(`    allocation sites (sampled ${total} B):`);
      for (const [k, v] of top) log(`    ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
    });
  }
}

/**
 * Garbage-collection pauses between start() and stop(), from perf_hooks'
 * 'gc' entries (each entry is one pause of the main thread: scavenge,
 * mark-compact, incremental marking step, weak callbacks).
 */
export class GcMeter {
  private obs: PerformanceObserver | null = null;
  count = 0;
  totalMs = 0;
  maxMs = 0;

  start(): void {
    this.count = 0;
    this.totalMs = 0;
    this.maxMs = 0;
    this.obs = new PerformanceObserver((list) => this.add(list.getEntries()));
    this.obs.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    const obs = this.obs!;
    this.obs = null;
    // Entries not delivered to the callback yet (it runs on a later turn).
    this.add(obs.takeRecords());
    obs.disconnect();
  }

  private add(entries: readonly PerformanceEntry[]): void {
    for (const e of entries) {
      this.count++;
      this.totalMs += e.duration;
      if (e.duration > this.maxMs) this.maxMs = e.duration;
    }
  }
}

/** CPU time (user + system) of this process in microseconds, for per-unit figures that load on the machine disturbs less than wall time. */
export function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

export function printRows(rows: readonly Row[], title: string): string {
  const header = ['scenario', 'metric', 'ustack median (min–max)', 'node median (min–max)', 'ustack/node', 'target'];
  const lines: string[][] = [header];
  for (const r of rows) {
    const u = median(r.ustack);
    const n = median(r.node);
    const range = (xs: number[]): string => (xs.length === 0 ? 'n/a' : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))}) ${r.unit}`);
    const ratio = r.node.length > 0 && r.ustack.length > 0 && n !== 0 ? `${(u / n).toFixed(2)}×` : 'n/a';
    lines.push([r.scenario, r.metric, range(r.ustack), range(r.node) + (r.nodeNote ? ` [${r.nodeNote}]` : ''), ratio, r.target]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  const out = [`\n${title}\n`];
  lines.forEach((l, k) => {
    out.push('| ' + l.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |');
    if (k === 0) out.push('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  });
  return out.join('\n');
}

export interface BenchOptions {
  rounds: number;
  /** Bytes per bulk stream. */
  bulkBytes: number;
  /** Duration of one timed round for rate scenarios (ms). */
  roundMs: number;
  /** Connection counts held in the memory scenario. */
  holdCounts: number[];
  /** Only run these implementations (profiling). */
  impls: Impl[];
  quick: boolean;
}

/** Runs `fn` for each implementation, alternating, `rounds` times. */
export async function alternate<T>(
  opts: BenchOptions,
  fns: Record<Impl, (round: number) => Promise<T>>,
  onResult: (impl: Impl, r: T) => void,
): Promise<void> {
  for (let round = 0; round < opts.rounds; round++) {
    const order: Impl[] = round % 2 === 0 ? ['ustack', 'node'] : ['node', 'ustack'];
    for (const impl of order) {
      if (!opts.impls.includes(impl)) continue;
      const r = await fns[impl](round);
      onResult(impl, r);
    }
  }
}

export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}

/**
 * A helper script in bench/ (next to this file when run with tsx, two levels
 * up when run compiled from bench/.build/bench/).
 */
export function benchFile(name: string): string {
  for (const rel of [`./${name}`, `../../${name}`]) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`bench helper ${name} not found`);
}
