/**
 * The TCP layer (the protocol): input (checksum, parse, demultiplexing),
 * listeners (SYN queue, accept queue, SYN cookies: RFC 4987), resets for
 * closed ports (RFC 9293 §3.10.7.1), TIME_WAIT reuse, ephemeral ports,
 * ISNs (RFC 6528), one timer per connection on the stack's TimerWheel,
 * receive-burst coalescing, and output through IpOutput.
 *
 * Like gVisor's transport/tcp dispatcher + accept.go, and smoltcp's
 * Interface-side socket lookup. Every Connection is pure; this layer gives
 * it time (the TimerWheel), input (parsed segments) and output (emitTcp).
 */
import type { AddressIds, IcmpErrorKind, IpOutput, TransportInput } from '../iface/ip-output.js';
import type { Clock } from '../../time/clock.js';
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import { IPPROTO_TCP } from '../../wire/ipv4.js';
import { seqAdd, seqGt } from '../../wire/seq.js';
import { nativeCopySum } from '../../wire/kernels.js';
import { WireError } from '../../wire/errors.js';
import {
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  TcpSegmentView,
  newTcpRepr,
  tcpHeaderLength,
  type TcpRepr,
} from '../../wire/tcp.js';
import { codedError } from '../../errors/node-errors.js';
import { IsnGenerator } from './isn.js';
import { SynCookies } from './syncookie.js';
import { RingPool } from './ring-buffer.js';
import {
  DEFAULT_TCP_CONFIG,
  State,
  newLayerStats,
  type TcpConfig,
  type TcpLayerStats,
  type TcpState,
} from './types.js';
import { DEFAULT_PEER_MSS, advMssFor, windowShiftFor, type ConnectionHost, type SegmentSink } from './tcb.js';
import { FUSED_MIN, SegmentWrite, fillRst } from './output.js';
import { Connection } from './connection.js';
import { ConnTable } from './demux.js';
import { Listener } from './listener.js';
import { SegmentMerger } from './gro.js';

export { Listener } from './listener.js';
export type { TcpLayerStats } from './types.js';

export interface TcpLayerOptions {
  /** Defaults for every connection (each connect/listen may override). */
  config?: Partial<TcpConfig>;
  isnSecret?: Uint8Array;
  cookieSecret?: Uint8Array;
  /** Answer SYNs with SYN cookies when a listener's SYN queue is full (default true). */
  synCookies?: boolean;
  /** Ephemeral port range (RFC 6335 §6: 49152-65535). */
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Seed for the ephemeral port sequence (tests). */
  ephemeralSeed?: number;
  /** Called after a listener takes a port no listener had, or the last one on a port goes. */
  onPortsChanged?: () => void;
  /**
   * One NIC, many workers (src/shard/): whether an ephemeral local port may
   * be chosen for a connection to remoteAddr:remotePort — the NIC (or the
   * owner's steering) must send the replies back to this stack. Ports it
   * refuses are skipped.
   */
  acceptsLocalPort?: (localAddr: number, localPort: number, remoteAddr: number, remotePort: number) => boolean;
  /**
   * Called when a connection enters the connection table (opened) and when
   * it leaves it, before any segment of it is sent: a worker announces its
   * flows so the owner keeps steering them to it.
   */
  onConnectionTable?: (opened: boolean, localAddr: number, localPort: number, remoteAddr: number, remotePort: number) => void;
  /** Bytes of free ring storage kept for reuse by this layer's connections (default 4 MiB). */
  ringPoolBytes?: number;
  /**
   * Merge consecutive in-order data segments of a connection within a
   * receive burst before TCP input, as Linux's GRO does (gro.ts; default true).
   */
  mergeSegments?: boolean;
}

/**
 * A connection's timer. The wheel calls `timer.callback(now)` as a method of
 * the timer, so one shared function serves every connection instead of a
 * closure (and its context) per connection.
 */
class ConnTimer extends Timer {
  constructor(readonly conn: Connection) {
    super(fireConnTimer);
  }
}

function fireConnTimer(this: unknown, now: number): void {
  if (!(this instanceof ConnTimer)) throw new Error('ConnTimer callback called without its timer as this');
  // The layer is the host of every connection it made.
  (this.conn.host as TcpLayer).onTimer(this.conn, now);
}

function isBroadcastOrMulticast(addr: number): boolean {
  return addr === 0xffffffff || addr >>> 28 === 14 || addr === 0;
}

export class TcpLayer implements TransportInput, SegmentSink, ConnectionHost {
  readonly stats: TcpLayerStats;
  private readonly config: TcpConfig;
  private readonly conns = new ConnTable();
  private readonly listeners = new Map<number, Listener[]>();
  private readonly isn: IsnGenerator;
  private readonly cookies: SynCookies;
  private readonly useCookies: boolean;
  private readonly ephLow: number;
  private readonly ephHigh: number;
  private ephNext: number;
  private readonly view = new TcpSegmentView();
  /** Every key present from the start (options undefined when absent) so its shape never changes. */
  private readonly rx: TcpRepr = newTcpRepr();
  /** Reused for stateless replies (RST, SYN-cookie SYN-ACK). */
  private readonly tx: TcpRepr = newTcpRepr();
  /** The segment being handed to IP output (reused for every segment). */
  private readonly out = new SegmentWrite();
  /** Sum of the payload placeFused placed (valid when it returned a connection). */
  private placedSum = 0;
  /** Receive segment merging (gro.ts): the run of in-order segments held in the current burst. */
  private readonly merger = new SegmentMerger();
  /** Whether received segments are merged (TcpLayerOptions.mergeSegments). */
  private readonly mergeSegments: boolean;
  // Re-entrancy: application calls made from event callbacks are deferred.
  private busy = 0;
  /**
   * Connections to service once the current input or burst is done:
   * deferred[deferredHead, deferredTail), by index in an array that only
   * grows: shift(), push() after it, or length = 0 made V8 move or regrow the
   * array's storage, an allocation per burst.
   */
  private readonly deferred: (Connection | null)[] = [null, null, null, null, null, null, null, null];
  private deferredHead = 0;
  private deferredTail = 0;
  /** Receive bursts being processed (rxBurstStart/End nest). */
  private rxBursts = 0;
  /** Free send/receive ring storage shared by this layer's connections. */
  readonly ringPool: RingPool;
  private readonly onPortsChanged: (() => void) | undefined;
  private readonly acceptsLocalPort: TcpLayerOptions['acceptsLocalPort'];
  private readonly onConnectionTable: TcpLayerOptions['onConnectionTable'];
  /**
   * The IP output's address table (IPv6: addresses are ids into it), or null
   * for IPv4, whose addresses are their own pseudo-header values and hashes.
   */
  private readonly ids: AddressIds | null;

  constructor(
    private readonly ip: IpOutput,
    private readonly wheel: TimerWheel,
    private readonly clock: Clock,
    opts: TcpLayerOptions = {},
  ) {
    this.config = { ...DEFAULT_TCP_CONFIG, ...(opts.config ?? {}) };
    this.isn = new IsnGenerator(opts.isnSecret);
    this.cookies = new SynCookies(opts.cookieSecret);
    this.useCookies = opts.synCookies ?? true;
    this.ringPool = new RingPool(opts.ringPoolBytes);
    this.mergeSegments = opts.mergeSegments ?? true;
    this.ephLow = opts.ephemeralLow ?? 49152;
    this.ephHigh = opts.ephemeralHigh ?? 65535;
    const span = this.ephHigh - this.ephLow + 1;
    const seed = opts.ephemeralSeed ?? Math.floor(Math.random() * 0x7fffffff);
    this.ephNext = this.ephLow + (Math.abs(seed) % span);
    this.onPortsChanged = opts.onPortsChanged;
    this.acceptsLocalPort = opts.acceptsLocalPort;
    this.onConnectionTable = opts.onConnectionTable;
    this.ids = ip.addressIds ?? null;
    this.stats = newLayerStats();
  }

  // =========================================================================
  // Application API

  /**
   * Active open (RFC 9293 §3.10.1). Throws EADDRNOTAVAIL-style errors for
   * misuse (no route, no free port); network failures arrive via events.
   */
  connect(
    remoteAddr: number,
    remotePort: number,
    opts: { localAddr?: number; localPort?: number; config?: Partial<TcpConfig> } = {},
  ): Connection {
    remoteAddr >>>= 0;
    if (!(remotePort > 0 && remotePort < 65536)) throw codedError('ERR_SOCKET_BAD_PORT', `bad port ${remotePort}`);
    const localAddr = opts.localAddr !== undefined && opts.localAddr !== 0 ? opts.localAddr >>> 0 : this.ip.sourceFor(remoteAddr);
    if (localAddr === -1) throw codedError('ENETUNREACH', 'no route to host');
    let localPort = opts.localPort ?? 0;
    if (localPort === 0) localPort = this.allocatePort(localAddr >>> 0, remoteAddr, remotePort);
    else if (this.conns.lookup(localAddr >>> 0, localPort, remoteAddr, remotePort) !== null || this.listenerHolds(localAddr >>> 0, localPort)) {
      // As Linux's bind(): a port a listener holds on that address (or on all) is in use, SO_REUSEADDR or not.
      throw codedError('EADDRINUSE', `address in use ${localPort}`);
    }
    const now = this.clock.now();
    const cfg = opts.config !== undefined ? { ...this.config, ...opts.config } : this.config;
    const conn = this.newConnection(localAddr >>> 0, localPort, remoteAddr, remotePort, now, cfg);
    this.register(conn);
    this.stats.activeOpens++;
    conn.connect(now);
    this.service(conn, now);
    return conn;
  }

  /** Whether a listener holds `port` on `addr` or on every address. */
  private listenerHolds(addr: number, port: number): boolean {
    const list = this.listeners.get(port);
    if (list === undefined) return false;
    for (const l of list) if (l.addr === addr || l.addr === 0) return true;
    return false;
  }

  /** Opens a listener on port (addr 0 = any local address). */
  listen(
    port: number,
    addr = 0,
    backlog = 511,
    onConnection: ((conn: Connection) => void) | null = null,
    config?: Partial<TcpConfig>,
  ): Listener {
    if (!(port > 0 && port < 65536)) throw codedError('ERR_SOCKET_BAD_PORT', `bad port ${port}`);
    const list = this.listeners.get(port) ?? [];
    for (const l of list) if (l.addr === addr >>> 0 || l.addr === 0 || addr === 0) throw codedError('EADDRINUSE', `port ${port} in use`);
    const b = Math.max(1, Math.floor(backlog));
    const l = new Listener(this, port, addr >>> 0, b, b, onConnection, config, config !== undefined ? { ...this.config, ...config } : this.config);
    list.push(l);
    this.listeners.set(port, list);
    if (this.ids !== null && l.addr !== 0) this.ids.retain(l.addr);
    if (list.length === 1) this.onPortsChanged?.();
    return l;
  }

  /** The ports listeners listen on. */
  listeningPorts(): number[] {
    return [...this.listeners.keys()];
  }

  /** Removes a listener; embryonic and unaccepted connections are reset. */
  unlisten(l: Listener): void {
    if (l.closed) return;
    l.closed = true;
    if (this.ids !== null && l.addr !== 0) this.ids.release(l.addr);
    const list = this.listeners.get(l.port);
    if (list) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) {
        this.listeners.delete(l.port);
        this.onPortsChanged?.();
      }
    }
    for (const c of l.acceptQueue.splice(0)) c.abort();
    // Embryonic connections: find them by their listenerRef.
    for (const c of this.conns.all()) if (c.listenerRef === l) c.abort();
  }

  /**
   * Stack shutdown: closes every listener and resets every connection (RST
   * to synchronized peers), so nothing is left on the timer wheel.
   */
  abortAll(): void {
    for (const list of [...this.listeners.values()]) for (const l of [...list]) this.unlisten(l);
    for (const c of this.connections()) c.abort();
  }

  /** Connections currently known (for diagnostics and tests). */
  connections(): Connection[] {
    return this.conns.all();
  }

  // =========================================================================
  // Input (TransportInput)

  input(src: number, dst: number, buf: Uint8Array, off: number, len: number, verified: boolean, now: number): void {
    this.stats.segmentsReceived++;
    const v = this.view;
    const rx = this.rx;
    try {
      v.wrap(buf, off, len);
    } catch (e) {
      // Malformed input is data: counted and dropped. Anything else is a
      // bug and propagates (the interface gives the burst's slots back).
      if (!(e instanceof WireError)) throw e;
      this.stats.malformed++;
      return;
    }
    // The addresses' shares of the pseudo-header sum: IPv4 addresses are their own.
    const ids = this.ids;
    const psrc = ids === null ? src : ids.pseudoValue(src);
    const pdst = ids === null ? dst : ids.pseudoValue(dst);
    const m = this.merger;
    if (m.conn !== null) {
      if (!verified && m.continues(v, src, dst)) {
        const sum = m.conn.placeAfter(v.seqBits, buf, v.payloadOffset, v.payloadLength);
        if (sum >= 0) {
          // A corrupt segment is dropped and counted, as any other; its bytes past the run stay uncommitted garbage.
          if (!v.verifyChecksum(psrc, pdst, sum)) {
            this.stats.badChecksum++;
            return;
          }
          m.conn.placedLen += v.payloadLength;
          m.append(v);
          if (m.ended) this.flushMerged(now);
          return;
        }
      }
      // Not part of the run: the run is processed first, as it arrived first.
      this.flushMerged(now);
    }
    let placed: Connection | null = null;
    if (!verified) {
      placed = this.placeFused(v, src, dst);
      if (!v.verifyChecksum(psrc, pdst, placed !== null ? this.placedSum : -1)) {
        placed?.dropPlacement();
        this.stats.badChecksum++;
        return;
      }
    }
    v.readSegment(rx);
    src >>>= 0;
    dst >>>= 0;
    // Ids (IPv6) name unicast addresses only: the adapter drops segments to groups.
    if (rx.srcPort === 0 || rx.dstPort === 0 || (ids === null && (isBroadcastOrMulticast(src) || isBroadcastOrMulticast(dst)))) {
      placed?.dropPlacement();
      this.stats.badPorts++;
      return;
    }
    if (placed !== null && this.rxBursts > 0 && this.mergeSegments && SegmentMerger.canStart(rx) && placed.holdPlacement()) {
      // The first segment of a possible run: held (its payload placed) until
      // the run ends, another segment comes, or the burst does.
      m.start(placed, rx, v, src, dst, now);
      return;
    }
    this.busy++;
    try {
      this.deliver(src, dst, rx, buf, v.payloadOffset, now, placed);
    } finally {
      placed?.dropPlacement(); // unused by the connection (normally process() has already done this)
      this.busy--;
      if (this.busy === 0) this.runDeferred(now);
    }
  }

  /**
   * Fused receive (native kernels installed, checksum not verified by the
   * NIC): when the segment's connection can take its payload in order
   * (Connection.placeInOrder), the payload is copied into the receive ring,
   * uncommitted, and summed in the same pass; the caller verifies the
   * checksum with that sum and drops the placement if it fails. Returns that
   * connection, or null (nothing done: verify the whole segment as usual).
   * Reads only the ports and sequence number of the unverified header: a
   * corrupt one at worst places garbage in free ring space, then forgotten.
   */
  private placeFused(v: TcpSegmentView, src: number, dst: number): Connection | null {
    if (nativeCopySum === null || v.payloadLength < FUSED_MIN) return null;
    const conn = this.conns.lookup(dst >>> 0, v.dstPort, src >>> 0, v.srcPort);
    if (conn === null) return null;
    const sum = conn.placeInOrder(v.seqBits, v.buf, v.payloadOffset, v.payloadLength);
    if (sum < 0) return null;
    this.placedSum = sum;
    return conn;
  }

  /**
   * Processes the held run (gro.ts) as one segment: the first segment's
   * header with the run's length, its payload the bytes already placed.
   * `now`: the caller's clock reading, passed on as it came (a double read
   * from a field and passed to a call V8 does not inline is a new heap number).
   */
  private flushMerged(now: number): void {
    const m = this.merger;
    const conn = m.take();
    if (conn === null) return;
    const rx = m.repr;
    const merged = m.segments - 1;
    this.stats.segmentsMerged += merged;
    conn.stats.segmentsIn += merged; // process() counts the run as one
    conn.rcvSegHint = m.segmentSize;
    this.busy++;
    try {
      if (conn.process(rx, conn.placedBuf!, conn.placedOff, now, this.rxBursts > 0)) this.defer(conn);
      else this.service(conn, now);
    } finally {
      conn.rcvSegHint = 0;
      conn.dropPlacement();
      this.busy--;
      if (this.busy === 0) this.runDeferred(now);
    }
  }

  /** ConnectionHost.flushHeld: the application is about to touch conn's receive side. */
  flushHeld(conn: Connection): void {
    // Rare (an application call from another connection's callback mid-burst): the burst's time.
    if (this.merger.conn === conn) this.flushMerged(this.merger.now);
  }

  /** TransportInput.icmpError: find the connection the quoted segment came from. */
  icmpError(localAddr: number, remoteAddr: number, buf: Uint8Array, off: number, len: number, error: IcmpErrorKind, mtu: number, now: number): void {
    this.flushMerged(now);
    this.stats.icmpErrors++;
    if (len < 8 || off < 0 || off + 8 > buf.length) return;
    const srcPort = (buf[off]! << 8) | buf[off + 1]!;
    const dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
    const seq = ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
    const conn = this.conns.lookup(localAddr >>> 0, srcPort, remoteAddr >>> 0, dstPort);
    if (conn === null) return;
    this.busy++;
    try {
      conn.icmpError(error, seq, mtu, now);
      this.service(conn, now);
    } finally {
      this.busy--;
      if (this.busy === 0) this.runDeferred(now);
    }
  }

  /** `found`: the connection input already looked up for this segment, if any. */
  private deliver(src: number, dst: number, rx: TcpRepr, buf: Uint8Array, payloadOff: number, now: number, found: Connection | null): void {
    const f = rx.flags;
    let conn = found ?? this.conns.lookup(dst, rx.dstPort, src, rx.srcPort);
    if (conn !== null && conn.state === State.TIME_WAIT && (f & (TCP_SYN | TCP_ACK | TCP_RST)) === TCP_SYN) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN above the old connection's
      // sequence space may reuse the 4-tuple in TIME_WAIT.
      if (seqGt(rx.seq, conn.rcvNxt) && this.findListener(dst, rx.dstPort) !== null) {
        this.stats.timeWaitRecycled++;
        conn.abort();
        this.service(conn, now);
        conn = null;
      }
    }
    if (conn !== null) {
      // The handshake would complete into a full accept queue: drop the ACK
      // and keep the embryo (Linux tcp_check_req listen overflow; the peer
      // retransmits, and the SYN-ACK timer eventually retires it).
      if (conn.state === State.SYN_RECEIVED && conn.listenerRef !== null && (f & (TCP_ACK | TCP_RST | TCP_SYN)) === TCP_ACK) {
        if (!this.acceptQueueHasRoom(conn.listenerRef as Listener)) {
          this.stats.listenOverflows++;
          return;
        }
      }
      // Its events and output wait for the burst's end when they may (runDeferred).
      if (conn.process(rx, buf, payloadOff, now, this.rxBursts > 0)) this.defer(conn);
      else this.service(conn, now);
      return;
    }
    const l = this.findListener(dst, rx.dstPort);
    if (l !== null) {
      this.listenInput(l, src, dst, rx, buf, payloadOff, now);
      return;
    }
    this.stats.noSocket++;
    this.replyReset(src, dst, rx);
  }

  /** RFC 9293 §3.10.7.2 "If the state is LISTEN". */
  private listenInput(l: Listener, src: number, dst: number, rx: TcpRepr, buf: Uint8Array, payloadOff: number, now: number): void {
    const f = rx.flags;
    if ((f & TCP_RST) !== 0) return;
    if ((f & TCP_ACK) !== 0) {
      // Possibly the third step of a handshake answered with a SYN cookie.
      if ((f & TCP_SYN) === 0 && this.useCookies) {
        const opts = this.cookies.decode(this.hashOf(dst), rx.dstPort, this.hashOf(src), rx.srcPort, seqAdd(rx.ack, -1), seqAdd(rx.seq, -1), now);
        if (opts !== null && this.acceptQueueHasRoom(l)) {
          this.stats.synCookiesAccepted++;
          const conn = this.newConnection(dst, rx.dstPort, src, rx.srcPort, now, l.fullConfig, seqAdd(rx.ack, -1));
          conn.listenerRef = l;
          this.register(conn);
          this.stats.passiveOpens++;
          l.synQueueLength++; // stateChanged() to ESTABLISHED decrements it
          conn.acceptCookie(
            rx,
            {
              mss: opts.mss,
              windowScale: opts.windowScale,
              sackPermitted: opts.sackPermitted,
              timestamps: opts.timestamps && rx.tsVal !== undefined,
              tsVal: rx.tsVal ?? 0,
            },
            now,
          );
          conn.process(rx, buf, payloadOff, now);
          this.service(conn, now);
          return;
        }
        if (opts === null) this.stats.synCookiesRejected++;
        else {
          this.stats.listenOverflows++; // a valid cookie, but nowhere to put the connection
          return;
        }
      }
      this.replyReset(src, dst, rx);
      return;
    }
    if ((f & TCP_SYN) === 0) return;
    if ((f & TCP_FIN) !== 0) return; // SYN+FIN is a scan, not an open (Linux drops it too)
    if (!this.acceptQueueHasRoom(l)) {
      // Like Linux: with the accept queue full, drop SYNs; the peer retries.
      this.stats.listenOverflows++;
      return;
    }
    if (l.synQueueLength >= l.synBacklog) {
      if (this.useCookies) {
        this.sendCookieSynAck(l, src, dst, rx, now);
      } else {
        this.stats.synQueueDrops++;
      }
      return;
    }
    const conn = this.newConnection(dst, rx.dstPort, src, rx.srcPort, now, l.fullConfig);
    conn.listenerRef = l;
    this.register(conn);
    this.stats.passiveOpens++;
    l.synQueueLength++;
    conn.acceptSyn(rx, now);
    this.service(conn, now);
  }

  private acceptQueueHasRoom(l: Listener): boolean {
    return l.onConnection !== null || l.acceptQueue.length < l.backlog;
  }

  /** Stateless SYN-ACK whose ISN encodes the connection (RFC 4987 §3.6). */
  private sendCookieSynAck(l: Listener, src: number, dst: number, rx: TcpRepr, now: number): void {
    const cfg = l.fullConfig;
    const advMss = advMssFor(cfg.mss, this.ip.mtuFor(src));
    const peerMss = rx.mss ?? DEFAULT_PEER_MSS;
    const ws = cfg.windowScaling && rx.windowScale !== undefined ? windowShiftFor(cfg.recvBufferSize) : -1;
    const sack = cfg.sack && rx.sackPermitted === true;
    const ts = cfg.timestamps && rx.tsVal !== undefined;
    const cookie = this.cookies.encode(this.hashOf(dst), rx.dstPort, this.hashOf(src), rx.srcPort, rx.seq, Math.min(peerMss, advMss), now, {
      sackPermitted: sack,
      windowScale: rx.windowScale !== undefined ? Math.min(rx.windowScale, 14) : -1,
      timestamps: ts,
    });
    const t = this.tx;
    t.srcPort = rx.dstPort;
    t.dstPort = rx.srcPort;
    t.seq = cookie;
    t.ack = seqAdd(rx.seq, 1);
    t.flags = TCP_SYN | TCP_ACK;
    t.window = Math.min(cfg.recvBufferSize, 65535);
    t.urgent = 0;
    t.mss = advMss;
    t.windowScale = ws >= 0 ? ws : undefined;
    t.sackPermitted = sack ? true : undefined;
    t.sack = undefined;
    t.tsVal = ts ? (Math.floor(now) + this.tsOffsetFor(dst, rx.dstPort, src, rx.srcPort)) >>> 0 : undefined;
    t.tsEcr = ts ? rx.tsVal : undefined;
    t.payloadLength = 0;
    this.stats.synCookiesSent++;
    this.sendStateless(dst, src, t);
  }

  /** RFC 9293 §3.10.7.1: reset generation for segments to no connection. */
  private replyReset(src: number, dst: number, rx: TcpRepr): void {
    const f = rx.flags;
    if ((f & TCP_RST) !== 0) return; // never answer a RST
    const t = this.tx;
    if ((f & TCP_ACK) !== 0) {
      fillRst(t, rx.dstPort, rx.srcPort, rx.ack, 0, TCP_RST);
    } else {
      const segLen = rx.payloadLength + ((f & TCP_SYN) !== 0 ? 1 : 0) + ((f & TCP_FIN) !== 0 ? 1 : 0);
      fillRst(t, rx.dstPort, rx.srcPort, 0, seqAdd(rx.seq, segLen), TCP_RST | TCP_ACK);
    }
    this.stats.resetsSent++;
    this.sendStateless(dst, src, t);
  }

  /** A segment of no connection's (RST, SYN-cookie SYN-ACK): header only. */
  private sendStateless(src: number, dst: number, repr: TcpRepr): void {
    const w = this.out;
    w.source = null;
    w.repr = repr;
    w.ringOffset = 0;
    w.headerLength = tcpHeaderLength(repr);
    w.src = this.ids === null ? src : this.ids.pseudoValue(src);
    w.dst = this.ids === null ? dst : this.ids.pseudoValue(dst);
    w.mode = this.ip.checksumOffloadFor(dst) ? 'pseudo' : 'full';
    if (!this.ip.send(src, dst, IPPROTO_TCP, w.headerLength, w.writer)) this.stats.outputDrops++;
  }

  // =========================================================================
  // SegmentSink / ConnectionHost

  /** A connection's segment: its payload is copied from the send ring while IP output writes the packet. */
  emitSegment(conn: Connection, repr: TcpRepr, ringOffset: number): boolean {
    const w = this.out;
    w.source = conn;
    w.repr = repr;
    w.ringOffset = ringOffset;
    w.headerLength = tcpHeaderLength(repr);
    const ids = this.ids;
    w.src = ids === null ? conn.localAddr : ids.pseudoValue(conn.localAddr);
    w.dst = ids === null ? conn.remoteAddr : ids.pseudoValue(conn.remoteAddr);
    w.mode = this.ip.checksumOffloadFor(conn.remoteAddr) ? 'pseudo' : 'full';
    // A segment of several MSS (Tcb.segMax) is cut into frames of this much
    // payload: by a TSO NIC, or by IP output in software (w.writeFrame).
    w.unit = conn.frameBytes() - w.headerLength;
    const ok = this.ip.send(conn.localAddr, conn.remoteAddr, IPPROTO_TCP, w.headerLength + repr.payloadLength, w.writer, undefined, w);
    w.source = null;
    if (!ok) this.stats.outputDrops++;
    return ok;
  }

  /**
   * TransportInput.rxBurstStart/End: while a receive burst is processed,
   * connections receiving in-order data are serviced once at its end (their
   * segments arrived together; one ACK and one read for the lot instead of an
   * ACK per two segments). Their output leaves in the same transmit flush
   * as it would segment by segment: only the number of ACKs changes, not
   * their timing.
   */
  rxBurstStart(): void {
    this.rxBursts++;
    this.busy++;
  }

  rxBurstEnd(now: number): void {
    if (this.rxBursts === 1) this.flushMerged(now);
    this.rxBursts--;
    this.busy--;
    if (this.busy === 0) this.runDeferred(now);
  }

  private defer(conn: Connection): void {
    // Most recent first: a burst usually defers the same connection again.
    const d = this.deferred;
    const tail = this.deferredTail;
    for (let i = tail - 1; i >= this.deferredHead; i--) if (d[i] === conn) return;
    if (tail === d.length) d.push(conn);
    else d[tail] = conn;
    this.deferredTail = tail + 1;
  }

  kick(conn: Connection): void {
    if (this.busy > 0) {
      this.defer(conn);
      return;
    }
    this.busy++;
    const now = this.clock.now();
    try {
      this.service(conn, now);
    } finally {
      this.busy--;
      if (this.busy === 0) this.runDeferred(now);
    }
  }

  stateChanged(conn: Connection, from: TcpState): void {
    const to = conn.state;
    if (to === State.ESTABLISHED) this.stats.established++;
    if (from === State.ESTABLISHED) this.stats.established--;
    const l = conn.listenerRef as Listener | null;
    if (l !== null && from === State.SYN_RECEIVED) {
      l.synQueueLength--;
      if (to === State.CLOSED) {
        conn.listenerRef = null;
        return;
      }
      conn.listenerRef = null;
      if (l.closed) {
        conn.abort();
        return;
      }
      // Delivered now; its events are flushed after the current segment is
      // processed, so the application sees no gap in which data could be lost.
      if (l.onConnection !== null) l.onConnection(conn);
      else l.acceptQueue.push(conn);
    }
  }

  // =========================================================================
  // Internals

  private newConnection(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    now: number,
    config: Readonly<TcpConfig>,
    iss?: number,
  ): Connection {
    const conn = new Connection({
      localAddr,
      localPort,
      remoteAddr,
      remotePort,
      iss: iss ?? this.isn.next(this.hashOf(localAddr), localPort, this.hashOf(remoteAddr), remotePort, now),
      mmsS: this.ip.mtuFor(remoteAddr),
      tsoMaxS: this.ip.tsoMaxFor?.(remoteAddr) ?? 0,
      tsOffset: this.tsOffsetFor(localAddr, localPort, remoteAddr, remotePort),
      sharedConfig: config,
      stats: this.stats.conn,
      host: this,
    });
    conn.timerRef = new ConnTimer(conn);
    return conn;
  }

  /**
   * Per-4-tuple timestamp offset (RFC 7323 §5.4), stable so cookies and
   * connections agree. `la`, `ra`: addresses as the layer sees them.
   */
  private tsOffsetFor(la: number, lp: number, ra: number, rp: number): number {
    return this.isn.next(this.hashOf(ra), rp, this.hashOf(la), lp, 0);
  }

  /** What ISNs, cookies and timestamp offsets are computed over: the address itself (IPv4), else its keyed hash. */
  private hashOf(addr: number): number {
    return this.ids === null ? addr : this.ids.hash(addr);
  }

  /** @internal a connection's timer fired (ConnTimer). */
  onTimer(conn: Connection, now: number): void {
    this.busy++;
    try {
      this.service(conn, now);
    } finally {
      this.busy--;
      if (this.busy === 0) this.runDeferred(now);
    }
  }

  /** Dispatch, then either forget a CLOSED connection or re-arm its timer at pollAt(). */
  private service(conn: Connection, now: number): void {
    conn.dispatch(now, this);
    const timer = conn.timerRef as Timer;
    if (conn.state === State.CLOSED) {
      this.wheel.disarm(timer);
      this.unregister(conn);
      return;
    }
    // pollAt() in whole milliseconds, after now (a deadline at or before now
    // right after a dispatch at now would spin inside TimerWheel.advance).
    const deadline = conn.timerDeadline(now);
    if (deadline < 0) this.wheel.disarm(timer);
    // Unchanged (most segments of a transfer): leave the timer where it is.
    // Re-arming would only move it behind timers with the same deadline,
    // and cost a heap number per segment with a real (fractional) clock.
    else if (!timer.armed || timer.deadline !== deadline) this.wheel.arm(timer, deadline);
  }

  private runDeferred(now: number): void {
    const d = this.deferred;
    let guard = 0;
    while (this.deferredHead < this.deferredTail && guard++ < 10_000) {
      const c = d[this.deferredHead]!;
      d[this.deferredHead++] = null;
      this.busy++;
      try {
        // Events first: what the application writes in answer leaves with the ACK.
        c.deliverEvents();
        this.service(c, now);
      } finally {
        this.busy--;
      }
    }
    // Emptied: start again at the front (a guard stop leaves the rest queued).
    if (this.deferredHead === this.deferredTail) this.deferredHead = this.deferredTail = 0;
  }

  private register(conn: Connection): void {
    this.conns.insert(conn);
    if (this.ids !== null) {
      this.ids.retain(conn.localAddr);
      this.ids.retain(conn.remoteAddr);
    }
    this.stats.currentConnections++;
    this.onConnectionTable?.(true, conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort);
  }

  private unregister(conn: Connection): void {
    if (!this.conns.remove(conn)) return;
    if (this.ids !== null) {
      this.ids.release(conn.localAddr);
      this.ids.release(conn.remoteAddr);
    }
    this.stats.currentConnections--;
    this.onConnectionTable?.(false, conn.localAddr, conn.localPort, conn.remoteAddr, conn.remotePort);
  }

  private findListener(addr: number, port: number): Listener | null {
    const list = this.listeners.get(port);
    if (list === undefined) return null;
    let any: Listener | null = null;
    for (const l of list) {
      if (l.addr === addr) return l;
      if (l.addr === 0) any = l;
    }
    return any;
  }

  private allocatePort(localAddr: number, remoteAddr: number, remotePort: number): number {
    const span = this.ephHigh - this.ephLow + 1;
    for (let i = 0; i < span; i++) {
      const p = this.ephNext;
      this.ephNext = p >= this.ephHigh ? this.ephLow : p + 1;
      if (this.listeners.has(p)) continue;
      if (this.conns.lookup(localAddr, p, remoteAddr, remotePort) !== null) continue;
      if (this.acceptsLocalPort !== undefined && !this.acceptsLocalPort(localAddr, p, remoteAddr, remotePort)) continue;
      return p;
    }
    throw codedError('EADDRNOTAVAIL', 'no free ephemeral port');
  }
}
