/**
 * The sender's SACK scoreboard (RFC 2018 §5, RFC 6675 §4): the ranges above
 * the cumulative ACK the peer reported holding, as sorted disjoint [start,
 * end) pairs in one array of ColdState (bounded by config.maxSackRanges),
 * and what RFC 6675 derives from it: IsLost, pipe, the next hole.
 */
import { seqDiff, seqGt, seqLe, seqLt, seqMax } from '../../../wire/seq.js';
import { NO_SB } from '../cold-state.js';
import { DUP_THRESH, F, type Tcb } from '../tcb.js';

/** Merges received SACK blocks; returns true if any new byte was SACKed. */
export function updateScoreboard(c: Tcb, blocks: number[]): boolean {
  let grew = false;
  for (let i = 0; i + 1 < blocks.length; i += 2) {
    let l = blocks[i]! >>> 0;
    const r = blocks[i + 1]! >>> 0;
    // Ignore blocks that are empty, below the cumulative ACK (D-SACK) or beyond what we sent.
    if (!seqLt(l, r) || seqLe(r, c.sndUna) || seqGt(r, c.sndMax)) continue;
    if (seqLt(l, c.sndUna)) l = c.sndUna;
    if (sbInsert(c, l, r)) grew = true;
  }
  return grew;
}

/** Inserts [l, r), merging overlapping ranges; returns true if it covered a byte not SACKed before. */
export function sbInsert(c: Tcb, l: number, r: number): boolean {
  const cs = c.cold;
  let sb = cs.sb;
  if (sb === NO_SB) cs.sb = sb = [];
  let n = cs.sbN;
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
    if (n >= c.config.maxSackRanges) {
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
    cs.sbN = n + 1;
  } else {
    sb[2 * i] = nl;
    sb[2 * i + 1] = nr;
    const shift = removed - 1;
    if (shift > 0) {
      for (let k = i + 1; k + shift < n; k++) {
        sb[2 * k] = sb[2 * (k + shift)]!;
        sb[2 * k + 1] = sb[2 * (k + shift) + 1]!;
      }
      cs.sbN = n - shift;
    }
  }
  return grew;
}

/** Drops what the cumulative ACK covers. */
export function trimScoreboard(c: Tcb): void {
  const cs = c.cold;
  const sb = cs.sb;
  let drop = 0;
  while (drop < cs.sbN && seqLe(sb[2 * drop + 1]!, c.sndUna)) drop++;
  if (drop > 0) {
    for (let k = 0; k + drop < cs.sbN; k++) {
      sb[2 * k] = sb[2 * (k + drop)]!;
      sb[2 * k + 1] = sb[2 * (k + drop) + 1]!;
    }
    cs.sbN -= drop;
  }
  if (cs.sbN > 0 && seqLt(sb[0]!, c.sndUna)) sb[0] = c.sndUna;
}

/** RFC 6675 IsLost(seq): DupThresh SACKed ranges, or more than (DupThresh-1)*SMSS bytes, above seq. */
export function isLost(c: Tcb, seq: number): boolean {
  const cs = c.cold;
  let bytes = 0;
  let count = 0;
  const mss = c.sndMss();
  for (let k = cs.sbN - 1; k >= 0; k--) {
    const l = cs.sb[2 * k]!;
    const r = cs.sb[2 * k + 1]!;
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
export function lossPoint(c: Tcb): number {
  const cs = c.cold;
  let bytes = 0;
  let count = 0;
  const mss = c.sndMss();
  for (let k = cs.sbN - 1; k >= 0; k--) {
    bytes += seqDiff(cs.sb[2 * k + 1]!, cs.sb[2 * k]!);
    count++;
    if (count >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss) return cs.sb[2 * k]!;
  }
  return c.sndUna;
}

/** SACKed bytes in [sndUna, x). */
export function sackedBelow(c: Tcb, x: number): number {
  const cs = c.cold;
  let n = 0;
  for (let k = 0; k < cs.sbN; k++) {
    const l = cs.sb[2 * k]!;
    if (!seqLt(l, x)) break;
    const r = cs.sb[2 * k + 1]!;
    n += seqDiff(seqLt(r, x) ? r : x, l);
  }
  return n;
}

/**
 * RFC 6675 §4 "pipe": bytes believed in the network. Outside SACK recovery it
 * is simply sndNxt - sndUna (after an RTO everything beyond sndNxt counts as lost).
 */
export function pipe(c: Tcb): number {
  const cs = c.cold;
  if (c.rackOn() && ((c.fl & F.IN_RECOVERY) !== 0 || cs.rsLostBytes > 0)) {
    // RFC 6675 pipe with RACK's loss marks: outstanding, not SACKed, not lost-awaiting-retransmission.
    const p = seqDiff(c.sndMax, c.sndUna) - sackedBelow(c, c.sndMax) - cs.rsLostBytes;
    return p > 0 ? p : 0;
  }
  const flight = seqDiff(c.sndNxt, c.sndUna);
  if ((c.fl & F.IN_RECOVERY) === 0 || (c.fl & F.RECOVERY_IS_SACK) === 0) return flight;
  const una = c.sndUna;
  const unsacked = seqDiff(c.sndMax, una) - sackedBelow(c, c.sndMax);
  const lp = lossPoint(c);
  const hr = seqLt(cs.highRxt, una) ? una : cs.highRxt;
  // Lost bytes (un-SACKed below the loss point) count only once retransmitted.
  let lostNotRtx = 0;
  if (seqLt(hr, lp)) lostNotRtx = seqDiff(lp, hr) - (sackedBelow(c, lp) - sackedBelow(c, hr));
  // Rule-3 retransmissions of not-yet-lost bytes count twice.
  let extra = 0;
  if (seqLt(lp, hr)) extra = seqDiff(hr, lp) - (sackedBelow(c, hr) - sackedBelow(c, lp));
  return Math.max(0, unsacked - lostNotRtx + extra);
}

/** If `seq` is inside a SACKed range, the end of that range; else seq. */
export function skipSacked(c: Tcb, seq: number): number {
  const cs = c.cold;
  for (let k = 0; k < cs.sbN; k++) {
    const l = cs.sb[2 * k]!;
    if (seqGt(l, seq)) break;
    const r = cs.sb[2 * k + 1]!;
    if (seqLt(seq, r)) return r;
  }
  return seq;
}

/** Start of the next SACKed range above seq (or sndMax): limits a retransmission. */
export function nextSackedStart(c: Tcb, seq: number): number {
  for (let k = 0; k < c.cold.sbN; k++) {
    const l = c.cold.sb[2 * k]!;
    if (seqGt(l, seq)) return l;
  }
  return c.sndMax;
}
