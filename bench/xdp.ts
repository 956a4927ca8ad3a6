/**
 * 7. AF_XDP against the kernel's own stack on the same veth pair, the same
 * client (kernel sockets in a network namespace, its own process) for both:
 *
 *   netns uxbench: uxb1 10.79.0.3/24 (TX checksum offload off: XDP sees frames as sent)
 *   root:          uxb0 10.79.0.1/24 (the kernel's address), ustack 10.79.0.2 on uxb0 (xdp:uxb0)
 *
 * ustack's echo, sink, UDP echo and node:http servers listen on 10.79.0.2
 * (AF_XDP; the XDP program redirects what is addressed there), the kernel's
 * (node:net, node:dgram, node:http on kernel sockets, in this process) on
 * 10.79.0.1, the same interface (XDP_PASS). Rows: TCP RR 64 B, bulk upload,
 * UDP echo 64 B (32 in flight), HTTP requests/s (wrk -t1 -c16 when installed,
 * else a node:http client with 16 keep-alive connections).
 */
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import { execFile, execSync } from 'node:child_process';
import { Stack } from '../src/ustack.js';
import { serveHttp } from '../src/socket/http.js';
import { alternate, benchFile, log, type BenchOptions, type Impl, type Row } from './lib.js';

const NS = 'uxbench';
const HOST_IF = 'uxb0';
const PEER_IF = 'uxb1';
const CLIENT = benchFile('xdp-client.mjs');
const KERNEL = '10.79.0.1';
const USTACK = '10.79.0.2';

function sh(cmd: string): void {
  execSync(cmd, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function quiet(cmd: string): void {
  try {
    sh(cmd);
  } catch {
    /* absent already */
  }
}

function teardown(): void {
  quiet(`ip netns del ${NS}`);
  quiet(`ip link del ${HOST_IF}`);
}

function inNs(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', NS, cmd, ...args], { timeout: 600_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`));
      else resolve(stdout);
    });
  });
}

async function client(mode: string, host: string, port: number, arg: number): Promise<Record<string, number>> {
  const out = await inNs(process.execPath, [CLIENT, mode, host, String(port), String(arg)]);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '') as Record<string, number>;
  if ('error' in r) throw new Error(`client: ${String(r.error)}`);
  return r;
}

function hasWrk(): boolean {
  try {
    execSync('command -v wrk', { stdio: 'ignore', shell: '/bin/sh' });
    return true;
  } catch {
    return false;
  }
}

/** Requests/s from wrk -t1 -c16 (the same client for both). */
async function wrk(host: string, port: number, ms: number): Promise<number> {
  const out = await inNs('wrk', ['-t1', '-c16', `-d${Math.max(1, Math.round(ms / 1000))}s`, `http://${host}:${port}/`]);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!m) throw new Error(`wrk: no Requests/sec in ${out}`);
  return Number(m[1]);
}

type Listener = { close(): unknown };

async function servers(
  net: Pick<typeof nodeNet, 'createServer'>,
  udp: Pick<typeof dgram, 'createSocket'>,
  host: string,
  ports: { echo: number; sink: number; udp: number; http: number },
  serveHttpOn: (server: http.Server, port: number) => Promise<Listener>,
): Promise<Listener[]> {
  const echo = net.createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  const sink = net.createServer((s) => {
    s.resume();
    s.on('end', () => s.end());
    s.on('error', () => {});
  });
  const listen = (srv: nodeNet.Server, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => resolve());
    });
  await Promise.all([listen(echo, ports.echo), listen(sink, ports.sink)]);
  const u = udp.createSocket('udp4');
  u.on('message', (msg, rinfo) => u.send(msg, rinfo.port, rinfo.address));
  await new Promise<void>((r) => u.bind(ports.udp, host, () => r()));
  const body = Buffer.from('hello from node:http\n');
  const hs = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
  });
  const hl = await serveHttpOn(hs, ports.http);
  return [echo, sink, { close: () => u.close() }, hl, hs];
}

export async function xdpScenarios(opts: BenchOptions, rows: Row[], notes: string[]): Promise<void> {
  if (process.getuid?.() !== 0) {
    notes.push('xdp: skipped (needs root for XDP, veth and network namespaces)');
    return;
  }
  teardown();
  let stack: Stack | null = null;
  const closers: Listener[] = [];
  try {
    sh(`ip netns add ${NS}`);
    sh(`ip link add ${HOST_IF} type veth peer name ${PEER_IF} netns ${NS}`);
    sh(`ip addr add ${KERNEL}/24 dev ${HOST_IF}`);
    sh(`ip link set ${HOST_IF} up`);
    sh(`ip -n ${NS} addr add 10.79.0.3/24 dev ${PEER_IF}`);
    sh(`ip -n ${NS} link set ${PEER_IF} up`);
    sh(`ip -n ${NS} link set lo up`);
    sh(`ip netns exec ${NS} ethtool -K ${PEER_IF} tx off`);
    stack = await Stack.open({ nic: `xdp:${HOST_IF}`, address: `${USTACK}/24` });
    const ports = { echo: 7, sink: 9, udp: 7, http: 8080 };
    const ustackNet = stack.net;
    closers.push(...(await servers(ustackNet as unknown as typeof nodeNet, stack.dgram as unknown as typeof dgram, USTACK, ports, (s, p) => serveHttp(ustackNet, s, p, USTACK))));
    closers.push(
      ...(await servers(nodeNet, dgram, KERNEL, ports, (s, p) => new Promise<Listener>((r) => s.listen(p, KERNEL, () => r(s))))),
    );
    const where: Record<Impl, string> = { ustack: USTACK, node: KERNEL };
    const mode = `${(stack.stats()[`nic.${HOST_IF}`]!.native ?? 0) ? 'native' : 'generic'} XDP, copy mode`;
    notes.push(`xdp: ${mode} on a veth; the node column is the kernel's own TCP/UDP on the same veth, the same client`);
    for (const impl of opts.impls) {
      await client('rr', where[impl], ports.echo, 200);
      await client('bulk', where[impl], ports.sink, 8 << 20);
    }
    const base = { target: '', nodeNote: 'kernel stack, same veth', higherIsBetter: true };
    const rate: Row = { ...base, scenario: '7 AF_XDP vs kernel: TCP RR 64 B', metric: 'transactions/s', unit: '/s', ustack: [], node: [], target: '≥ 1.5×' };
    const p50: Row = { ...rate, metric: 'p50 latency', unit: 'µs', ustack: [], node: [], target: '', higherIsBetter: false };
    await alternate(
      opts,
      { ustack: () => client('rr', where.ustack, ports.echo, opts.roundMs), node: () => client('rr', where.node, ports.echo, opts.roundMs) },
      (impl, r) => {
        log(`  xdp rr ${impl}: ${r.rate!.toFixed(0)}/s p50 ${r.p50!.toFixed(1)} µs p99 ${r.p99!.toFixed(1)} µs`);
        rate[impl].push(r.rate!);
        p50[impl].push(r.p50!);
      },
    );
    const bytes = Math.min(opts.bulkBytes, 256 << 20);
    const bulk: Row = { ...base, scenario: `7 AF_XDP vs kernel: TCP bulk ${bytes >> 20} MiB upload`, metric: 'throughput', unit: 'Gbit/s', ustack: [], node: [], target: '≥ 1×' };
    await alternate(
      opts,
      { ustack: () => client('bulk', where.ustack, ports.sink, bytes), node: () => client('bulk', where.node, ports.sink, bytes) },
      (impl, r) => {
        log(`  xdp bulk ${impl}: ${r.gbps!.toFixed(2)} Gbit/s`);
        bulk[impl].push(r.gbps!);
      },
    );
    const udp: Row = { ...base, scenario: '7 AF_XDP vs kernel: UDP echo 64 B, 32 in flight', metric: 'datagrams/s', unit: '/s', ustack: [], node: [], target: '≥ 1.5×' };
    await alternate(
      opts,
      { ustack: () => client('udp', where.ustack, ports.udp, opts.roundMs), node: () => client('udp', where.node, ports.udp, opts.roundMs) },
      (impl, r) => {
        log(`  xdp udp ${impl}: ${r.rate!.toFixed(0)}/s`);
        udp[impl].push(r.rate!);
      },
    );
    const useWrk = hasWrk();
    if (!useWrk) notes.push('xdp: wrk not installed (apt-get install wrk): HTTP row from a node:http client');
    const web: Row = { ...base, scenario: `7 AF_XDP vs kernel: node:http, ${useWrk ? 'wrk -t1 -c16' : 'node client, 16 connections'}`, metric: 'requests/s', unit: '/s', ustack: [], node: [] };
    const httpRound = async (host: string): Promise<number> => (useWrk ? wrk(host, ports.http, opts.roundMs) : (await client('http', host, ports.http, opts.roundMs)).rate!);
    await alternate(
      opts,
      { ustack: () => httpRound(where.ustack), node: () => httpRound(where.node) },
      (impl, r) => {
        log(`  xdp http ${impl}: ${r.toFixed(0)}/s`);
        web[impl].push(r);
      },
    );
    rows.push(rate, p50, bulk, udp, web);
    const nic = stack.stats()[`nic.${HOST_IF}`]!;
    notes.push(`xdp: ustack's socket: ${nic.framesIn} frames in, ${nic.framesOut} out, ${nic.txKicks} sendto kicks, ${nic.wakeups} wake-ups, kernel drops ${nic.kernelRxDropped}/${nic.kernelRxRingFull}/${nic.kernelFillRingEmpty} (dropped/RX full/fill empty)`);
  } finally {
    for (const s of closers) s.close();
    await stack?.close();
    teardown();
  }
}
