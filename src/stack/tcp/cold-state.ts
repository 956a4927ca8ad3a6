/**
 * The part of a connection's record that only matters while data is in
 * flight or something unusual is going on: the RACK segment log and
 * per-flight RACK/TLP state (RFC 8985), loss recovery (RFC 6582, RFC 6675),
 * the SACK scoreboard (RFC 2018), D-SACK (RFC 2883), persist and keepalive
 * probes, a pending RST, soft ICMP errors, the timed segment for an RTT
 * sample.
 *
 * A connection reads COLD_NONE (every field at its initial value, frozen)
 * until something sets a field to another value; it then takes a ColdState
 * from a small shared free list (takeCold in tcb.ts), and gives it back when
 * it is idle again (maybeDropCold). A write to COLD_NONE throws (modules are
 * strict), so a missing takeCold cannot change every idle connection at once.
 *
 * Sequence numbers are stored as int32 (`_x`) behind uint32 accessors, as in
 * the record (see Tcb): a uint32 >= 2^31 in a field is a heap number.
 */
import type { TcpErrorCode } from './types.js';

/** RACK segment log flags (RFC 8985 §6.1 per-segment state); a const enum, as Tcb's F. */
export const enum RS {
  SACKED = 1,
  /** Marked lost and not retransmitted since. */
  LOST = 2,
  /** Retransmitted at least once. */
  RTX = 4,
  /** Newly SACKed by the ACK being processed (delivered in sequence order). */
  NEW = 8,
}
export const RS_EMPTY_U32 = new Uint32Array(0);
export const RS_EMPTY_F64 = new Float64Array(0);
export const RS_EMPTY_U8 = new Uint8Array(0);
/** Records in a new RACK log (enough for request/response traffic; bulk doubles it a few times). */
export const RS_MIN_RECORDS = 16;

/** The scoreboard of a connection that never received a SACK block (shared, never written). */
export const NO_SB: number[] = [];

export class ColdState {
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
  /** RACK.xmit_ts (RACK.end_seq and RACK.fack below). */
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
  /** Receiver D-SACK (RFC 2883) block for the next ACK (flag F.DSACK_PENDING in tcb.ts). */
  _dsackL = 0;
  _dsackR = 0;
  /** RFC 8985 §7 tail loss probe timer (flag F.TLP_OUTSTANDING: a probe awaits its ACK). */
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
  /** The segment being timed for an RTT sample without timestamps (flag F.RTT_ACTIVE). */
  _rttSeq = 0;
  rttTime = 0;

  // uint32 views of the int32 fields (tiny, so V8 always inlines them).
  get rsBase(): number { return this._rsBase >>> 0; }
  set rsBase(v: number) { this._rsBase = v | 0; }
  get rackEndSeq(): number { return this._rackEndSeq >>> 0; }
  set rackEndSeq(v: number) { this._rackEndSeq = v | 0; }
  get rackFack(): number { return this._rackFack >>> 0; }
  set rackFack(v: number) { this._rackFack = v | 0; }
  get rackDsackRoundSeq(): number { return this._rackDsackRoundSeq >>> 0; }
  set rackDsackRoundSeq(v: number) { this._rackDsackRoundSeq = v | 0; }
  get highRxt(): number { return this._highRxt >>> 0; }
  set highRxt(v: number) { this._highRxt = v | 0; }
  get dsackL(): number { return this._dsackL >>> 0; }
  set dsackL(v: number) { this._dsackL = v | 0; }
  get dsackR(): number { return this._dsackR >>> 0; }
  set dsackR(v: number) { this._dsackR = v | 0; }
  get rstSeq(): number { return this._rstSeq >>> 0; }
  set rstSeq(v: number) { this._rstSeq = v | 0; }
  get rstAck(): number { return this._rstAck >>> 0; }
  set rstAck(v: number) { this._rstAck = v | 0; }
  get rttSeq(): number { return this._rttSeq >>> 0; }
  set rttSeq(v: number) { this._rttSeq = v | 0; }

  /** Frees the RACK log's arrays (callers ensure it holds no records, or that they no longer matter). */
  dropLog(): void {
    this.rsEnd = RS_EMPTY_U32;
    this.rsTs = RS_EMPTY_F64;
    this.rsFl = RS_EMPTY_U8;
    this.rsMask = 0;
    this.rsHead = 0;
  }

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

/** What an idle connection reads: never written (frozen). */
export const COLD_NONE = Object.freeze(new ColdState()) as ColdState;

/** Free ColdStates (shared by all connections; bounded). */
const coldFree: ColdState[] = [];
const COLD_FREE_MAX = 1024;

/** A ColdState at its initial values, from the free list when it has one. */
export function takeColdState(): ColdState {
  return coldFree.length > 0 ? coldFree.pop()! : new ColdState();
}

/** Back to the free list (reset), or to the collector when the list is full. */
export function giveColdState(cs: ColdState): void {
  if (coldFree.length < COLD_FREE_MAX) {
    cs.reset();
    coldFree.push(cs);
  }
}
