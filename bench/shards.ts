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
 * and, as the reference, one ordinary stack (no owner, no workers) on a
 * TAP of its own in a child process (ubshd0, 10.77.0.2/24).
 *
 * Two sets of rows: 2 workers against 1 (the "ustack" column is 2 workers,
 * the "node" column 1 worker, so ustack/node is the scaling ratio), and 1
 * worker against the single stack (what the owner's hop costs). Each: HTTP
 * requests/s under wrk -t2 -c64, TCP RR 64 B over 64 connections
 * (transactions/s, all connections), bulk upload over 16 connections.
 * Every round also says where the cores went:
 * the CPU time of the owner (this process), each worker and the client
 * over the round, in percent of one core. The machine's cores are shared
 * by all of them: on 2 cores, 2 workers + owner + client contend, so the
 * ratio shows what sharding buys there, not what it buys on a free core
 * per worker. BENCH_SHARDS_PIN=1 pins the client (taskset) to the last CPU.
 */
import { execFile, execSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ShardOwner } from '../src/shard/owner.js';
import { alternate, benchFile, log, median, type BenchOptions, type Impl, type Row } from './lib.js';

const CLIENT = benchFile('shards-client.mjs');
const WORKER = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './shards-worker.ts' : './shards-worker.js', import.meta.url));
const SETUPS = {
  single: { workers: 0, tap: 'ubshd0', net: '10.77.0' },
  one: { workers: 1, tap: 'ubshd1', net: '10.77.1' },
  two: { workers: 2, tap: 'ubshd2', net: '10.77.2' },
};
type Setup = keyof typeof SETUPS;

/** One way of serving: the processes to account CPU to, and whether this process (an owner) is one of them. */
interface Target {
  setup: Setup;
  label: string;
  host: string;
  pids(): number[];
  ownerHere: boolean;
}
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

async function measured(target: Target, run: () => Promise<{ out: string; cpu: number }>, parse: (out: string) => number): Promise<Round> {
  const pids = target.pids();
  const before = pids.map(cpuSeconds);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await run();
  const secs = (performance.now() - t0) / 1000;
  const own = process.cpuUsage(own0);
  const pct = (s: number): number => (100 * s) / secs;
  return {
    value: parse(r.out),
    cpu: { owner: target.ownerHere ? pct((own.user + own.system) / 1e6) : 0, workers: pids.map((p, i) => pct(cpuSeconds(p) - before[i]!)), client: pct(r.cpu) },
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
  const owners: ShardOwner[] = [];
  let single: ChildProcess | null = null;
  try {
    const targets = {} as Record<Setup, Target>;
    for (const setup of ['one', 'two'] as Setup[]) {
      const s = SETUPS[setup];
      const owner = await ShardOwner.open({
        nic: `tap:${s.tap}`,
        address: `${s.net}.2/24`,
        hostAddress: `${s.net}.1/24`,
        workers: s.workers,
        exec: WORKER,
        args: [],
        env: { ...process.env, BENCH_SHARD_WORKERS: String(s.workers), BENCH_SHARD_ADDRESS: `${s.net}.2/24` },
      });
      owners.push(owner);
      targets[setup] = {
        setup,
        label: `${s.workers} worker${s.workers > 1 ? 's' : ''}`,
        host: `${s.net}.2`,
        pids: () => [...owner.workers.values()].sort((a, b) => a.place - b.place).map((w) => w.pid!),
        ownerHere: true,
      };
    }
    const s0 = SETUPS.single;
    const child = fork(WORKER, [], {
      env: { ...process.env, BENCH_SINGLE_NIC: `tap:${s0.tap}`, BENCH_SHARD_ADDRESS: `${s0.net}.2/24`, BENCH_SINGLE_HOST: `${s0.net}.1/24` },
    });
    single = child;
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`the single-stack server exited (${String(code)})`)));
    });
    targets.single = { setup: 'single', label: 'single stack', host: `${s0.net}.2`, pids: () => [child.pid!], ownerHere: false };

    const secs = Math.max(1, Math.round(opts.roundMs / 1000));
    // Warm-up: ARP, JIT, every worker reached.
    for (const t of Object.values(targets)) {
      await timed(process.execPath, [CLIENT, 'rr', t.host, '7', '16', '300']);
      if (useWrk) await timed('wrk', ['-t2', '-c32', '-d1s', `http://${t.host}/`]);
    }
    const cpuNotes: string[] = [];
    const compare = async (
      pair: [Target, Target],
      prefix: string,
      target: string,
      name: string,
      metric: string,
      unit: string,
      client: (t: Target) => Promise<{ out: string; cpu: number }>,
      parse: (out: string) => number,
    ): Promise<void> => {
      const [u, n] = pair;
      const row: Row = { scenario: `${prefix}: ${name}`, metric, unit, ustack: [], node: [], target, nodeNote: n.label, higherIsBetter: true };
      const cpus: Record<Impl, Round['cpu'][]> = { ustack: [], node: [] };
      const of: Record<Impl, Target> = { ustack: u, node: n };
      await alternate(
        opts,
        { ustack: () => measured(u, () => client(u), parse), node: () => measured(n, () => client(n), parse) },
        (impl, r) => {
          const t = of[impl];
          log(`  shards ${name} ${t.label}: ${r.value.toFixed(1)} ${unit}; cpu ${t.ownerHere ? `owner ${r.cpu.owner.toFixed(0)}%, ` : ''}${t.ownerHere ? 'workers' : 'stack'} ${r.cpu.workers.map((w) => `${w.toFixed(0)}%`).join(' + ')}, client ${r.cpu.client.toFixed(0)}%`);
          row[impl].push(r.value);
          cpus[impl].push(r.cpu);
        },
      );
      rows.push(row);
      for (const impl of ['node', 'ustack'] as Impl[]) {
        const c = cpus[impl];
        const t = of[impl];
        if (c.length === 0 || cpuNotes.some((x) => x.startsWith(`${name}, ${t.label}:`))) continue;
        const procs = c[0]!.workers.map((_, i) => median(c.map((x) => x.workers[i]!)).toFixed(0) + '%').join(' + ');
        cpuNotes.push(`${name}, ${t.label}: ${t.ownerHere ? `owner ${median(c.map((x) => x.owner)).toFixed(0)}%, workers ${procs}` : `stack ${procs}`}, client ${median(c.map((x) => x.client)).toFixed(0)}% of a core (medians)`);
      }
    };
    const perConn = Math.min(16 << 20, Math.max(1 << 20, Math.floor(opts.bulkBytes / 16)));
    const sets: [Target, Target, string, string][] = [
      [targets.two, targets.one, '8 shards, 2 workers vs 1', 'scaling: 2 workers / 1 worker (2 cores, shared with the client)'],
      [targets.one, targets.single, '8 shards, 1 worker vs a single stack', 'the owner hop: 1 worker / a single stack'],
    ];
    for (const [u, n, prefix, target] of sets) {
      if (useWrk) {
        await compare([u, n], prefix, target, 'node:http, wrk -t2 -c64', 'requests/s', '/s', (t) => timed('wrk', ['-t2', '-c64', `-d${secs}s`, `http://${t.host}/`]), (out) => {
          const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
          if (!m) throw new Error(`wrk: no Requests/sec in ${out}`);
          return Number(m[1]);
        });
      }
      await compare([u, n], prefix, target, 'TCP RR 64 B, 64 connections', 'transactions/s', '/s', (t) => timed(process.execPath, [CLIENT, 'rr', t.host, '7', '64', String(opts.roundMs)]), (out) => lastJson(out).rate!);
      await compare([u, n], prefix, target, `bulk upload, 16 connections × ${perConn >> 20} MiB`, 'throughput', 'Gbit/s', (t) => timed(process.execPath, [CLIENT, 'bulk', t.host, '9', '16', String(perConn)]), (out) => lastJson(out).gbps!);
    }
    notes.push(`shards: where the cores went — ${cpuNotes.join('; ')}`);
    if (process.env.BENCH_SHARDS_PIN === '1') notes.push('shards: clients pinned to the last CPU (taskset)');
  } finally {
    for (const o of owners) await o.close();
    if (single !== null) {
      single.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      single.kill('SIGKILL');
    }
    for (const s of Object.values(SETUPS)) quiet(`ip link del ${s.tap}`);
  }
}
