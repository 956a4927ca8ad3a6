/**
 * Fast recovery: DupThresh duplicate ACKs (RFC 5681 §3.2) with NewReno
 * (RFC 6582) without SACK, SACK-based recovery (RFC 6675) with it, and
 * RACK's verdicts (RFC 8985 §6) when RACK is on. Entering and leaving
 * recovery; what to retransmit while in it is snd.ts's sendOne.
 */
import type { TcpRepr } from '../../../wire/tcp.js';
import { seqDiff, seqGe, seqLt } from '../../../wire/seq.js';
import { DUP_THRESH, F, type Tcb } from '../tcb.js';
import { isLost, pipe } from './sack-scoreboard.js';
import { rackOnAck, rackRecoveryDone, rsMarkLost } from './rack.js';
import { tlpOnAck } from './tlp.js';

/** RFC 5681 §3.2 / RFC 6582 / RFC 6675 §5: a duplicate ACK. */
export function onDupAck(c: Tcb, now: number): void {
  c.cold.dupAcks++;
  if ((c.fl & F.IN_RECOVERY) !== 0) {
    if ((c.fl & F.RECOVERY_IS_SACK) === 0) c.cold.inflation += c.sndMss(); // RFC 6582 §3.2 step 4
    return;
  }
  if (c.rackOn()) {
    // RACK decides from the SACK blocks (rackOnAck). A SACK peer that sends
    // duplicate ACKs without blocks gets the DupThresh rule on the head.
    if (c.cold.sbN > 0 || c.cold.dupAcks < DUP_THRESH || seqLt(c.sndUna, c.recover) || c.cold.rsN === 0) return;
    rsMarkLost(c, 0);
    enterRecovery(c, now);
    return;
  }
  const lost = (c.fl & F.SACK_OK) !== 0 && c.cold.sbN > 0 && isLost(c, c.sndUna);
  if (c.cold.dupAcks >= DUP_THRESH || lost) {
    // RFC 6582 §3.2 step 2: not again for losses in the window we already
    // reduced for ("recover" is one past the highest sequence sent then).
    if (seqLt(c.sndUna, c.recover)) return;
    enterRecovery(c, now);
  }
}

/**
 * Fast retransmit / fast recovery: cwnd reduced once (RFC 6582 "recover"),
 * then SACK-based (RFC 6675, also with RACK's marks) or NewReno (window
 * inflation, the head retransmitted at once).
 */
export function enterRecovery(c: Tcb, now: number): void {
  c.cold.tlpAt = Infinity;
  const flight = c.rackOn() ? seqDiff(c.sndNxt, c.sndUna) : pipe(c);
  c.fl |= F.IN_RECOVERY;
  c.recover = c.sndMax;
  if (c.rackOn() || ((c.fl & F.SACK_OK) !== 0 && c.cold.sbN > 0)) c.fl |= F.RECOVERY_IS_SACK;
  else c.fl &= ~F.RECOVERY_IS_SACK;
  c.cc.onEnterRecovery(now, flight);
  c.stats.fastRetransmits++;
  c.fl &= ~F.RTT_ACTIVE; // Karn: the head is about to be retransmitted
  if ((c.fl & F.RECOVERY_IS_SACK) !== 0) {
    c.stats.sackRecoveries++;
    c.cold.highRxt = c.sndUna;
  } else {
    c.stats.newRenoRecoveries++;
    c.cold.inflation = DUP_THRESH * c.sndMss(); // RFC 6582 step 2: cwnd = ssthresh + 3*SMSS
    c.fl |= F.RTX_HEAD;
  }
}

/**
 * A cumulative ACK during fast recovery (`ack`: an int32 bit pattern): a
 * full ACK ends it (RFC 6582 §3.2 step 3, RFC 6675 §5 step 2); a partial one
 * retransmits the next hole and deflates the window (NewReno, RFC 6582 §3.2
 * step 5) or moves HighRxt up to sndUna (SACK).
 */
export function recoveryOnAck(c: Tcb, ack: number, acked: number, dataAcked: number, now: number): void {
  const cs = c.cold;
  if (seqGe(ack, c.recover)) {
    c.fl &= ~(F.IN_RECOVERY | F.RTX_HEAD);
    cs.inflation = 0;
    c.cc.onExitRecovery(now);
    if (c.rackOn()) rackRecoveryDone(c);
  } else if ((c.fl & F.RECOVERY_IS_SACK) === 0) {
    const mss = c.sndMss();
    cs.inflation = Math.max(0, cs.inflation - acked) + (acked >= mss ? mss : 0);
    c.cc.onPartialAck(dataAcked > 0 ? dataAcked : acked);
    c.fl |= F.RTX_HEAD;
  } else if (seqLt(cs.highRxt, c.sndUna)) {
    cs.highRxt = c.sndUna;
  }
}

/**
 * RACK-TLP's part of an acceptable ACK (after the cumulative part): RACK's
 * verdict starts fast recovery, then the TLP episode is settled (§7.4), and
 * no probe is armed while segments are SACKed out of order or in recovery.
 */
export function rackTlpOnAck(c: Tcb, seg: TcpRepr, ack: number, dsack: boolean, pureDup: boolean, now: number): void {
  if (rackOnAck(c, seg, dsack, now)) enterRecovery(c, now);
  if ((c.fl & F.TLP_OUTSTANDING) !== 0) tlpOnAck(c, seg, ack, dsack, pureDup, now);
  if (c.cold.rsSackedSegs > 0 || (c.fl & F.IN_RECOVERY) !== 0) c.cold.tlpAt = Infinity;
}
