/**
 * npm run bench [-- options]
 *
 *   --quick              short rounds, 64 MiB bulk, 10,000 held connections only
 *   --only=a,b           scenarios: rr, bulk, udp, conn, hold, raw, tap, xdp, shards
 *   --rounds=N           rounds per scenario (default 5, quick 3)
 *   --bulk-mib=N         bytes per bulk stream in MiB (default 1024; env BENCH_BULK_MIB)
 *   --round-ms=N         length of one timed round for rate scenarios (default 2000, quick 1000)
 *   --hold=N,M           connection counts for the idle-memory scenario (default 10000,100000)
 *   --impl=ustack|node   run one implementation only (profiling)
 *   --json=FILE          also write the rows as JSON
 *
 * Every scenario runs ustack and node's own module in this process,
 * alternating, round by round, and prints medians, min–max and ustack/node.
 * The targets from issue 6 are printed beside the figures; they are goals,
 * never assertions.
 */
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { execSync } from 'node:child_process';
import { log, printRows, type BenchOptions, type Impl, type Row } from './lib.js';
import { tcpBulk, tcpConnRate, tcpHold, tcpRr } from './tcp.js';
import { udpEcho } from './udp.js';
import { rawPath } from './raw.js';
import { tapScenarios } from './tap.js';
import { xdpScenarios } from './xdp.js';
import { shardScenarios } from './shards.js';

const args = new Map<string, string>();
for (const a of process.argv.slice(2)) {
  const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
  if (m) args.set(m[1]!, m[2] ?? 'true');
}
const quick = args.has('quick');
const ALL = ['rr', 'bulk', 'udp', 'conn', 'hold', 'raw', 'tap', 'xdp', 'shards'];
const only = (args.get('only') ?? ALL.join(',')).split(',');
const opts: BenchOptions = {
  quick,
  rounds: Number(args.get('rounds') ?? (quick ? 3 : 5)),
  bulkBytes: Number(args.get('bulk-mib') ?? process.env.BENCH_BULK_MIB ?? (quick ? 64 : 1024)) * (1 << 20),
  roundMs: Number(args.get('round-ms') ?? (quick ? 1000 : 2000)),
  holdCounts: (args.get('hold') ?? (quick ? '10000' : '10000,100000')).split(',').map(Number),
  impls: (args.get('impl') ? [args.get('impl')] : ['ustack', 'node']) as Impl[],
};

function machine(): string {
  let cpu = os.cpus()[0]?.model ?? '?';
  let nproc = String(os.availableParallelism?.() ?? os.cpus().length);
  try {
    nproc = execSync('nproc').toString().trim();
  } catch {
    /* keep os figure */
  }
  cpu = cpu.replace(/\s+/g, ' ');
  return `${cpu}, nproc ${nproc}, node ${process.version}, ${os.type()} ${os.release()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
}

const rows: Row[] = [];
const notes: string[] = [];
const g = globalThis as { gc?: unknown };
if (typeof g.gc !== 'function') notes.push('run without --expose-gc: memory figures are noisier');
log(`ustack bench: ${machine()}`);
log(`options: ${JSON.stringify({ ...opts, bulkBytes: `${opts.bulkBytes / (1 << 20)} MiB` })}`);

const scenarios: Record<string, () => Promise<void>> = {
  rr: () => tcpRr(opts, rows),
  bulk: () => tcpBulk(opts, rows),
  udp: () => udpEcho(opts, rows),
  conn: () => tcpConnRate(opts, rows),
  hold: () => tcpHold(opts, rows, notes),
  raw: () => rawPath(opts, rows),
  tap: () => tapScenarios(opts, rows, notes),
  xdp: () => xdpScenarios(opts, rows, notes),
  shards: () => shardScenarios(opts, rows, notes),
};

for (const name of ALL) {
  if (!only.includes(name)) continue;
  log(`\n== ${name}`);
  const t0 = performance.now();
  try {
    await scenarios[name]!();
  } catch (e) {
    const msg = `${name}: failed: ${(e as Error).stack ?? e}`;
    log(msg);
    notes.push(msg.split('\n')[0]!);
  }
  log(`   (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const out = printRows(rows, `ustack vs node — ${machine()}\nrounds ${opts.rounds}, round ${opts.roundMs} ms, bulk ${opts.bulkBytes / (1 << 20)} MiB; medians (min–max); targets are goals, not assertions`);
console.log(out);
if (notes.length > 0) console.log('\nnotes:\n' + notes.map((n) => `- ${n}`).join('\n'));
const json = args.get('json');
if (json) writeFileSync(json, JSON.stringify({ machine: machine(), opts, rows, notes }, null, 2));
process.exit(0);
