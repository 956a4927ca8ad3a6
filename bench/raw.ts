/**
 * 5. The raw burst path, 64 B frames:
 *  - NIC: MemoryNic pair rxBurst/txBurst (alloc, txBurst 32, peer rxBurst, release);
 *    TapNic txBurst through the addon (one write(2) per frame into a TAP).
 *  - Interface: L2 transmit (UDP send -> IPv4 + Ethernet into a NIC slot ->
 *    TX batch -> txBurst) and L2 receive (rxBurst -> Ethernet/IPv4/UDP
 *    validation incl. checksums -> UDP endpoint handler -> release).
 * The "node" column is node:dgram sending 64 B datagrams to a local port as
 * fast as it can (the nearest thing node offers to a packet path).
 */
import * as nodeDgram from 'node:dgram';
import { MemoryNic } from '../src/driver/memory-nic.js';
import { TapNic } from '../src/driver/tap-nic.js';
import { NetStack } from '../src/stack/net-stack.js';
import { RealClock } from '../src/time/clock.js';
import type { Interface } from '../src/stack/iface/interface.js';
import { AllocMeter, alternate, gc, log, type BenchOptions, type Row } from './lib.js';

const BURST = 32;

interface RateResult {
  pps: number;
  allocPerPacket: number;
}

function timed(ms: number, body: () => number): RateResult {
  gc();
  const meter = new AllocMeter();
  meter.start();
  const t0 = performance.now();
  let frames = 0;
  let now = t0;
  const end = t0 + ms;
  while (now < end) {
    for (let k = 0; k < 64; k++) frames += body();
    now = performance.now();
  }
  const alloc = meter.stop();
  return { pps: frames / ((now - t0) / 1000), allocPerPacket: alloc / frames };
}

function memoryNicBurst(ms: number): RateResult {
  const [a, b] = MemoryNic.pair();
  const slots = new Uint32Array(BURST);
  const lens = new Uint32Array(BURST);
  const rs = new Uint32Array(BURST);
  const rl = new Uint32Array(BURST);
  const body = (): number => {
    for (let i = 0; i < BURST; i++) {
      slots[i] = a.alloc();
      lens[i] = 64;
    }
    a.txBurst(slots, lens, BURST);
    const n = b.rxBurst(rs, rl, BURST);
    for (let i = 0; i < n; i++) b.release(rs[i]!);
    return n;
  };
  timed(50, body);
  return timed(ms, body);
}

let tapNic: TapNic | null | undefined;
function tapTxBurst(ms: number): RateResult | null {
  if (tapNic === undefined) {
    try {
      tapNic = TapNic.open({ name: 'ubenchraw0' });
    } catch (e) {
      log(`  raw: no TAP (${(e as Error).message}); skipping TAP burst`);
      tapNic = null;
    }
  }
  const nic = tapNic;
  if (nic === null) return null;
  const slots = new Uint32Array(BURST);
  const lens = new Uint32Array(BURST);
  // A broadcast frame with a local experimental ethertype: the kernel drops it at once.
  for (let i = 0; i < BURST; i++) {
    const s = nic.alloc();
    const o = s * nic.slotSize;
    nic.pool.fill(0xff, o, o + 6);
    nic.pool.fill(0x02, o + 6, o + 12);
    nic.pool[o + 12] = 0x88;
    nic.pool[o + 13] = 0xb5;
    nic.release(s);
  }
  const body = (): number => {
    for (let i = 0; i < BURST; i++) {
      slots[i] = nic.alloc();
      lens[i] = 64;
    }
    const sent = nic.txBurst(slots, lens, BURST);
    for (let i = sent; i < BURST; i++) nic.release(slots[i]!);
    return sent;
  };
  timed(50, body);
  return timed(ms, body);
}

interface L2Pair {
  a: NetStack;
  b: NetStack;
  ia: Interface;
  ib: Interface;
  na: MemoryNic;
  nb: MemoryNic;
}

const A_IP = 0x0a000001;
const B_IP = 0x0a000002;

function l2Pair(): L2Pair {
  const clock = new RealClock();
  const [na, nb] = MemoryNic.pair({ slotCount: 2048, rxRingSize: 1024 });
  const a = new NetStack(clock);
  const b = new NetStack(clock);
  const ia = a.addInterface(na, { name: 'a', address: A_IP, prefixLength: 24, gateway: 0 });
  const ib = b.addInterface(nb, { name: 'b', address: B_IP, prefixLength: 24, gateway: 0 });
  // Resolve each other (the gratuitous ARPs were flushed by addInterface).
  ib.poll();
  ia.poll();
  ia.neighbors.learn(B_IP, nb.mac, true, clock.now());
  ib.neighbors.learn(A_IP, na.mac, true, clock.now());
  return { a, b, ia, ib, na, nb };
}

/** UDP 64 B payloads sent through Interface.send (IPv4, Ethernet, UDP checksum), flushed in bursts. */
function l2Transmit(ms: number): RateResult {
  const p = l2Pair();
  const ep = p.a.udp.bind(A_IP, 5000, { onDatagram() {} });
  const data = new Uint8Array(64 - 42).fill(7); // 64 B frames: 14 + 20 + 8 + 22
  const rs = new Uint32Array(64);
  const rl = new Uint32Array(64);
  const body = (): number => {
    for (let i = 0; i < BURST; i++) ep.send(B_IP, 6000, data, 0, data.length);
    p.ia.flush();
    // Drain the peer without processing.
    const n = p.nb.rxBurst(rs, rl, 64);
    for (let i = 0; i < n; i++) p.nb.release(rs[i]!);
    return BURST;
  };
  timed(50, body);
  return timed(ms, body);
}

/** The peer's frames through Interface.poll: Ethernet, IPv4 and UDP checks, delivery to an endpoint. */
function l2Receive(ms: number): RateResult {
  const p = l2Pair();
  let got = 0;
  p.b.udp.bind(B_IP, 6000, { onDatagram() { got++; } });
  // One template frame built by A's stack, then replayed from A's pool.
  const ep = p.a.udp.bind(A_IP, 5000, { onDatagram() {} });
  const data = new Uint8Array(64 - 42).fill(7);
  ep.send(B_IP, 6000, data, 0, data.length);
  p.ia.flush();
  const rs = new Uint32Array(64);
  const rl = new Uint32Array(64);
  const n0 = p.nb.rxBurst(rs, rl, 64);
  if (n0 !== 1) throw new Error('l2Receive: template frame missing');
  const tmplSlot = rs[0]!;
  const tmplLen = rl[0]!;
  const tmpl = p.nb.pool.slice(tmplSlot * p.nb.slotSize, tmplSlot * p.nb.slotSize + tmplLen);
  p.nb.release(tmplSlot);
  // Keep a copy of the template in A's pool slot, re-sent by raw txBurst each round.
  const slots = new Uint32Array(BURST);
  const lens = new Uint32Array(BURST);
  const pool = p.na.pool;
  const body = (): number => {
    for (let i = 0; i < BURST; i++) {
      const s = p.na.alloc();
      const o = s * p.na.slotSize;
      for (let k = 0; k < tmplLen; k++) pool[o + k] = tmpl[k]!;
      slots[i] = s;
      lens[i] = tmplLen;
    }
    p.na.txBurst(slots, lens, BURST);
    const before = got;
    p.ib.poll();
    return got - before;
  };
  timed(50, body);
  return timed(ms, body);
}

let dgramSock: nodeDgram.Socket | null = null;
let sink: nodeDgram.Socket | null = null;
async function nodeDgramSend(ms: number): Promise<RateResult> {
  if (dgramSock === null) {
    sink = nodeDgram.createSocket('udp4');
    await new Promise<void>((r) => sink!.bind(0, '127.0.0.1', () => r()));
    dgramSock = nodeDgram.createSocket('udp4');
    await new Promise<void>((r) => dgramSock!.connect(sink!.address().port, '127.0.0.1', () => r()));
  }
  const s = dgramSock;
  const payload = Buffer.alloc(64 - 42, 7);
  gc();
  const meter = new AllocMeter();
  meter.start();
  const t0 = performance.now();
  let sent = 0;
  // Keep at most 256 sends queued; stop after ms.
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const done = (): void => {
      inFlight--;
      sent++;
      pump();
    };
    const pump = (): void => {
      if (performance.now() - t0 >= ms) {
        if (inFlight === 0) resolve();
        return;
      }
      while (inFlight < 256) {
        inFlight++;
        s.send(payload, done);
      }
    };
    pump();
  });
  const alloc = meter.stop();
  return { pps: sent / ((performance.now() - t0) / 1000), allocPerPacket: alloc / sent };
}

export async function rawPath(opts: BenchOptions, rows: Row[]): Promise<void> {
  const ms = Math.min(opts.roundMs, 1000);
  const mk = (metric: string, target: string): [Row, Row] => [
    { scenario: '5 raw path 64 B', metric, unit: 'pps', ustack: [], node: [], target, nodeNote: 'node:dgram send() to 127.0.0.1', higherIsBetter: true },
    { scenario: '5 raw path 64 B', metric: `${metric}: heap B/packet`, unit: 'B', ustack: [], node: [], target: 'no allocation per packet', higherIsBetter: false },
  ];
  const variants: [string, string, () => RateResult | null][] = [
    ['MemoryNic txBurst+rxBurst', '≥ 5 Mpps', () => memoryNicBurst(ms)],
    ['TapNic txBurst (addon, write(2) per frame)', '≥ 5 Mpps', () => tapTxBurst(ms)],
    ['Interface L2 transmit (UDP)', '', () => l2Transmit(ms)],
    ['Interface L2 receive (UDP)', '', () => l2Receive(ms)],
  ];
  for (const [name, target, fn] of variants) {
    const [r, a] = mk(name, target);
    await alternate(
      opts,
      {
        ustack: async () => fn(),
        node: async () => nodeDgramSend(ms),
      },
      (impl, res) => {
        if (res === null) return;
        log(`  raw ${name} ${impl}: ${(res.pps / 1e6).toFixed(2)} Mpps, ${res.allocPerPacket.toFixed(2)} B heap/packet`);
        r[impl].push(res.pps);
        a[impl].push(res.allocPerPacket);
      },
    );
    rows.push(r, a);
  }
  dgramSock?.close();
  sink?.close();
  dgramSock = sink = null;
  await tapNic?.close();
  tapNic = undefined;
}
