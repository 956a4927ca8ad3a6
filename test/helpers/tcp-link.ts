/**
 * Two TcpLayers joined by an in-memory IP link on a virtual clock, with
 * seeded impairments (loss, reordering, duplication, corruption, delay,
 * bandwidth). Segments travel as bytes (emitTcp on the way out, parse +
 * checksum verification by the receiving layer), so corruption is real.
 */
import { createHash, type Hash } from 'node:crypto';
import type { IpOutput, L4Writer } from '../../src/stack/iface/ip-output.js';
import { VirtualClock } from '../../src/time/clock.js';
import { TimerWheel } from '../../src/time/timer-wheel.js';
import { TcpLayer, type TcpLayerOptions } from '../../src/stack/tcp/tcp-layer.js';
import { State, type Connection, type TcpConfig } from '../../src/stack/tcp/connection.js';

export interface Impairments {
  loss?: number;
  reorder?: number;
  duplicate?: number;
  corrupt?: number;
  /** One-way propagation delay, ms. */
  delayMs?: number;
  /** Link rate in bit/s (0 = unlimited). */
  rateBps?: number;
  /** Drop-tail queue limit in packets when rate-limited. */
  queuePackets?: number;
}

/** mulberry32: small, fast, seedable. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

interface Packet {
  at: number;
  order: number;
  to: TcpLayer;
  src: number;
  dst: number;
  data: Uint8Array;
}

class Heap {
  private a: Packet[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Packet | undefined {
    return this.a[0];
  }
  private less(x: Packet, y: Packet): boolean {
    return x.at < y.at || (x.at === y.at && x.order < y.order);
  }
  push(p: Packet): void {
    const a = this.a;
    a.push(p);
    let i = a.length - 1;
    while (i > 0) {
      const pi = (i - 1) >> 1;
      if (!this.less(a[i]!, a[pi]!)) break;
      [a[i], a[pi]] = [a[pi]!, a[i]!];
      i = pi;
    }
  }
  pop(): Packet | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

export interface LinkStats {
  sent: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  queueDrops: number;
}

/** One direction's sender side of the link: the IpOutput a layer sends through. */
class LinkEnd implements IpOutput {
  peer!: TcpLayer;
  txFree = 0;
  queued = 0;
  /** TSO limit answered by tsoMaxFor() (0: none, the MTU); the link carries such segments whole. */
  tsoMax = 0;
  /** Longest TCP segment (header + payload) sent. */
  largest = 0;
  readonly stats: LinkStats = { sent: 0, lost: 0, duplicated: 0, reordered: 0, corrupted: 0, queueDrops: 0 };
  constructor(
    private readonly net: SimNet,
    readonly addr: number,
    readonly imp: Impairments,
    private readonly rng: Rng,
  ) {}
  sourceFor(): number {
    return this.addr;
  }
  mtuFor(): number {
    return this.net.mtu - 20;
  }
  checksumOffloadFor(): boolean {
    return false;
  }
  tsoMaxFor(): number {
    return this.tsoMax > 0 ? this.tsoMax : this.mtuFor();
  }
  send(src: number, dst: number, _protocol: number, length: number, write: L4Writer): boolean {
    const data = new Uint8Array(length);
    write(data, 0);
    this.stats.sent++;
    if (length > this.largest) this.largest = length;
    const imp = this.imp;
    const now = this.net.clock.now();
    if (imp.loss && this.rng.next() < imp.loss) {
      this.stats.lost++;
      return true;
    }
    let copies = 1;
    if (imp.duplicate && this.rng.next() < imp.duplicate) {
      copies = 2;
      this.stats.duplicated++;
    }
    // Serialisation at the link rate (drop-tail queue), then propagation delay.
    let depart = now;
    if (imp.rateBps) {
      const start = Math.max(now, this.txFree);
      const backlog = (start - now) / (((length + 20) * 8 * 1000) / imp.rateBps);
      if (backlog > (imp.queuePackets ?? 100)) {
        this.stats.queueDrops++;
        return true;
      }
      depart = start + ((length + 20) * 8 * 1000) / imp.rateBps;
      this.txFree = depart;
    }
    for (let c = 0; c < copies; c++) {
      let at = depart + (imp.delayMs ?? 0.5);
      const pkt = c === 0 ? data : data.slice();
      if (imp.reorder && this.rng.next() < imp.reorder) {
        at += 1 + this.rng.next() * 4 + (imp.delayMs ?? 0) * 0.2;
        this.stats.reordered++;
      }
      if (imp.corrupt && this.rng.next() < imp.corrupt) {
        const i = this.rng.int(length);
        pkt[i]! ^= 1 << this.rng.int(8);
        this.stats.corrupted++;
      }
      this.net.schedule({ at, order: 0, to: this.peer, src, dst, data: pkt });
    }
    return true;
  }
}

/** A 16-byte secret derived from a seed (SipHash keys are 128-bit). */
export function key16(seed: number, salt: number): Uint8Array {
  const r = new Rng((seed * 31 + salt) >>> 0);
  const k = new Uint8Array(16);
  for (let i = 0; i < 16; i++) k[i] = r.int(256);
  return k;
}

/** Steps at one virtual time before SimNet calls it a livelock (a real burst needs far fewer). */
const MAX_STEPS_AT_ONE_TIME = 1_000_000;

export class SimNet {
  readonly clock = new VirtualClock(0);
  readonly wheel = new TimerWheel(0);
  readonly a: TcpLayer;
  readonly b: TcpLayer;
  readonly endA: LinkEnd;
  readonly endB: LinkEnd;
  readonly addrA = 0x0a000001;
  readonly addrB = 0x0a000002;
  mtu = 1500;
  private readonly heap = new Heap();
  private order = 0;
  private lastStepAt = -Infinity;
  private stepsAtSameTime = 0;

  constructor(
    seed: number,
    impAtoB: Impairments,
    impBtoA: Impairments = impAtoB,
    config: Partial<TcpConfig> = {},
    /** More layer options for each end (hooks). */
    layers: { a?: Partial<TcpLayerOptions>; b?: Partial<TcpLayerOptions> } = {},
  ) {
    this.endA = new LinkEnd(this, this.addrA, impAtoB, new Rng(seed * 2 + 1));
    this.endB = new LinkEnd(this, this.addrB, impBtoA, new Rng(seed * 2 + 2));
    this.a = new TcpLayer(this.endA, this.wheel, this.clock, { config, ephemeralSeed: seed, isnSecret: key16(seed, 1), ...layers.a });
    this.b = new TcpLayer(this.endB, this.wheel, this.clock, { config, ephemeralSeed: seed + 1, isnSecret: key16(seed, 2), ...layers.b });
    this.endA.peer = this.b;
    this.endB.peer = this.a;
  }

  schedule(p: Packet): void {
    p.order = this.order++;
    this.heap.push(p);
  }

  /** Next event time (packet or timer), Infinity when idle. */
  nextEvent(): number {
    const p = this.heap.peek();
    const t = this.wheel.nextDeadline();
    return Math.min(p ? p.at : Infinity, t);
  }

  /** Runs one event time step; false when nothing is scheduled. */
  step(): boolean {
    const t = this.nextEvent();
    if (t === Infinity) return false;
    // A timer or packet loop that never lets virtual time move would spin
    // this synchronous loop forever, where no test timeout can fire.
    if (t > this.lastStepAt) {
      this.lastStepAt = t;
      this.stepsAtSameTime = 0;
    } else if (++this.stepsAtSameTime > MAX_STEPS_AT_ONE_TIME) {
      throw new Error(`SimNet: ${MAX_STEPS_AT_ONE_TIME} steps at virtual time ${t} ms without the clock moving (a timer or packet loop)`);
    }
    this.clock.advanceTo(t);
    const now = this.clock.now();
    for (;;) {
      const p = this.heap.peek();
      if (!p || p.at > now) break;
      this.heap.pop();
      p.to.input(p.src, p.dst, p.data, 0, p.data.length, false, now);
    }
    this.wheel.advance(now);
    return true;
  }
}

/** Deterministic data source: chunk k of a stream is derived from (seed, k). */
export class DataSource {
  private readonly chunk = new Uint8Array(65536);
  private chunkIndex = -1;
  constructor(
    readonly total: number,
    private readonly seed: number,
  ) {}
  /** Fills and returns the chunk holding stream offset `pos`, and the offset inside it. */
  at(pos: number): [Uint8Array, number] {
    const k = Math.floor(pos / 65536);
    if (k !== this.chunkIndex) {
      const r = new Rng((this.seed * 7919 + k * 104729) >>> 0);
      const c = this.chunk;
      for (let i = 0; i < c.length; i += 4) {
        const v = (r.next() * 4294967296) >>> 0;
        c[i] = v;
        c[i + 1] = v >>> 8;
        c[i + 2] = v >>> 16;
        c[i + 3] = v >>> 24;
      }
      this.chunkIndex = k;
    }
    return [this.chunk, pos % 65536];
  }
}

/** One end of a bulk transfer: writes its stream, reads the other, hashes both. */
export class BulkEnd {
  sent = 0;
  received = 0;
  shut = false;
  readonly txHash: Hash = createHash('sha256');
  readonly rxHash: Hash = createHash('sha256');
  private readonly rbuf = new Uint8Array(65536);
  closedError: string | undefined | null = null;
  constructor(
    readonly conn: Connection,
    readonly src: DataSource,
  ) {
    conn.events = {
      onClosed: (e) => {
        this.closedError = e;
      },
    };
  }
  pump(): void {
    const c = this.conn;
    while (this.sent < this.src.total) {
      const [buf, off] = this.src.at(this.sent);
      const len = Math.min(buf.length - off, this.src.total - this.sent);
      const n = c.write(buf, off, len);
      if (n <= 0) break;
      this.txHash.update(buf.subarray(off, off + n));
      this.sent += n;
    }
    if (this.sent === this.src.total && !this.shut && c.state !== State.SYN_SENT && c.state !== State.SYN_RECEIVED) {
      this.shut = true;
      c.shutdown();
    }
    for (;;) {
      const n = c.read(this.rbuf, 0, this.rbuf.length);
      if (n <= 0) break;
      this.rxHash.update(this.rbuf.subarray(0, n));
      this.received += n;
    }
  }
}

export interface BulkResult {
  virtualMs: number;
  steps: number;
  aToB: { txHash: string; rxHash: string; bytes: number };
  bToA: { txHash: string; rxHash: string; bytes: number };
  aState: string;
  bState: string;
  aError: string | undefined | null;
  bError: string | undefined | null;
  remaining: number;
  net: SimNet;
}

/**
 * Transfers `bytesAB` from A to B and `bytesBA` from B to A, then both
 * shut down; runs until both layers have no connections left (after
 * TIME_WAIT) or `maxVirtualMs` passes (a hang).
 */
export function runBulk(
  seed: number,
  imp: Impairments,
  bytesAB: number,
  bytesBA: number,
  opts: { config?: Partial<TcpConfig>; maxVirtualMs?: number; impBA?: Impairments; mtu?: number; tsoMax?: number } = {},
): BulkResult {
  const net = new SimNet(seed, imp, opts.impBA ?? imp, opts.config ?? {});
  if (opts.mtu !== undefined) net.mtu = opts.mtu;
  if (opts.tsoMax !== undefined) net.endA.tsoMax = net.endB.tsoMax = opts.tsoMax;
  let server: BulkEnd | null = null;
  net.b.listen(5001, 0, 128, (conn) => {
    server = new BulkEnd(conn, new DataSource(bytesBA, seed + 1000));
  });
  const client = new BulkEnd(net.a.connect(net.addrB, 5001), new DataSource(bytesAB, seed));
  const max = opts.maxVirtualMs ?? 3_600_000;
  let steps = 0;
  for (;;) {
    client.pump();
    (server as BulkEnd | null)?.pump();
    if (net.a.stats.currentConnections === 0 && net.b.stats.currentConnections === 0 && server !== null) break;
    if (!net.step()) break;
    steps++;
    if (net.clock.now() > max) break;
  }
  const s = server as BulkEnd | null;
  return {
    virtualMs: net.clock.now(),
    steps,
    aToB: { txHash: client.txHash.copy().digest('hex'), rxHash: s ? s.rxHash.copy().digest('hex') : '', bytes: s ? s.received : 0 },
    bToA: { txHash: s ? s.txHash.copy().digest('hex') : '', rxHash: client.rxHash.copy().digest('hex'), bytes: client.received },
    aState: client.conn.stateName,
    bState: s ? s.conn.stateName : 'none',
    aError: client.closedError,
    bError: s ? s.closedError : null,
    remaining: net.a.stats.currentConnections + net.b.stats.currentConnections,
    net,
  };
}
