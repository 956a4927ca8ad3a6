/**
 * The transmission control block (RFC 9293 §3.3.1): one compact record per
 * connection, and the small helpers every mechanism shares — state changes
 * and the end of a connection, the ring and ColdState tenures, MSS and
 * window arithmetic, the timestamp clock, event bits.
 *
 * The mechanisms (snd.ts, rcv.ts, recovery/, timers.ts, ...) are free
 * functions over this record (`f(c: Tcb, ...)`): they add nothing per
 * connection, and every call sees the same hidden class (all fields are
 * created in the constructor, none later). Connection (connection.ts)
 * extends Tcb with the application API; the fields here are for the
 * mechanism files, not for applications. The small derived values read on
 * every segment (sndMss, rcvWindowNow, rcvFree, ...) are methods of the
 * record, and the flag bits a const enum: each use of a function or
 * constant imported from another module is a module-variable load, which
 * on the per-segment path costs measurably; a method is a property load V8
 * inlines, and tsc writes a const enum's numbers into every use.
 *
 * Compact storage: booleans are bits of `fl` (F), and sequence numbers
 * (and other uint32 values) are int32 fields (`_x`) behind uint32 accessors,
 * so that V8 keeps every one of them in the object itself: a boolean field
 * costs a pointer, and a number field that ever held a non-Smi (a uint32 >=
 * 2^31) a 16-byte heap number per connection. Sequence numbers cross calls
 * that V8 may not inline as int32 bit patterns (`x | 0`), compared modulo
 * 2^32 only (wire/seq.ts).
 */
import type { TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqDiff } from '../../wire/seq.js';
import type { CongestionControl } from './contracts.js';
import { Assembler } from './assembler.js';
import { ByteRing, defaultRingPool, type RingPool } from './ring-buffer.js';
import { RttEstimator } from './rtt.js';
import { createCongestionControl } from './congestion/index.js';
import { COLD_NONE, giveColdState, takeColdState, type ColdState } from './cold-state.js';
import { NO_IO, type AppIo } from './app-io.js';
import {
  DEFAULT_TCP_CONFIG,
  State,
  newConnStats,
  type TcpConfig,
  type TcpConnStats,
  type TcpErrorCode,
  type TcpEvents,
  type TcpState,
} from './types.js';

/** Where a connection's segments go. Implemented once per layer (no closure per segment). */
export interface SegmentSink {
  /**
   * Sends `repr` (reused: copy what you keep) with `repr.payloadLength` bytes
   * taken from the send ring at `ringOffset` (Connection.copyPayload).
   * Returns false if the segment could not be sent (no buffer): the
   * connection then stops this dispatch round and tries again later.
   * `repr.seq`, `tsVal` and `tsEcr` may be the 32 bits as an int32 (`>>> 0`
   * for the unsigned value; emitTcp writes either), which keeps them out of
   * heap numbers.
   */
  emitSegment(conn: Tcb, repr: TcpRepr, ringOffset: number): boolean;
}

/** What the layer offers a connection. */
export interface ConnectionHost {
  /** An application call changed something: dispatch and re-arm the timer. */
  kick(conn: Tcb): void;
  /** State transition hook (the layer tracks SYN queue / accept queue / removal). */
  stateChanged(conn: Tcb, from: TcpState): void;
  /** Where the connection's rings take and return storage (default: one pool shared by hosts without one). */
  readonly ringPool?: RingPool;
  /**
   * Processes the run of received segments the host holds to merge (gro.ts)
   * for this connection, if any: called before the application touches the
   * connection's receive side.
   */
  flushHeld?(conn: Tcb): void;
}

export interface ConnectionParams {
  localAddr: number;
  localPort: number;
  remoteAddr: number;
  remotePort: number;
  /** Initial send sequence number (RFC 6528, from the layer's IsnGenerator). */
  iss: number;
  /**
   * Largest TCP segment (header + payload) that fits one IP packet toward the
   * peer: route MTU - 20 (IpOutput.mtuFor). Clamps our MSS and the sender's
   * segment size (RFC 9293 §3.7.1 Eff.snd.MSS).
   */
  mmsS: number;
  /**
   * Largest TCP segment (header + payload) the route's NIC takes in one
   * packet (IpOutput.tsoMaxFor): above mmsS with TSO, which then cuts data
   * segments of several MSS into MSS-sized ones. Default mmsS (no TSO).
   */
  tsoMaxS?: number;
  /** Offset added to our timestamp clock (RFC 7323 §5.4 recommends a random one per connection). */
  tsOffset?: number;
  config?: Partial<TcpConfig>;
  /**
   * A complete configuration shared with other connections (the layer's or a
   * listener's): used as is instead of a per-connection copy of `config`.
   * The connection never modifies it (setNoDelay/setKeepAlive keep their
   * values in the connection).
   */
  sharedConfig?: Readonly<TcpConfig>;
  stats?: TcpConnStats;
  host?: ConnectionHost | null;
}

/**
 * Flag bits of Tcb.fl. A const enum: tsc writes the numbers into every use,
 * where an imported constant would be a module-variable load per test (on
 * the per-segment path, a measurable cost).
 */
export const enum F {
  /** Created from a LISTEN (affects RST in SYN_RECEIVED). */
  PASSIVE = 1,
  FIN_QUEUED = 2,
  WS_OK = 4,
  SACK_OK = 8,
  TS_OK = 16,
  FIN_RECEIVED = 32,
  /** A FIN beyond a hole (pendingFinSeq): it takes effect when the hole fills. */
  PENDING_FIN = 64,
  /** A segment is being timed for an RTT sample (ColdState.rttSeq / rttTime). */
  RTT_ACTIVE = 128,
  IN_RECOVERY = 256,
  /** The current fast recovery is SACK-based (RFC 6675), not NewReno. */
  RECOVERY_IS_SACK = 512,
  /** NewReno: retransmit the segment at sndUna on the next dispatch. */
  RTX_HEAD = 1024,
  RACK_FACK_SET = 2048,
  RACK_REORDERING = 4096,
  RACK_DSACK_ROUND = 8192,
  /** RTO recovery: from an RTO until everything sent before it is acknowledged. */
  RTO_RECOVERY = 16384,
  TLP_IS_RETRANS = 32768,
  DSACK_PENDING = 65536,
  TLP_OUTSTANDING = 131072,
  /** An ACK is due now. */
  ACK_NOW = 262144,
  /** Sender SWS override after the persist timeout: send what fits. */
  FORCE_SEND = 524288,
  RST_PENDING = 1048576,
  NO_DELAY = 2097152,
  KEEP_ALIVE = 4194304,
  APP_CLOSED = 8388608,
  WRITE_BLOCKED = 16777216,
  CLOSED_NOTIFIED = 33554432,
  /** The sink refused a segment during this dispatch (no route / no buffer). */
  OUTPUT_FAILED = 67108864,
  /**
   * The ACK that is due answers one segment (duplicate, challenge, probe,
   * ...) and is not to be coalesced: every ACK_NOW is set together with it,
   * except by the every-second-segment rule, which receive-burst coalescing
   * may fold into one ACK (Connection.outputMayWait).
   */
  ACK_EACH = 134217728,
}

/**
 * Event bits of Tcb.pendingEvents, delivered at the end of
 * process()/dispatch() so the application never runs while the connection
 * is half-updated.
 */
export const enum Ev {
  CONNECTED = 1,
  READABLE = 2,
  WRITABLE = 4,
  PEER_CLOSED = 8,
  CLOSED = 16,
}

export const DUP_THRESH = 3; // RFC 5681 §3.2 / RFC 6675 DupThresh
export const MAX_WINDOW_SHIFT = 14; // RFC 7323 §2.3
export const DEFAULT_PEER_MSS = 536; // RFC 9293 §3.7.1 when no MSS option
export const MIN_SND_MSS = 48; // Linux net.ipv4.tcp_min_snd_mss
/** "Long ago" for the rate-limit times: a small integer (a V8 Smi), unlike -Infinity. */
const NEVER_MS = -(2 ** 30);

/** Placeholder for a connection without buffers: capacity 1, never written (nothing is accepted then). */
export const NO_RING = new ByteRing(1);
/**
 * Stands for a ring that exists but holds nothing: an established
 * connection with nothing buffered holds no ring object and no storage. The
 * first byte written or received takes a ring from the layer's RingPool
 * (takeSndRing/takeRcvRing); it goes back when empty (putSndRing/putRcvRing).
 * Never written itself.
 */
export const IDLE_RING = new ByteRing(1, { lazy: true });
/** Stands for an empty assembler (never added to: a connection makes its own at the first out-of-order segment). */
export const NO_ASM = new Assembler(0, 1);

const HOST_NONE: ConnectionHost = {
  kick() {},
  stateChanged() {},
};

/** Our advertised MSS for a route of `mmsS` (RFC 9293 §3.7.1 / RFC 6691: MMS_R - 20; options are not subtracted). */
export function advMssFor(configMss: number, mmsS: number): number {
  return Math.max(48, Math.min(configMss, mmsS - 20, 65535));
}

/** The smallest window shift that lets a receive buffer of `bytes` be advertised (RFC 7323 §2.3). */
export function windowShiftFor(bytes: number): number {
  let shift = 0;
  while (shift < MAX_WINDOW_SHIFT && bytes >>> shift > 65535) shift++;
  return shift;
}

export class Tcb {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly config: Readonly<TcpConfig>;
  readonly stats: TcpConnStats;
  events: TcpEvents = {};
  host: ConnectionHost;
  /** Layer bookkeeping: next connection in the same demux bucket. */
  nextInBucket: this | null = null;
  /** Layer bookkeeping: the listener this passive connection belongs to (until accepted). */
  listenerRef: unknown = null;
  /** Layer bookkeeping: the connection's timer. */
  timerRef: unknown = null;

  state: TcpState = State.CLOSED;

  // --- send sequence space (RFC 9293 §3.3.1): iss, sndUna, sndNxt, sndMax,
  // sndWl1, sndWl2 and the other sequence numbers are int32 fields below.
  sndWnd = 0;
  /** Largest window the peer ever offered (RFC 5961 §5.2 ACK check, sender SWS Fs). */
  maxSndWnd = 0;
  /** Peer's MSS option (data bytes per segment, without options). */
  peerMss = DEFAULT_PEER_MSS;
  mmsS: number;
  /** TSO limit (ConnectionParams.tsoMaxS) and the mmsS it was given for (TSO stops if PMTU lowers mmsS). */
  readonly tsoMaxS: number;
  readonly tsoMmsS: number;
  /** Our advertised MSS. */
  readonly advMss: number;
  sndShift = 0;
  rcvShift = 0;

  // --- receive sequence space
  /** Largest segment seen from the peer: "full-sized" for delayed ACK. */
  rcvMss: number;
  rcvUnackedBytes = 0;
  /**
   * While a merged run of segments (gro.ts) is processed as one: the size of
   * the segments it was made of, which rcvText takes as the segment size
   * for rcvMss instead of the run's length (as Linux takes gso_size). 0 otherwise.
   */
  rcvSegHint = 0;

  // --- timestamps (RFC 7323)
  tsRecentAge = 0;

  // --- buffers
  /**
   * NO_RING until SYN_SENT / ESTABLISHED, then IDLE_RING or a ring from the
   * pool while bytes are held; NO_RING again in TIME_WAIT and CLOSED. So
   * embryonic (SYN flood), idle and TIME_WAIT connections hold no ring.
   */
  sndRing: ByteRing;
  rcvRing: ByteRing;
  readonly rcvCapacity: number;
  /** Sizing memory of the last send ring (bits 0-8) and receive ring (9-17): RingPool.takeRing. */
  ringSizes = 0;
  /**
   * Out-of-order bookkeeping: NO_ASM (shared, always empty) until the first
   * out-of-order segment, and again after ASM_IDLE_DRAINS drains of the
   * receive ring without any (rcvDrained).
   */
  asm: Assembler = NO_ASM;
  asmIdleDrains = 0;
  /**
   * A payload placeInOrder copied into the receive ring's free space (not
   * committed) while the layer verified its checksum: the packet buffer and
   * offset it came from, its length (0: none), the ring storage it went to,
   * and whether the ring was taken for it. Lives for one process() call, or
   * while the layer holds a run of segments to merge (gro.ts: then placedBuf
   * and placedOff name the store and the position the bytes lie at).
   */
  placedBuf: Uint8Array | null = null;
  placedOff = 0;
  placedLen = 0;
  placedStore: Uint8Array | null = null;
  placedTookRing = false;
  /**
   * The application's memory for the zero-copy paths (app-io.ts: the read
   * target in-order payload goes to while the receive ring is empty, the
   * send loan whose bytes follow the send ring's); NO_IO until first used.
   */
  io: AppIo = NO_IO;

  // --- RTT / congestion / loss recovery
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  retries = 0;
  lastSendTime = 0;

  // Rate limits (RFC 5961 §7 challenge ACKs; out-of-window ACKs): whole
  // milliseconds, so they stay small integers rather than heap numbers;
  // they outlive a flight, so they are not in ColdState.
  challengeWindowStart = NEVER_MS;
  challengeCount = 0;
  lastOowAck = NEVER_MS;
  // RACK (RFC 8985 §6): RACK.rtt, RACK.min_RTT and the reordering window
  // outlive a flight; the segment log and per-flight state are in ColdState.
  rackRtt = -1;
  rackMinRtt = Infinity;
  rackReoMult = 1;
  rackReoPersist = 0;

  // --- timers (absolute ms; Infinity = off; tlpAt, rackAt, persistAt are in ColdState)
  rtoAt = Infinity;
  ackAt = Infinity;
  closeAt = Infinity;
  /** Last time the peer made progress for us (RFC 5482 user timeout). */
  progressAt = 0;
  lastRecv = 0;

  // --- application side (per-connection copies of settings the application changes)
  keepIdleMs: number;
  closeError: TcpErrorCode | undefined = undefined;
  /** EV_* bits to deliver at the end of process()/dispatch(). */
  pendingEvents = 0;
  /** Time of the current entry point (process, dispatch, ...). */
  now = 0;

  /** F bits. */
  fl = 0;
  /** Per-flight and rare state; COLD_NONE while idle. */
  cold: ColdState = COLD_NONE;
  _iss = 0;
  _tsOffset = 0;
  _sndUna = 0;
  _sndNxt = 0;
  _sndMax = 0;
  _sndWl1 = 0;
  _sndWl2 = 0;
  _sndBase = 0;
  _recover = 0;
  _sndSml = 0;
  _irs = 0;
  _rcvNxt = 0;
  _rcvAdv = 0;
  _lastAckSent = 0;
  _tsRecent = 0;
  _pendingFinSeq = 0;
  /**
   * TLP episode (RFC 8985 §7.4): probe range (flags F.TLP_OUTSTANDING,
   * F.TLP_IS_RETRANS). Not in ColdState: an episode can stay open after
   * everything is acknowledged, until the D-SACK or duplicate ACK that
   * settles it (or the next flight).
   */
  _tlpStartSeq = 0;
  _tlpEndSeq = 0;

  constructor(p: ConnectionParams) {
    this.localAddr = p.localAddr;
    this.localPort = p.localPort;
    this.remoteAddr = p.remoteAddr;
    this.remotePort = p.remotePort;
    this.config = p.sharedConfig ?? { ...DEFAULT_TCP_CONFIG, ...(p.config ?? {}) };
    if (this.config.noDelay) this.fl |= F.NO_DELAY;
    if (this.config.keepAlive) this.fl |= F.KEEP_ALIVE;
    this.keepIdleMs = this.config.keepIdleMs;
    this.stats = p.stats ?? newConnStats();
    this.host = p.host ?? HOST_NONE;
    this._iss = p.iss | 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.sndBase = seqAdd(this.iss, 1);
    this.recover = this.iss;
    this.sndSml = this.iss;
    this.mmsS = Math.max(64, p.mmsS);
    this.tsoMmsS = this.mmsS;
    this.tsoMaxS = Math.max(this.mmsS, p.tsoMaxS ?? 0);
    this.advMss = advMssFor(this.config.mss, this.mmsS);
    this.rcvMss = Math.min(DEFAULT_PEER_MSS, this.advMss);
    this._tsOffset = (p.tsOffset ?? 0) | 0;
    this.rcvCapacity = Math.max(1, this.config.recvBufferSize);
    this.sndRing = NO_RING;
    this.rcvRing = NO_RING;
    this.rtt = new RttEstimator({
      initialRto: this.config.initialRtoMs,
      minRto: this.config.minRtoMs,
      maxRto: this.config.maxRtoMs,
    });
    this.cc = createCongestionControl(this.config.congestion, DEFAULT_PEER_MSS, 0);
    // The window scale we would use (0 when the option is not to be offered).
    this.rcvShift = this.config.windowScaling ? windowShiftFor(this.rcvCapacity) : 0;
  }

  // uint32 views of the int32 fields (tiny, so V8 always inlines them: a call
  // that is not inlined boxes a uint32 >= 2^31, an allocation).
  get iss(): number { return this._iss >>> 0; }
  get tsOffset(): number { return this._tsOffset >>> 0; }
  get sndUna(): number { return this._sndUna >>> 0; }
  set sndUna(v: number) { this._sndUna = v | 0; }
  get sndNxt(): number { return this._sndNxt >>> 0; }
  set sndNxt(v: number) { this._sndNxt = v | 0; }
  /** Highest sequence number sent + 1 (sndNxt goes back to sndUna after an RTO; this does not). */
  get sndMax(): number { return this._sndMax >>> 0; }
  set sndMax(v: number) { this._sndMax = v | 0; }
  get sndWl1(): number { return this._sndWl1 >>> 0; }
  set sndWl1(v: number) { this._sndWl1 = v | 0; }
  get sndWl2(): number { return this._sndWl2 >>> 0; }
  set sndWl2(v: number) { this._sndWl2 = v | 0; }
  /** Sequence number of the first byte in the send ring. */
  get sndBase(): number { return this._sndBase >>> 0; }
  set sndBase(v: number) { this._sndBase = v | 0; }
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  get recover(): number { return this._recover >>> 0; }
  set recover(v: number) { this._recover = v | 0; }
  /** End of the last sub-MSS segment sent (Minshall's Nagle variant). */
  get sndSml(): number { return this._sndSml >>> 0; }
  set sndSml(v: number) { this._sndSml = v | 0; }
  get irs(): number { return this._irs >>> 0; }
  set irs(v: number) { this._irs = v | 0; }
  get rcvNxt(): number { return this._rcvNxt >>> 0; }
  set rcvNxt(v: number) { this._rcvNxt = v | 0; }
  /** Right edge of the window we last advertised (never moved left: RFC 9293 §3.8.6.2.2). */
  get rcvAdv(): number { return this._rcvAdv >>> 0; }
  set rcvAdv(v: number) { this._rcvAdv = v | 0; }
  get lastAckSent(): number { return this._lastAckSent >>> 0; }
  set lastAckSent(v: number) { this._lastAckSent = v | 0; }
  get tsRecent(): number { return this._tsRecent >>> 0; }
  set tsRecent(v: number) { this._tsRecent = v | 0; }
  get pendingFinSeq(): number { return this._pendingFinSeq >>> 0; }
  set pendingFinSeq(v: number) { this._pendingFinSeq = v | 0; }
  get tlpStartSeq(): number { return this._tlpStartSeq >>> 0; }
  set tlpStartSeq(v: number) { this._tlpStartSeq = v | 0; }
  get tlpEndSeq(): number { return this._tlpEndSeq >>> 0; }
  set tlpEndSeq(v: number) { this._tlpEndSeq = v | 0; }

  // Derived values: MSS and window arithmetic, the timestamp clock.

  /** RACK-TLP (RFC 8985) is used: configured, and SACK negotiated. */
  rackOn(): boolean {
    return (this.fl & F.SACK_OK) !== 0 && this.config.rack;
  }

  /**
   * Our timestamp clock (RFC 7323 §5.4): milliseconds plus a per-connection
   * offset, at `now`, as an int32 bit pattern (callers use it modulo 2^32; no
   * heap number).
   */
  tsNow(now: number): number {
    return (Math.floor(now) + this._tsOffset) | 0;
  }

  /**
   * Effective send MSS for data segments (RFC 9293 §3.7.1):
   * min(SendMSS + 20, MMS_S) - TCP header with the options we put on data.
   */
  sndMss(): number {
    const opt = (this.fl & F.TS_OK) !== 0 ? 12 : 0;
    return Math.max(1, Math.min(this.peerMss + 20, this.mmsS) - 20 - opt);
  }

  /** Largest TCP segment (header + payload) in one frame toward the peer: our MTU's, or the peer's MSS + 20. */
  frameBytes(): number {
    return Math.min(this.peerMss + 20, this.mmsS);
  }

  /**
   * Largest payload of one new-data segment we build: sndMss(), or with TSO
   * as many whole sndMss() as fit the NIC's limit. Only when our MTU (not a
   * smaller peer MSS or a lowered path MTU) sets sndMss(), as the NIC cuts by
   * its MTU.
   */
  segMax(): number {
    const mss = this.sndMss();
    if (this.tsoMaxS <= this.mmsS || this.mmsS !== this.tsoMmsS || this.peerMss + 20 < this.mmsS) return mss;
    const k = Math.floor((this.tsoMaxS - 20 - ((this.fl & F.TS_OK) !== 0 ? 12 : 0)) / mss);
    return k > 1 ? k * mss : mss;
  }

  /** Segment acceptability window (RFC 9293 §3.10.7.4 "first"). */
  rcvWindowNow(): number {
    // The int32 fields, not the uint32 getters: Connection.read reaches this
    // through windowUpdateWorthSending, and where V8 does not inline the
    // getters there, each returned a new heap number once the sequence
    // numbers passed 2^31.
    const w = (this._rcvAdv - this._rcvNxt) | 0;
    return w > 0 ? w : 0;
  }

  /** Room left in the receive buffer (its configured size, not what is allocated): the window. */
  rcvFree(): number {
    const r = this.rcvRing;
    return r === NO_RING ? r.free : this.rcvCapacity - r.length;
  }

  /** Room left in the send buffer (its configured size, not what is allocated; lent bytes count as queued). */
  sndFree(): number {
    const r = this.sndRing;
    if (r === NO_RING) return r.free;
    const f = Math.max(1, this.config.sendBufferSize) - r.length - this.io.loanLen;
    return f > 0 ? f : 0;
  }

  /** Bytes queued and not acknowledged: the send ring's, then the loan's (app-io.ts). */
  sndQueued(): number {
    return this.sndRing.length + this.io.loanLen;
  }

  /** The application may still queue data (before our FIN, in a state that sends it). */
  canWrite(): boolean {
    const s = this.state;
    return (
      (this.fl & F.FIN_QUEUED) === 0 &&
      this.sndRing !== NO_RING &&
      (s === State.SYN_SENT || s === State.SYN_RECEIVED || s === State.ESTABLISHED || s === State.CLOSE_WAIT)
    );
  }

  /** States in which data and FIN are sent and retransmitted. */
  synchronizedForData(): boolean {
    const s = this.state;
    return (
      s === State.ESTABLISHED ||
      s === State.CLOSE_WAIT ||
      s === State.FIN_WAIT_1 ||
      s === State.CLOSING ||
      s === State.LAST_ACK
    );
  }

  /** Sequence number just after our FIN (valid once finQueued). */
  finSeqPlusOne(): number {
    return seqAdd(this.sndBase, this.sndQueued() + 1);
  }

  /** Queued bytes not sent yet (beyond sndNxt). */
  unsentBytes(): number {
    const sent = seqDiff(this.sndNxt, this.sndBase);
    const u = this.sndQueued() - (sent > 0 ? sent : 0);
    return u > 0 ? u : 0;
  }
}

/** Attaches a ColdState (from the free list) if there is none. */
export function takeCold(c: Tcb): void {
  if (c.cold === COLD_NONE) c.cold = takeColdState();
}

/** Detaches the ColdState (back to the free list, at its initial values). */
export function releaseCold(c: Tcb): void {
  const cs = c.cold;
  if (cs === COLD_NONE) return;
  c.cold = COLD_NONE;
  giveColdState(cs);
}

/**
 * Idle again (everything sent is acknowledged, no recovery, no persist or
 * keepalive probing, no RST or D-SACK to send, no timer but the
 * retransmission/ACK/close ones): the ColdState goes back to the free list.
 * What it held then is either at its initial value or only describes the
 * finished flight: RACK.xmit_ts, end_seq and fack (every later segment is
 * sent, and delivered, after them), the D-SACK round, the RACK log; and a
 * soft ICMP error, which everything acknowledged since makes stale (Linux
 * clears sk_err_soft on such an ACK too). The rate limits that must outlive
 * this (challenge ACKs, out-of-window ACKs) are in the record itself.
 */
export function maybeDropCold(c: Tcb): void {
  const cs = c.cold;
  // The int32 fields, not their uint32 getters: the same comparison, with no
  // heap number where V8 does not inline the getters (this runs once per idle
  // transition, too rarely to be optimised early).
  if (
    c._sndUna !== c._sndMax ||
    c.sndQueued() !== 0 ||
    cs.rsN !== 0 ||
    cs.sbN !== 0 ||
    cs.dupAcks !== 0 ||
    cs.inflation !== 0 ||
    cs.rsLostBytes !== 0 ||
    cs.rsSackedSegs !== 0 ||
    (c.fl & (F.IN_RECOVERY | F.RTO_RECOVERY | F.DSACK_PENDING | F.RST_PENDING | F.RTT_ACTIVE)) !== 0 ||
    cs.tlpAt !== Infinity ||
    cs.rackAt !== Infinity ||
    cs.persistAt !== Infinity ||
    cs.persistBackoff !== 0 ||
    cs.persistProbes !== 0 ||
    cs.persistTotal !== 0 ||
    cs.keepProbes !== 0
  ) {
    return;
  }
  c.fl &= ~(F.RACK_FACK_SET | F.RACK_DSACK_ROUND);
  releaseCold(c);
}

/** The first byte to queue: a send ring from the pool, sized from the last tenure. */
export function takeSndRing(c: Tcb): ByteRing {
  const r = (c.host.ringPool ?? defaultRingPool).takeRing(Math.max(1, c.config.sendBufferSize), c.ringSizes & 0x1ff);
  c.sndRing = r;
  return r;
}

/** The first byte received: a receive ring from the pool, sized from the last tenure. */
export function takeRcvRing(c: Tcb): ByteRing {
  const r = (c.host.ringPool ?? defaultRingPool).takeRing(c.rcvCapacity, c.ringSizes >>> 9);
  c.rcvRing = r;
  return r;
}

/** The send ring is empty: ring and storage back to the pool. */
export function putSndRing(c: Tcb): void {
  const r = c.sndRing;
  if (r === IDLE_RING || r === NO_RING) return;
  c.ringSizes = (c.ringSizes & ~0x1ff) | (c.host.ringPool ?? defaultRingPool).giveRing(r);
  c.sndRing = IDLE_RING;
}

/** The receive ring is empty and nothing is held out of order: ring and storage back to the pool. */
export function putRcvRing(c: Tcb): void {
  const r = c.rcvRing;
  if (r === IDLE_RING || r === NO_RING) return;
  c.ringSizes = (c.ringSizes & 0x1ff) | ((c.host.ringPool ?? defaultRingPool).giveRing(r) << 9);
  c.rcvRing = c.sndRing === NO_RING ? NO_RING : IDLE_RING;
}

/**
 * The rings are lazy: a ring object and storage are taken from the pool
 * when bytes arrive or are written, the storage grows by doubling up to
 * the configured size, and both go back when the ring is empty. The window
 * is computed from the configured size (sndFree/rcvFree), never from what
 * is allocated.
 */
export function allocateBuffers(c: Tcb): void {
  if (c.sndRing === NO_RING) c.sndRing = IDLE_RING;
  if (c.rcvRing === NO_RING) c.rcvRing = IDLE_RING;
}

/**
 * Nothing more can be sent or received: drop the rings (keeping unread data
 * readable), the loan and the read target (the reader's fill count stays
 * for it to take).
 */
export function releaseBuffers(c: Tcb): void {
  if (c.io !== NO_IO) {
    c.io.endLoan();
    c.io.clearTarget();
  }
  putSndRing(c);
  c.sndRing = NO_RING;
  if (c.rcvRing.length === 0) {
    putRcvRing(c);
    c.rcvRing = NO_RING;
  }
  c.asm = NO_ASM;
  // Nothing more is sent: the RACK segment log goes too.
  c.cold.dropLog();
  c.cold.rsN = 0;
  c.cold.rsLostBytes = 0;
  c.cold.rsSackedSegs = 0;
  c.cold.rackAt = Infinity;
}

/** The one place the state changes: buffers follow it, and the layer hears of it. */
export function setState(c: Tcb, s: TcpState): void {
  const from = c.state;
  if (from === s) return;
  c.state = s;
  if (s === State.SYN_SENT || s === State.ESTABLISHED) allocateBuffers(c);
  else if (s === State.TIME_WAIT || s === State.CLOSED) releaseBuffers(c);
  c.host.stateChanged(c, from);
}

/** Ends the connection (CLOSED) and reports it once. */
export function finish(c: Tcb, error: TcpErrorCode | undefined): void {
  c.cold.tlpAt = Infinity;
  c.cold.rackAt = Infinity;
  c.rtoAt = Infinity;
  c.ackAt = Infinity;
  c.cold.persistAt = Infinity;
  c.closeAt = Infinity;
  c.fl &= ~(F.ACK_NOW | F.ACK_EACH | F.IN_RECOVERY);
  if (error !== undefined) c.closeError = error;
  setState(c, State.CLOSED);
  notifyClosed(c, error);
}

/** Reports the end to the application once (Ev.CLOSED; TIME_WAIT is already the end for it). */
export function notifyClosed(c: Tcb, error: TcpErrorCode | undefined): void {
  if ((c.fl & F.CLOSED_NOTIFIED) !== 0) return;
  c.fl |= F.CLOSED_NOTIFIED;
  c.closeError = error;
  c.pendingEvents |= Ev.CLOSED;
}

/** TIME_WAIT (RFC 9293 §3.10.7.4): 2*MSL, every other timer off; closed for the application. */
export function enterTimeWait(c: Tcb, now: number): void {
  setState(c, State.TIME_WAIT);
  c.closeAt = now + c.config.timeWaitMs;
  c.cold.tlpAt = Infinity;
  c.cold.rackAt = Infinity;
  c.rtoAt = Infinity;
  c.cold.persistAt = Infinity;
  c.ackAt = Infinity;
  notifyClosed(c, undefined);
}

/** A RST to send on the next dispatch (its fields kept in ColdState until then). */
export function queueRst(c: Tcb, seq: number, ack: number, flags: number): void {
  c.fl |= F.RST_PENDING;
  c.cold.rstSeq = seq >>> 0;
  c.cold.rstAck = ack >>> 0;
  c.cold.rstFlags = flags;
}
