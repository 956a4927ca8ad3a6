/**
 * Segment-script helpers for TCP tests on a virtual clock (in the spirit of
 * smoltcp's send!/recv! macros and gVisor's checker package).
 *
 * - ConnScript drives one pure Connection: `send({...})` feeds a segment in,
 *   `recv()` returns what came out, `advance(ms)` runs timers in order.
 * - LayerScript drives a TcpLayer through a capturing IpOutput: segments are
 *   real bytes (emitTcp / parseTcp), so it also checks the codec path.
 */
import {
  Connection,
  type ConnectionParams,
  type SegmentSink,
  type TcpConfig,
  type TcpErrorCode,
} from '../../src/stack/tcp/connection.js';
import { TcpLayer, type TcpLayerOptions } from '../../src/stack/tcp/tcp-layer.js';
import { TimerWheel } from '../../src/time/timer-wheel.js';
import { VirtualClock } from '../../src/time/clock.js';
import type { IpOutput, L4Writer } from '../../src/stack/iface/ip-output.js';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  emitTcp,
  parseTcp,
  tcpHeaderLength,
  type TcpRepr,
} from '../../src/wire/tcp.js';

/** A captured segment (a copy: the connection reuses its repr). */
export interface Seg {
  t: number;
  seq: number;
  ack: number;
  /** Letters in the order S F R P A, e.g. 'SA', 'PA', 'FA', 'RA', 'A'. */
  flags: string;
  window: number;
  len: number;
  payload: Uint8Array;
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  sack?: number[];
  tsVal?: number;
  tsEcr?: number;
  srcPort: number;
  dstPort: number;
}

export function flagStr(f: number): string {
  let s = '';
  if (f & TCP_SYN) s += 'S';
  if (f & TCP_FIN) s += 'F';
  if (f & TCP_RST) s += 'R';
  if (f & TCP_PSH) s += 'P';
  if (f & TCP_ACK) s += 'A';
  return s;
}

export function flagBits(s: string): number {
  let f = 0;
  for (const c of s) {
    if (c === 'S') f |= TCP_SYN;
    else if (c === 'F') f |= TCP_FIN;
    else if (c === 'R') f |= TCP_RST;
    else if (c === 'P') f |= TCP_PSH;
    else if (c === 'A') f |= TCP_ACK;
    else throw new Error(`bad flag letter ${c}`);
  }
  return f;
}

function capture(r: TcpRepr, payload: Uint8Array, t: number): Seg {
  const s: Seg = {
    t,
    seq: r.seq >>> 0,
    ack: r.ack >>> 0,
    flags: flagStr(r.flags),
    window: r.window,
    len: r.payloadLength,
    payload,
    srcPort: r.srcPort,
    dstPort: r.dstPort,
  };
  if (r.mss !== undefined) s.mss = r.mss;
  if (r.windowScale !== undefined) s.windowScale = r.windowScale;
  if (r.sackPermitted) s.sackPermitted = true;
  if (r.sack !== undefined && r.sack.length > 0) s.sack = r.sack.slice();
  if (r.tsVal !== undefined) {
    // The connection hands timestamps over as int32 bit patterns (SegmentSink).
    s.tsVal = r.tsVal >>> 0;
    s.tsEcr = r.tsEcr !== undefined ? r.tsEcr >>> 0 : undefined;
  }
  return s;
}

/** What a test feeds in. Unset fields take defaults (window 65535, no options). */
export interface SegIn {
  seq: number;
  ack?: number;
  flags: string;
  window?: number;
  payload?: Uint8Array | string;
  mss?: number;
  windowScale?: number;
  sackPermitted?: boolean;
  sack?: number[];
  tsVal?: number;
  tsEcr?: number;
}

export function bytes(s: string | Uint8Array): Uint8Array {
  return typeof s === 'string' ? new TextEncoder().encode(s) : s;
}

export function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >>> 8)) & 0xff;
  return b;
}

function toRepr(s: SegIn, srcPort: number, dstPort: number, payloadLen: number): TcpRepr {
  const r: TcpRepr = {
    srcPort,
    dstPort,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: flagBits(s.flags),
    window: s.window ?? 65535,
    urgent: 0,
    payloadLength: payloadLen,
  };
  if (s.mss !== undefined) r.mss = s.mss;
  if (s.windowScale !== undefined) r.windowScale = s.windowScale;
  if (s.sackPermitted) r.sackPermitted = true;
  if (s.sack !== undefined) r.sack = s.sack.map((x) => x >>> 0);
  if (s.tsVal !== undefined) {
    r.tsVal = s.tsVal >>> 0;
    r.tsEcr = (s.tsEcr ?? 0) >>> 0;
  }
  return r;
}

export interface EventLog {
  connected: number;
  readable: number;
  writable: number;
  peerClosed: number;
  closed: number;
  closeError: TcpErrorCode | undefined;
  log: string[];
}

/** Attaches counting event handlers to a connection. */
export function watch(conn: Connection): EventLog {
  const ev: EventLog = { connected: 0, readable: 0, writable: 0, peerClosed: 0, closed: 0, closeError: undefined, log: [] };
  conn.events = {
    onConnected: () => {
      ev.connected++;
      ev.log.push('connected');
    },
    onReadable: () => {
      ev.readable++;
      ev.log.push('readable');
    },
    onWritable: () => {
      ev.writable++;
      ev.log.push('writable');
    },
    onPeerClosed: () => {
      ev.peerClosed++;
      ev.log.push('peerClosed');
    },
    onClosed: (e) => {
      ev.closed++;
      ev.closeError = e;
      ev.log.push(`closed${e ? ':' + e : ''}`);
    },
  };
  return ev;
}

export const LOCAL_ADDR = 0x0a000001; // 10.0.0.1
export const REMOTE_ADDR = 0x0a000002; // 10.0.0.2
export const LOCAL_PORT = 80;
export const REMOTE_PORT = 49500;

/**
 * Drives one Connection on a virtual clock. The "remote" side is the test:
 * `send` is a segment from the peer, `recv` what the connection emitted.
 */
export class ConnScript implements SegmentSink {
  readonly conn: Connection;
  now = 0;
  private readonly outQ: Seg[] = [];
  readonly ev: EventLog;
  /** Make emitSegment fail (no buffer) while true. */
  blockOutput = false;

  constructor(
    opts: { iss?: number; mmsS?: number; tsoMaxS?: number; config?: Partial<TcpConfig>; tsOffset?: number; start?: number } = {},
  ) {
    this.now = opts.start ?? 0;
    const params: ConnectionParams = {
      localAddr: LOCAL_ADDR,
      localPort: LOCAL_PORT,
      remoteAddr: REMOTE_ADDR,
      remotePort: REMOTE_PORT,
      iss: opts.iss ?? 1000,
      mmsS: opts.mmsS ?? 1480,
      tsOffset: opts.tsOffset ?? 0,
      tsoMaxS: opts.tsoMaxS,
      config: opts.config,
    };
    this.conn = new Connection(params);
    this.ev = watch(this.conn);
  }

  emitSegment(conn: Connection, repr: TcpRepr, ringOffset: number): boolean {
    if (this.blockOutput) return false;
    const p = new Uint8Array(repr.payloadLength);
    if (repr.payloadLength > 0) conn.copyPayload(ringOffset, p, 0, repr.payloadLength);
    this.outQ.push(capture(repr, p, this.now));
    return true;
  }

  /** Feeds a peer segment in and dispatches at the current time. */
  send(s: SegIn): this {
    const p = s.payload !== undefined ? bytes(s.payload) : new Uint8Array(0);
    const r = toRepr(s, REMOTE_PORT, LOCAL_PORT, p.length);
    this.conn.process(r, p, 0, this.now);
    this.conn.dispatch(this.now, this);
    return this;
  }

  /** Dispatch at the current time (after application calls). */
  dispatch(): this {
    this.conn.dispatch(this.now, this);
    return this;
  }

  /** Everything emitted since the last recv(). */
  recv(): Seg[] {
    return this.outQ.splice(0);
  }

  /** Exactly one segment must have been emitted. */
  recvOne(): Seg {
    const o = this.recv();
    if (o.length !== 1) throw new Error(`expected 1 segment, got ${o.length}: ${JSON.stringify(o.map(short))}`);
    return o[0]!;
  }

  recvNone(): void {
    const o = this.recv();
    if (o.length !== 0) throw new Error(`expected no segment, got ${o.length}: ${JSON.stringify(o.map(short))}`);
  }

  /**
   * Moves time forward by `ms`, running every timer due on the way at its own
   * deadline (so emitted segments carry the exact time they went out).
   */
  advance(ms: number): this {
    return this.advanceTo(this.now + ms);
  }

  advanceTo(target: number): this {
    let guard = 0;
    for (;;) {
      const at = this.conn.pollAt();
      if (at > target) break;
      if (at > this.now) this.now = at;
      this.conn.dispatch(this.now, this);
      if (++guard > 100_000) throw new Error('advance: timer loop does not settle');
      if (this.conn.pollAt() <= this.now && at <= this.now && this.conn.pollAt() === at) {
        // A deadline that does not move after dispatch would loop forever.
        if (guard > 1000) throw new Error(`advance: pollAt stuck at ${at}`);
      }
    }
    this.now = Math.max(this.now, target);
    return this;
  }

  /** Active open up to ESTABLISHED; returns the SYN we saw. Peer ISS default 5000. */
  establishActive(peer: { iss?: number; mss?: number; windowScale?: number; sack?: boolean; ts?: boolean; window?: number } = {}): Seg {
    this.conn.connect(this.now);
    this.dispatch();
    const syn = this.recvOne();
    const ts = peer.ts ?? false;
    this.send({
      seq: peer.iss ?? 5000,
      ack: syn.seq + 1,
      flags: 'SA',
      window: peer.window ?? 65535,
      mss: peer.mss ?? 1460,
      windowScale: peer.windowScale,
      sackPermitted: peer.sack,
      tsVal: ts ? 100 : undefined,
      tsEcr: ts ? syn.tsVal : undefined,
    });
    this.recvOne(); // the ACK
    return syn;
  }

  /** Passive open up to ESTABLISHED from a SYN with the given options. Peer ISS default 5000. */
  establishPassive(peer: { iss?: number; mss?: number; windowScale?: number; sack?: boolean; ts?: boolean; window?: number } = {}): Seg {
    const ts = peer.ts ?? false;
    const iss = peer.iss ?? 5000;
    const syn: TcpRepr = toRepr(
      {
        seq: iss,
        flags: 'S',
        window: peer.window ?? 65535,
        mss: peer.mss ?? 1460,
        windowScale: peer.windowScale,
        sackPermitted: peer.sack,
        tsVal: ts ? 100 : undefined,
        tsEcr: ts ? 0 : undefined,
      },
      REMOTE_PORT,
      LOCAL_PORT,
      0,
    );
    this.conn.acceptSyn(syn, this.now);
    this.dispatch();
    const sa = this.recvOne();
    this.send({ seq: iss + 1, ack: sa.seq + 1, flags: 'A', window: peer.window ?? 65535, tsVal: ts ? 101 : undefined, tsEcr: ts ? sa.tsVal : undefined });
    this.recvNone();
    return sa;
  }
}

export function short(s: Seg): string {
  return `${s.t}ms ${s.flags} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.len}${s.sack ? ' sack=' + s.sack.join(',') : ''}`;
}

// ---------------------------------------------------------------------------

/** A captured IP-level send from a TcpLayer. */
export interface Sent extends Seg {
  src: number;
  dst: number;
  checksumOk: boolean;
}

/** IpOutput that serialises every segment and keeps it for inspection. */
export class CaptureIp implements IpOutput {
  readonly sent: Sent[] = [];
  mtu = 1500;
  offload = false;
  fail = false;
  constructor(
    private readonly clock: VirtualClock,
    private readonly local = LOCAL_ADDR,
  ) {}
  sourceFor(): number {
    return this.local;
  }
  mtuFor(): number {
    return this.mtu - 20;
  }
  checksumOffloadFor(): boolean {
    return this.offload;
  }
  send(src: number, dst: number, _protocol: number, length: number, write: L4Writer): boolean {
    if (this.fail) return false;
    const buf = new Uint8Array(length + 8);
    write(buf, 4);
    let ok = true;
    let r: TcpRepr;
    try {
      r = parseTcp(buf, 4, length, src, dst, true);
    } catch {
      ok = false;
      r = parseTcp(buf, 4, length, src, dst, false);
    }
    const hl = tcpHeaderLength(r);
    const payload = buf.slice(4 + hl, 4 + length);
    this.sent.push({ ...capture(r, payload, this.clock.now()), src, dst, checksumOk: ok });
    return true;
  }
  take(): Sent[] {
    return this.sent.splice(0);
  }
}

/** A TcpLayer on a virtual clock whose peer is the test. */
export class LayerScript {
  readonly clock = new VirtualClock(0);
  readonly wheel = new TimerWheel(0);
  readonly ip: CaptureIp;
  readonly layer: TcpLayer;
  constructor(opts: TcpLayerOptions = {}, mtu = 1500) {
    this.ip = new CaptureIp(this.clock);
    this.ip.mtu = mtu;
    this.layer = new TcpLayer(this.ip, this.wheel, this.clock, { ephemeralSeed: 0, ...opts });
  }
  /** Injects a segment from `src:srcPort` to `dst:dstPort` as bytes. */
  inject(s: SegIn & { srcPort?: number; dstPort?: number; src?: number; dst?: number; corrupt?: boolean }): void {
    const p = s.payload !== undefined ? bytes(s.payload) : new Uint8Array(0);
    const src = s.src ?? REMOTE_ADDR;
    const dst = s.dst ?? LOCAL_ADDR;
    const r = toRepr(s, s.srcPort ?? REMOTE_PORT, s.dstPort ?? LOCAL_PORT, p.length);
    const hl = tcpHeaderLength(r);
    const buf = new Uint8Array(hl + p.length);
    buf.set(p, hl);
    emitTcp(r, buf, 0, src, dst, 'full');
    if (s.corrupt) buf[buf.length - 1]! ^= 0x40;
    this.layer.input(src, dst, buf, 0, buf.length, false, this.clock.now());
  }
  advance(ms: number): Sent[] {
    const target = this.clock.now() + ms;
    let last = -Infinity;
    let sameTime = 0;
    for (;;) {
      const next = this.wheel.nextDeadline();
      if (next > target) break;
      // A timer that re-arms at its own deadline would spin this synchronous loop forever.
      if (next > last) {
        last = next;
        sameTime = 0;
      } else if (++sameTime > 1_000_000) {
        throw new Error(`advance: timers keep firing at ${next} ms without time moving`);
      }
      this.clock.advanceTo(next);
      this.wheel.advance(this.clock.now());
    }
    this.clock.advanceTo(target);
    this.wheel.advance(target);
    return this.ip.take();
  }
  take(): Sent[] {
    return this.ip.take();
  }
}
