/**
 * 8. One NIC, many workers: the same servers (node:http on 80, TCP echo on
 * 7, a TCP sink on 9; bench/shards-worker.ts) run by 1 and by 2 shard
 * workers behind one owner each, each owner on its own TAP, both up for the
 * whole run and measured in alternate rounds, from the kernel's own sockets
 * in this namespace (the kernel routes to each TAP):
 *
 *   ubshd1: owner + 1 worker, 10.77.1.2/24 (the kernel side 10.77.1.1)
 *   ubshd2: owner + 2 workers, 10.77.2.2/24 (the kernel side 10.77.2.1)
 *
 * Rows (the "ustack" column is 2 workers, the "node" column 1 worker, so
 * ustack/node is the scaling ratio): HTTP requests/s under wrk -t2 -c64,
 * TCP RR 64 B over 64 connections (transactions/s, all connections), bulk
 * upload over 16 connections. Every round also says where the cores went:
 * the CPU time of the owner (this process), each worker and the client
 * over the round, in percent of one core. The machine's cores are shared
 * by all of them: on 2 cores, 2 workers + owner + client contend, so the
 * ratio shows what sharding buys there, not what it buys on a free core
 * per worker. BENCH_SHARDS_PIN=1 pins the client (taskset) to the last CPU.
 */
import { execFile, execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ShardOwner } from '../src/shard/owner.js';
import { alternate, benchFile, log, median, type BenchOptions, type Impl, type Row } from './lib.js';

const CLIENT = benchFile('shards-client.mjs');
const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './shards-worker.ts' : './shards-worker.js', import.meta.url));
const SETUPS: Record<Impl, { workers: number; tap: string; net: string }> = {
  node: { workers: 1, tap: 'ubshd1', net: '10.77.1' },
  ustack: { workers: 2, tap: 'ubshd2', net: '10.77.2' },
};
const CLK_TCK = 100;

function quiet(cmd: string): void {
  try {
    execSync(cmd, { stdio: 'ignore' });
  } catch {
    /* absent already */
  }
}

/** utime + stime of a process, seconds (0 once it is gone). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

interface Round {
  value: number;
  /** Percent of one core over the round: owner, each worker, client. */
  cpu: { owner: number; workers: number[]; client: number };
}

/** Runs a client command under /usr/bin/time; returns its stdout and its CPU seconds. */
function timed(cmd: string, args: string[]): Promise<{ out: string; cpu: number }> {
  const pin = process.env.BENCH_SHARDS_PIN === '1' ? ['taskset', '-c', String(Math.max(0, (Number(execSync('nproc').toString()) || 1) - 1))] : [];
  const full = [...pin, cmd, ...args];
  return new Promise((resolve, reject) => {
    execFile('/usr/bin/time', ['-f', 'CPU %U %S', ...full], { timeout: 600_000 }, (err, stdout, stderr) => {
      const m = /CPU ([\d.]+) ([\d.]+)/.exec(stderr);
      if (err || !m) reject(new Error(`${full.join(' ')}: ${err?.message ?? ''} ${stderr}`));
      else resolve({ out: stdout, cpu: Number(m[1]) + Number(m[2]) });
    });
  });
}

async function measured(owner: ShardOwner, run: () => Promise<{ out: string; cpu: number }>, parse: (out: string) => number): Promise<Round> {
  const pids = [...owner.workers.values()].sort((a, b) => a.place - b.place).map((w) => w.pid!);
  const before = pids.map(cpuSeconds);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await run();
  const secs = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const pct = (s: number): number => (100 * s) / secs;
  return {
    value: parse(r.out),
    cpu: { owner: pct((own.user + own.system) / 1e6), workers: pids.map((p, i) => pct(cpuSeconds(p) - before[i]!)), client: pct(r.cpu) },
  };
}

function lastJson(out: string): Record<string, number> {
  const r = JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, number>;
  if ('error' in r) throw new Error(`client: ${String(r.error)}`);
  return r;
}

export async function shardScenarios(opts: BenchOptions, rows: Row[], notes: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    notes.push('shards: skipped (needs root for the TAP devices)');
    return;
  }
  let useWrk = true;
  try {
    execSync('command -v wrk', { stdio: 'ignore', shell: '/bin/sh' });
  } catch {
    useWrk = false;
    notes.push('shards: wrk not installed (apt-get install wrk): no HTTP row');
  }
  for (const s of Object.values(SETUPS)) quiet(`ip link del ${s.tap}`);
  const owners: Partial<Record<Impl, ShardOwner>> = {};
  try {
    for (const impl of ['node', 'ustack'] as Impl[]) {
      const s = SETUPS[impl];
      owners[impl] = await ShardOwner.open({
        nic: `tap:${s.tap}`,
        address: `${s.net}.2/24`,
        hostAddress: `${s.net}.1/24`,
        workers: s.workers,
        exec: WORKER,
        args: [],
        env: { ...process.env, BENCH_SHARD_WORKERS: String(s.workers), BENCH_SHARD_ADDRESS: `${s.net}.2/24` },
      });
    }
    const host = (impl: Impl): string => `${SETUPS[impl].net}.2`;
    const secs = Math.max(1, Math.round(opts.roundMs / 1000));
    // Warm-up: ARP, JIT, every worker reached.
    for (const impl of ['node', 'ustack'] as Impl[]) {
      await timed(process.execPath, [CLIENT, 'rr', host(impl), '7', '16', '300']);
      if (useWrk) await timed('wrk', ['-t2', '-c32', '-d1s', `http://${host(impl)}/`]);
    }
    const label = (impl: Impl): string => `${SETUPS[impl].workers} worker${SETUPS[impl].workers > 1 ? 's' : ''}`;
    const cpuNotes: string[] = [];
    const scenario = async (name: string, metric: string, unit: string, client: (impl: Impl) => Promise<{ out: string; cpu: number }>, parse: (out: string) => number): Promise<void> => {
      const row: Row = { scenario: `8 shards over TAP: ${name}`, metric, unit, ustack: [], node: [], target: '2 workers / 1 worker (2 cores, shared with the client)', nodeNote: '1 worker', higherIsBetter: true };
      const cpus: Record<Impl, Round['cpu'][]> = { ustack: [], node: [] };
      await alternate(
        opts,
        { ustack: () => measured(owners.ustack!, () => client('ustack'), parse), node: () => measured(owners.node!, () => client('node'), parse) },
        (impl, r) => {
          log(`  shards ${name} ${label(impl)}: ${r.value.toFixed(1)} ${unit}; cpu owner ${r.cpu.owner.toFixed(0)}%, workers ${r.cpu.workers.map((w) => `${w.toFixed(0)}%`).join(' + ')}, client ${r.cpu.client.toFixed(0)}%`);
          row[impl].push(r.value);
          cpus[impl].push(r.cpu);
        },
      );
      rows.push(row);
      for (const impl of ['node', 'ustack'] as Impl[]) {
        const c = cpus[impl];
        if (c.length === 0) continue;
        const workers = c[0]!.workers.map((_, i) => median(c.map((x) => x.workers[i]!)).toFixed(0) + '%').join(' + ');
        cpuNotes.push(`${name}, ${label(impl)}: owner ${median(c.map((x) => x.owner)).toFixed(0)}%, workers ${workers}, client ${median(c.map((x) => x.client)).toFixed(0)}% of a core (medians)`);
      }
    };
    if (useWrk) {
      await scenario(
        'node:http, wrk -t2 -c64',
        'requests/s',
        '/s',
        (impl) => timed('wrk', ['-t2', '-c64', `-d${secs}s`, `http://${host(impl)}/`]),
        (out) => {
          const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
          if (!m) throw new Error(`wrk: no Requests/sec in ${out}`);
          return Number(m[1]);
        },
      );
    }
    await scenario(
      'TCP RR 64 B, 64 connections',
      'transactions/s',
      '/s',
      (impl) => timed(process.execPath, [CLIENT, 'rr', host(impl), '7', '64', String(opts.roundMs)]),
      (out) => lastJson(out).rate!,
    );
    const perConn = Math.min(16 << 20, Math.max(1 << 20, Math.floor(opts.bulkBytes / 16)));
    await scenario(
      `bulk upload, 16 connections × ${perConn >> 20} MiB`,
      'throughput',
      'Gbit/s',
      (impl) => timed(process.execPath, [CLIENT, 'bulk', host(impl), '9', '16', String(perConn)]),
      (out) => lastJson(out).gbps!,
    );
    notes.push(`shards: where the cores went — ${cpuNotes.join('; ')}`);
    if (process.env.BENCH_SHARDS_PIN === '1') notes.push('shards: clients pinned to the last CPU (taskset)');
  } finally {
    for (const o of Object.values(owners)) await o?.close();
    for (const s of Object.values(SETUPS)) quiet(`ip link del ${s.tap}`);
  }
}
