/**
 * One TCP connection: the RFC 9293 state machine as a pure object.
 *
 * Modelled on smoltcp's `socket/tcp.rs` (three I/O-free entry points) and on
 * gVisor's split of sender / receiver / loss recovery:
 *
 *  - `process(seg, payload, off, now)` takes one incoming segment (already
 *    demultiplexed to this connection by the layer). Payload bytes are copied
 *    into the receive ring during the call.
 *  - `dispatch(now, out)` emits whatever is due (SYN, data, retransmissions,
 *    ACKs, probes, RST) through `out.emitSegment(conn, repr, ringOffset)`; the
 *    repr is one reused object and payload bytes are copied by the emitter
 *    with `copyPayload`, so nothing is allocated per segment.
 *  - `pollAt()` says when `dispatch` is next needed for a timer.
 *
 * No clock is read here and nothing is scheduled: time is always passed in.
 * Application calls (write/read/shutdown/close/abort) change state and then
 * call `host.kick(conn)` so the layer can dispatch and re-arm its timer.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, newTcpRepr, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../../wire/seq.js';
import type { CongestionControl, CongestionControlName } from './contracts.js';
import { Assembler, ByteRing, RingPool, RttEstimator, createCongestionControl, defaultRingPool } from './tcp-deps.js';
import { copyBytes } from '../../wire/bytes.js';
import { addPartSum, fold16, onesSum } from '../../wire/checksum.js';
import { nativeCopySum } from '../../wire/kernels.js';

// ---------------------------------------------------------------------------
// States, configuration, events, stats

export const State = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSING: 7,
  TIME_WAIT: 8,
  CLOSE_WAIT: 9,
  LAST_ACK: 10,
} as const;
export type TcpState = (typeof State)[keyof typeof State];
export const STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RECEIVED',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSING',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
] as const;

export type TcpErrorCode = 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ECONNABORTED' | 'EHOSTUNREACH' | 'ENETUNREACH';

export interface TcpConfig {
  /** Send ring capacity in bytes. */
  sendBufferSize: number;
  /** Receive ring capacity in bytes: the largest window we ever advertise. */
  recvBufferSize: number;
  /** Disable Nagle (RFC 9293 §3.7.4). */
  noDelay: boolean;
  /** Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2); false ACKs every segment. */
  delayedAck: boolean;
  /** Upper bound on how long an ACK is delayed (RFC 1122: < 500 ms; Linux 40 ms). */
  delayedAckMs: number;
  /** 2*MSL (RFC 9293 §3.4.2). Linux uses 60 s. */
  timeWaitMs: number;
  /** How long a closed (orphaned) connection waits in FIN_WAIT_2 for the peer's FIN. */
  finWait2TimeoutMs: number;
  keepAlive: boolean;
  keepIdleMs: number;
  keepIntervalMs: number;
  keepCount: number;
  /** Retransmissions of data/FIN before ETIMEDOUT (Linux tcp_retries2 = 15). */
  maxRetries: number;
  /** Retransmissions of SYN / SYN-ACK before giving up (Linux tcp_syn_retries = 6). */
  synRetries: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  congestion: CongestionControlName;
  sack: boolean;
  timestamps: boolean;
  windowScaling: boolean;
  /** RFC 5961 §7: challenge ACKs allowed per connection per second. */
  challengeAckLimit: number;
  /** Bound on separate out-of-order ranges held (memory bound against hostile peers). */
  maxOooRanges: number;
  /** Bound on SACK scoreboard ranges kept by the sender. */
  maxSackRanges: number;
  /** Cap on our advertised MSS (route MTU clamps it further). */
  mss: number;
  /** Tail loss probes (RFC 8985 §7); used only with SACK, as the RFC requires. */
  tailLossProbe: boolean;
  /**
   * RACK time-based loss detection (RFC 8985 §6) and the RFC 8985 TLP rules
   * (probe timeout, one probe per episode, TLP loss detection), used when
   * SACK is negotiated; also makes the receiver send D-SACK (RFC 2883).
   * false: RFC 6675 IsLost / DupThresh detection only (as before RACK).
   * Without SACK, DupThresh (RFC 5681 / 6582) is always used.
   */
  rack: boolean;
  /**
   * RFC 5482 user timeout (Linux TCP_USER_TIMEOUT): give up with ETIMEDOUT
   * when sent data stays unacknowledged, or a zero window stays shut, for
   * this long; 0 = off (then maxRetries bounds retransmission, and a zero
   * window answered by the peer is probed forever, RFC 1122 §4.2.2.17).
   */
  userTimeoutMs: number;
  /**
   * After close(), nobody waits for the data any more: zero-window probes
   * stop after this many even if answered (Linux tcp_orphan_retries = 8).
   */
  orphanRetries: number;
}

export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = Object.freeze({
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  noDelay: false,
  delayedAck: true,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  keepAlive: false,
  keepIdleMs: 7_200_000,
  keepIntervalMs: 75_000,
  keepCount: 9,
  maxRetries: 15,
  synRetries: 6,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 120_000,
  congestion: 'cubic' as CongestionControlName,
  sack: true,
  timestamps: true,
  windowScaling: true,
  challengeAckLimit: 10,
  maxOooRanges: 32,
  maxSackRanges: 32,
  mss: 65495,
  tailLossProbe: true,
  rack: true,
  userTimeoutMs: 0,
  orphanRetries: 8,
});

export interface TcpEvents {
  /** Handshake completed (both active and passive opens). */
  onConnected?(): void;
  /** New in-order bytes are readable. */
  onReadable?(): void;
  /** Send-ring space was freed after a short write. */
  onWritable?(): void;
  /** The peer's FIN arrived: no more data will come (after what is readable). */
  onPeerClosed?(): void;
  /** The connection is finished for the application; error for abnormal ends. */
  onClosed?(error?: TcpErrorCode): void;
}

/** Counters; one object may be shared by all connections of a layer. */
export interface TcpConnStats {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  retransmittedBytes: number;
  fastRetransmits: number;
  rtoTimeouts: number;
  sackRecoveries: number;
  newRenoRecoveries: number;
  challengeAcks: number;
  challengeAcksSuppressed: number;
  pawsDrops: number;
  outOfWindow: number;
  outOfOrderSegments: number;
  outOfOrderBytes: number;
  outOfOrderDropped: number;
  duplicateBytes: number;
  persistProbes: number;
  keepaliveProbes: number;
  tailLossProbes: number;
  /** RFC 8985 §7.4: tail loss probes that repaired a loss (congestion response taken). */
  tlpLossRecoveries: number;
  /** Segments RACK marked lost (RFC 8985 §6.2 step 5). */
  rackLosses: number;
  /** RACK reorder timer expiries (RFC 8985 §6.2). */
  rackReorderTimeouts: number;
  /** D-SACK blocks received (RFC 2883: the peer got something twice). */
  dsacksIn: number;
  /** D-SACK blocks sent. */
  dsacksOut: number;
  delayedAcks: number;
  /** RSTs received, acted on or answered with a challenge ACK (RFC 5961 §3.2). */
  resetsIn: number;
  /** RSTs a connection sent (abort, or an unacceptable ACK in SYN_SENT). */
  resetsOut: number;
  /**
   * Connections a peer's RST ended before they closed (TIME_WAIT excepted:
   * there the connection is already closed, and RFC 9293 §3.10.7.4 lets a RST
   * end the wait early).
   */
  connectionsReset: number;
  timeouts: number;
  badAcks: number;
}

export function newConnStats(): TcpConnStats {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    retransmittedBytes: 0,
    fastRetransmits: 0,
    rtoTimeouts: 0,
    sackRecoveries: 0,
    newRenoRecoveries: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    pawsDrops: 0,
    outOfWindow: 0,
    outOfOrderSegments: 0,
    outOfOrderBytes: 0,
    outOfOrderDropped: 0,
    duplicateBytes: 0,
    persistProbes: 0,
    keepaliveProbes: 0,
    tailLossProbes: 0,
    tlpLossRecoveries: 0,
    rackLosses: 0,
    rackReorderTimeouts: 0,
    dsacksIn: 0,
    dsacksOut: 0,
    delayedAcks: 0,
    resetsIn: 0,
    resetsOut: 0,
    connectionsReset: 0,
    timeouts: 0,
    badAcks: 0,
  };
}

/** Where a connection's segments go. Implemented once per layer (no closure per segment). */
export interface SegmentSink {
  /**
   * Sends `repr` (reused: copy what you keep) with `repr.payloadLength` bytes
   * taken from the send ring at `ringOffset` via `conn.copyPayload`. Returns
   * false if the segment could not be sent (no buffer): the connection then
   * stops this dispatch round and tries again later. `repr.seq`, `tsVal`
   * and `tsEcr` may be the 32 bits as an int32 (`>>> 0` for the unsigned
   * value; emitTcp writes either), which keeps them out of heap numbers.
   */
  emitSegment(conn: Connection, repr: TcpRepr, ringOffset: number): boolean;
}

/** What the layer offers a connection. */
export interface ConnectionHost {
  /** An application call changed something: dispatch and re-arm the timer. */
  kick(conn: Connection): void;
  /** State transition hook (the layer tracks SYN queue / accept queue / removal). */
  stateChanged(conn: Connection, from: TcpState): void;
  /** Where the connection's rings take and return storage (default: one pool shared by hosts without one). */
  readonly ringPool?: RingPool;
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

/** Options a passive open learned from a SYN (or from a SYN cookie). */
export interface PeerSynOptions {
  mss: number; // -1 when absent
  windowScale: number; // -1 when absent
  sackPermitted: boolean;
  timestamps: boolean;
  tsVal: number;
}

// Event bits, flushed at the end of process()/dispatch() so the application
// never runs while the connection is half-updated.
const EV_CONNECTED = 1;
const EV_READABLE = 2;
const EV_WRITABLE = 4;
const EV_PEER_CLOSED = 8;
const EV_CLOSED = 16;

const DUP_THRESH = 3; // RFC 5681 §3.2 / RFC 6675 DupThresh
const MAX_WINDOW_SHIFT = 14; // RFC 7323 §2.3
const DEFAULT_PEER_MSS = 536; // RFC 9293 §3.7.1 when no MSS option
const MIN_SND_MSS = 48; // Linux net.ipv4.tcp_min_snd_mss
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000; // RFC 7323 §5.5: ts.recent invalid after 24 days idle
const OOW_ACK_INTERVAL_MS = 500; // Linux tcp_invalid_ratelimit for ACKs to out-of-window pure ACKs
/** "Long ago" for the rate-limit times: a small integer (a V8 Smi), unlike -Infinity. */
const NEVER_MS = -(2 ** 30);

// RACK segment log flags (RFC 8985 §6.1 per-segment state).
const RS_SACKED = 1;
/** Marked lost and not retransmitted since. */
const RS_LOST = 2;
/** Retransmitted at least once. */
const RS_RTX = 4;
/** Newly SACKed by the ACK being processed (delivered in sequence order). */
const RS_NEW = 8;
const RS_EMPTY_U32 = new Uint32Array(0);
const RS_EMPTY_F64 = new Float64Array(0);
const RS_EMPTY_U8 = new Uint8Array(0);
/** Records in a new RACK log (enough for request/response traffic; bulk doubles it a few times). */
const RS_MIN_RECORDS = 16;
const WC_DEL_ACK_MS = 200; // RFC 8985 §7.2 WCDelAckT
const REO_WND_PERSIST = 16; // RFC 8985 §6.2 step 4: DSACK-grown window kept for 16 recoveries
const REO_WND_MULT_MAX = 64;

// Byte copies between rings and packet buffers. A plain loop instead of
// `dst.set(src.subarray(...))`: the subarray view would be one allocation per
// segment, and the steady state of a bulk transfer must allocate nothing.
const spanScratch: number[] = [0, 0, 0, 0];


/** Copies len bytes into the ring's free region, `offset` bytes past its readable tail (no commit). */
function ringPut(ring: ByteRing, offset: number, src: Uint8Array, sOff: number, len: number): void {
  const sp = spanScratch;
  ring.ensure(ring.length + offset + len);
  const n = ring.writableSpans(sp, offset);
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  copyBytes(buf, sp[0]!, src, sOff, a);
  if (a < len && n > 1) copyBytes(buf, sp[2]!, src, sOff + a, Math.min(len - a, sp[3]!));
}

/** Copies up to len readable bytes starting `offset` bytes into the ring; returns how many. */
function ringGet(ring: ByteRing, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.readableSpans(sp, offset);
  if (n === 0) return 0;
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  copyBytes(dst, dOff, buf, sp[0]!, a);
  let b = 0;
  if (a < len && n > 1) {
    b = Math.min(len - a, sp[3]!);
    copyBytes(dst, dOff + a, buf, sp[2]!, b);
  }
  return a + b;
}

/**
 * Copies len bytes and returns their folded one's complement sum: the native
 * kernel touches each byte once; where it is not installed or refuses, a
 * copy and then a sum of the copy.
 */
function copySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number {
  const r = nativeCopySum !== null ? nativeCopySum(dst, dOff, src, sOff, len) : -1;
  if (r >= 0) return r;
  copyBytes(dst, dOff, src, sOff, len);
  return onesSum(dst, dOff, len);
}

/** ringPut that also returns the folded sum of the len bytes (the ring's free space must be allocated: ensure). */
function ringPutSum(ring: ByteRing, src: Uint8Array, sOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.writableSpans(sp, 0);
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  let sum = copySum(buf, sp[0]!, src, sOff, a);
  // The second span's bytes sit at payload offset a, which is odd when the first span is.
  if (a < len && n > 1) sum = addPartSum(sum, copySum(buf, sp[2]!, src, sOff + a, len - a), a);
  return fold16(sum);
}

/**
 * ringGet of exactly len bytes that also returns their folded sum; -1 (after
 * copying what there is, as ringGet) when the ring holds fewer.
 */
function ringGetSum(ring: ByteRing, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.readableSpans(sp, offset);
  const a = Math.min(len, sp[1]!);
  const b = a < len && n > 1 ? Math.min(len - a, sp[3]!) : 0;
  if (a + b < len) {
    ringGet(ring, offset, dst, dOff, len);
    return -1;
  }
  const buf = ring.buffer;
  let sum = copySum(dst, dOff, buf, sp[0]!, a);
  if (b > 0) sum = addPartSum(sum, copySum(dst, dOff + a, buf, sp[2]!, b), a);
  return fold16(sum);
}

/**
 * The outgoing repr and its SACK block list, shared by every connection: a
 * segment is filled (prepare/sendSyn/emitRst) and handed to the sink
 * synchronously, before any other connection runs (application callbacks
 * only come at the end of process/dispatch), so one per connection would
 * only cost memory.
 */
const SACK_OUT: number[] = [];
/** Where nextDeadline() leaves its result (a typed array holds a double without boxing it). */
const DEADLINE = new Float64Array(1);
const OUT: TcpRepr = newTcpRepr();
OUT.sack = SACK_OUT;
/** Scratch for the assembler's ranges while SACK blocks are built. */
const ASM_RANGES: number[] = [];

/** The scoreboard of a connection that never received a SACK block (shared, never written). */
const NO_SB: number[] = [];
/** Stands for an empty assembler (never added to: a connection makes its own at the first out-of-order segment). */
const NO_ASM = new Assembler(0, 1);
/** A connection's assembler goes after this many receive-ring drains in a row without out-of-order data. */
const ASM_IDLE_DRAINS = 8;

/** Placeholder for a connection without buffers: capacity 1, never written (nothing is accepted then). */
const NO_RING = new ByteRing(1);
/**
 * Stands for a ring that exists but holds nothing: an established
 * connection with nothing buffered holds no ring object and no storage. The
 * first byte written or received takes a ring from the layer's RingPool
 * (takeSndRing/takeRcvRing); it goes back when empty (putSndRing/putRcvRing).
 * Never written itself.
 */
const IDLE_RING = new ByteRing(1, { lazy: true });

/**
 * Connection state that is only needed while data is in flight or something
 * unusual is going on: the RACK segment log and per-flight RACK/TLP state,
 * loss recovery, the SACK scoreboard, D-SACK, persist and keepalive probes,
 * a pending RST, challenge-ACK and out-of-window-ACK rate limits, soft ICMP
 * errors. A connection reads COLD_NONE (every field at its initial value,
 * never written) until something sets a field to another value; it then
 * takes a ColdState from a small free list, and gives it back when it is
 * idle again (Connection.maybeDropCold). Sequence numbers are kept as int32
 * (see the compact storage of Connection).
 */
class ColdState {
  // RACK segment log: one ring of typed arrays (no object per segment), grown
  // by doubling only when more segments are in flight than it holds (16
  // records at first). Record i covers [start(i), end(i)), start(0) =
  // rsBase, start(i) = end(i-1); together they cover [sndUna, sndMax).
  rsEnd: Uint32Array = RS_EMPTY_U32;
  rsTs: Float64Array = RS_EMPTY_F64;
  rsFl: Uint8Array = RS_EMPTY_U8;
  rsMask = 0;
  rsHead = 0;
  rsN = 0;
  /** Bytes in records marked lost and not yet retransmitted. */
  rsLostBytes = 0;
  /** RACK.segs_sacked. */
  rsSackedSegs = 0;
  /** RACK.xmit_ts / RACK.end_seq / RACK.fack. */
  rackXmitTs = -Infinity;
  _rsBase = 0;
  _rackEndSeq = 0;
  _rackFack = 0;
  _rackDsackRoundSeq = 0;
  dupAcks = 0;
  /** NewReno window inflation (RFC 6582 §3.2 steps 3-4), bytes. */
  inflation = 0;
  /** RFC 6675 HighRxt: highest sequence retransmitted in this recovery + 1. */
  _highRxt = 0;
  /** Sender SACK scoreboard: sorted disjoint [start, end) pairs above sndUna. */
  sb: number[] = NO_SB;
  sbN = 0;
  /** Receiver D-SACK (RFC 2883) block for the next ACK (flag dsackPending). */
  _dsackL = 0;
  _dsackR = 0;
  /** RFC 8985 §7 tail loss probe timer (flag tlpOutstanding: a probe awaits its ACK). */
  tlpAt = Infinity;
  /** RFC 8985 §6.2 RACK reorder timer. */
  rackAt = Infinity;
  persistAt = Infinity;
  persistBackoff = 0;
  persistProbes = 0;
  /** Probes since the window last opened (not reset by ACKs): bounds orphans. */
  persistTotal = 0;
  keepProbes = 0;
  keepLastProbe = 0;
  rstFlags = 0;
  _rstSeq = 0;
  _rstAck = 0;
  /** Soft ICMP error remembered for a later timeout (Linux sk_err_soft). */
  softError: TcpErrorCode | undefined = undefined;
  /** The segment being timed for an RTT sample without timestamps (flag rttActive). */
  _rttSeq = 0;
  rttTime = 0;

  /** Back to the initial values (a small RACK log is kept for reuse). */
  reset(): void {
    this.rsHead = 0;
    this.rsN = 0;
    this.rsLostBytes = 0;
    this.rsSackedSegs = 0;
    this.rackXmitTs = -Infinity;
    this._rsBase = 0;
    this._rackEndSeq = 0;
    this._rackFack = 0;
    this._rackDsackRoundSeq = 0;
    this.dupAcks = 0;
    this.inflation = 0;
    this._highRxt = 0;
    this.sbN = 0;
    this._dsackL = 0;
    this._dsackR = 0;
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    this.persistAt = Infinity;
    this.persistBackoff = 0;
    this.persistProbes = 0;
    this.persistTotal = 0;
    this.keepProbes = 0;
    this.keepLastProbe = 0;
    this.rstFlags = 0;
    this._rstSeq = 0;
    this._rstAck = 0;
    this.softError = undefined;
    this._rttSeq = 0;
    this.rttTime = 0;
    if (this.rsEnd.length > RS_MIN_RECORDS) {
      this.rsEnd = RS_EMPTY_U32;
      this.rsTs = RS_EMPTY_F64;
      this.rsFl = RS_EMPTY_U8;
    }
    this.rsMask = this.rsEnd.length > 0 ? this.rsEnd.length - 1 : 0;
  }
}

/** What an idle connection reads: never written (frozen; see the Connection's cold accessors). */
const COLD_NONE = Object.freeze(new ColdState()) as ColdState;
/** Free ColdStates (shared by all connections; bounded). */
const coldFree: ColdState[] = [];
const COLD_FREE_MAX = 1024;

// Connection flag bits (Connection.fl).
const F_PASSIVE = 1;
const F_FIN_QUEUED = 2;
const F_WS_OK = 4;
const F_SACK_OK = 8;
const F_TS_OK = 16;
const F_FIN_RECEIVED = 32;
const F_PENDING_FIN = 64;
const F_RTT_ACTIVE = 128;
const F_IN_RECOVERY = 256;
const F_RECOVERY_IS_SACK = 512;
const F_RTX_HEAD = 1024;
const F_RACK_FACK_SET = 2048;
const F_RACK_REORDERING = 4096;
const F_RACK_DSACK_ROUND = 8192;
const F_RTO_RECOVERY = 16384;
const F_TLP_IS_RETRANS = 32768;
const F_DSACK_PENDING = 65536;
const F_TLP_OUTSTANDING = 131072;
const F_ACK_NOW = 262144;
const F_FORCE_SEND = 524288;
const F_RST_PENDING = 1048576;
const F_NO_DELAY = 2097152;
const F_KEEP_ALIVE = 4194304;
const F_APP_CLOSED = 8388608;
const F_WRITE_BLOCKED = 16777216;
const F_CLOSED_NOTIFIED = 33554432;
const F_OUTPUT_FAILED = 67108864;
/** An ACK is due that answers one segment (duplicate, challenge, probe, ...): not to be coalesced. */
const F_ACK_EACH = 134217728;

const HOST_NONE: ConnectionHost = {
  kick() {},
  stateChanged() {},
};

// ---------------------------------------------------------------------------

export class Connection {
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  readonly config: Readonly<TcpConfig>;
  readonly stats: TcpConnStats;
  events: TcpEvents = {};
  host: ConnectionHost;
  /** Layer bookkeeping: next connection in the same demux bucket. */
  nextInBucket: Connection | null = null;
  /** Layer bookkeeping: the listener this passive connection belongs to (until accepted). */
  listenerRef: unknown = null;
  /** Layer bookkeeping. */
  timerRef: unknown = null;

  state: TcpState = State.CLOSED;

  // --- send sequence space (RFC 9293 §3.3.1). iss, sndUna, sndNxt, sndMax,
  // sndWl1, sndWl2, sndBase and the other sequence numbers (irs, rcvNxt,
  // rcvAdv, ...) and all the boolean state are in the compact storage below.
  sndWnd = 0;
  /** Largest window the peer ever offered (RFC 5961 §5.2 ACK check, sender SWS Fs). */
  private maxSndWnd = 0;
  /** Peer's MSS option (data bytes per segment, without options). */
  private peerMss = DEFAULT_PEER_MSS;
  private mmsS: number;
  /** TSO limit (ConnectionParams.tsoMaxS) and the mmsS it was given for (TSO stops if PMTU lowers mmsS). */
  private readonly tsoMaxS: number;
  private readonly tsoMmsS: number;
  /** Our advertised MSS. */
  readonly advMss: number;
  private sndShift = 0;
  private rcvShift = 0;

  // --- receive sequence space
  /** Largest segment seen from the peer: "full-sized" for delayed ACK. */
  private rcvMss: number;
  private rcvUnackedBytes = 0;

  // --- timestamps (RFC 7323)
  private tsRecentAge = 0;

  // --- buffers
  /**
   * Buffers. A passive connection gets them only when it is ESTABLISHED and a
   * finished one gives them back, so embryonic (SYN flood) and TIME_WAIT
   * connections cost a few hundred bytes instead of the two rings.
   */
  sndRing: ByteRing;
  rcvRing: ByteRing;
  private readonly rcvCapacity: number;
  /** Sizing memory of the last send ring (bits 0-8) and receive ring (9-17): RingPool.takeRing. */
  private ringSizes = 0;
  /**
   * Out-of-order bookkeeping: NO_ASM (shared, always empty) until the first
   * out-of-order segment, and again after ASM_IDLE_DRAINS drains of the
   * receive ring without any (rcvDrained).
   */
  private asm: Assembler = NO_ASM;
  private asmIdleDrains = 0;
  /**
   * A payload placeInOrder copied into the receive ring's free space (not
   * committed) while the layer verified its checksum: the packet buffer and
   * offset it came from, its length (0: none), the ring storage it went to,
   * and whether the ring was taken for it. Lives for one process() call.
   */
  private placedBuf: Uint8Array | null = null;
  private placedOff = 0;
  private placedLen = 0;
  private placedStore: Uint8Array | null = null;
  private placedTookRing = false;

  // --- RTT / congestion / loss recovery
  readonly rtt: RttEstimator;
  cc: CongestionControl;
  private retries = 0;
  private lastSendTime = 0;

  // --- RACK (RFC 8985 §6): the segment log and the per-flight state are in
  // ColdState; RACK.rtt, RACK.min_RTT and the reordering window's state
  // outlive a flight and stay here.
  // Rate limits (RFC 5961 §7 challenge ACKs; out-of-window ACKs): whole
  // milliseconds, so they stay small integers rather than heap-number boxes
  // (they outlive a flight, so they are not in ColdState). NEVER: long ago.
  private challengeWindowStart = NEVER_MS;
  private challengeCount = 0;
  private lastOowAck = NEVER_MS;
  private rackRtt = -1;
  private rackMinRtt = Infinity;
  private rackReoMult = 1;
  private rackReoPersist = 0;

  // --- timers (absolute ms; Infinity = off)
  private rtoAt = Infinity;
  private ackAt = Infinity;
  private closeAt = Infinity;
  // (tlpAt, rackAt, persistAt: ColdState)
  /** Last time the peer made progress for us (RFC 5482 user timeout). */
  private progressAt = 0;
  private lastRecv = 0;

  // --- application side (per-connection copies of settings the application changes)
  private keepIdleMs: number;
  closeError: TcpErrorCode | undefined = undefined;
  private events_ = 0;
  private now = 0;


  // --- compact storage. Booleans live as bits of one small integer, and
  // sequence numbers (and other uint32 values) as int32, so that V8 keeps
  // every one of them in the object itself: a uint32 >= 2^31 or a boolean
  // field costs a pointer, and a number field that ever held a non-Smi a
  // 16-byte heap number box per connection. The accessors below read and
  // write them as before (uint32 in, uint32 out).
  private fl = 0;
  /** Per-flight and rare state (ColdState); COLD_NONE while idle. */
  private cold: ColdState = COLD_NONE;
  private _iss = 0;
  private _tsOffset = 0;
  private _sndUna = 0;
  private _sndNxt = 0;
  private _sndMax = 0;
  private _sndWl1 = 0;
  private _sndWl2 = 0;
  private _sndBase = 0;
  private _recover = 0;
  private _sndSml = 0;
  private _irs = 0;
  private _rcvNxt = 0;
  private _rcvAdv = 0;
  private _lastAckSent = 0;
  private _tsRecent = 0;
  private _pendingFinSeq = 0;
  /**
   * TLP episode (RFC 8985 §7.4): probe range (flags tlpOutstanding,
   * tlpIsRetrans). Not in ColdState: an episode can stay open after
   * everything is acknowledged, until the D-SACK or duplicate ACK that
   * settles it (or the next flight).
   */
  private _tlpStartSeq = 0;
  private _tlpEndSeq = 0;

  constructor(p: ConnectionParams) {
    this.localAddr = p.localAddr;
    this.localPort = p.localPort;
    this.remoteAddr = p.remoteAddr;
    this.remotePort = p.remotePort;
    this.config = p.sharedConfig ?? { ...DEFAULT_TCP_CONFIG, ...(p.config ?? {}) };
    this.noDelay = this.config.noDelay;
    this.keepAlive = this.config.keepAlive;
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
    // RFC 9293 §3.7.1 / RFC 6691: MSS = MMS_R - 20 (the TCP header); options are not subtracted.
    this.advMss = Math.max(48, Math.min(this.config.mss, this.mmsS - 20, 65535));
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
    // Window scale we would use: the smallest shift that lets the ring be advertised (RFC 7323 §2.3).
    let shift = 0;
    while (shift < MAX_WINDOW_SHIFT && this.rcvCapacity >>> shift > 65535) shift++;
    this.rcvShift = this.config.windowScaling ? shift : 0;
  }



  // --- accessors for the cold state (ColdState). Reads work at any time
  // (COLD_NONE holds the initial values); writes only between takeCold()
  // at an entry point that can change cold state (process, dispatch, the
  // opens, close/shutdown/abort, setKeepAlive, icmpError) and the
  // maybeDropCold() at the end of dispatch. COLD_NONE is frozen, so a write
  // outside that throws instead of changing every idle connection. Setters
  // stay tiny so that V8 always inlines them (a setter or getter call that
  // is not inlined boxes a double or a uint32 >= 2^31: an allocation).
  private get rsEnd(): Uint32Array {
    return this.cold.rsEnd;
  }
  private set rsEnd(v: Uint32Array) {
    this.cold.rsEnd = v;
  }
  private get rsTs(): Float64Array {
    return this.cold.rsTs;
  }
  private set rsTs(v: Float64Array) {
    this.cold.rsTs = v;
  }
  private get rsFl(): Uint8Array {
    return this.cold.rsFl;
  }
  private set rsFl(v: Uint8Array) {
    this.cold.rsFl = v;
  }
  private get rsMask(): number {
    return this.cold.rsMask;
  }
  private set rsMask(v: number) {
    this.cold.rsMask = v;
  }
  private get rsHead(): number {
    return this.cold.rsHead;
  }
  private set rsHead(v: number) {
    this.cold.rsHead = v;
  }
  private get rsN(): number {
    return this.cold.rsN;
  }
  private set rsN(v: number) {
    this.cold.rsN = v;
  }
  private get rsLostBytes(): number {
    return this.cold.rsLostBytes;
  }
  private set rsLostBytes(v: number) {
    this.cold.rsLostBytes = v;
  }
  private get rsSackedSegs(): number {
    return this.cold.rsSackedSegs;
  }
  private set rsSackedSegs(v: number) {
    this.cold.rsSackedSegs = v;
  }
  private get rackXmitTs(): number {
    return this.cold.rackXmitTs;
  }
  private set rackXmitTs(v: number) {
    this.cold.rackXmitTs = v;
  }
  private get rsBase(): number {
    return this.cold._rsBase >>> 0;
  }
  private set rsBase(v: number) {
    this.cold._rsBase = v | 0;
  }
  private get rackEndSeq(): number {
    return this.cold._rackEndSeq >>> 0;
  }
  private set rackEndSeq(v: number) {
    this.cold._rackEndSeq = v | 0;
  }
  private get rackFack(): number {
    return this.cold._rackFack >>> 0;
  }
  private set rackFack(v: number) {
    this.cold._rackFack = v | 0;
  }
  private get rackDsackRoundSeq(): number {
    return this.cold._rackDsackRoundSeq >>> 0;
  }
  private set rackDsackRoundSeq(v: number) {
    this.cold._rackDsackRoundSeq = v | 0;
  }
  private get tlpStartSeq(): number {
    return this._tlpStartSeq >>> 0;
  }
  private set tlpStartSeq(v: number) {
    this._tlpStartSeq = v | 0;
  }
  private get tlpEndSeq(): number {
    return this._tlpEndSeq >>> 0;
  }
  private set tlpEndSeq(v: number) {
    this._tlpEndSeq = v | 0;
  }
  private get dupAcks(): number {
    return this.cold.dupAcks;
  }
  private set dupAcks(v: number) {
    this.cold.dupAcks = v;
  }
  private get inflation(): number {
    return this.cold.inflation;
  }
  private set inflation(v: number) {
    this.cold.inflation = v;
  }
  private get highRxt(): number {
    return this.cold._highRxt >>> 0;
  }
  private set highRxt(v: number) {
    this.cold._highRxt = v | 0;
  }
  private get sb(): number[] {
    return this.cold.sb;
  }
  private set sb(v: number[]) {
    this.cold.sb = v;
  }
  private get sbN(): number {
    return this.cold.sbN;
  }
  private set sbN(v: number) {
    this.cold.sbN = v;
  }
  private get dsackL(): number {
    return this.cold._dsackL >>> 0;
  }
  private set dsackL(v: number) {
    this.cold._dsackL = v | 0;
  }
  private get dsackR(): number {
    return this.cold._dsackR >>> 0;
  }
  private set dsackR(v: number) {
    this.cold._dsackR = v | 0;
  }
  private get tlpAt(): number {
    return this.cold.tlpAt;
  }
  private set tlpAt(v: number) {
    this.cold.tlpAt = v;
  }
  private get rackAt(): number {
    return this.cold.rackAt;
  }
  private set rackAt(v: number) {
    this.cold.rackAt = v;
  }
  private get persistAt(): number {
    return this.cold.persistAt;
  }
  private set persistAt(v: number) {
    this.cold.persistAt = v;
  }
  private get persistBackoff(): number {
    return this.cold.persistBackoff;
  }
  private set persistBackoff(v: number) {
    this.cold.persistBackoff = v;
  }
  private get persistProbes(): number {
    return this.cold.persistProbes;
  }
  private set persistProbes(v: number) {
    this.cold.persistProbes = v;
  }
  private get persistTotal(): number {
    return this.cold.persistTotal;
  }
  private set persistTotal(v: number) {
    this.cold.persistTotal = v;
  }
  private get keepProbes(): number {
    return this.cold.keepProbes;
  }
  private set keepProbes(v: number) {
    this.cold.keepProbes = v;
  }
  private get keepLastProbe(): number {
    return this.cold.keepLastProbe;
  }
  private set keepLastProbe(v: number) {
    this.cold.keepLastProbe = v;
  }
  private get rstFlags(): number {
    return this.cold.rstFlags;
  }
  private set rstFlags(v: number) {
    this.cold.rstFlags = v;
  }
  private get rstSeq(): number {
    return this.cold._rstSeq >>> 0;
  }
  private set rstSeq(v: number) {
    this.cold._rstSeq = v | 0;
  }
  private get rstAck(): number {
    return this.cold._rstAck >>> 0;
  }
  private set rstAck(v: number) {
    this.cold._rstAck = v | 0;
  }
  private get softError(): TcpErrorCode | undefined {
    return this.cold.softError;
  }
  private set softError(v: TcpErrorCode | undefined) {
    this.cold.softError = v;
  }

  /** Attaches a ColdState (from the free list) if there is none. */
  private takeCold(): void {
    if (this.cold !== COLD_NONE) return;
    this.cold = coldFree.length > 0 ? coldFree.pop()! : new ColdState();
  }

  // --- accessors for the compact storage (see above)
  /** True if this connection was created from a LISTEN (affects RST in SYN_RECEIVED). */
  get passive(): boolean {
    return (this.fl & F_PASSIVE) !== 0;
  }
  set passive(v: boolean) {
    this.fl = v ? this.fl | F_PASSIVE : this.fl & ~F_PASSIVE;
  }
  private get finQueued(): boolean {
    return (this.fl & F_FIN_QUEUED) !== 0;
  }
  private set finQueued(v: boolean) {
    this.fl = v ? this.fl | F_FIN_QUEUED : this.fl & ~F_FIN_QUEUED;
  }
  private get wsOk(): boolean {
    return (this.fl & F_WS_OK) !== 0;
  }
  private set wsOk(v: boolean) {
    this.fl = v ? this.fl | F_WS_OK : this.fl & ~F_WS_OK;
  }
  private get sackOk(): boolean {
    return (this.fl & F_SACK_OK) !== 0;
  }
  private set sackOk(v: boolean) {
    this.fl = v ? this.fl | F_SACK_OK : this.fl & ~F_SACK_OK;
  }
  private get tsOk(): boolean {
    return (this.fl & F_TS_OK) !== 0;
  }
  private set tsOk(v: boolean) {
    this.fl = v ? this.fl | F_TS_OK : this.fl & ~F_TS_OK;
  }
  private get finReceived(): boolean {
    return (this.fl & F_FIN_RECEIVED) !== 0;
  }
  private set finReceived(v: boolean) {
    this.fl = v ? this.fl | F_FIN_RECEIVED : this.fl & ~F_FIN_RECEIVED;
  }
  private get pendingFin(): boolean {
    return (this.fl & F_PENDING_FIN) !== 0;
  }
  private set pendingFin(v: boolean) {
    this.fl = v ? this.fl | F_PENDING_FIN : this.fl & ~F_PENDING_FIN;
  }
  private get rttActive(): boolean {
    return (this.fl & F_RTT_ACTIVE) !== 0;
  }
  private set rttActive(v: boolean) {
    this.fl = v ? this.fl | F_RTT_ACTIVE : this.fl & ~F_RTT_ACTIVE;
  }
  private get inRecovery(): boolean {
    return (this.fl & F_IN_RECOVERY) !== 0;
  }
  private set inRecovery(v: boolean) {
    this.fl = v ? this.fl | F_IN_RECOVERY : this.fl & ~F_IN_RECOVERY;
  }
  private get recoveryIsSack(): boolean {
    return (this.fl & F_RECOVERY_IS_SACK) !== 0;
  }
  private set recoveryIsSack(v: boolean) {
    this.fl = v ? this.fl | F_RECOVERY_IS_SACK : this.fl & ~F_RECOVERY_IS_SACK;
  }
  /** NewReno: retransmit the segment at sndUna on the next dispatch. */
  private get rtxHead(): boolean {
    return (this.fl & F_RTX_HEAD) !== 0;
  }
  private set rtxHead(v: boolean) {
    this.fl = v ? this.fl | F_RTX_HEAD : this.fl & ~F_RTX_HEAD;
  }
  private get rackFackSet(): boolean {
    return (this.fl & F_RACK_FACK_SET) !== 0;
  }
  private set rackFackSet(v: boolean) {
    this.fl = v ? this.fl | F_RACK_FACK_SET : this.fl & ~F_RACK_FACK_SET;
  }
  private get rackReordering(): boolean {
    return (this.fl & F_RACK_REORDERING) !== 0;
  }
  private set rackReordering(v: boolean) {
    this.fl = v ? this.fl | F_RACK_REORDERING : this.fl & ~F_RACK_REORDERING;
  }
  private get rackDsackRound(): boolean {
    return (this.fl & F_RACK_DSACK_ROUND) !== 0;
  }
  private set rackDsackRound(v: boolean) {
    this.fl = v ? this.fl | F_RACK_DSACK_ROUND : this.fl & ~F_RACK_DSACK_ROUND;
  }
  /** RTO recovery: from an RTO until everything sent before it is acknowledged. */
  private get rtoRecovery(): boolean {
    return (this.fl & F_RTO_RECOVERY) !== 0;
  }
  private set rtoRecovery(v: boolean) {
    this.fl = v ? this.fl | F_RTO_RECOVERY : this.fl & ~F_RTO_RECOVERY;
  }
  private get tlpIsRetrans(): boolean {
    return (this.fl & F_TLP_IS_RETRANS) !== 0;
  }
  private set tlpIsRetrans(v: boolean) {
    this.fl = v ? this.fl | F_TLP_IS_RETRANS : this.fl & ~F_TLP_IS_RETRANS;
  }
  private get dsackPending(): boolean {
    return (this.fl & F_DSACK_PENDING) !== 0;
  }
  private set dsackPending(v: boolean) {
    this.fl = v ? this.fl | F_DSACK_PENDING : this.fl & ~F_DSACK_PENDING;
  }
  private get tlpOutstanding(): boolean {
    return (this.fl & F_TLP_OUTSTANDING) !== 0;
  }
  private set tlpOutstanding(v: boolean) {
    this.fl = v ? this.fl | F_TLP_OUTSTANDING : this.fl & ~F_TLP_OUTSTANDING;
  }
  private get ackNow(): boolean {
    return (this.fl & F_ACK_NOW) !== 0;
  }
  /**
   * Every `ackNow = true` marks the ACK as answering this segment
   * (F_ACK_EACH); only the every-second-segment rule sets F_ACK_NOW alone,
   * which receive-burst coalescing may fold into one ACK (outputMayWait).
   */
  private set ackNow(v: boolean) {
    this.fl = v ? this.fl | F_ACK_NOW | F_ACK_EACH : this.fl & ~(F_ACK_NOW | F_ACK_EACH);
  }
  private get forceSend(): boolean {
    return (this.fl & F_FORCE_SEND) !== 0;
  }
  private set forceSend(v: boolean) {
    this.fl = v ? this.fl | F_FORCE_SEND : this.fl & ~F_FORCE_SEND;
  }
  private get rstPending(): boolean {
    return (this.fl & F_RST_PENDING) !== 0;
  }
  private set rstPending(v: boolean) {
    this.fl = v ? this.fl | F_RST_PENDING : this.fl & ~F_RST_PENDING;
  }
  private get noDelay(): boolean {
    return (this.fl & F_NO_DELAY) !== 0;
  }
  private set noDelay(v: boolean) {
    this.fl = v ? this.fl | F_NO_DELAY : this.fl & ~F_NO_DELAY;
  }
  private get keepAlive(): boolean {
    return (this.fl & F_KEEP_ALIVE) !== 0;
  }
  private set keepAlive(v: boolean) {
    this.fl = v ? this.fl | F_KEEP_ALIVE : this.fl & ~F_KEEP_ALIVE;
  }
  private get appClosed(): boolean {
    return (this.fl & F_APP_CLOSED) !== 0;
  }
  private set appClosed(v: boolean) {
    this.fl = v ? this.fl | F_APP_CLOSED : this.fl & ~F_APP_CLOSED;
  }
  private get writeBlocked(): boolean {
    return (this.fl & F_WRITE_BLOCKED) !== 0;
  }
  private set writeBlocked(v: boolean) {
    this.fl = v ? this.fl | F_WRITE_BLOCKED : this.fl & ~F_WRITE_BLOCKED;
  }
  private get closedNotified(): boolean {
    return (this.fl & F_CLOSED_NOTIFIED) !== 0;
  }
  private set closedNotified(v: boolean) {
    this.fl = v ? this.fl | F_CLOSED_NOTIFIED : this.fl & ~F_CLOSED_NOTIFIED;
  }
  /** The sink refused a segment during this dispatch (no route / no buffer). */
  private get outputFailed(): boolean {
    return (this.fl & F_OUTPUT_FAILED) !== 0;
  }
  private set outputFailed(v: boolean) {
    this.fl = v ? this.fl | F_OUTPUT_FAILED : this.fl & ~F_OUTPUT_FAILED;
  }
  get iss(): number {
    return this._iss >>> 0;
  }
  private get tsOffset(): number {
    return this._tsOffset >>> 0;
  }
  get sndUna(): number {
    return this._sndUna >>> 0;
  }
  set sndUna(v: number) {
    this._sndUna = v | 0;
  }
  get sndNxt(): number {
    return this._sndNxt >>> 0;
  }
  set sndNxt(v: number) {
    this._sndNxt = v | 0;
  }
  /** Highest sequence number sent + 1 (sndNxt goes back to sndUna after an RTO; this does not). */
  get sndMax(): number {
    return this._sndMax >>> 0;
  }
  set sndMax(v: number) {
    this._sndMax = v | 0;
  }
  private get sndWl1(): number {
    return this._sndWl1 >>> 0;
  }
  private set sndWl1(v: number) {
    this._sndWl1 = v | 0;
  }
  private get sndWl2(): number {
    return this._sndWl2 >>> 0;
  }
  private set sndWl2(v: number) {
    this._sndWl2 = v | 0;
  }
  /** Sequence number of the first byte in the send ring. */
  private get sndBase(): number {
    return this._sndBase >>> 0;
  }
  private set sndBase(v: number) {
    this._sndBase = v | 0;
  }
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  private get recover(): number {
    return this._recover >>> 0;
  }
  private set recover(v: number) {
    this._recover = v | 0;
  }
  /** End of the last sub-MSS segment sent (Minshall's Nagle variant). */
  private get sndSml(): number {
    return this._sndSml >>> 0;
  }
  private set sndSml(v: number) {
    this._sndSml = v | 0;
  }
  get irs(): number {
    return this._irs >>> 0;
  }
  set irs(v: number) {
    this._irs = v | 0;
  }
  get rcvNxt(): number {
    return this._rcvNxt >>> 0;
  }
  set rcvNxt(v: number) {
    this._rcvNxt = v | 0;
  }
  /** Right edge of the window we last advertised (never moved left: RFC 9293 §3.8.6.2.2). */
  private get rcvAdv(): number {
    return this._rcvAdv >>> 0;
  }
  private set rcvAdv(v: number) {
    this._rcvAdv = v | 0;
  }
  private get lastAckSent(): number {
    return this._lastAckSent >>> 0;
  }
  private set lastAckSent(v: number) {
    this._lastAckSent = v | 0;
  }
  private get tsRecent(): number {
    return this._tsRecent >>> 0;
  }
  private set tsRecent(v: number) {
    this._tsRecent = v | 0;
  }
  private get rttSeq(): number {
    return this.cold._rttSeq >>> 0;
  }
  private set rttSeq(v: number) {
    this.cold._rttSeq = v | 0;
  }
  private get rttTime(): number {
    return this.cold.rttTime;
  }
  private set rttTime(v: number) {
    this.cold.rttTime = v;
  }
  private get pendingFinSeq(): number {
    return this._pendingFinSeq >>> 0;
  }
  private set pendingFinSeq(v: number) {
    this._pendingFinSeq = v | 0;
  }

  // =========================================================================
  // Opening

  /** Active open (RFC 9293 §3.10.1): SYN_SENT; the SYN goes out on the next dispatch. */
  connect(now: number): void {
    if (this.state !== State.CLOSED) throw new Error('connect: connection already in use');
    this.takeCold();
    this.now = now;
    this.lastRecv = now;
    this.setState(State.SYN_SENT);
    this.ackNow = false;
  }

  /**
   * Passive open from a LISTEN socket: `seg` is the peer's SYN. The SYN-ACK
   * goes out on the next dispatch (RFC 9293 §3.10.7.2).
   */
  acceptSyn(seg: TcpRepr, now: number): void {
    this.takeCold();
    this.now = now;
    this.lastRecv = now;
    this.passive = true;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.lastAckSent = this.rcvNxt;
    this.negotiate(seg.mss ?? -1, seg.windowScale ?? -1, seg.sackPermitted === true, seg.tsVal !== undefined, true);
    if (this.tsOk) {
      this.tsRecent = seg.tsVal!;
      this.tsRecentAge = now;
    }
    this.sndWnd = seg.window; // SYN windows are never scaled (RFC 7323 §2.2)
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.setState(State.SYN_RECEIVED);
  }

  /**
   * Passive open completed by a SYN cookie (the SYN_RECEIVED state was never
   * stored). `seg` is the ACK that carried the cookie; the caller then feeds
   * it to process() for its ACK/data.
   */
  acceptCookie(seg: TcpRepr, opts: PeerSynOptions, now: number): void {
    this.takeCold();
    this.now = now;
    this.lastRecv = now;
    this.passive = true;
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = seg.seq;
    // The stateless SYN-ACK advertised min(buffer, 65535) unscaled: honour it.
    this.rcvAdv = seqAdd(this.rcvNxt, Math.min(this.rcvCapacity, 65535));
    this.lastAckSent = this.rcvNxt;
    this.negotiate(opts.mss, opts.windowScale, opts.sackPermitted, opts.timestamps, true);
    if (this.tsOk && seg.tsVal !== undefined) {
      this.tsRecent = seg.tsVal;
      this.tsRecentAge = now;
    }
    // Our SYN-ACK (carrying the cookie as ISN) is what this ACK acknowledges.
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.sndWl1 = seqAdd(seg.seq, -1);
    this.sndWl2 = this.iss;
    this.setState(State.SYN_RECEIVED);
  }

  /** Records what both sides agreed in the SYN exchange. */
  private negotiate(mss: number, ws: number, sack: boolean, ts: boolean, weOffer: boolean): void {
    const c = this.config;
    // Absent (or 0): 536 (RFC 9293 §3.7.1). Tiny values are clamped like Linux's
    // tcp_min_snd_mss, so a peer cannot make us send 1-byte segments (CVE-2019-11479).
    this.peerMss = mss > 0 ? Math.max(mss, MIN_SND_MSS) : DEFAULT_PEER_MSS;
    if (c.windowScaling && weOffer && ws >= 0) {
      this.wsOk = true;
      this.sndShift = Math.min(ws, MAX_WINDOW_SHIFT);
    } else {
      this.wsOk = false;
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    this.sackOk = c.sack && sack;
    this.tsOk = c.timestamps && ts;
    this.cc.setMss(this.sndMss());
  }

  // =========================================================================
  // Application side

  get stateName(): string {
    return STATE_NAMES[this.state];
  }
  /** Bytes the application can read now. */
  get readable(): number {
    return this.rcvRing.length;
  }
  /** Free space in the send ring. */
  get writable(): number {
    return this.canWrite() ? this.sndFree() : 0;
  }
  /** Bytes queued but not yet acknowledged. */
  get sendQueued(): number {
    return this.sndRing.length;
  }
  /** The peer sent FIN and everything before it has been read or is readable. */
  get peerFinished(): boolean {
    return this.finReceived;
  }
  /** Effective send MSS (data bytes per full segment, with the options we send on data). */
  get mss(): number {
    return this.sndMss();
  }
  get sndWindowShift(): number {
    return this.sndShift;
  }
  get rcvWindowShift(): number {
    return this.rcvShift;
  }
  get sackEnabled(): boolean {
    return this.sackOk;
  }
  get timestampsEnabled(): boolean {
    return this.tsOk;
  }
  get windowScalingEnabled(): boolean {
    return this.wsOk;
  }
  get peerMssOption(): number {
    return this.peerMss;
  }
  get retransmitTimeoutAt(): number {
    return this.rtoAt;
  }

  private canWrite(): boolean {
    const s = this.state;
    return (
      !this.finQueued &&
      this.sndRing !== NO_RING &&
      (s === State.SYN_SENT || s === State.SYN_RECEIVED || s === State.ESTABLISHED || s === State.CLOSE_WAIT)
    );
  }

  /** Queues bytes for sending; returns how many were accepted (0 when the ring is full or writing is over). */
  write(src: Uint8Array, off: number, len: number): number {
    if (!this.canWrite() || len <= 0) return 0;
    const n = Math.min(len, this.sndFree());
    if (n > 0) {
      const ring = this.sndRing === IDLE_RING ? this.takeSndRing() : this.sndRing;
      ringPut(ring, 0, src, off, n);
      ring.commit(n);
    }
    if (n < len) this.writeBlocked = true;
    if (n > 0) this.host.kick(this);
    return n;
  }

  /** Reads and consumes received bytes; opens the window (RFC 9293 §3.8.6.2.2). */
  read(dst: Uint8Array, off: number, len: number): number {
    const n = ringGet(this.rcvRing, 0, dst, off, len);
    if (n > 0) {
      this.rcvRing.consume(n);
      this.rcvDrained();
    }
    if (n > 0 && this.windowUpdateWorthSending()) {
      this.ackNow = true;
      this.host.kick(this);
    }
    return n;
  }

  /** Nothing left to read and nothing held out of order: the receive ring gives its storage back. */
  private rcvDrained(): void {
    const r = this.rcvRing;
    if (r.length !== 0 || this.asm.heldBytes !== 0) return;
    if (r !== IDLE_RING && r !== NO_RING) this.putRcvRing();
    if (this.asm !== NO_ASM && ++this.asmIdleDrains >= ASM_IDLE_DRAINS) this.asm = NO_ASM;
  }

  /** Skips received bytes without copying them. */
  discard(len: number): number {
    const n = Math.min(len, this.rcvRing.length);
    if (n <= 0) return 0;
    this.rcvRing.consume(n);
    this.rcvDrained();
    if (this.windowUpdateWorthSending()) {
      this.ackNow = true;
      this.host.kick(this);
    }
    return n;
  }

  setNoDelay(on = true): void {
    this.noDelay = on;
    if (on) this.host.kick(this);
  }

  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.takeCold();
    this.keepAlive = enable;
    if (initialDelayMs !== undefined && initialDelayMs > 0) this.keepIdleMs = initialDelayMs;
    this.keepProbes = 0;
    this.host.kick(this);
  }

  /** Half-close: FIN after all queued data (RFC 9293 §3.10.4). */
  shutdown(): void {
    this.takeCold();
    switch (this.state) {
      case State.SYN_SENT:
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
        this.finQueued = true;
        // SYN_SENT / SYN_RECEIVED: the FIN waits for ESTABLISHED (RFC 9293
        // §3.10.4: "queue for processing after entering ESTABLISHED"), so
        // connect-write-end works as with any socket API.
        if (this.state === State.ESTABLISHED) this.setState(State.FIN_WAIT_1);
        break;
      case State.CLOSE_WAIT:
        this.finQueued = true;
        this.setState(State.LAST_ACK);
        break;
      default:
        return;
    }
    this.host.kick(this);
  }

  /**
   * Full close. Unread received data means the application lost data, so the
   * peer is told with a RST (RFC 2525 §2.17, as Linux does); otherwise FIN.
   * After close() arriving data also draws a RST (the reader is gone).
   */
  close(): void {
    this.takeCold();
    if (this.state === State.CLOSED || this.state === State.TIME_WAIT) return;
    if (this.state === State.SYN_SENT) {
      // RFC 9293 §3.10.4 CLOSE in SYN-SENT: delete the TCB (nothing was synchronised).
      this.appClosed = true;
      this.finish(undefined);
      this.host.kick(this);
      return;
    }
    this.appClosed = true;
    if (this.rcvRing.length > 0) {
      this.abort();
      return;
    }
    if (this.state === State.FIN_WAIT_2 && this.closeAt === Infinity) {
      this.closeAt = this.now + this.config.finWait2TimeoutMs;
    }
    this.shutdown();
  }

  /** Abortive close: RST (RFC 9293 §3.10.5 ABORT), no error reported. */
  abort(): void {
    this.takeCold();
    const s = this.state;
    if (s === State.CLOSED) return;
    if (s !== State.SYN_SENT && s !== State.TIME_WAIT) {
      this.queueRst(this.sndMax, this.rcvNxt, TCP_RST | TCP_ACK);
    }
    this.appClosed = true;
    this.finish(undefined);
    this.host.kick(this);
  }

  /** Copies `len` bytes of queued send data starting `ringOffset` bytes after the oldest unacknowledged byte. */
  copyPayload(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    return ringGet(this.sndRing, ringOffset, dst, dstOff, len);
  }

  /**
   * copyPayload of exactly `len` bytes, returning their folded one's
   * complement sum for the checksum (so each byte is read once), or -1 when
   * fewer were queued (the caller then sums the segment itself).
   */
  copyPayloadSum(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    return ringGetSum(this.sndRing, ringOffset, dst, dstOff, len);
  }

  /**
   * Fused receive, for a segment whose checksum the NIC did not verify:
   * copies its payload into the receive ring's free space, not committed,
   * and returns the bytes' folded sum, so the layer verifies the checksum
   * with it and processText commits the bytes instead of copying them again
   * (each byte read once). Returns -1, doing nothing, unless that is safe
   * whatever the segment turns out to be: ESTABLISHED, the payload starts at
   * rcvNxt and lies wholly inside the window and the ring, and nothing is
   * held out of order (so the free space holds no bytes anyone needs: a
   * corrupt segment overwrites only garbage, and dropPlacement forgets it).
   */
  placeInOrder(seq: number, buf: Uint8Array, off: number, len: number): number {
    if (this.state !== State.ESTABLISHED || this.appClosed || len <= 0 || seqDiff(seq, this.rcvNxt) !== 0) return -1;
    if (this.asm.heldBytes !== 0 || this.rcvRing === NO_RING || len > this.rcvWindowNow() || len > this.rcvFree()) return -1;
    const took = this.rcvRing === IDLE_RING;
    const ring = took ? this.takeRcvRing() : this.rcvRing;
    ring.ensure(ring.length + len);
    const sum = ringPutSum(ring, buf, off, len);
    this.placedBuf = buf;
    this.placedOff = off;
    this.placedLen = len;
    this.placedStore = ring.buffer;
    this.placedTookRing = took;
    return sum;
  }

  /**
   * Forgets a placement processText did not use (its checksum failed, or the
   * segment was trimmed or dropped): the bytes stay uncommitted garbage, and
   * a ring taken for them goes back, as if the segment never came.
   */
  dropPlacement(): void {
    if (this.placedLen === 0) return;
    this.placedLen = 0;
    this.placedBuf = null;
    this.placedStore = null;
    if (this.placedTookRing && this.rcvRing.length === 0 && this.asm.heldBytes === 0) this.putRcvRing();
    this.placedTookRing = false;
  }

  /** Whether placeInOrder already put these len bytes at the ring's tail (then they are taken as placed). */
  private usePlacement(payload: Uint8Array, pOff: number, len: number, ring: ByteRing): boolean {
    if (this.placedLen < len || payload !== this.placedBuf || pOff !== this.placedOff || ring.buffer !== this.placedStore) return false;
    this.placedLen = 0;
    this.placedBuf = null;
    this.placedStore = null;
    this.placedTookRing = false;
    return true;
  }

  // =========================================================================
  // ICMP (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191)

  // (softError, the soft error remembered for a later timeout as Linux's
  // sk_err_soft, is in ColdState.)

  /**
   * An ICMP error quoting one of our segments whose sequence number was
   * `quotedSeq`. Only errors quoting data in flight are believed (RFC 5927
   * §4.1: makes blind ICMP attacks as hard as blind RST ones).
   */
  icmpError(kind: string, quotedSeq: number, mtu: number, now: number): void {
    this.takeCold();
    this.now = now;
    if (this.state === State.CLOSED || this.state === State.TIME_WAIT) return;
    if (!(seqLe(this.sndUna, quotedSeq) && seqLt(quotedSeq, this.sndMax)) && !(this.sndUna === this.sndMax && quotedSeq === this.sndUna)) {
      return;
    }
    if (kind === 'frag-needed') {
      // Path MTU discovery (RFC 1191): shrink the segment size and resend what
      // was too big at once; this is not congestion, so cwnd is left alone.
      const mms = mtu - 20;
      if (mms >= 68 && mms < this.mmsS) {
        this.mmsS = mms;
        this.cc.setMss(this.sndMss());
        if (this.synchronizedForData() && seqLt(this.sndUna, this.sndMax)) {
          this.sndNxt = this.sndUna;
          this.rttActive = false;
          if (this.rackOn()) this.rsMarkAllLost(false);
        }
      }
      return;
    }
    const code: TcpErrorCode = kind === 'net-unreachable' ? 'ENETUNREACH' : kind === 'host-unreachable' ? 'EHOSTUNREACH' : 'ECONNREFUSED';
    if (this.state === State.SYN_SENT && (kind === 'port-unreachable' || kind === 'protocol-unreachable' || kind === 'admin-prohibited')) {
      // A hard error while connecting (as Linux): give up now.
      this.finish('ECONNREFUSED');
      this.flushEvents();
      return;
    }
    // Established connections treat all of them as soft errors (RFC 1122 §4.2.3.9).
    this.softError = code;
  }

  // =========================================================================
  // Timers

  /** Next time dispatch() is needed (absolute ms), or Infinity. `-Infinity` means "now". */
  pollAt(): number {
    this.nextDeadline();
    return DEADLINE[0]!;
  }

  /**
   * @internal For the layer's timer: pollAt() rounded up to a whole
   * millisecond, at least now + 1 (never the same millisecond again right
   * after a dispatch at `now`); -1 when nothing is due. A small integer, not
   * a double: this runs after every segment, and a double returned from a
   * call V8 does not inline is a new heap number. Timers fire up to 1 ms
   * after their exact deadline (the wheel's resolution anyway).
   */
  timerDeadline(now: number): number {
    this.nextDeadline();
    const at = DEADLINE[0]!;
    if (at === Infinity) return -1;
    return Math.ceil(at <= now ? now + 1 : at);
  }

  /** pollAt() into DEADLINE[0] (no double returned: see timerDeadline). */
  private nextDeadline(): void {
    let t: number;
    if (this.state === State.CLOSED) t = this.rstPending ? -Infinity : Infinity;
    else if (this.rstPending || this.ackNow) t = -Infinity;
    else {
      t = this.closeAt;
      if (this.rtoAt < t) t = this.rtoAt;
      if (this.ackAt < t) t = this.ackAt;
      if (this.tlpAt < t) t = this.tlpAt;
      if (this.rackAt < t) t = this.rackAt;
      if (this.persistAt < t) t = this.persistAt;
      if (this.keepAlive) {
        const k = this.keepAliveAt();
        if (k < t) t = k;
      }
    }
    DEADLINE[0] = t;
  }

  private keepAliveAt(): number {
    if (!this.keepAlive) return Infinity;
    const s = this.state;
    if (s !== State.ESTABLISHED && s !== State.CLOSE_WAIT && s !== State.FIN_WAIT_2) return Infinity;
    if (this.sndNxt !== this.sndUna || this.sndRing.length > 0) return Infinity; // RTO / persist in charge
    return this.keepProbes === 0
      ? this.lastRecv + this.keepIdleMs
      : this.keepLastProbe + this.config.keepIntervalMs;
  }

  /**
   * After process(): whether this connection's output may wait for the end of
   * the receive burst (TcpLayer coalescing). Only for in-order data in
   * ESTABLISHED with nothing held out of order, no D-SACK or RST to send: the
   * ACK then covers the whole burst (a stretch ACK, as with Linux's GRO).
   * Anything a peer counts ACK by ACK — duplicate ACKs for data out of
   * order, challenge ACKs, answers to probes and to old or out-of-window
   * segments (F_ACK_EACH) — goes out segment by segment.
   */
  get outputMayWait(): boolean {
    return (
      this.state === State.ESTABLISHED &&
      this.asm.heldBytes === 0 &&
      (this.fl & (F_ACK_EACH | F_DSACK_PENDING | F_RST_PENDING)) === 0 &&
      !this.pendingFin
    );
  }

  // =========================================================================
  // Incoming segments (RFC 9293 §3.10.7)

  /** Handles one segment addressed to this connection. Never throws on hostile input. */
  process(seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number): void {
    this.takeCold();
    this.now = now;
    this.stats.segmentsIn++;
    switch (this.state) {
      case State.CLOSED:
      case State.LISTEN:
        break; // the layer answers segments for closed/listening ports
      case State.SYN_SENT:
        this.processSynSent(seg, payload, payloadOff, now);
        break;
      default:
        this.processSynchronized(seg, payload, payloadOff, now);
        break;
    }
    // A placement lives for this segment only (before the application runs).
    this.dropPlacement();
    this.flushEvents();
  }

  /** RFC 9293 §3.10.7.3 "If the state is SYN-SENT". */
  private processSynSent(seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number): void {
    const f = seg.flags;
    const hasAck = (f & TCP_ACK) !== 0;
    // First: the ACK must acknowledge our SYN exactly (iss < ack <= sndMax).
    if (hasAck && (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax))) {
      if ((f & TCP_RST) === 0) this.queueRst(seg.ack, 0, TCP_RST);
      this.stats.badAcks++;
      return;
    }
    // Second: RST is acceptable only with an acceptable ACK (RFC 5961 §3.2 keeps this rule).
    if ((f & TCP_RST) !== 0) {
      if (hasAck) {
        this.stats.resetsIn++;
        this.stats.connectionsReset++;
        this.finish('ECONNREFUSED');
      }
      return;
    }
    if ((f & TCP_SYN) === 0) return; // fifth: neither SYN nor RST: drop
    // Fourth: SYN.
    this.lastRecv = now;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.lastAckSent = this.rcvNxt;
    this.negotiate(seg.mss ?? -1, seg.windowScale ?? -1, seg.sackPermitted === true, seg.tsVal !== undefined, true);
    if (this.tsOk) {
      this.tsRecent = seg.tsVal!;
      this.tsRecentAge = now;
    }
    if (hasAck) {
      // Our SYN is acknowledged: ESTABLISHED. RTT sample from the SYN unless it was retransmitted (Karn).
      this.ackAdvance(seg, now);
      this.sndWnd = seg.window; // unscaled in a SYN
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.setState(State.ESTABLISHED);
      this.events_ |= EV_CONNECTED;
      this.ackNow = true;
      if (this.finQueued) this.setState(State.FIN_WAIT_1);
      if (seg.payloadLength > 0 || (f & TCP_FIN) !== 0) {
        this.processText(seg, seqAdd(seg.seq, 1), payload, payloadOff, now);
      }
    } else {
      // Simultaneous open (RFC 9293 §3.5 figure 7): SYN_RECEIVED, send SYN-ACK with our ISS.
      this.sndWnd = seg.window;
      this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = this.iss;
      this.setState(State.SYN_RECEIVED);
      this.sndNxt = this.iss; // the SYN goes again, now with ACK
      this.rtoAt = Infinity;
      this.rttActive = false;
    }
  }

  /** Segment acceptability window (RFC 9293 §3.10.7.4 "first"). */
  private rcvWindowNow(): number {
    const w = seqDiff(this.rcvAdv, this.rcvNxt);
    return w > 0 ? w : 0;
  }

  private processSynchronized(seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number): void {
    let f = seg.flags;
    let seq = seg.seq;
    const len = seg.payloadLength;
    const pOff = payloadOff;

    // SYN_RECEIVED: a retransmitted SYN means our SYN-ACK was lost; a SYN-ACK
    // (simultaneous open) carries an old SYN but a new ACK: strip the SYN.
    if (this.state === State.SYN_RECEIVED && (f & TCP_SYN) !== 0 && seq === this.irs && (f & TCP_RST) === 0) {
      if ((f & TCP_ACK) === 0) {
        this.sndNxt = this.iss; // resend SYN-ACK
        return;
      }
      f &= ~TCP_SYN;
      seq = seqAdd(seq, 1);
    }

    // RFC 7323 §5.3 PAWS: a timestamp older than ts.recent marks an old duplicate.
    if (this.tsOk && seg.tsVal !== undefined && (f & TCP_RST) === 0) {
      if (seqLt(seg.tsVal, this.tsRecent) && now - this.tsRecentAge < PAWS_IDLE_MS) {
        this.stats.pawsDrops++;
        this.sendOowAck(len > 0, seq);
        return;
      }
    }

    // First: sequence number acceptability.
    const segLen = len + ((f & TCP_SYN) !== 0 ? 1 : 0) + ((f & TCP_FIN) !== 0 ? 1 : 0);
    const wnd = this.rcvWindowNow();
    // Sequence numbers go to the helpers below as int32 bit patterns (they
    // compare them only modulo 2^32): a uint32 >= 2^31 passed to a function
    // V8 does not inline is a heap number per segment.
    if (!this.acceptable(seq | 0, segLen, wnd)) {
      this.stats.outOfWindow++;
      if ((f & TCP_RST) === 0) {
        if (this.state === State.TIME_WAIT && (f & TCP_FIN) !== 0) {
          this.closeAt = now + this.config.timeWaitMs; // retransmitted FIN: restart 2MSL (§3.10.7.4)
        }
        if (len > 0) {
          this.stats.duplicateBytes += len;
          if (seqLe(seqAdd(seq, len), this.rcvNxt)) this.noteDsack(seq, seqAdd(seq, len));
        }
        this.sendOowAck(len > 0 || (f & TCP_FIN) !== 0, seq);
      }
      return;
    }

    // Second: RST (RFC 5961 §3.2: exact match resets, in-window draws a challenge ACK).
    if ((f & TCP_RST) !== 0) {
      this.stats.resetsIn++;
      if (seq !== this.rcvNxt) {
        this.challengeAck(now);
        return;
      }
      if (this.state !== State.TIME_WAIT) this.stats.connectionsReset++;
      switch (this.state) {
        case State.SYN_RECEIVED:
          // Passive: back to LISTEN, i.e. this embryonic connection just goes; active: refused.
          this.finish(this.passive ? undefined : 'ECONNREFUSED');
          return;
        case State.ESTABLISHED:
        case State.FIN_WAIT_1:
        case State.FIN_WAIT_2:
        case State.CLOSE_WAIT:
          this.finish('ECONNRESET');
          return;
        default:
          // CLOSING, LAST_ACK, TIME_WAIT: just close.
          this.finish(undefined);
          return;
      }
    }

    // Third (RFC 9293 security check is obsolete). Fourth: SYN in a synchronised
    // state draws a challenge ACK (RFC 5961 §4.2), whatever its sequence number.
    if ((f & TCP_SYN) !== 0) {
      this.challengeAck(now);
      return;
    }

    // Fifth: ACK.
    if ((f & TCP_ACK) === 0) return;

    // Timestamps: remember ts.recent for echoing (RFC 7323 §4.3: only if the
    // segment covers Last.ACK.sent, so a delayed ACK echoes the oldest).
    if (this.tsOk && seg.tsVal !== undefined && seqGe(seg.tsVal, this.tsRecent) && seqLe(seq, this.lastAckSent)) {
      this.tsRecent = seg.tsVal;
      this.tsRecentAge = now;
    }
    this.lastRecv = now;
    this.keepProbes = 0;

    if (this.state === State.SYN_RECEIVED) {
      if (seqLe(seg.ack, this.sndUna) || seqGt(seg.ack, this.sndMax)) {
        // RFC 9293: <SEQ=SEG.ACK><CTL=RST>.
        this.queueRst(seg.ack, 0, TCP_RST);
        this.stats.badAcks++;
        return;
      }
      this.sndWnd = seg.window << this.sndShift;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seq;
      this.sndWl2 = seg.ack;
      this.setState(State.ESTABLISHED);
      this.events_ |= EV_CONNECTED;
      if (this.finQueued) this.setState(State.FIN_WAIT_1);
    }

    if (!this.processAck(seg, seq | 0, len, f, now)) return;
    if (this.state === State.CLOSED) return;

    // Sixth: URG is not supported (RFC 6093 recommends against new uses). Seventh: text. Eighth: FIN.
    if (len > 0 || (f & TCP_FIN) !== 0) {
      this.processText(seg, seq | 0, payload, pOff, now, f);
    }
  }

  /** RFC 9293 §3.10.7.4 table: is any part of the segment inside the receive window? */
  /** `seq`: int32 or uint32 (compared modulo 2^32). */
  private acceptable(seq: number, segLen: number, wnd: number): boolean {
    const rn = this.rcvNxt;
    if (segLen === 0) {
      if (wnd === 0) return seqDiff(seq, rn) === 0;
      return seqLe(rn, seq) && seqLt(seq, seqAdd(rn, wnd));
    }
    // Old text reaching up to what we last acknowledged: a retransmitted FIN
    // (BSD stacks such as QEMU's slirp put their FIN on every segment until
    // it is acknowledged) or the last data again. Nothing in it is new
    // (processText trims it and ACKs), but its ACK and window are current:
    // dropping them left our sender waiting for the RTO, which resent data
    // the peer had acknowledged. As Linux tcp_sequence (end_seq >= rcv_wup;
    // BSD processes the ACK of any old segment).
    if (seqLe(seq, rn) && seqGe(seqAdd(seq, segLen), this.lastAckSent)) return true;
    if (wnd === 0) {
      // Nothing fits, but the ACK/RST/FIN-at-rcvNxt of a segment starting at
      // rcvNxt is still useful (RFC 9293: "special allowance" for ACKs; Linux
      // accepts seq == rcv_nxt with a zero window).
      return seqDiff(seq, rn) === 0;
    }
    const end = seqAdd(rn, wnd);
    const last = seqAdd(seq, segLen - 1);
    return (seqLe(rn, seq) && seqLt(seq, end)) || (seqLe(rn, last) && seqLt(last, end));
  }

  /**
   * ACK processing (RFC 9293 §3.10.7.4 "fifth", RFC 5961 §5.2, RFC 5681,
   * RFC 6582, RFC 6675). Returns false if the segment is to be dropped.
   */
  private processAck(seg: TcpRepr, seq: number, len: number, f: number, now: number): boolean {
    const ack = seg.ack;
    // RFC 5961 §5.2: acceptable iff SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT (we use sndMax, the highest sent).
    if (seqGt(ack, this.sndMax) || seqLt(ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)))) {
      this.stats.badAcks++;
      this.challengeAck(now);
      return false;
    }

    const oldWnd = this.sndWnd;
    const rack = this.rackOn();
    const dsack = rack && seg.sack !== undefined && seg.sack.length >= 2 && this.isDsack(seg.sack, ack);
    const newSack = this.sackOk && seg.sack !== undefined && seg.sack.length > 0 ? this.updateScoreboard(seg.sack) : false;
    const unaBefore = this.sndUna;

    // Window update (RFC 9293 §3.10.7.4: only from segments newer than the last update).
    if (seqLt(this.sndWl1, seq) || (seqDiff(this.sndWl1, seq) === 0 && seqLe(this.sndWl2, ack))) {
      this.sndWnd = seg.window << this.sndShift;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (this.sndWnd > 0) {
        if (this.persistTotal > 0) this.progressAt = now;
        this.persistAt = Infinity;
        this.persistBackoff = 0;
        this.persistTotal = 0;
      }
    }
    this.persistProbes = 0; // the peer is alive: persist may go on forever (RFC 1122 §4.2.2.17)

    if (seqGt(ack, this.sndUna)) {
      this.ackAdvance(seg, now);
    } else if (
      ack === this.sndUna &&
      seqGt(this.sndMax, this.sndUna) &&
      len === 0 &&
      (f & (TCP_SYN | TCP_FIN)) === 0 &&
      (this.sndWnd === oldWnd || newSack)
    ) {
      this.onDupAck(now);
    }
    if (rack) {
      const pureDup = ack === unaBefore && len === 0 && !newSack && this.sndWnd === oldWnd;
      this.rackOnAck(seg, ack | 0, dsack, pureDup, now); // int32: see processSynchronized
    }

    // FIN acknowledged?
    const finAcked = this.finQueued && this.sndUna === this.finSeqPlusOne();
    switch (this.state) {
      case State.FIN_WAIT_1:
        if (finAcked) {
          this.setState(State.FIN_WAIT_2);
          if (this.appClosed) this.closeAt = now + this.config.finWait2TimeoutMs;
        }
        break;
      case State.CLOSING:
        if (finAcked) this.enterTimeWait(now);
        break;
      case State.LAST_ACK:
        if (finAcked) {
          this.finish(undefined);
          return false;
        }
        break;
      case State.TIME_WAIT:
        break;
      default:
        break;
    }
    return true;
  }

  /** Sequence number just after our FIN (valid once finQueued). */
  private finSeqPlusOne(): number {
    return seqAdd(this.sndBase, this.sndRing.length + 1);
  }

  /** The cumulative ACK moved forward: free the ring, sample RTT, grow cwnd, manage recovery. */
  private ackAdvance(seg: TcpRepr, now: number): void {
    const ack = seg.ack;
    const acked = seqDiff(ack, this.sndUna);
    const flightBefore = seqDiff(this.sndMax, this.sndUna);
    // Release acknowledged data (the SYN and FIN occupy sequence space but not ring bytes).
    let dataAcked = seqDiff(ack, this.sndBase);
    if (dataAcked > this.sndRing.length) dataAcked = this.sndRing.length;
    if (dataAcked > 0) {
      this.sndRing.consume(dataAcked);
      // Everything acknowledged: the send ring gives its storage back (idle costs nothing).
      if (this.sndRing.length === 0) {
        this.putSndRing();
        if (this.rsN === 0 && this.rsEnd.length > RS_MIN_RECORDS) this.rsDrop();
      }
      this.sndBase = seqAdd(this.sndBase, dataAcked);
      if (this.writeBlocked && this.canWrite()) {
        this.writeBlocked = false;
        this.events_ |= EV_WRITABLE;
      }
    }
    this.sndUna = ack;
    this.progressAt = now;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack; // after an RTO go-back-N
    this.retries = 0;

    // RTT (RFC 6298 / RFC 7323 §4.1): timestamps echo the segment that was
    // acknowledged, retransmitted or not; otherwise one timed segment, never a
    // retransmitted one (Karn's algorithm).
    let rttSample = -1;
    if (this.tsOk && seg.tsEcr !== undefined && seg.tsEcr !== 0) {
      const d = seqDiff(this.tsNow(now), seg.tsEcr);
      if (d >= 0 && d < 3_600_000) rttSample = d;
    } else if (this.rttActive && seqGe(ack, this.rttSeq)) {
      rttSample = Math.max(0, now - this.rttTime);
    }
    if (this.rttActive && seqGe(ack, this.rttSeq)) this.rttActive = false;
    if (rttSample >= 0) this.rtt.sample(rttSample);
    this.rtt.resetBackoff();

    // Trim the SACK scoreboard below the new cumulative ACK.
    this.trimScoreboard();
    if (this.rackOn()) {
      this.rsOnCumAck(ack | 0, now, seg.tsEcr); // int32: see processSynchronized
      if (this.rtoRecovery && seqGe(ack, this.recover)) {
        this.rtoRecovery = false;
        this.rackRecoveryDone();
      }
    }

    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        // Full ACK: leave fast recovery (RFC 6582 §3.2 step 3 / RFC 6675 §5 step 2).
        this.inRecovery = false;
        this.inflation = 0;
        this.rtxHead = false;
        this.cc.onExitRecovery(now);
        if (this.rackOn()) this.rackRecoveryDone();
      } else if (!this.recoveryIsSack) {
        // Partial ACK (RFC 6582 §3.2 step 5): retransmit the next hole, deflate.
        this.inflation = Math.max(0, this.inflation - acked) + (acked >= this.sndMss() ? this.sndMss() : 0);
        this.cc.onPartialAck(dataAcked > 0 ? dataAcked : acked);
        this.rtxHead = true;
      } else {
        if (seqLt(this.highRxt, this.sndUna)) this.highRxt = this.sndUna;
      }
    } else if (this.state !== State.SYN_SENT && this.state !== State.SYN_RECEIVED) {
      if (dataAcked > 0) this.cc.onAck(dataAcked, now, rttSample, flightBefore);
    }
    this.dupAcks = 0;

    // RFC 6298 §5.2/5.3: all acknowledged -> stop the timer; else restart it.
    if (this.sndUna === this.sndMax) this.rtoAt = Infinity;
    else this.rtoAt = now + this.rtt.rto;
    // RFC 8985 §7.2: restart the PTO on an ACK of new data. (With RACK the
    // episode ends by the §7.4 rules in rackOnAck instead.)
    if (!this.rackOn()) this.tlpOutstanding = false;
    this.armTlp(now);
  }

  /** RFC 5681 §3.2 / RFC 6582 / RFC 6675 §5: a duplicate ACK. */
  private onDupAck(now: number): void {
    this.dupAcks++;
    if (this.inRecovery) {
      if (!this.recoveryIsSack) this.inflation += this.sndMss(); // RFC 6582 §3.2 step 4
      return;
    }
    if (this.rackOn()) {
      // RACK decides from the SACK blocks (rackOnAck). A SACK peer that sends
      // duplicate ACKs without blocks gets the DupThresh rule on the head.
      if (this.sbN > 0 || this.dupAcks < DUP_THRESH || seqLt(this.sndUna, this.recover) || this.rsN === 0) return;
      this.rsMarkLost(0);
      this.enterRecovery(now);
      return;
    }
    const lost = this.sackOk && this.sbN > 0 && this.isLost(this.sndUna);
    if (this.dupAcks >= DUP_THRESH || lost) {
      // RFC 6582 §3.2 step 2: only if the ACK covers more than "recover" (avoid repeated reductions).
      // RFC 6582 §3.2 step 2: not again for losses in the window we already reduced for
      // ("recover" here is one past the highest sequence sent then).
      if (seqLt(this.sndUna, this.recover)) return;
      this.enterRecovery(now);
    }
  }

  private enterRecovery(now: number): void {
    this.tlpAt = Infinity;
    const flight = this.rackOn() ? seqDiff(this.sndNxt, this.sndUna) : this.pipe();
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.recoveryIsSack = this.rackOn() || (this.sackOk && this.sbN > 0);
    this.cc.onEnterRecovery(now, flight);
    this.stats.fastRetransmits++;
    this.rttActive = false; // Karn: the head is about to be retransmitted
    if (this.recoveryIsSack) {
      this.stats.sackRecoveries++;
      this.highRxt = this.sndUna;
    } else {
      this.stats.newRenoRecoveries++;
      this.inflation = DUP_THRESH * this.sndMss(); // RFC 6582 step 2: cwnd = ssthresh + 3*SMSS
      this.rtxHead = true;
    }
  }

  /** Seventh and eighth steps: segment text and FIN. `seq` is the sequence number of the first data byte. */
  private processText(seg: TcpRepr, seq: number, payload: Uint8Array, payloadOff: number, now: number, flags = seg.flags): void {
    const s = this.state;
    const canReceive = s === State.ESTABLISHED || s === State.FIN_WAIT_1 || s === State.FIN_WAIT_2;
    let len = seg.payloadLength;
    let fin = (flags & TCP_FIN) !== 0;
    if (!canReceive) {
      // CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer already sent FIN; ignore text.
      if (fin && s === State.TIME_WAIT) {
        this.closeAt = now + this.config.timeWaitMs;
        this.ackNow = true;
      } else if ((len > 0 || fin) && seqLt(seq, this.rcvNxt)) {
        // Old text or the peer's FIN again (see acceptable()): tell it where we are.
        this.ackNow = true;
      }
      return;
    }
    if (len > 0 && this.appClosed) {
      // The application is gone: nobody will read this (RFC 2525 §2.17 / Linux tcp_rcv_state_process).
      this.queueRst(this.sndMax, this.rcvNxt, TCP_RST | TCP_ACK);
      this.finish(undefined);
      return;
    }
    const finSeq = seqAdd(seq, len);
    // Trim what we already have (front) and what does not fit the ring (tail).
    let off = seqDiff(seq, this.rcvNxt);
    let pOff = payloadOff;
    if (off < 0) {
      const skip = Math.min(-off, len);
      this.stats.duplicateBytes += skip;
      if (skip > 0) this.noteDsack(seq, seqAdd(seq, skip));
      pOff += skip;
      len -= skip;
      off = 0;
    }
    // Keep only what lies inside the window we advertised (RFC 9293 §3.10.7.4
    // "seventh": segments are trimmed to the window) and fits the ring.
    const wnd = this.rcvWindowNow();
    const free = this.rcvFree();
    const room = wnd < free ? wnd : free;
    if (off + len > room) {
      const keep = Math.max(0, room - off);
      len = keep;
      fin = false; // the FIN lies beyond what we kept
    }
    if (len > 0) {
      if (len > this.rcvMss) this.rcvMss = Math.min(len, this.advMss);
      this.stats.bytesIn += len;
      if (off === 0) {
        const hadHoles = this.asm.heldBytes > 0;
        const ring = this.rcvRing === IDLE_RING ? this.takeRcvRing() : this.rcvRing;
        if (!this.usePlacement(payload, pOff, len, ring)) ringPut(ring, 0, payload, pOff, len);
        ring.commit(len);
        const extra = this.asm.advance(len);
        if (extra > 0) ring.commit(extra);
        this.rcvNxt = seqAdd(this.rcvNxt, len + extra);
        this.events_ |= EV_READABLE;
        if (hadHoles) {
          // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap.
          this.ackNow = true;
        } else {
          this.rcvUnackedBytes += len;
          // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment.
          if (!this.config.delayedAck || this.rcvUnackedBytes >= 2 * this.rcvMss) this.fl |= F_ACK_NOW;
          else if (this.ackAt === Infinity) this.ackAt = now + this.config.delayedAckMs;
        }
      } else {
        // Out of order: keep it (bounded) and send a duplicate ACK with SACK at once (RFC 5681 §4.2).
        this.stats.outOfOrderSegments++;
        if (this.asm === NO_ASM) this.asm = new Assembler(this.rcvCapacity, this.config.maxOooRanges);
        this.asmIdleDrains = 0;
        if (this.asm.add(off, len)) {
          ringPut(this.rcvRing === IDLE_RING ? this.takeRcvRing() : this.rcvRing, off, payload, pOff, len);
          this.stats.outOfOrderBytes += len;
        } else {
          this.stats.outOfOrderDropped += len;
        }
        this.ackNow = true;
      }
    } else if (seg.payloadLength > 0) {
      this.ackNow = true; // all duplicate or no room: tell the peer where we are
    }
    if (fin) {
      if (finSeq === this.rcvNxt) {
        this.receiveFin(now);
      } else if (seqGt(finSeq, this.rcvNxt)) {
        // FIN beyond a hole: remember it; it takes effect when the hole fills.
        this.pendingFin = true;
        this.pendingFinSeq = finSeq;
        this.ackNow = true;
      }
    }
    if (this.pendingFin && this.pendingFinSeq === this.rcvNxt && !this.finReceived) this.receiveFin(now);
  }

  /** Eighth step: the peer's FIN is in order. */
  private receiveFin(now: number): void {
    if (this.finReceived) return;
    this.finReceived = true;
    this.pendingFin = false;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    this.events_ |= EV_PEER_CLOSED;
    switch (this.state) {
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
        this.setState(State.CLOSE_WAIT);
        break;
      case State.FIN_WAIT_1:
        // Our FIN not yet acknowledged: simultaneous close (RFC 9293 figure 13).
        if (this.finQueued && this.sndUna === this.finSeqPlusOne()) this.enterTimeWait(now);
        else this.setState(State.CLOSING);
        break;
      case State.FIN_WAIT_2:
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  private enterTimeWait(now: number): void {
    this.setState(State.TIME_WAIT);
    this.closeAt = now + this.config.timeWaitMs;
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    this.rtoAt = Infinity;
    this.persistAt = Infinity;
    this.ackAt = Infinity;
    this.notifyClosed(undefined);
  }

  // =========================================================================
  // SACK scoreboard (RFC 2018 §5, RFC 6675 §4)

  /** Merges received SACK blocks; returns true if any new byte was SACKed. */
  private updateScoreboard(blocks: number[]): boolean {
    let grew = false;
    for (let i = 0; i + 1 < blocks.length; i += 2) {
      let l = blocks[i]! >>> 0;
      const r = blocks[i + 1]! >>> 0;
      // Ignore blocks that are empty, below the cumulative ACK (D-SACK) or beyond what we sent.
      if (!seqLt(l, r) || seqLe(r, this.sndUna) || seqGt(r, this.sndMax)) continue;
      if (seqLt(l, this.sndUna)) l = this.sndUna;
      if (this.sbInsert(l, r)) grew = true;
    }
    return grew;
  }

  private sbInsert(l: number, r: number): boolean {
    let sb = this.sb;
    if (sb === NO_SB) this.sb = sb = [];
    let n = this.sbN;
    // Find the first range whose end >= l.
    let i = 0;
    while (i < n && seqLt(sb[2 * i + 1]!, l)) i++;
    let j = i;
    let nl = l;
    let nr = r;
    let covered = 0;
    while (j < n && seqLe(sb[2 * j]!, r)) {
      if (seqLt(sb[2 * j]!, nl)) nl = sb[2 * j]!;
      if (seqGt(sb[2 * j + 1]!, nr)) nr = sb[2 * j + 1]!;
      // Bytes of [l, r) already covered by this range.
      const cl = seqMax(sb[2 * j]!, l);
      const cr = seqLt(sb[2 * j + 1]!, r) ? sb[2 * j + 1]! : r;
      if (seqLt(cl, cr)) covered += seqDiff(cr, cl);
      j++;
    }
    const grew = covered < seqDiff(r, l);
    // Replace ranges i..j-1 with [nl, nr).
    const removed = j - i;
    if (removed === 0) {
      if (n >= this.config.maxSackRanges) {
        // Bound the scoreboard: forget the highest range (we may retransmit it needlessly; safe).
        if (i >= n) return false;
        n--;
      }
      for (let k = n; k > i; k--) {
        sb[2 * k] = sb[2 * k - 2]!;
        sb[2 * k + 1] = sb[2 * k - 1]!;
      }
      sb[2 * i] = nl;
      sb[2 * i + 1] = nr;
      this.sbN = n + 1;
    } else {
      sb[2 * i] = nl;
      sb[2 * i + 1] = nr;
      const shift = removed - 1;
      if (shift > 0) {
        for (let k = i + 1; k + shift < n; k++) {
          sb[2 * k] = sb[2 * (k + shift)]!;
          sb[2 * k + 1] = sb[2 * (k + shift) + 1]!;
        }
        this.sbN = n - shift;
      }
    }
    return grew;
  }

  private trimScoreboard(): void {
    const sb = this.sb;
    let drop = 0;
    while (drop < this.sbN && seqLe(sb[2 * drop + 1]!, this.sndUna)) drop++;
    if (drop > 0) {
      for (let k = 0; k + drop < this.sbN; k++) {
        sb[2 * k] = sb[2 * (k + drop)]!;
        sb[2 * k + 1] = sb[2 * (k + drop) + 1]!;
      }
      this.sbN -= drop;
    }
    if (this.sbN > 0 && seqLt(sb[0]!, this.sndUna)) sb[0] = this.sndUna;
  }

  /** RFC 6675 IsLost(seq): DupThresh SACKed ranges, or more than (DupThresh-1)*SMSS bytes, above seq. */
  private isLost(seq: number): boolean {
    let bytes = 0;
    let count = 0;
    const mss = this.sndMss();
    for (let k = this.sbN - 1; k >= 0; k--) {
      const l = this.sb[2 * k]!;
      const r = this.sb[2 * k + 1]!;
      if (seqLe(r, seq)) break;
      bytes += seqDiff(r, seqMax(l, seq));
      count++;
      if (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss) return true;
    }
    return false;
  }

  /**
   * End of the "lost" region: every un-SACKed byte below it is lost by IsLost.
   * Computed once per call from the top of the scoreboard.
   */
  private lossPoint(): number {
    let bytes = 0;
    let count = 0;
    const mss = this.sndMss();
    for (let k = this.sbN - 1; k >= 0; k--) {
      bytes += seqDiff(this.sb[2 * k + 1]!, this.sb[2 * k]!);
      count++;
      if (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss) return this.sb[2 * k]!;
    }
    return this.sndUna;
  }

  /** SACKed bytes in [sndUna, x). */
  private sackedBelow(x: number): number {
    let n = 0;
    for (let k = 0; k < this.sbN; k++) {
      const l = this.sb[2 * k]!;
      if (!seqLt(l, x)) break;
      const r = this.sb[2 * k + 1]!;
      n += seqDiff(seqLt(r, x) ? r : x, l);
    }
    return n;
  }

  /**
   * RFC 6675 §4 "pipe": bytes believed in the network. Outside SACK recovery it
   * is simply sndNxt - sndUna (after an RTO everything beyond sndNxt counts as lost).
   */
  private pipe(): number {
    if (this.rackOn() && (this.inRecovery || this.rsLostBytes > 0)) {
      // RFC 6675 pipe with RACK's loss marks: outstanding, not SACKed, not lost-awaiting-retransmission.
      const p = seqDiff(this.sndMax, this.sndUna) - this.sackedBelow(this.sndMax) - this.rsLostBytes;
      return p > 0 ? p : 0;
    }
    const flight = seqDiff(this.sndNxt, this.sndUna);
    if (!this.inRecovery || !this.recoveryIsSack) return flight;
    const una = this.sndUna;
    const unsacked = seqDiff(this.sndMax, una) - this.sackedBelow(this.sndMax);
    const lp = this.lossPoint();
    const hr = seqLt(this.highRxt, una) ? una : this.highRxt;
    // Lost bytes (un-SACKed below the loss point) count only once retransmitted.
    let lostNotRtx = 0;
    if (seqLt(hr, lp)) lostNotRtx = seqDiff(lp, hr) - (this.sackedBelow(lp) - this.sackedBelow(hr));
    // Rule-3 retransmissions of not-yet-lost bytes count twice.
    let extra = 0;
    if (seqLt(lp, hr)) extra = seqDiff(hr, lp) - (this.sackedBelow(hr) - this.sackedBelow(lp));
    return Math.max(0, unsacked - lostNotRtx + extra);
  }

  /** If `seq` is inside a SACKed range, the end of that range; else seq. */
  private skipSacked(seq: number): number {
    for (let k = 0; k < this.sbN; k++) {
      const l = this.sb[2 * k]!;
      if (seqGt(l, seq)) break;
      const r = this.sb[2 * k + 1]!;
      if (seqLt(seq, r)) return r;
    }
    return seq;
  }

  /** Start of the next SACKed range above seq (or sndMax): limits a retransmission. */
  private nextSackedStart(seq: number): number {
    for (let k = 0; k < this.sbN; k++) {
      const l = this.sb[2 * k]!;
      if (seqGt(l, seq)) return l;
    }
    return this.sndMax;
  }

  // =========================================================================
  // RACK-TLP (RFC 8985): segment log, time-based loss detection, TLP episodes

  private rackOn(): boolean {
    return this.sackOk && this.config.rack;
  }

  private rsIdx(i: number): number {
    return (this.rsHead + i) & this.rsMask;
  }

  private rsStartOf(i: number): number {
    return i === 0 ? this.rsBase : this.rsEnd[this.rsIdx(i - 1)]!;
  }

  /** End of the last record (rsBase when none), as an int32 bit pattern (compared modulo 2^32). */
  private rsTail(): number {
    return this.rsN === 0 ? this.cold._rsBase : this.rsEnd[this.rsIdx(this.rsN - 1)]! | 0;
  }

  /**
   * First use: RS_MIN_RECORDS records; then doubles when full (rare, not
   * per segment). Dropped again when everything sent is acknowledged and it
   * had grown (ackAdvance), so an idle connection keeps at most the small one.
   */
  private rsGrow(): void {
    const old = this.rsEnd.length;
    const cap = old === 0 ? RS_MIN_RECORDS : old * 2;
    const e = new Uint32Array(cap);
    const t = new Float64Array(cap);
    const f = new Uint8Array(cap);
    for (let i = 0; i < this.rsN; i++) {
      const k = this.rsIdx(i);
      e[i] = this.rsEnd[k]!;
      t[i] = this.rsTs[k]!;
      f[i] = this.rsFl[k]!;
    }
    this.rsEnd = e;
    this.rsTs = t;
    this.rsFl = f;
    this.rsHead = 0;
    this.rsMask = cap - 1;
  }

  /** Inserts a record at logical index i, shifting the later ones up. */
  private rsInsert(i: number, end: number, ts: number, fl: number): void {
    if (this.rsN === this.rsEnd.length) this.rsGrow();
    for (let k = this.rsN; k > i; k--) {
      const d = this.rsIdx(k);
      const s = this.rsIdx(k - 1);
      this.rsEnd[d] = this.rsEnd[s]!;
      this.rsTs[d] = this.rsTs[s]!;
      this.rsFl[d] = this.rsFl[s]!;
    }
    const d = this.rsIdx(i);
    this.rsEnd[d] = end >>> 0;
    this.rsTs[d] = ts;
    this.rsFl[d] = fl;
    this.rsN++;
  }

  /** Splits record i at seq (strictly inside it): [start, seq) at i, [seq, end) at i+1, same time and flags. */
  private rsSplit(i: number, seq: number): void {
    const k = this.rsIdx(i);
    const fl = this.rsFl[k]!;
    this.rsInsert(i, seq, this.rsTs[k]!, fl);
    if (fl & RS_SACKED) this.rsSackedSegs++;
  }

  /** Index of the first record whose end lies beyond seq (rsN if none). */
  private rsFind(seq: number): number {
    let lo = 0;
    let hi = this.rsN;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqGt(this.rsEnd[this.rsIdx(mid)]!, seq)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** RFC 8985 §6.1: [seq, end) went out at `now` (new data, or a retransmission of logged records). seq, end: int32 or uint32 (modulo 2^32). */
  private rsOnSend(seq: number, end: number, now: number): void {
    if (this.rsN === 0) this.rsBase = this.sndUna;
    const tail = this.rsTail();
    if (seqLt(seq, tail)) {
      const s = seqLt(seq, this.rsBase) ? this.rsBase : seq;
      const e = seqLt(end, tail) ? end : tail;
      let i = seqLt(s, e) ? this.rsFind(s) : this.rsN;
      if (i < this.rsN && seqLt(this.rsStartOf(i), s)) {
        this.rsSplit(i, s);
        i++;
      }
      for (; i < this.rsN; i++) {
        const st = this.rsStartOf(i);
        if (!seqLt(st, e)) break;
        if (seqGt(this.rsEnd[this.rsIdx(i)]!, e)) this.rsSplit(i, e);
        const k = this.rsIdx(i);
        const fl = this.rsFl[k]!;
        if (fl & RS_LOST) this.rsLostBytes -= seqDiff(this.rsEnd[k]!, st);
        this.rsFl[k] = (fl & ~RS_LOST) | RS_RTX;
        this.rsTs[k] = now;
      }
    }
    if (seqGt(end, tail)) this.rsInsert(this.rsN, end, now, seqLt(seq, tail) ? RS_RTX : 0);
  }

  /** Cumulative ACK: drop acknowledged records, delivering (§6.2 steps 2-3) those not SACKed before. */
  private rsOnCumAck(ack: number, now: number, tsEcr: number | undefined): void {
    while (this.rsN > 0) {
      const k = this.rsHead;
      const st = this.rsBase;
      const end = this.rsEnd[k]!;
      const fl = this.rsFl[k]!;
      if (seqLe(end, ack)) {
        if (fl & RS_SACKED) this.rsSackedSegs--;
        else this.rackDeliver(k, end | 0, fl, now, tsEcr);
        if (fl & RS_LOST) this.rsLostBytes -= seqDiff(end, st);
        this.rsHead = (k + 1) & this.rsMask;
        this.rsN--;
        this.rsBase = end;
        continue;
      }
      if (seqLt(st, ack)) {
        if (fl & RS_LOST) this.rsLostBytes -= seqDiff(ack, st);
        if (!(fl & RS_SACKED)) this.rackDeliver(k, ack | 0, fl, now, tsEcr);
        this.rsBase = ack;
      }
      break;
    }
    if (this.rsN === 0) {
      this.rsBase = ack;
      this.rsLostBytes = 0;
      this.rsSackedSegs = 0;
    }
  }

  /** Records now wholly SACKed (by the merged scoreboard) after this ACK's blocks; delivered in sequence order. */
  private rsOnSack(blocks: number[], now: number, tsEcr: number | undefined): void {
    let lo = this.rsN;
    let hi = -1;
    for (let b = 0; b + 1 < blocks.length; b += 2) {
      const l = blocks[b]! >>> 0;
      const r = blocks[b + 1]! >>> 0;
      if (!seqLt(l, r) || seqLe(r, this.sndUna) || seqGt(r, this.sndMax)) continue;
      for (let i = this.rsFind(seqLt(l, this.rsBase) ? this.rsBase : l); i < this.rsN; i++) {
        const st = this.rsStartOf(i);
        if (!seqLt(st, r)) break;
        const k = this.rsIdx(i);
        const fl = this.rsFl[k]!;
        if (fl & RS_SACKED) continue;
        const end = this.rsEnd[k]!;
        if (seqLt(this.skipSacked(st), end)) continue; // only part of it is SACKed
        if (fl & RS_LOST) this.rsLostBytes -= seqDiff(end, st);
        this.rsFl[k] = (fl & ~RS_LOST) | RS_SACKED | RS_NEW;
        this.rsSackedSegs++;
        if (i < lo) lo = i;
        if (i > hi) hi = i;
      }
    }
    for (let i = lo; i <= hi; i++) {
      const k = this.rsIdx(i);
      const fl = this.rsFl[k]!;
      if (fl & RS_NEW) {
        this.rsFl[k] = fl & ~RS_NEW;
        this.rackDeliver(k, this.rsEnd[k]! | 0, fl, now, tsEcr);
      }
    }
  }

  /** RFC 8985 §6.2 steps 2 and 3 for one newly delivered segment. */
  /**
   * Record k (its send time in rsTs) was delivered up to `end` (an int32 bit
   * pattern: only mod-2^32 comparisons use it). Index and int32, not the
   * float64 time and uint32 end: arguments of a call V8 does not inline are
   * boxed, one heap number each per delivered segment.
   */
  private rackDeliver(k: number, end: number, fl: number, now: number, tsEcr: number | undefined): void {
    const ts = this.rsTs[k]!;
    // Step 3: delivered below the highest delivered sequence, never retransmitted: reordering.
    if (!this.rackFackSet || seqGt(end, this.rackFack)) {
      this.rackFack = end;
      this.rackFackSet = true;
    } else if (seqLt(end, this.rackFack) && (fl & RS_RTX) === 0) {
      this.rackReordering = true;
    }
    const rtt = now - ts;
    if (fl & RS_RTX) {
      // Step 2: the ACK may be for an earlier copy. Timestamps tell; else an
      // RTT below the minimum cannot be for this transmission.
      // (Both: timestamps tick in whole milliseconds.)
      if (this.tsOk && tsEcr !== undefined && tsEcr !== 0 && seqLt(tsEcr, this.tsNow(ts))) return;
      if (rtt < this.rackMinRtt) return;
    }
    if (rtt < this.rackMinRtt) this.rackMinRtt = rtt;
    if (ts > this.rackXmitTs || (ts === this.rackXmitTs && seqGt(end, this.rackEndSeq))) {
      this.rackXmitTs = ts;
      this.rackEndSeq = end;
      this.rackRtt = rtt;
    }
  }

  /** RFC 2883 §4: the first block is a D-SACK if below the ACK or inside the second block. */
  private isDsack(sack: number[], ack: number): boolean {
    const l = sack[0]! >>> 0;
    const r = sack[1]! >>> 0;
    if (!seqLt(l, r)) return false;
    if (seqLe(r, ack)) return true;
    return sack.length >= 4 && seqGe(l, sack[2]! >>> 0) && seqLe(r, sack[3]! >>> 0);
  }

  /** Receiver: [l, r) arrived again; report it in the next ACK (RFC 2883). */
  private noteDsack(l: number, r: number): void {
    if (!this.sackOk || !this.config.rack) return;
    this.dsackPending = true;
    this.dsackL = l >>> 0;
    this.dsackR = r >>> 0;
  }

  /** RFC 8985 §6.2 step 4: the reordering window. */
  private rackReoWnd(): number {
    if (!this.rackReordering) {
      if (this.inRecovery || this.rtoRecovery) return 0;
      if (this.rsSackedSegs >= DUP_THRESH) return 0;
    }
    const minRtt = this.rackMinRtt === Infinity ? 0 : this.rackMinRtt;
    let w = (this.rackReoMult * minRtt) / 4;
    const srtt = this.rtt.srtt;
    if (srtt >= 0 && w > srtt) w = srtt;
    return w;
  }

  /** Leaving fast or RTO recovery: a DSACK-grown window decays after 16 of them (§6.2 step 4). */
  private rackRecoveryDone(): void {
    if (this.rackReoPersist > 0 && --this.rackReoPersist === 0) this.rackReoMult = 1;
  }

  /**
   * RFC 8985 §6.2 step 5: every unacknowledged segment sent before the most
   * recently delivered one and older than RACK.rtt + reo_wnd is lost. Returns
   * how long until the next one would be (0 = none pending).
   */
  private rackDetectLoss(now: number): number {
    if (this.rackRtt < 0 || this.rsN === 0) return 0;
    const reo = this.rackReoWnd();
    const xts = this.rackXmitTs;
    let timeout = 0;
    for (let i = 0; i < this.rsN; i++) {
      const k = this.rsIdx(i);
      const fl = this.rsFl[k]!;
      if (fl & (RS_SACKED | RS_LOST)) continue;
      const ts = this.rsTs[k]!;
      const end = this.rsEnd[k]!;
      if (ts > xts || (ts === xts && !seqLt(end, this.rackEndSeq))) continue; // not sent before it
      const remaining = ts + this.rackRtt + reo - now;
      if (remaining <= 0) {
        this.rsFl[k] = fl | RS_LOST;
        this.rsLostBytes += seqDiff(end, this.rsStartOf(i));
        this.stats.rackLosses++;
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    return timeout;
  }

  /** Detection, the reorder timer, and fast recovery when something was found lost. */
  private rackRun(now: number): void {
    const t = this.rackDetectLoss(now);
    this.rackAt = t > 0 ? now + t : Infinity;
    if (this.rsLostBytes > 0) {
      this.tlpAt = Infinity;
      // RFC 6582 "recover": one reduction per window (after an RTO the
      // marked segments are resent within RTO recovery instead).
      if (!this.inRecovery && !seqLt(this.sndUna, this.recover)) this.enterRecovery(now);
    }
  }

  /** RACK part of processing an acceptable ACK (after the cumulative part). */
  private rackOnAck(seg: TcpRepr, ack: number, dsack: boolean, pureDup: boolean, now: number): void {
    if (seg.sack !== undefined && seg.sack.length > 0) this.rsOnSack(seg.sack, now, seg.tsEcr);
    if (dsack) {
      this.stats.dsacksIn++;
      this.rackReordering = true; // a spurious retransmission: the network reorders
    }
    // §6.2 step 4: grow the window once per round trip that sees D-SACK.
    if (this.rackDsackRound && seqGe(this.sndUna, this.rackDsackRoundSeq)) this.rackDsackRound = false;
    if (dsack && !this.rackDsackRound) {
      this.rackDsackRound = true;
      this.rackDsackRoundSeq = this.sndNxt;
      if (this.rackReoMult < REO_WND_MULT_MAX) this.rackReoMult++;
      this.rackReoPersist = REO_WND_PERSIST;
    }
    this.rackRun(now);
    if (this.tlpOutstanding) this.tlpOnAck(seg, ack, dsack, pureDup, now);
    if (this.rsSackedSegs > 0 || this.inRecovery) this.tlpAt = Infinity;
  }

  /** RFC 8985 §7.4.2: did the probe repair a loss? */
  private tlpOnAck(seg: TcpRepr, ack: number, dsack: boolean, pureDup: boolean, now: number): void {
    if (seqLt(ack, this.tlpEndSeq)) return;
    if (!this.tlpIsRetrans) {
      this.tlpOutstanding = false; // new data probed: RACK sees any loss
      return;
    }
    if (dsack) {
      const r = seg.sack![1]! >>> 0;
      if (seqGt(r, this.tlpStartSeq) && seqLe(r, this.tlpEndSeq)) {
        this.tlpOutstanding = false; // both copies arrived: nothing was lost
        return;
      }
    }
    if (seqGt(ack, this.tlpEndSeq)) {
      // Delivered beyond the probe with no D-SACK for it: the probe repaired
      // a loss. Congestion response as for a fast recovery.
      this.tlpOutstanding = false;
      this.stats.tlpLossRecoveries++;
      if (!this.inRecovery) {
        this.cc.onEnterRecovery(now, seqDiff(this.sndNxt, this.sndUna));
        this.cc.onExitRecovery(now);
      }
      return;
    }
    // ack == TLP.end_seq: a plain duplicate means the probe was a second copy.
    if (pureDup) this.tlpOutstanding = false;
  }

  private rsMarkLost(i: number): void {
    const k = this.rsIdx(i);
    const fl = this.rsFl[k]!;
    if (fl & (RS_LOST | RS_SACKED)) return;
    this.rsFl[k] = fl | RS_LOST;
    this.rsLostBytes += seqDiff(this.rsEnd[k]!, this.rsStartOf(i));
  }

  /** RTO (SACK state forgotten: `clearSacked`) or PMTU drop: every outstanding record is to be resent. */
  private rsMarkAllLost(clearSacked: boolean): void {
    let lost = 0;
    for (let i = 0; i < this.rsN; i++) {
      const k = this.rsIdx(i);
      let fl = this.rsFl[k]!;
      if (clearSacked) fl &= ~RS_SACKED;
      if ((fl & RS_SACKED) === 0) {
        fl |= RS_LOST;
        lost += seqDiff(this.rsEnd[k]!, this.rsStartOf(i));
      }
      this.rsFl[k] = fl;
    }
    this.rsLostBytes = lost;
    if (clearSacked) this.rsSackedSegs = 0;
    this.rackAt = Infinity;
  }

  private rsFirstLost(): number {
    for (let i = 0; i < this.rsN; i++) if (this.rsFl[this.rsIdx(i)]! & RS_LOST) return i;
    return -1;
  }

  /** From seq, past every record that is SACKed or not awaiting retransmission. */
  private rsSkipDone(seq: number): number {
    for (let i = this.rsFind(seq); i < this.rsN; i++) {
      if (this.rsFl[this.rsIdx(i)]! & RS_LOST) return seqLt(seq, this.rsStartOf(i)) ? this.rsStartOf(i) : seq;
    }
    return this.sndMax;
  }

  /** Test/diagnostic view of the RACK state. */
  debugRack(): {
    records: [number, number, number, number][];
    lostBytes: number;
    sackedSegs: number;
    reoWnd: number;
    minRtt: number;
    rtt: number;
    xmitTs: number;
    reordering: boolean;
    reoMult: number;
    rackAt: number;
    tlpAt: number;
    tlpEpisode: boolean;
  } {
    const records: [number, number, number, number][] = [];
    for (let i = 0; i < this.rsN; i++) {
      const k = this.rsIdx(i);
      records.push([this.rsStartOf(i), this.rsEnd[k]!, this.rsTs[k]!, this.rsFl[k]!]);
    }
    return {
      records,
      lostBytes: this.rsLostBytes,
      sackedSegs: this.rsSackedSegs,
      reoWnd: this.rackReoWnd(),
      minRtt: this.rackMinRtt,
      rtt: this.rackRtt,
      xmitTs: this.rackXmitTs,
      reordering: this.rackReordering,
      reoMult: this.rackReoMult,
      rackAt: this.rackAt,
      tlpAt: this.tlpAt,
      tlpEpisode: this.tlpOutstanding,
    };
  }

  // =========================================================================
  // Output

  /** Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4). */
  /** Our timestamp clock at `now`, as an int32 bit pattern (callers use it modulo 2^32; no heap number). */
  private tsNow(now: number): number {
    return (Math.floor(now) + this._tsOffset) | 0;
  }

  /**
   * Effective send MSS for data segments (RFC 9293 §3.7.1):
   * min(SendMSS + 20, MMS_S) - TCP header with the options we put on data.
   */
  private sndMss(): number {
    const opt = this.tsOk ? 12 : 0;
    return Math.max(1, Math.min(this.peerMss + 20, this.mmsS) - 20 - opt);
  }

  /**
   * Largest payload of one new-data segment we build: sndMss(), or with TSO
   * as many whole sndMss() as fit the NIC's limit. Only when our MTU (not a
   * smaller peer MSS or a lowered path MTU) sets sndMss(), as the NIC cuts by
   * its MTU.
   */
  private segMax(): number {
    const mss = this.sndMss();
    if (this.tsoMaxS <= this.mmsS || this.mmsS !== this.tsoMmsS || this.peerMss + 20 < this.mmsS) return mss;
    const k = Math.floor((this.tsoMaxS - 20 - (this.tsOk ? 12 : 0)) / mss);
    return k > 1 ? k * mss : mss;
  }

  private synchronizedForData(): boolean {
    const s = this.state;
    return (
      s === State.ESTABLISHED ||
      s === State.CLOSE_WAIT ||
      s === State.FIN_WAIT_1 ||
      s === State.CLOSING ||
      s === State.LAST_ACK
    );
  }

  private unsentBytes(): number {
    const sent = seqDiff(this.sndNxt, this.sndBase);
    const u = this.sndRing.length - (sent > 0 ? sent : 0);
    return u > 0 ? u : 0;
  }

  /** Usable window for new data: min(peer window, cwnd) minus what is in flight. */
  private usableWindow(): number {
    const wndEdge = seqAdd(this.sndUna, this.sndWnd);
    const byWnd = seqDiff(wndEdge, this.sndNxt);
    let cwnd = this.cc.cwnd + this.inflation;
    // RFC 3042 limited transmit: one new segment per early duplicate ACK.
    if (!this.inRecovery && this.dupAcks > 0 && this.dupAcks < DUP_THRESH) cwnd += this.dupAcks * this.sndMss();
    const byCwnd = cwnd - this.pipe();
    const u = Math.min(byWnd, byCwnd);
    return u > 0 ? u : 0;
  }

  /**
   * Length of the next new-data segment at sndNxt, applying the sender SWS
   * rules and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4); 0 if nothing should go now.
   */
  private nextSegmentLength(): number {
    const unsent = this.unsentBytes();
    if (unsent === 0) return 0;
    const mss = this.sndMss();
    const usable = this.usableWindow();
    const len = Math.min(unsent, this.segMax(), usable);
    if (len <= 0) return 0;
    if (len >= mss) return len; // a full segment always goes
    if (this.forceSend) return len;
    // Nagle (RFC 9293 §3.7.4) in Minshall's form, as Linux: a small segment
    // may go unless an earlier small segment is still unacknowledged.
    const nagleOk = this.noDelay || !seqGt(this.sndSml, this.sndUna);
    // All remaining data fits: push it (subject to Nagle).
    if (len === unsent && nagleOk) return len;
    // RFC 9293 §3.8.6.2.1: at least Fs * max window (Fs = 1/2) when Nagle allows.
    if (nagleOk && len >= this.maxSndWnd >>> 1 && this.maxSndWnd > 0) return len;
    return 0;
  }

  private finSendable(unsent: number): boolean {
    if (!this.finQueued || unsent !== 0) return false;
    return seqLt(this.sndNxt, this.finSeqPlusOne());
  }

  /** Emits everything due at `now`. */
  dispatch(now: number, sink: SegmentSink): void {
    this.takeCold();
    this.now = now;
    this.outputFailed = false;
    if (this.state === State.CLOSED) {
      if (this.rstPending) this.emitRst(sink);
      // Finished: the ColdState goes back for another connection.
      this.releaseCold();
      this.flushEvents();
      return;
    }
    this.runTimers(now, sink);
    if (this.rstPending) this.emitRst(sink);
    if ((this.state as TcpState) !== State.CLOSED) this.transmit(now, sink);
    if (this.cold !== COLD_NONE) this.maybeDropCold(now);
    this.flushEvents();
  }

  /**
   * Idle again (everything sent is acknowledged, no recovery, no persist or
   * keepalive probing, no RST or D-SACK to send, no timer but the
   * retransmission/ACK/close ones): the ColdState goes back to the free list. What it held then is either at its
   * initial value or only describes the finished flight: RACK.xmit_ts,
   * end_seq and fack (every later segment is sent, and delivered, after
   * them), the D-SACK round, the RACK log; and a soft ICMP
   * error, which everything acknowledged since makes stale (Linux clears
   * sk_err_soft on such an ACK too). The rate limits that must outlive
   * this (challenge ACKs, out-of-window ACKs) are in the connection itself.
   */
  private maybeDropCold(now: number): void {
    const c = this.cold;
    if (
      this.sndUna !== this.sndMax ||
      this.sndRing.length !== 0 ||
      c.rsN !== 0 ||
      c.sbN !== 0 ||
      c.dupAcks !== 0 ||
      c.inflation !== 0 ||
      c.rsLostBytes !== 0 ||
      c.rsSackedSegs !== 0 ||
      (this.fl & (F_IN_RECOVERY | F_RTO_RECOVERY | F_DSACK_PENDING | F_RST_PENDING | F_RTT_ACTIVE)) !== 0 ||
      c.tlpAt !== Infinity ||
      c.rackAt !== Infinity ||
      c.persistAt !== Infinity ||
      c.persistBackoff !== 0 ||
      c.persistProbes !== 0 ||
      c.persistTotal !== 0 ||
      c.keepProbes !== 0
    ) {
      return;
    }
    this.fl &= ~(F_RACK_FACK_SET | F_RACK_DSACK_ROUND);
    this.releaseCold();
  }

  /** Detaches the ColdState (back to the free list, at its initial values). */
  private releaseCold(): void {
    const c = this.cold;
    if (c === COLD_NONE) return;
    this.cold = COLD_NONE;
    if (coldFree.length < COLD_FREE_MAX) {
      c.reset();
      coldFree.push(c);
    }
  }

  private runTimers(now: number, sink: SegmentSink): void {
    if (now >= this.closeAt) {
      this.closeAt = Infinity;
      if (this.state === State.TIME_WAIT || this.state === State.FIN_WAIT_2) {
        if (this.state === State.FIN_WAIT_2) this.stats.timeouts++;
        this.finish(undefined);
        return;
      }
    }
    if (now >= this.rackAt) {
      // RFC 8985 §6.2: the reorder window passed with no ACK to trigger detection.
      this.rackAt = Infinity;
      this.stats.rackReorderTimeouts++;
      this.rackRun(now);
    }
    if (now >= this.tlpAt) {
      this.tlpAt = Infinity;
      this.sendTailLossProbe(now, sink);
    }
    if (now >= this.rtoAt) {
      this.tlpAt = Infinity;
      this.rackAt = Infinity;
      this.rtoAt = Infinity;
      this.onRetransmitTimeout(now);
      if (this.state === State.CLOSED) return;
    }
    if (now >= this.persistAt && this.sndWnd > 0) {
      // Sender SWS override (RFC 9293 §3.8.6.2.1): the window is open but too
      // small for the SWS rules; after the timeout send what fits.
      this.persistAt = Infinity;
      this.forceSend = true;
    }
    if (now >= this.persistAt) {
      this.persistAt = Infinity;
      this.persistProbes++;
      this.persistTotal++;
      if (
        this.persistProbes > this.config.maxRetries ||
        this.userTimedOut(now) ||
        (this.appClosed && this.persistTotal > this.config.orphanRetries)
      ) {
        this.stats.timeouts++;
        this.finish('ETIMEDOUT');
        return;
      }
      this.stats.persistProbes++;
      this.persistBackoff++;
      this.sendProbe(sink, now);
    }
    const ka = this.keepAliveAt();
    if (now >= ka) {
      if (this.keepProbes >= this.config.keepCount) {
        // RFC 1122 §4.2.3.6: the peer is dead. Linux tells it with a RST.
        this.stats.timeouts++;
        this.queueRst(this.sndMax, this.rcvNxt, TCP_RST | TCP_ACK);
        this.finish('ETIMEDOUT');
        return;
      }
      this.keepProbes++;
      this.keepLastProbe = now;
      this.stats.keepaliveProbes++;
      this.sendProbe(sink, now);
    }
    if (now >= this.ackAt) {
      this.ackAt = Infinity;
      this.stats.delayedAcks++;
      this.ackNow = true;
    }
  }

  /** RFC 6298 §5.4-5.7: retransmission timer expired. */
  private onRetransmitTimeout(now: number): void {
    this.retries++;
    const s = this.state;
    const limit = s === State.SYN_SENT || s === State.SYN_RECEIVED ? this.config.synRetries : this.config.maxRetries;
    if (this.retries > limit || this.userTimedOut(now)) {
      this.stats.timeouts++;
      this.finish(this.softError !== undefined && this.softError !== 'ECONNREFUSED' ? this.softError : 'ETIMEDOUT');
      return;
    }
    this.stats.rtoTimeouts++;
    const flight = this.pipe();
    if (s !== State.SYN_SENT && s !== State.SYN_RECEIVED) this.cc.onRto(now, flight);
    this.rtt.backoff(); // RFC 6298 §5.5
    this.rttActive = false; // Karn
    // Go back N from the oldest unacknowledged byte (RFC 5681 §3.1); ranges
    // SACKed again by later ACKs are skipped as we resend. Leave recovery;
    // RFC 6582 §4: set recover.
    this.sndNxt = this.sndUna;
    // RFC 2018 §8 / RFC 6675 §5.1: after a timeout the SACK information is
    // not trusted (the receiver may have reneged); ACKs rebuild it.
    this.sbN = 0;
    this.tlpOutstanding = false;
    if (this.rackOn() && s !== State.SYN_SENT && s !== State.SYN_RECEIVED) {
      // RFC 8985 §6.3: everything outstanding is lost (SACK state is not trusted, above).
      if (this.inRecovery) this.rackRecoveryDone();
      this.rsMarkAllLost(true);
      this.rtoRecovery = true;
    }
    this.inRecovery = false;
    this.inflation = 0;
    this.rtxHead = false;
    this.dupAcks = 0;
    this.recover = this.sndMax;
    if (s === State.SYN_SENT || s === State.SYN_RECEIVED) this.sndNxt = this.iss;
  }

  private userTimedOut(now: number): boolean {
    const u = this.config.userTimeoutMs;
    return u > 0 && now - this.progressAt >= u;
  }

  /** Zero-window / keepalive probe: an old sequence number draws an ACK (RFC 1122 §4.2.3.6, Linux). */
  private sendProbe(sink: SegmentSink, now: number): void {
    const o = this.prepare(TCP_ACK, seqAdd(this.sndUna, -1) | 0, now);
    o.payloadLength = 0;
    this.emit(sink, o, 0);
  }

  private transmit(now: number, sink: SegmentSink): void {
    const s = this.state;
    // SYN or SYN-ACK.
    if ((s === State.SYN_SENT || s === State.SYN_RECEIVED) && this.sndNxt === this.iss) {
      this.sendSyn(now, sink);
      return;
    }
    if (this.synchronizedForData()) {
      // RFC 5681 §4.1: restart from a small window after an idle period longer than the RTO.
      if (this.sndUna === this.sndMax && this.lastSendTime > 0 && now - this.lastSendTime > this.rtt.rto && this.unsentBytes() > 0) {
        this.cc.onIdleRestart(now);
        this.lastSendTime = now;
      }
      let guard = 0;
      while (guard++ < 100_000) {
        if (!this.sendOne(now, sink) || this.outputFailed) break;
      }
      this.maybeArmPersist(now);
    }
    if (this.ackNow) {
      // A pure ACK carries the highest sequence number sent (Linux
      // tcp_acceptable_seq): after an RTO sndNxt is rewound for go-back-N,
      // and an ACK with that older number would be unacceptable to a peer
      // that already received more, so neither side could ever advance.
      const o = this.prepare(TCP_ACK, this.sndMax | 0, now);
      o.payloadLength = 0;
      this.emit(sink, o, 0);
    }
  }

  private sendSyn(now: number, sink: SegmentSink): void {
    const synAck = this.state === State.SYN_RECEIVED;
    const o = OUT;
    o.srcPort = this.localPort;
    o.dstPort = this.remotePort;
    o.seq = this.iss;
    o.ack = synAck ? this.rcvNxt : 0;
    o.flags = synAck ? TCP_SYN | TCP_ACK : TCP_SYN;
    // RFC 7323 §2.2: the window in a SYN is never scaled.
    o.window = Math.min(this.rcvCapacity, 65535);
    o.urgent = 0;
    o.mss = this.advMss;
    // Active open offers everything; a passive open only echoes what the peer offered.
    const offerWs = synAck ? this.wsOk : this.config.windowScaling;
    o.windowScale = offerWs ? this.rcvShift : undefined;
    o.sackPermitted = (synAck ? this.sackOk : this.config.sack) ? true : undefined;
    const offerTs = synAck ? this.tsOk : this.config.timestamps;
    o.tsVal = offerTs ? this.tsNow(now) : undefined;
    o.tsEcr = offerTs ? (synAck ? this._tsRecent : 0) : undefined;
    SACK_OUT.length = 0;
    o.payloadLength = 0;
    if (synAck) {
      this.rcvAdv = seqAdd(this.rcvNxt, o.window);
      this.lastAckSent = this.rcvNxt;
    }
    if (!this.emit(sink, o, 0)) return;
    if (this.sndMax !== this.iss) {
      this.stats.retransmits++;
      this.rttActive = false;
    } else if (!this.tsOk) {
      this.rttActive = true;
      this.rttSeq = seqAdd(this.iss, 1);
      this.rttTime = now;
    }
    this.sndNxt = seqAdd(this.iss, 1);
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    this.ackNow = false;
  }

  /** Sends one data/FIN segment (retransmission or new); false when nothing (more) should go now. */
  private sendOne(now: number, sink: SegmentSink): boolean {
    const mss = this.sndMss();
    // NewReno: retransmit the head (fast retransmit, partial ACK), regardless of cwnd (RFC 6582 §3.2).
    if (this.rtxHead) {
      this.rtxHead = false;
      this.sendRange(this.sndUna | 0, mss, now, sink, true);
      return !this.outputFailed;
    }
    if (this.rackOn()) {
      // RFC 8985 with RFC 6675: retransmit what RACK marked lost (lowest
      // first) while pipe < cwnd, before any new data; no rule-3 guesses.
      if (this.rsLostBytes > 0) {
        const p = this.pipe();
        const avail = this.cc.cwnd - p;
        if (!(avail >= mss || (avail > 0 && p === 0) || p === 0)) return false;
        const i = this.rsFirstLost();
        if (i >= 0) {
          const st = this.rsStartOf(i);
          const len = seqDiff(this.rsEnd[this.rsIdx(i)]!, st);
          return this.sendRange(st | 0, len < mss ? len : mss, now, sink, true) > 0;
        }
      }
      // After an RTO (or PMTU drop) every record was marked lost and is resent
      // above; sndNxt just steps over what is done.
      if (seqLt(this.sndNxt, this.sndMax)) {
        const s = this.rsSkipDone(this.sndNxt);
        if (s !== this.sndNxt) {
          this.sndNxt = s;
          return true;
        }
        return false;
      }
    } else if (this.inRecovery && this.recoveryIsSack) {
      // RFC 6675 NextSeg, rules 1 and 3: retransmit holes while pipe < cwnd.
      const avail = this.cc.cwnd - this.pipe();
      if (avail >= mss || (avail > 0 && this.pipe() === 0)) {
        let s = seqMax(this.highRxt, this.sndUna);
        s = this.skipSacked(s);
        const lp = this.lossPoint();
        const highSacked = this.sbN > 0 ? this.sb[2 * this.sbN - 1]! : this.sndUna;
        if (seqLt(s, highSacked)) {
          // Rule 1 (lost) or rule 3 (not yet lost but un-SACKed below HighSACK, only if no new data).
          const isLostSeg = seqLt(s, lp);
          if (isLostSeg || this.unsentBytes() === 0 || this.usableWindow() < mss) {
            const limit = Math.min(seqDiff(this.nextSackedStart(s), s), mss);
            const sent = this.sendRange(s | 0, limit, now, sink, true);
            if (sent > 0) {
              this.highRxt = seqAdd(s, sent);
              return true;
            }
            return false;
          }
        }
      } else {
        return false;
      }
    }
    // After an RTO: resend from sndNxt up to sndMax, skipping SACKed ranges.
    if (seqLt(this.sndNxt, this.sndMax)) {
      const s = this.skipSacked(this.sndNxt);
      if (s !== this.sndNxt) {
        this.sndNxt = s;
        return true;
      }
      const cwndAvail = this.cc.cwnd - seqDiff(this.sndNxt, this.sndUna);
      const wndAvail = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
      let limit = Math.min(mss, seqDiff(this.nextSackedStart(s), s));
      const avail = Math.min(cwndAvail, wndAvail);
      if (avail <= 0 && this.sndNxt !== this.sndUna) return false;
      if (avail > 0 && avail < limit) limit = avail;
      if (limit <= 0) limit = 1;
      const sent = this.sendRange(s | 0, limit, now, sink, true);
      if (sent <= 0) return false;
      this.sndNxt = seqAdd(s, sent);
      return true;
    }
    // New data.
    const len = this.nextSegmentLength();
    const unsent = this.unsentBytes();
    if (len > 0) {
      const sent = this.sendRange(this.sndNxt | 0, len, now, sink, false);
      if (sent <= 0) return false;
      return true;
    }
    if (this.finSendable(unsent)) {
      const sent = this.sendRange(this.sndNxt | 0, 0, now, sink, false);
      return sent > 0 && false;
    }
    return false;
  }

  /**
   * Sends [seq, seq+len) of data (plus FIN if the data ends the stream and a
   * FIN is queued). Returns the sequence space covered (0 if emission failed).
   */
  /** `seq`: an int32 bit pattern (callers pass `x | 0`: no heap number per call); compared modulo 2^32 only. */
  private sendRange(seq: number, len: number, now: number, sink: SegmentSink, isRtx: boolean): number {
    const ringOff = seqDiff(seq, this.sndBase);
    const avail = this.sndRing.length - ringOff;
    let n = Math.min(len, avail > 0 ? avail : 0);
    // Leave room for SACK blocks (the option space is shared; RFC 2018 §3).
    const o = this.prepare(TCP_ACK, seq, now);
    const sackRoom = SACK_OUT.length > 0 ? 4 + 4 * SACK_OUT.length : 0;
    const maxPayload = this.segMax() - sackRoom;
    if (n > maxPayload) n = Math.max(1, maxPayload);
    // TSO: the NIC cuts at its MTU (sndMss() of payload, less the SACK
    // blocks). Several segments' worth that do not end the data are cut to
    // whole ones, as Linux tcp_mss_split_point: a send limited by the window
    // or cwnd otherwise left a short segment on the wire, and what is left
    // of the window now follows the SWS rules like any small segment.
    const unit = this.sndMss() - sackRoom;
    if (n > unit && unit > 0 && ringOff + n < this.sndRing.length) n -= n % unit;
    let flags = TCP_ACK;
    let space = n;
    if (this.finQueued && ringOff + n === this.sndRing.length) {
      flags |= TCP_FIN;
      space += 1;
    }
    if (space === 0) return 0;
    if (n > 0 && ringOff + n === this.sndRing.length) flags |= TCP_PSH;
    o.flags = flags;
    o.payloadLength = n;
    if (!this.emit(sink, o, ringOff)) return 0;
    const end = seqAdd(seq, space);
    const retransmission = isRtx || seqLt(seq, this.sndMax);
    if (retransmission) {
      this.stats.retransmits++;
      this.stats.retransmittedBytes += n;
      // Karn: a timed segment that is retransmitted cannot give a sample.
      if (this.rttActive && seqLe(seq, this.rttSeq) && seqLt(this.rttSeq, seqAdd(end, 1))) this.rttActive = false;
    } else {
      this.stats.bytesOut += n;
      if (n < this.sndMss()) this.sndSml = end;
      if (!this.rttActive && !this.tsOk) {
        this.rttActive = true;
        this.rttSeq = end;
        this.rttTime = now;
      }
    }
    if (!isRtx || seqDiff(seq, this.sndNxt) === 0) {
      if (seqGt(end, this.sndNxt)) this.sndNxt = end;
    }
    if (this.sndUna === this.sndMax && this.persistTotal === 0) this.progressAt = now; // the wait starts now
    if (this.rackOn()) this.rsOnSend(seq, end | 0, now);
    if (seqGt(end, this.sndMax)) this.sndMax = end;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    this.persistAt = Infinity;
    this.forceSend = false;
    this.lastSendTime = now;
    if (!retransmission) this.armTlp(now);
    return space;
  }

  /**
   * RFC 8985 §7.2: arm the probe timeout PTO = 2*SRTT (+ a worst-case
   * delayed ACK when one segment is in flight), never later than the RTO.
   */
  private armTlp(now: number): void {
    this.tlpAt = Infinity;
    if (!this.config.tailLossProbe || !this.sackOk || this.tlpOutstanding || this.inRecovery) return;
    if (!this.synchronizedForData() || this.sndUna === this.sndMax || this.sndNxt !== this.sndMax) return;
    const srtt = this.rtt.srtt;
    if (this.rackOn()) {
      // RFC 8985 §7.2: not in recovery (fast or RTO), nor with segments
      // delivered out of order (the reorder timer is in charge then).
      if (this.rtoRecovery || this.rsSackedSegs > 0 || this.rsLostBytes > 0) return;
      let pto = 1000; // no SRTT yet
      if (srtt >= 0) {
        pto = 2 * srtt;
        if (seqDiff(this.sndMax, this.sndUna) <= this.sndMss()) pto += WC_DEL_ACK_MS; // FlightSize one segment
        if (pto < 10) pto = 10; // timer granularity floor (as Linux's TCP_TIMEOUT_MIN)
      }
      // Never later than the RTO would fire: the probe then replaces it.
      this.tlpAt = now + pto < this.rtoAt ? now + pto : this.rtoAt;
      return;
    }
    if (!(srtt >= 0)) return;
    let pto = 2 * srtt;
    if (seqDiff(this.sndMax, this.sndUna) <= this.sndMss()) pto += 200; // WCDelAckT
    if (pto < 10) pto = 10;
    const at = now + pto;
    if (at < this.rtoAt) this.tlpAt = at;
  }

  /** RFC 8985 §7.3: send one new segment if possible, else retransmit the last one. */
  private sendTailLossProbe(now: number, sink: SegmentSink): void {
    if (!this.synchronizedForData() || this.sndUna === this.sndMax || this.inRecovery) return;
    const mss = this.sndMss();
    const unsent = this.unsentBytes();
    const wndRoom = seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt);
    let sent = 0;
    let probeSeq = this.sndNxt;
    const isRetrans = !(unsent > 0 && wndRoom > 0);
    if (!isRetrans) {
      sent = this.sendRange(this.sndNxt | 0, Math.min(mss, unsent, wndRoom), now, sink, false);
    } else if (this.rackOn() && this.rsN > 0) {
      // The highest-sequence segment sent so far (§7.3), at most one MSS of it.
      const end = this.rsEnd[this.rsIdx(this.rsN - 1)]!;
      let start = this.rsStartOf(this.rsN - 1);
      if (seqDiff(end, start) > mss) start = seqAdd(end, -mss);
      probeSeq = start;
      sent = this.sendRange(start | 0, seqDiff(end, start), now, sink, true);
    } else {
      let start = seqAdd(this.sndMax, -mss);
      if (seqLt(start, this.sndUna)) start = this.sndUna;
      // A trailing FIN occupies the last sequence number but no ring byte.
      sent = this.sendRange(start | 0, seqDiff(this.sndMax, start), now, sink, true);
    }
    if (sent > 0) {
      this.stats.tailLossProbes++;
      this.tlpOutstanding = true;
      // §7.4.1: a new episode.
      this.tlpStartSeq = probeSeq;
      this.tlpEndSeq = this.sndMax;
      this.tlpIsRetrans = isRetrans;
      this.tlpAt = Infinity;
      this.rtoAt = now + this.rtt.rto; // §7.3: re-arm the RTO after the probe
    }
  }

  /** Zero window with data waiting and nothing in flight: arm the persist timer (RFC 9293 §3.8.6.1). */
  private maybeArmPersist(now: number): void {
    if (this.sndMax !== this.sndUna) {
      this.persistAt = Infinity;
      return;
    }
    const waiting = this.unsentBytes() > 0 || (this.finQueued && seqLt(this.sndNxt, this.finSeqPlusOne()));
    if (!waiting) {
      this.persistAt = Infinity;
      return;
    }
    if (this.persistAt === Infinity) {
      if (this.persistTotal === 0 && this.persistBackoff === 0) this.progressAt = now;
      const base = this.rtt.rto;
      this.persistAt = now + Math.min(base * 2 ** Math.min(this.persistBackoff, 16), this.config.maxRtoMs);
    }
  }

  /** Fills the shared repr with the fields every synchronized segment carries. `seq`: int32 bit pattern (see SegmentSink). */
  private prepare(flags: number, seq: number, now: number): TcpRepr {
    const o = OUT;
    o.srcPort = this.localPort;
    o.dstPort = this.remotePort;
    o.seq = seq;
    o.ack = this.rcvNxt;
    o.flags = flags;
    o.urgent = 0;
    o.mss = undefined;
    o.windowScale = undefined;
    o.sackPermitted = undefined;
    o.window = this.windowField();
    if (this.tsOk) {
      // int32 bit patterns (see SegmentSink): no heap number per segment.
      o.tsVal = this.tsNow(now);
      o.tsEcr = this._tsRecent;
    } else {
      o.tsVal = undefined;
      o.tsEcr = undefined;
    }
    // RFC 2018 §4: SACK blocks whenever out-of-order data is held, most recent first.
    const so = SACK_OUT;
    so.length = 0;
    if (this.sackOk && (this.asm.heldBytes > 0 || this.dsackPending)) {
      const maxBlocks = this.tsOk ? 3 : 4;
      if (this.dsackPending) {
        // RFC 2883 §4: the D-SACK block goes first, once.
        so.push(this.dsackL, this.dsackR);
        this.dsackPending = false;
        this.stats.dsacksOut++;
      }
      const r = this.asm.heldBytes > 0 ? this.asm.ranges(ASM_RANGES) : ASM_RANGES;
      if (this.asm.heldBytes === 0) r.length = 0;
      for (let i = 0; i + 1 < r.length && so.length < 2 * maxBlocks; i += 2) {
        so.push(seqAdd(this.rcvNxt, r[i]!), seqAdd(this.rcvNxt, r[i + 1]!));
      }
    }
    o.sack = so;
    return o;
  }

  /**
   * The window field (RFC 9293 §3.8.6.2.2 receiver SWS avoidance, RFC 7323
   * scaling): free ring space, but the right edge moves only by at least
   * min(buffer/2, MSS), and never moves left.
   */
  private windowField(): number {
    const cur = this.rcvWindowNow();
    const max = this.rcvShift > 0 ? 65535 << this.rcvShift : 65535;
    let wnd = Math.min(this.rcvFree(), max);
    const swsThreshold = Math.min(this.rcvCapacity >>> 1, this.advMss);
    if (wnd > cur && wnd - cur < swsThreshold) wnd = cur;
    if (wnd < cur) wnd = cur;
    let field = wnd >>> this.rcvShift;
    if (field << this.rcvShift < cur) field++; // rounding must not shrink the window
    if (field > 65535) field = 65535;
    const edge = seqAdd(this.rcvNxt, field << this.rcvShift);
    if (seqGt(edge, this.rcvAdv)) this.rcvAdv = edge;
    return field;
  }

  /** After a read: is the window opening enough to be worth an immediate update? */
  private windowUpdateWorthSending(): boolean {
    const s = this.state;
    if (s !== State.ESTABLISHED && s !== State.FIN_WAIT_1 && s !== State.FIN_WAIT_2) return false;
    const cur = this.rcvWindowNow();
    const max = this.rcvShift > 0 ? 65535 << this.rcvShift : 65535;
    const wnd = Math.min(this.rcvFree(), max);
    const inc = wnd - cur;
    if (inc < Math.min(this.rcvCapacity >>> 1, this.advMss)) return false;
    // Like Linux __tcp_cleanup_rbuf: update when the window at least doubles or was below one MSS.
    return cur < this.advMss || wnd >= 2 * cur;
  }

  /**
   * Emits the shared repr; bookkeeping common to every segment that carries
   * an ACK. A segment the output refuses (no route, no buffer) is treated as
   * sent and lost on the wire: the retransmission timer, with its backoff
   * and retry limit, deals with it (a failing route must not turn into a
   * retry every millisecond, nor keep a connection alive forever). The rest
   * of this dispatch round is skipped.
   */
  private emit(sink: SegmentSink, o: TcpRepr, ringOff: number): boolean {
    if (sink.emitSegment(this, o, ringOff)) this.stats.segmentsOut++;
    else this.outputFailed = true;
    if ((o.flags & TCP_ACK) !== 0) {
      this.ackNow = false;
      this.ackAt = Infinity;
      this.rcvUnackedBytes = 0;
      this.lastAckSent = o.ack;
    }
    return true;
  }

  private queueRst(seq: number, ack: number, flags: number): void {
    this.rstPending = true;
    this.rstSeq = seq >>> 0;
    this.rstAck = ack >>> 0;
    this.rstFlags = flags;
  }

  private emitRst(sink: SegmentSink): void {
    this.rstPending = false;
    const o = OUT;
    o.srcPort = this.localPort;
    o.dstPort = this.remotePort;
    o.seq = this.rstSeq;
    o.ack = (this.rstFlags & TCP_ACK) !== 0 ? this.rstAck : 0;
    o.flags = this.rstFlags;
    o.window = 0;
    o.urgent = 0;
    o.mss = undefined;
    o.windowScale = undefined;
    o.sackPermitted = undefined;
    o.tsVal = undefined;
    o.tsEcr = undefined;
    SACK_OUT.length = 0;
    o.payloadLength = 0;
    if (sink.emitSegment(this, o, 0)) {
      this.stats.segmentsOut++;
      this.stats.resetsOut++;
    }
  }

  /** RFC 5961 §3.2/§4.2/§5.2 challenge ACK, rate limited per connection (§7). */
  private challengeAck(now: number): void {
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = Math.floor(now);
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.config.challengeAckLimit) {
      this.stats.challengeAcksSuppressed++;
      return;
    }
    this.challengeCount++;
    this.stats.challengeAcks++;
    this.ackNow = true;
  }

  /**
   * ACK for an unacceptable segment (RFC 9293 §3.10.7.4). Segments with data
   * always get one (the peer may be retransmitting what we already have); pure
   * ACKs at most every 500 ms, so two confused ends cannot ACK each other forever.
   */
  private sendOowAck(hasData: boolean, seq = 0): void {
    // Zero-window and keepalive probes (seq = RCV.NXT - 1) must always be answered.
    if (!hasData && seq !== seqAdd(this.rcvNxt, -1)) {
      if (this.now - this.lastOowAck < OOW_ACK_INTERVAL_MS) return;
      this.lastOowAck = Math.floor(this.now);
    }
    this.ackNow = true;
  }

  // =========================================================================
  // State changes and events

  private setState(s: TcpState): void {
    const from = this.state;
    if (from === s) return;
    this.state = s;
    if (s === State.SYN_SENT || s === State.ESTABLISHED) this.allocateBuffers();
    else if (s === State.TIME_WAIT || s === State.CLOSED) this.releaseBuffers();
    this.host.stateChanged(this, from);
  }

  /**
   * The rings are lazy: a ring object and storage are taken from the pool
   * when bytes arrive or are written, the storage grows by doubling up to
   * the configured size, and both go back when the ring is empty. The window
   * is computed from the configured size (sndFree/rcvFree), never from what
   * is allocated.
   */
  private allocateBuffers(): void {
    if (this.sndRing === NO_RING) this.sndRing = IDLE_RING;
    if (this.rcvRing === NO_RING) this.rcvRing = IDLE_RING;
  }

  /** Room left in the send buffer (its configured size, not what is allocated). */
  private sndFree(): number {
    const r = this.sndRing;
    return r === NO_RING ? r.free : Math.max(1, this.config.sendBufferSize) - r.length;
  }

  /** Room left in the receive buffer (its configured size, not what is allocated): the window. */
  private rcvFree(): number {
    const r = this.rcvRing;
    return r === NO_RING ? r.free : this.rcvCapacity - r.length;
  }

  private takeSndRing(): ByteRing {
    const r = (this.host.ringPool ?? defaultRingPool).takeRing(Math.max(1, this.config.sendBufferSize), this.ringSizes & 0x1ff);
    this.sndRing = r;
    return r;
  }

  private takeRcvRing(): ByteRing {
    const r = (this.host.ringPool ?? defaultRingPool).takeRing(this.rcvCapacity, this.ringSizes >>> 9);
    this.rcvRing = r;
    return r;
  }

  /** The send ring is empty: ring and storage back to the pool. */
  private putSndRing(): void {
    const r = this.sndRing;
    if (r === IDLE_RING || r === NO_RING) return;
    this.ringSizes = (this.ringSizes & ~0x1ff) | (this.host.ringPool ?? defaultRingPool).giveRing(r);
    this.sndRing = IDLE_RING;
  }

  /** The receive ring is empty and nothing is held out of order: ring and storage back to the pool. */
  private putRcvRing(): void {
    const r = this.rcvRing;
    if (r === IDLE_RING || r === NO_RING) return;
    this.ringSizes = (this.ringSizes & 0x1ff) | ((this.host.ringPool ?? defaultRingPool).giveRing(r) << 9);
    this.rcvRing = this.sndRing === NO_RING ? NO_RING : IDLE_RING;
  }

  /** Nothing more can be sent or received: drop the rings (keeping unread data readable). */
  private releaseBuffers(): void {
    this.putSndRing();
    this.sndRing = NO_RING;
    if (this.rcvRing.length === 0) {
      this.putRcvRing();
      this.rcvRing = NO_RING;
    }
    this.asm = NO_ASM;
    // Nothing more is sent: the RACK segment log goes too.
    this.rsDrop();
    this.rsN = 0;
    this.rsLostBytes = 0;
    this.rsSackedSegs = 0;
    this.rackAt = Infinity;
  }

  /** Frees the RACK log's arrays (callers ensure it holds no records, or no longer matter). */
  private rsDrop(): void {
    this.rsEnd = RS_EMPTY_U32;
    this.rsTs = RS_EMPTY_F64;
    this.rsFl = RS_EMPTY_U8;
    this.rsMask = 0;
    this.rsHead = 0;
  }

  /** Ends the connection (CLOSED) and reports it once. */
  private finish(error: TcpErrorCode | undefined): void {
    this.tlpAt = Infinity;
    this.rackAt = Infinity;
    this.rtoAt = Infinity;
    this.ackAt = Infinity;
    this.persistAt = Infinity;
    this.closeAt = Infinity;
    this.ackNow = false;
    this.inRecovery = false;
    if (error !== undefined) this.closeError = error;
    this.setState(State.CLOSED);
    this.notifyClosed(error);
  }

  private notifyClosed(error: TcpErrorCode | undefined): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    this.closeError = error;
    this.events_ |= EV_CLOSED;
  }

  private flushEvents(): void {
    let ev = this.events_;
    if (ev === 0) return;
    this.events_ = 0;
    const e = this.events;
    // Order matters for a socket layer: connect before data, data before end, end before close.
    if (ev & EV_CONNECTED) e.onConnected?.();
    if (ev & EV_READABLE && this.rcvRing.length > 0) e.onReadable?.();
    if (ev & EV_PEER_CLOSED) e.onPeerClosed?.();
    if (ev & EV_WRITABLE) e.onWritable?.();
    ev = ev & EV_CLOSED;
    if (ev) e.onClosed?.(this.closeError);
  }

  /**
   * Test/diagnostic view of what the connection holds besides its own object:
   * ring storage and ring objects (none while nothing is buffered), the
   * ColdState (only while data is in flight or something unusual is going
   * on) and the out-of-order assembler (only after out-of-order data).
   */
  debugMemory(): { ringBytes: number; ringObjects: number; coldState: boolean; assembler: boolean } {
    let ringBytes = 0;
    let ringObjects = 0;
    for (const r of [this.sndRing, this.rcvRing]) {
      if (r === NO_RING || r === IDLE_RING) continue;
      ringObjects++;
      ringBytes += r.capacity;
    }
    return { ringBytes, ringObjects, coldState: this.cold !== COLD_NONE, assembler: this.asm !== NO_ASM };
  }

  /** Test/diagnostic view of internal sender state. */
  debugSender(): {
    cwnd: number;
    ssthresh: number;
    rto: number;
    inRecovery: boolean;
    pipe: number;
    scoreboard: number[];
    sndWnd: number;
  } {
    return {
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      rto: this.rtt.rto,
      inRecovery: this.inRecovery,
      pipe: this.pipe(),
      scoreboard: this.sb.slice(0, 2 * this.sbN),
      sndWnd: this.sndWnd,
    };
  }
}
