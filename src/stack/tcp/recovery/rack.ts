/**
 * RACK (RFC 8985 §6): time-based loss detection over a log of transmitted
 * segments. The log is a ring of typed arrays in ColdState (end sequence,
 * last transmit time, flags: SACKed / lost / retransmitted), in sequence
 * order, sized from the traffic (16 records, doubled when full, never an
 * object per segment). A segment is lost once a segment sent after it was
 * delivered and RACK.rtt + reo_wnd has passed since it was sent; the reorder
 * timer (rackAt) runs the same check when no ACK comes.
 *
 * RACK only marks: it returns a verdict (rackRun, rackOnAck) and the caller
 * starts fast recovery (fast-recovery.ts), which retransmits what is marked.
 */
import type { TcpRepr } from '../../../wire/tcp.js';
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../../wire/seq.js';
import { RS, RS_MIN_RECORDS } from '../cold-state.js';
import { DUP_THRESH, F, type Tcb } from '../tcb.js';
import { skipSacked } from './sack-scoreboard.js';

/** RFC 8985 §6.2 step 4: a D-SACK-grown reordering window is kept for 16 recoveries. */
const REO_WND_PERSIST = 16;
const REO_WND_MULT_MAX = 64;

/** Ring index of logical record i. */
export function rsIdx(c: Tcb, i: number): number {
  return (c.cold.rsHead + i) & c.cold.rsMask;
}

/** Start sequence of logical record i. */
export function rsStartOf(c: Tcb, i: number): number {
  return i === 0 ? c.cold.rsBase : c.cold.rsEnd[rsIdx(c, i - 1)]!;
}

/** End of the last record (rsBase when none), as an int32 bit pattern (compared modulo 2^32). */
export function rsTail(c: Tcb): number {
  const cs = c.cold;
  return cs.rsN === 0 ? cs._rsBase : cs.rsEnd[rsIdx(c, cs.rsN - 1)]! | 0;
}

/**
 * First use: RS_MIN_RECORDS records; then doubles when full (rare, not
 * per segment). Dropped again when everything sent is acknowledged and it
 * had grown (ackAdvance), so an idle connection keeps at most the small one.
 */
export function rsGrow(c: Tcb): void {
  const cs = c.cold;
  const old = cs.rsEnd.length;
  const cap = old === 0 ? RS_MIN_RECORDS : old * 2;
  const e = new Uint32Array(cap);
  const t = new Float64Array(cap);
  const f = new Uint8Array(cap);
  for (let i = 0; i < cs.rsN; i++) {
    const k = rsIdx(c, i);
    e[i] = cs.rsEnd[k]!;
    t[i] = cs.rsTs[k]!;
    f[i] = cs.rsFl[k]!;
  }
  cs.rsEnd = e;
  cs.rsTs = t;
  cs.rsFl = f;
  cs.rsHead = 0;
  cs.rsMask = cap - 1;
}

/** Inserts a record at logical index i, shifting the later ones up. */
export function rsInsert(c: Tcb, i: number, end: number, ts: number, fl: number): void {
  const cs = c.cold;
  if (cs.rsN === cs.rsEnd.length) rsGrow(c);
  for (let k = cs.rsN; k > i; k--) {
    const d = rsIdx(c, k);
    const s = rsIdx(c, k - 1);
    cs.rsEnd[d] = cs.rsEnd[s]!;
    cs.rsTs[d] = cs.rsTs[s]!;
    cs.rsFl[d] = cs.rsFl[s]!;
  }
  const d = rsIdx(c, i);
  cs.rsEnd[d] = end >>> 0;
  cs.rsTs[d] = ts;
  cs.rsFl[d] = fl;
  cs.rsN++;
}

/** Splits record i at seq (strictly inside it): [start, seq) at i, [seq, end) at i+1, same time and flags. */
export function rsSplit(c: Tcb, i: number, seq: number): void {
  const cs = c.cold;
  const k = rsIdx(c, i);
  const fl = cs.rsFl[k]!;
  rsInsert(c, i, seq, cs.rsTs[k]!, fl);
  if (fl & RS.SACKED) cs.rsSackedSegs++;
}

/** Index of the first record whose end lies beyond seq (rsN if none). */
export function rsFind(c: Tcb, seq: number): number {
  let lo = 0;
  let hi = c.cold.rsN;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (seqGt(c.cold.rsEnd[rsIdx(c, mid)]!, seq)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** RFC 8985 §6.1: [seq, end) went out at `now` (new data, or a retransmission of logged records). seq, end: int32 or uint32 (modulo 2^32). */
export function rsOnSend(c: Tcb, seq: number, end: number, now: number): void {
  const cs = c.cold;
  if (cs.rsN === 0) cs.rsBase = c.sndUna;
  const tail = rsTail(c);
  if (seqLt(seq, tail)) {
    const s = seqLt(seq, cs.rsBase) ? cs.rsBase : seq;
    const e = seqLt(end, tail) ? end : tail;
    let i = seqLt(s, e) ? rsFind(c, s) : cs.rsN;
    if (i < cs.rsN && seqLt(rsStartOf(c, i), s)) {
      rsSplit(c, i, s);
      i++;
    }
    for (; i < cs.rsN; i++) {
      const st = rsStartOf(c, i);
      if (!seqLt(st, e)) break;
      if (seqGt(cs.rsEnd[rsIdx(c, i)]!, e)) rsSplit(c, i, e);
      const k = rsIdx(c, i);
      const fl = cs.rsFl[k]!;
      if (fl & RS.LOST) cs.rsLostBytes -= seqDiff(cs.rsEnd[k]!, st);
      cs.rsFl[k] = (fl & ~RS.LOST) | RS.RTX;
      cs.rsTs[k] = now;
    }
  }
  if (seqGt(end, tail)) rsInsert(c, cs.rsN, end, now, seqLt(seq, tail) ? RS.RTX : 0);
}

/** Cumulative ACK: drop acknowledged records, delivering (§6.2 steps 2-3) those not SACKed before. */
export function rsOnCumAck(c: Tcb, ack: number, now: number, tsEcr: number | undefined): void {
  const cs = c.cold;
  while (cs.rsN > 0) {
    const k = cs.rsHead;
    const st = cs.rsBase;
    const end = cs.rsEnd[k]!;
    const fl = cs.rsFl[k]!;
    if (seqLe(end, ack)) {
      if (fl & RS.SACKED) cs.rsSackedSegs--;
      else rackDeliver(c, k, end | 0, fl, now, tsEcr);
      if (fl & RS.LOST) cs.rsLostBytes -= seqDiff(end, st);
      cs.rsHead = (k + 1) & cs.rsMask;
      cs.rsN--;
      cs.rsBase = end;
      continue;
    }
    if (seqLt(st, ack)) {
      if (fl & RS.LOST) cs.rsLostBytes -= seqDiff(ack, st);
      if (!(fl & RS.SACKED)) rackDeliver(c, k, ack | 0, fl, now, tsEcr);
      cs.rsBase = ack;
    }
    break;
  }
  if (cs.rsN === 0) {
    cs.rsBase = ack;
    cs.rsLostBytes = 0;
    cs.rsSackedSegs = 0;
  }
}

/**
 * Records now wholly SACKed (by the merged scoreboard) after this ACK's
 * blocks; delivered in sequence order.
 *
 * A record only partly SACKed (a TSO or software-GSO segment of several
 * frames, one of them lost) is split so the SACKed frames are a record of
 * their own and only the hole is ever marked lost and resent (as Linux's
 * SACK tagging fragments an skb). Splits fall only on the record's frame
 * boundaries (start + k·MSS), only where the scoreboard holds the range
 * (a block it dropped at maxSackRanges splits nothing), and never beyond
 * rsSplitCap records: a receiver SACKing scattered single bytes cannot
 * fragment the log (CVE-2019-11477/11478, "SACK Panic"); past the cap a
 * record stays partly SACKed and is resent whole if lost.
 */
export function rsOnSack(c: Tcb, blocks: number[], now: number, tsEcr: number | undefined): void {
  const cs = c.cold;
  const mss = c.sndMss();
  const cap = rsSplitCap(c);
  let lo = cs.rsN;
  let hi = -1;
  for (let b = 0; b + 1 < blocks.length; b += 2) {
    const l = blocks[b]! >>> 0;
    const r = blocks[b + 1]! >>> 0;
    if (!seqLt(l, r) || seqLe(r, c.sndUna) || seqGt(r, c.sndMax)) continue;
    for (let i = rsFind(c, seqLt(l, cs.rsBase) ? cs.rsBase : l); i < cs.rsN; i++) {
      const st = rsStartOf(c, i);
      if (!seqLt(st, r)) break;
      let k = rsIdx(c, i);
      const fl = cs.rsFl[k]!;
      if (fl & RS.SACKED) continue;
      let s = st;
      let end = cs.rsEnd[k]!;
      if (seqLt(skipSacked(c, st), end)) {
        // Partly SACKed: the whole frames the scoreboard holds from the block's left edge on.
        const from = seqLt(st, l) ? seqDiff(l, st) : 0;
        const la = (st + Math.ceil(from / mss) * mss) >>> 0;
        if (!seqLt(la, end)) continue;
        const held = skipSacked(c, la);
        if (!seqGt(held, la)) continue; // not in the scoreboard
        const ra = seqLt(held, end) ? (st + Math.floor(seqDiff(held, st) / mss) * mss) >>> 0 : end;
        if (!seqLt(la, ra)) continue; // no whole frame
        const splits = (seqLt(st, la) ? 1 : 0) + (seqLt(ra, end) ? 1 : 0);
        if (cs.rsN + splits > cap) continue;
        // A split inserts a record at i: later indices move up.
        if (seqLt(st, la)) {
          rsSplit(c, i, la);
          if (lo >= i && lo < cs.rsN) lo++;
          if (hi >= i) hi++;
          i++;
          s = la;
        }
        if (seqLt(ra, end)) {
          rsSplit(c, i, ra);
          if (lo > i && lo < cs.rsN) lo++;
          if (hi > i) hi++;
          end = ra;
        }
        k = rsIdx(c, i);
      }
      if (fl & RS.LOST) cs.rsLostBytes -= seqDiff(end, s);
      cs.rsFl[k] = (fl & ~RS.LOST) | RS.SACKED | RS.NEW;
      cs.rsSackedSegs++;
      if (i < lo) lo = i;
      if (i > hi) hi = i;
    }
  }
  for (let i = lo; i <= hi; i++) {
    const k = rsIdx(c, i);
    const fl = cs.rsFl[k]!;
    if (fl & RS.NEW) {
      cs.rsFl[k] = fl & ~RS.NEW;
      rackDeliver(c, k, cs.rsEnd[k]! | 0, fl, now, tsEcr);
    }
  }
}

/** Most records SACK splits may make: two per MSS-sized segment in flight, plus one per scoreboard range. */
export function rsSplitCap(c: Tcb): number {
  return 2 * Math.ceil(seqDiff(c.sndMax, c.sndUna) / c.sndMss()) + c.config.maxSackRanges;
}

/**
 * RFC 8985 §6.2 steps 2 and 3 for one newly delivered segment: record k
 * (its send time in rsTs) was delivered up to `end` (an int32 bit
 * pattern: only mod-2^32 comparisons use it). Index and int32, not the
 * float64 time and uint32 end: arguments of a call V8 does not inline are
 * boxed, one heap number each per delivered segment.
 */
export function rackDeliver(c: Tcb, k: number, end: number, fl: number, now: number, tsEcr: number | undefined): void {
  const cs = c.cold;
  const ts = cs.rsTs[k]!;
  // Step 3: delivered below the highest delivered sequence, never retransmitted: reordering.
  if ((c.fl & F.RACK_FACK_SET) === 0 || seqGt(end, cs.rackFack)) {
    cs.rackFack = end;
    c.fl |= F.RACK_FACK_SET;
  } else if (seqLt(end, cs.rackFack) && (fl & RS.RTX) === 0) {
    c.fl |= F.RACK_REORDERING;
  }
  const rtt = now - ts;
  if (fl & RS.RTX) {
    // Step 2: the ACK may be for an earlier copy. Timestamps tell; else an
    // RTT below the minimum cannot be for this transmission.
    // (Both: timestamps tick in whole milliseconds.)
    if ((c.fl & F.TS_OK) !== 0 && tsEcr !== undefined && tsEcr !== 0 && seqLt(tsEcr, c.tsNow(ts))) return;
    if (rtt < c.rackMinRtt) return;
  }
  if (rtt < c.rackMinRtt) c.rackMinRtt = rtt;
  if (ts > cs.rackXmitTs || (ts === cs.rackXmitTs && seqGt(end, cs.rackEndSeq))) {
    cs.rackXmitTs = ts;
    cs.rackEndSeq = end;
    c.rackRtt = rtt;
  }
}

/** RFC 2883 §4: the first block is a D-SACK if below the ACK or inside the second block. */
export function isDsack(sack: number[], ack: number): boolean {
  const l = sack[0]! >>> 0;
  const r = sack[1]! >>> 0;
  if (!seqLt(l, r)) return false;
  if (seqLe(r, ack)) return true;
  return sack.length >= 4 && seqGe(l, sack[2]! >>> 0) && seqLe(r, sack[3]! >>> 0);
}

/** RFC 8985 §6.2 step 4: the reordering window. */
export function rackReoWnd(c: Tcb): number {
  if ((c.fl & F.RACK_REORDERING) === 0) {
    if ((c.fl & F.IN_RECOVERY) !== 0 || (c.fl & F.RTO_RECOVERY) !== 0) return 0;
    if (c.cold.rsSackedSegs >= DUP_THRESH) return 0;
  }
  const minRtt = c.rackMinRtt === Infinity ? 0 : c.rackMinRtt;
  let w = (c.rackReoMult * minRtt) / 4;
  const srtt = c.rtt.srtt;
  if (srtt >= 0 && w > srtt) w = srtt;
  return w;
}

/** Leaving fast or RTO recovery: a DSACK-grown window decays after 16 of them (§6.2 step 4). */
export function rackRecoveryDone(c: Tcb): void {
  if (c.rackReoPersist > 0 && --c.rackReoPersist === 0) c.rackReoMult = 1;
}

/**
 * RFC 8985 §6.2 step 5: every unacknowledged segment sent before the most
 * recently delivered one and older than RACK.rtt + reo_wnd is lost. Returns
 * how long until the next one would be (0 = none pending).
 */
export function rackDetectLoss(c: Tcb, now: number): number {
  const cs = c.cold;
  if (c.rackRtt < 0 || cs.rsN === 0) return 0;
  const reo = rackReoWnd(c);
  const xts = cs.rackXmitTs;
  let timeout = 0;
  for (let i = 0; i < cs.rsN; i++) {
    const k = rsIdx(c, i);
    const fl = cs.rsFl[k]!;
    if (fl & (RS.SACKED | RS.LOST)) continue;
    const ts = cs.rsTs[k]!;
    const end = cs.rsEnd[k]!;
    if (ts > xts || (ts === xts && !seqLt(end, cs.rackEndSeq))) continue; // not sent before it
    const remaining = ts + c.rackRtt + reo - now;
    if (remaining <= 0) {
      cs.rsFl[k] = fl | RS.LOST;
      cs.rsLostBytes += seqDiff(end, rsStartOf(c, i));
      c.stats.rackLosses++;
    } else if (remaining > timeout) {
      timeout = remaining;
    }
  }
  return timeout;
}

/**
 * Detection and the reorder timer. Returns the verdict: true when segments
 * were found lost and fast recovery is to start now (the caller starts it:
 * fast-recovery.ts enterRecovery). RFC 6582 "recover": one reduction per
 * window; after an RTO the marked segments are resent within RTO recovery
 * instead.
 */
export function rackRun(c: Tcb, now: number): boolean {
  const cs = c.cold;
  const t = rackDetectLoss(c, now);
  cs.rackAt = t > 0 ? now + t : Infinity;
  if (cs.rsLostBytes === 0) return false;
  cs.tlpAt = Infinity;
  return (c.fl & F.IN_RECOVERY) === 0 && !seqLt(c.sndUna, c.recover);
}

/**
 * RACK's part of an acceptable ACK, after the cumulative part: records newly
 * SACKed, D-SACK (RFC 2883) growing the reordering window once per round
 * trip (§6.2 step 4), then detection. Returns rackRun's verdict.
 */
export function rackOnAck(c: Tcb, seg: TcpRepr, dsack: boolean, now: number): boolean {
  if (seg.sack !== undefined && seg.sack.length > 0) rsOnSack(c, seg.sack, now, seg.tsEcr);
  if (dsack) {
    c.stats.dsacksIn++;
    c.fl |= F.RACK_REORDERING; // a spurious retransmission: the network reorders
  }
  if ((c.fl & F.RACK_DSACK_ROUND) !== 0 && seqGe(c.sndUna, c.cold.rackDsackRoundSeq)) c.fl &= ~F.RACK_DSACK_ROUND;
  if (dsack && (c.fl & F.RACK_DSACK_ROUND) === 0) {
    c.fl |= F.RACK_DSACK_ROUND;
    c.cold.rackDsackRoundSeq = c.sndNxt;
    if (c.rackReoMult < REO_WND_MULT_MAX) c.rackReoMult++;
    c.rackReoPersist = REO_WND_PERSIST;
  }
  return rackRun(c, now);
}

/** Marks record i lost (DupThresh on the head without SACK blocks). */
export function rsMarkLost(c: Tcb, i: number): void {
  const cs = c.cold;
  const k = rsIdx(c, i);
  const fl = cs.rsFl[k]!;
  if (fl & (RS.LOST | RS.SACKED)) return;
  cs.rsFl[k] = fl | RS.LOST;
  cs.rsLostBytes += seqDiff(cs.rsEnd[k]!, rsStartOf(c, i));
}

/** RTO (SACK state forgotten: `clearSacked`) or PMTU drop: every outstanding record is to be resent. */
export function rsMarkAllLost(c: Tcb, clearSacked: boolean): void {
  const cs = c.cold;
  let lost = 0;
  for (let i = 0; i < cs.rsN; i++) {
    const k = rsIdx(c, i);
    let fl = cs.rsFl[k]!;
    if (clearSacked) fl &= ~RS.SACKED;
    if ((fl & RS.SACKED) === 0) {
      fl |= RS.LOST;
      lost += seqDiff(cs.rsEnd[k]!, rsStartOf(c, i));
    }
    cs.rsFl[k] = fl;
  }
  cs.rsLostBytes = lost;
  if (clearSacked) cs.rsSackedSegs = 0;
  cs.rackAt = Infinity;
}

/** Index of the lowest record awaiting retransmission, or -1. */
export function rsFirstLost(c: Tcb): number {
  for (let i = 0; i < c.cold.rsN; i++) if (c.cold.rsFl[rsIdx(c, i)]! & RS.LOST) return i;
  return -1;
}

/** From seq, past every record that is SACKed or not awaiting retransmission. */
export function rsSkipDone(c: Tcb, seq: number): number {
  for (let i = rsFind(c, seq); i < c.cold.rsN; i++) {
    if (c.cold.rsFl[rsIdx(c, i)]! & RS.LOST) return seqLt(seq, rsStartOf(c, i)) ? rsStartOf(c, i) : seq;
  }
  return c.sndMax;
}
