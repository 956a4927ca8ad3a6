/**
 * TCP scenarios, each run on ustack (two stacks on an in-process MemoryNic
 * link, Stack.pair) and on node:net over 127.0.0.1, in the same process:
 *  1. request/response, 64 B, one connection
 *  2. bulk, one stream (MTU 1500 and 9000 for ustack)
 *  4. connect + accept + close per second; memory per idle connection held
 */
import * as nodeNet from 'node:net';
import { execSync, spawn } from 'node:child_process';
import { Stack } from '../src/ustack.js';
import { AllocMeter, GcMeter, alternate, benchFile, cpuMicros, gc, log, percentile, sleep, tick, type BenchOptions, type Impl, type Row } from './lib.js';
import { bytesCopied } from '../src/wire/bytes.js';

/** What both implementations offer: node's net surface. */
type NetLike = Pick<typeof nodeNet, 'createServer' | 'connect'>;
type Sock = nodeNet.Socket;
type Srv = nodeNet.Server;

interface Env {
  net: NetLike;
  host: string;
  close(): Promise<void>;
}

/**
 * `offloads`: the MemoryNic link behaves like Linux's veth/lo (no checksums
 * computed, TCP in 64 KiB super-frames) — what node:net over 127.0.0.1 gets
 * from the kernel's loopback.
 */
async function ustackEnv(mtu = 1500, tcp?: { sendBufferSize: number; recvBufferSize: number }, offloads = false): Promise<Env> {
  const [a, b] = await Stack.pair(undefined, { mtu, ...(tcp ? { tcp } : {}), ...(offloads ? { offloads: true } : {}) });
  // The server lives on b, the client on a.
  return {
    net: {
      createServer: b.net.createServer.bind(b.net) as unknown as NetLike['createServer'],
      connect: a.net.connect.bind(a.net) as unknown as NetLike['connect'],
    },
    host: b.address,
    close: async () => {
      await a.close();
      await b.close();
    },
  };
}

function nodeEnv(): Env {
  return { net: nodeNet, host: '127.0.0.1', close: async () => {} };
}

function listen(srv: Srv, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(port, host, () => resolve((srv.address() as nodeNet.AddressInfo).port));
  });
}

function connect(env: Env, port: number, noDelay = true): Promise<Sock> {
  return new Promise((resolve, reject) => {
    const c = env.net.connect(port, env.host);
    c.once('error', reject);
    c.once('connect', () => {
      c.off('error', reject);
      if (noDelay) c.setNoDelay(true);
      resolve(c);
    });
  });
}

function closeServer(srv: Srv): Promise<void> {
  return new Promise((r) => srv.close(() => r()));
}

// ------------------------------------------------------------------ 1. RR

interface RrResult {
  rate: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** Garbage-collection pauses during the round: count, total and longest (ms). */
  gcCount: number;
  gcMs: number;
  gcMaxMs: number;
  /** Process CPU time (user + system) per transaction, µs. */
  cpuPerTxn: number;
}

const LAT = new Float64Array(4_000_000);

function rrRound(c: Sock, ms: number): Promise<RrResult> {
  const payload = Buffer.alloc(64, 0x61);
  gc(); // the previous round's garbage is not this round's pause
  const gcm = new GcMeter();
  return new Promise((resolve) => {
    let n = 0;
    let got = 0;
    gcm.start();
    const cpu0 = cpuMicros();
    const t0 = performance.now();
    const end = t0 + ms;
    let sent = t0;
    const onData = (d: Buffer): void => {
      got += d.length;
      if (got < 64) return;
      got -= 64;
      const now = performance.now();
      LAT[n++] = now - sent;
      if (now >= end || n === LAT.length) {
        const cpu = cpuMicros() - cpu0;
        gcm.stop();
        c.off('data', onData);
        const sorted = LAT.slice(0, n).sort();
        resolve({
          rate: n / ((now - t0) / 1000),
          p50: percentile(sorted, n, 50) * 1000,
          p99: percentile(sorted, n, 99) * 1000,
          p999: percentile(sorted, n, 99.9) * 1000,
          max: sorted[n - 1]! * 1000,
          gcCount: gcm.count,
          gcMs: gcm.totalMs,
          gcMaxMs: gcm.maxMs,
          cpuPerTxn: cpu / n,
        });
        return;
      }
      sent = now;
      c.write(payload);
    };
    c.on('data', onData);
    c.write(payload);
  });
}

export async function tcpRr(opts: BenchOptions, rows: Row[]): Promise<void> {
  for (const offloads of [false, true]) await tcpRrOnce(opts, rows, offloads);
}

async function tcpRrOnce(opts: BenchOptions, rows: Row[], offloads: boolean): Promise<void> {
  const scenario = offloads ? '1 TCP RR 64 B (ustack link: veth-like offloads)' : '1 TCP RR 64 B';
  const row = (metric: string, unit: string, target = '', higherIsBetter = false): Row => ({ scenario, metric, unit, ustack: [], node: [], target, higherIsBetter });
  const rate = row('transactions/s', '/s', 'ustack ≥ 3× node', true);
  const p50 = row('p50 latency', 'µs', 'ustack ≤ 3 µs');
  const p99 = row('p99 latency', 'µs');
  const p999 = row('p99.9 latency', 'µs');
  const max = row('max latency', 'µs');
  const gcMs = row('GC pauses per second of run', 'ms/s', 'GC not setting the tail');
  const gcCount = row('GC pauses per second of run (count)', '/s');
  const gcMax = row('longest GC pause', 'µs');
  const cpu = row('CPU time per transaction (process, user+sys)', 'µs');
  const setups: Partial<Record<Impl, { env: Env; srv: Srv; c: Sock }>> = {};
  for (const impl of opts.impls) {
    const env = impl === 'ustack' ? await ustackEnv(1500, undefined, offloads) : nodeEnv();
    const srv = env.net.createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d) => s.write(d));
      s.on('error', () => {});
    });
    const port = await listen(srv, 0, env.host);
    const c = await connect(env, port);
    await rrRound(c, 200); // warm-up
    setups[impl] = { env, srv, c };
  }
  const run = (impl: Impl) => async (): Promise<RrResult> => rrRound(setups[impl]!.c, opts.roundMs);
  const secs = opts.roundMs / 1000;
  await alternate(opts, { ustack: run('ustack'), node: run('node') }, (impl, r) => {
    log(
      `  rr ${impl}: ${r.rate.toFixed(0)}/s p50 ${r.p50.toFixed(2)} p99 ${r.p99.toFixed(1)} p99.9 ${r.p999.toFixed(1)} max ${r.max.toFixed(0)} µs; ` +
        `GC ${r.gcCount} pauses, ${r.gcMs.toFixed(2)} ms, longest ${(r.gcMaxMs * 1000).toFixed(0)} µs; CPU ${r.cpuPerTxn.toFixed(2)} µs/txn`,
    );
    rate[impl].push(r.rate);
    p50[impl].push(r.p50);
    p99[impl].push(r.p99);
    p999[impl].push(r.p999);
    max[impl].push(r.max);
    gcMs[impl].push(r.gcMs / secs);
    gcCount[impl].push(r.gcCount / secs);
    gcMax[impl].push(r.gcMaxMs * 1000);
    cpu[impl].push(r.cpuPerTxn);
  });
  for (const s of Object.values(setups)) {
    s.c.destroy();
    await closeServer(s.srv);
    await s.env.close();
  }
  rows.push(rate, p50, p99, p999, max, gcMs, gcCount, gcMax, cpu);
}

// ---------------------------------------------------------------- 2. bulk

interface BulkResult {
  gbps: number;
  /** V8 heap bytes allocated per MB moved (both ends). */
  allocPerMB: number;
  /** Process CPU time (user + system) per MB moved, µs. */
  cpuPerMB: number;
  /** Bytes copied by ustack's code (wire/bytes bytesCopied) per byte delivered; NaN for node. */
  copiesPerByte: number;
}

const BLOCK = Buffer.alloc(1 << 20, 0x5a);

async function bulkRound(env: Env, bytes: number): Promise<BulkResult> {
  let done!: (n: number) => void;
  const finished = new Promise<number>((r) => (done = r));
  const srv = env.net.createServer((s) => {
    let n = 0;
    s.on('data', (d) => (n += d.length));
    s.on('end', () => {
      s.end();
      done(n);
    });
    s.on('error', () => {});
  });
  const port = await listen(srv, 0, env.host);
  const c = await connect(env, port, false);
  c.on('error', () => {});
  gc();
  const meter = new AllocMeter();
  meter.start();
  const copied0 = bytesCopied();
  const cpu0 = cpuMicros();
  const t0 = performance.now();
  let sent = 0;
  const pump = (): void => {
    while (sent < bytes) {
      const len = Math.min(BLOCK.length, bytes - sent);
      sent += len;
      if (!c.write(len === BLOCK.length ? BLOCK : BLOCK.subarray(0, len))) {
        c.once('drain', pump);
        return;
      }
    }
    c.end();
  };
  pump();
  const got = await finished;
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuMicros() - cpu0;
  const copied = bytesCopied() - copied0;
  const alloc = meter.stop();
  if (got !== bytes) log(`  bulk: received ${got} of ${bytes} bytes`);
  c.destroy();
  await closeServer(srv);
  return { gbps: (got * 8) / secs / 1e9, allocPerMB: alloc / (got / 1e6), cpuPerMB: cpu / (got / 1e6), copiesPerByte: copied / got };
}

export async function tcpBulk(opts: BenchOptions, rows: Row[]): Promise<void> {
  const mb = (opts.bulkBytes / (1 << 20)).toFixed(0);
  const variants: Array<{ mtu: number; offloads: boolean }> = [
    { mtu: 1500, offloads: false },
    { mtu: 1500, offloads: true },
    { mtu: 9000, offloads: false },
  ];
  for (const { mtu, offloads } of variants) {
    const name = `2 TCP bulk ${mb} MiB, MTU ${mtu}${offloads ? ' (ustack link: veth-like offloads, TSO)' : ''}`;
    const gb: Row = {
      scenario: name,
      metric: 'throughput',
      unit: 'Gbit/s',
      ustack: [],
      node: [],
      target: 'ustack ≥ 1.0× node',
      nodeNote: 'lo, MTU 65536',
      higherIsBetter: true,
    };
    const al: Row = {
      scenario: name,
      metric: 'V8 heap allocated per MB moved',
      unit: 'B/MB',
      ustack: [],
      node: [],
      target: 'ustack ≤ node',
      higherIsBetter: false,
    };
    const cpu: Row = { scenario: name, metric: 'CPU time per MB moved (process, user+sys)', unit: 'µs/MB', ustack: [], node: [], target: '', higherIsBetter: false, nodeNote: 'kernel work in this process counted' };
    const cp: Row = {
      scenario: name,
      metric: 'payload copies per byte delivered',
      unit: '',
      ustack: [],
      node: [],
      target: 'ustack ≤ 2',
      nodeNote: 'not counted: the kernel copies user → skb → user',
      higherIsBetter: false,
    };
    const envs: Partial<Record<Impl, Env>> = {};
    if (opts.impls.includes('ustack')) envs.ustack = await ustackEnv(mtu, undefined, offloads);
    if (opts.impls.includes('node')) envs.node = nodeEnv();
    // Warm-up: JIT and ring growth.
    for (const e of Object.values(envs)) await bulkRound(e, Math.min(opts.bulkBytes, 32 << 20));
    const run = (impl: Impl) => async (): Promise<BulkResult> => bulkRound(envs[impl]!, opts.bulkBytes);
    await alternate(opts, { ustack: run('ustack'), node: run('node') }, (impl, r) => {
      const copies = impl === 'ustack' ? `, ${r.copiesPerByte.toFixed(2)} copies per byte` : '';
      log(`  bulk mtu ${mtu}${offloads ? ' offloads' : ''} ${impl}: ${r.gbps.toFixed(2)} Gbit/s, ${r.allocPerMB.toFixed(0)} B heap allocated per MB, ${r.cpuPerMB.toFixed(0)} µs CPU per MB${copies}`);
      gb[impl].push(r.gbps);
      al[impl].push(r.allocPerMB);
      cpu[impl].push(r.cpuPerMB);
      if (impl === 'ustack') cp.ustack.push(r.copiesPerByte);
    });
    for (const e of Object.values(envs)) await e.close();
    rows.push(gb, al, cpu, cp);
  }
}

// ----------------------------------------------------- 4. connection rate

async function connRound(env: Env, port: number, ms: number, concurrency: number): Promise<number> {
  let completed = 0;
  let stop = false;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (!stop) {
      await new Promise<void>((resolve) => {
        const c = env.net.connect(port, env.host);
        c.on('error', () => {});
        c.on('close', () => {
          completed++;
          resolve();
        });
        c.resume();
      });
      if (performance.now() - t0 >= ms) stop = true;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return completed / ((performance.now() - t0) / 1000);
}

export async function tcpConnRate(opts: BenchOptions, rows: Row[]): Promise<void> {
  const row: Row = {
    scenario: '4 TCP connect+accept+close',
    metric: 'connections/s (16 concurrent)',
    unit: '/s',
    ustack: [],
    node: [],
    target: '',
    higherIsBetter: true,
  };
  const setups: Partial<Record<Impl, { env: Env; srv: Srv; port: number }>> = {};
  for (const impl of opts.impls) {
    const env = impl === 'ustack' ? await ustackEnv() : nodeEnv();
    // The server closes first (as an HTTP/1.0 server would): TIME_WAIT stays on its side.
    const srv = env.net.createServer((s) => {
      s.on('error', () => {});
      s.end();
      s.resume();
    });
    const port = await listen(srv, 0, env.host);
    await connRound(env, port, 100, 16);
    setups[impl] = { env, srv, port };
  }
  const run = (impl: Impl) => async (): Promise<number> => {
    const s = setups[impl]!;
    return connRound(s.env, s.port, Math.min(opts.roundMs, 1000), 16);
  };
  await alternate(opts, { ustack: run('ustack'), node: run('node') }, (impl, r) => {
    log(`  conn ${impl}: ${r.toFixed(0)}/s`);
    row[impl].push(r);
  });
  for (const s of Object.values(setups)) {
    await closeServer(s.srv);
    await s.env.close();
  }
  rows.push(row);
}

// ------------------------------------------- 4. memory per idle connection

interface HoldResult {
  heapPerSocket: number;
  externalPerSocket: number;
  rssPerSocket: number;
  held: number;
  note?: string;
}

async function settleMemory(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    gc();
  }
  return process.memoryUsage();
}

const SERVER_PORTS = 8;

/** The hard open-file limit (node raises its soft limit to it at startup; npm run bench first tries ulimit -n 1048576). */
function fdLimit(): number {
  try {
    return Number(execSync('ulimit -Hn', { shell: '/bin/sh' }).toString().trim());
  } catch {
    return Infinity;
  }
}

/**
 * One 'error' listener for every held socket (both implementations): a
 * closure per socket would be counted as the socket's memory.
 */
const ignoreError = (): void => {};
/** Echo for the "used, then idle" variant (one shared function, as ignoreError). */
function echoData(this: Sock, d: Buffer): void {
  this.write(d);
}
const REQUEST = Buffer.alloc(64, 0x61);

/**
 * ustack: both ends in this process; figures are per socket (connection
 * end). Default TCP buffer sizes (256 KiB each way): rings hold storage only
 * while bytes are buffered.
 */
async function holdUstack(n: number, exchange: boolean): Promise<HoldResult> {
  const env = await ustackEnv(1500);
  const servers: Srv[] = [];
  const accepted: Sock[] = [];
  const ports: number[] = [];
  for (let i = 0; i < SERVER_PORTS; i++) {
    const srv = env.net.createServer((s) => {
      s.on('error', ignoreError);
      if (exchange) s.on('data', echoData);
      accepted.push(s);
    });
    ports.push(await listen(srv, 7000 + i, env.host));
    servers.push(srv);
  }
  const before = await settleMemory();
  const clients: Sock[] = [];
  let failed = 0;
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < n) {
      const port = ports[i++ % SERVER_PORTS]!;
      await new Promise<void>((resolve) => {
        const c = env.net.connect(port, env.host);
        const onError = (): void => {
          failed++;
          resolve();
        };
        c.once('error', onError);
        c.once('connect', () => {
          // Leave no per-socket once-wrapper behind (node's client side is not measured at all).
          c.off('error', onError);
          c.on('error', ignoreError);
          clients.push(c);
          if (!exchange) {
            resolve();
            return;
          }
          // One request and its echo, then idle.
          c.once('data', () => resolve());
          c.write(REQUEST);
        });
      });
    }
  };
  await Promise.all(Array.from({ length: 256 }, worker));
  while (accepted.length < clients.length) await tick();
  if (exchange) await sleep(200); // the last delayed ACKs go out
  const after = await settleMemory();
  const held = clients.length;
  const sockets = held * 2;
  const r: HoldResult = {
    heapPerSocket: (after.heapUsed - before.heapUsed) / sockets,
    externalPerSocket: (after.external - before.external) / sockets,
    rssPerSocket: (after.rss - before.rss) / sockets,
    held,
    ...(failed > 0 ? { note: `${failed} connects failed` } : {}),
  };
  for (const c of clients) c.destroy();
  for (const s of accepted) s.destroy();
  for (const s of servers) await closeServer(s);
  await env.close();
  return r;
}

const HOLD_CLIENT = benchFile('hold-client.mjs');

/**
 * node:net: the server's sockets are held here, the client ends in a child
 * process (RLIMIT_NOFILE caps one process's descriptors); figures are per
 * server-side socket.
 */
async function holdNode(n: number, exchange: boolean): Promise<HoldResult> {
  const srvSockets: Sock[] = [];
  const srv = nodeNet.createServer((s) => {
    s.on('error', ignoreError);
    if (exchange) s.on('data', echoData);
    srvSockets.push(s);
  });
  srv.on('error', () => {});
  const port = await listen(srv, 0, '127.0.0.1');
  const before = await settleMemory();
  const child = spawn(process.execPath, [HOLD_CLIENT, String(port), String(n), ...(exchange ? ['exchange'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) resolve(buf.trim());
    });
    child.on('exit', () => resolve(buf.trim() || 'exited'));
  });
  const m = /held (\d+) failed (\d+)(?: (\S+))?/.exec(line);
  const clientHeld = m ? Number(m[1]) : 0;
  for (let k = 0; k < 1000 && srvSockets.length < clientHeld; k++) await sleep(5);
  const after = await settleMemory();
  const held = srvSockets.length;
  const r: HoldResult = {
    heapPerSocket: held ? (after.heapUsed - before.heapUsed) / held : NaN,
    externalPerSocket: held ? (after.external - before.external) / held : NaN,
    rssPerSocket: held ? (after.rss - before.rss) / held : NaN,
    held,
    ...(m && Number(m[2]) > 0 ? { note: `${m[2]} connects failed (${m[3] ?? '?'}); RLIMIT_NOFILE ${line}` } : {}),
  };
  child.stdin!.end();
  await new Promise((res) => child.once('exit', res));
  for (const s of srvSockets) s.destroy();
  await closeServer(srv);
  return r;
}

export async function tcpHold(opts: BenchOptions, rows: Row[], notes: string[]): Promise<void> {
  // Each count idle from the start; the smallest count also "used, then
  // idle": one 64 B request and its echo on every connection first.
  const runs: { n: number; exchange: boolean }[] = opts.holdCounts.map((n) => ({ n, exchange: false }));
  if (opts.holdCounts.length > 0) runs.splice(1, 0, { n: Math.min(...opts.holdCounts), exchange: true });
  for (const { n, exchange } of runs) {
    const heap: Row = {
      scenario: `4 ${n.toLocaleString('en')} idle connections${exchange ? ', after one 64 B request/response each' : ''}`,
      metric: 'heap per socket',
      unit: 'B',
      ustack: [],
      node: [],
      target: '≤ 2048 B',
      higherIsBetter: false,
    };
    const ext: Row = { ...heap, metric: 'external (ArrayBuffer) per socket', ustack: [], node: [], target: '' };
    const rss: Row = { ...heap, metric: 'RSS per socket', ustack: [], node: [], target: '', nodeNote: 'server process only; kernel socket memory not counted' };
    const tag = `hold ${n}${exchange ? ' (exchange)' : ''}`;
    for (const impl of opts.impls) {
      if (impl === 'node' && n + 1000 > fdLimit()) {
        // The accepting process holds one descriptor per connection.
        notes.push(`${tag} on node: not run: RLIMIT_NOFILE is ${fdLimit()} (hard limit; raising it needs CAP_SYS_RESOURCE)`);
        log(`  ${tag} node: skipped, RLIMIT_NOFILE ${fdLimit()}`);
        continue;
      }
      let r: HoldResult;
      try {
        r = impl === 'ustack' ? await holdUstack(n, exchange) : await holdNode(n, exchange);
      } catch (e) {
        notes.push(`${tag} on ${impl}: ${(e as Error).message}`);
        continue;
      }
      log(`  ${tag} ${impl}: held ${r.held}, heap ${r.heapPerSocket.toFixed(0)} B/socket, external ${r.externalPerSocket.toFixed(0)} B/socket, rss ${r.rssPerSocket.toFixed(0)} B/socket ${r.note ?? ''}`);
      if (r.held < n) notes.push(`${tag} on ${impl}: only ${r.held} connections held${r.note ? ` (${r.note})` : ''}`);
      if (r.held > 0) {
        heap[impl].push(r.heapPerSocket);
        ext[impl].push(r.externalPerSocket);
        rss[impl].push(r.rssPerSocket);
      }
    }
    rows.push(heap, ext, rss);
  }
}
