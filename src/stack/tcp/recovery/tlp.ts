/**
 * Tail loss probes (RFC 8985 §7): the probe timeout (PTO) armed after new
 * data, and the end of a probe episode (§7.4: did the probe repair a loss?).
 * The probe itself is sent by snd.ts (sendTailLossProbe) when the timer
 * fires. Used with SACK only, as the RFC requires.
 */
import type { TcpRepr } from '../../../wire/tcp.js';
import { seqDiff, seqGt, seqLe, seqLt } from '../../../wire/seq.js';
import { F, type Tcb } from '../tcb.js';

/** RFC 8985 §7.2 WCDelAckT: a worst-case delayed ACK, added to the PTO with one segment in flight. */
const WC_DEL_ACK_MS = 200;

/**
 * RFC 8985 §7.2: arm the probe timeout PTO = 2*SRTT (+ a worst-case
 * delayed ACK when one segment is in flight), never later than the RTO.
 */
export function armTlp(c: Tcb, now: number): void {
  const cs = c.cold;
  cs.tlpAt = Infinity;
  if (!c.config.tailLossProbe || (c.fl & F.SACK_OK) === 0 || (c.fl & F.TLP_OUTSTANDING) !== 0 || (c.fl & F.IN_RECOVERY) !== 0) return;
  if (!c.synchronizedForData() || c.sndUna === c.sndMax || c.sndNxt !== c.sndMax) return;
  const srtt = c.rtt.srtt;
  if (c.rackOn()) {
    // RFC 8985 §7.2: not in recovery (fast or RTO), nor with segments
    // delivered out of order (the reorder timer is in charge then).
    if ((c.fl & F.RTO_RECOVERY) !== 0 || cs.rsSackedSegs > 0 || cs.rsLostBytes > 0) return;
    let pto = 1000; // no SRTT yet
    if (srtt >= 0) {
      pto = 2 * srtt;
      if (seqDiff(c.sndMax, c.sndUna) <= c.sndMss()) pto += WC_DEL_ACK_MS; // FlightSize one segment
      if (pto < 10) pto = 10; // timer granularity floor (as Linux's TCP_TIMEOUT_MIN)
    }
    // Never later than the RTO would fire: the probe then replaces it.
    cs.tlpAt = now + pto < c.rtoAt ? now + pto : c.rtoAt;
    return;
  }
  if (!(srtt >= 0)) return;
  let pto = 2 * srtt;
  if (seqDiff(c.sndMax, c.sndUna) <= c.sndMss()) pto += WC_DEL_ACK_MS;
  if (pto < 10) pto = 10;
  const at = now + pto;
  if (at < c.rtoAt) cs.tlpAt = at;
}

/** RFC 8985 §7.4.2: did the probe repair a loss? */
export function tlpOnAck(c: Tcb, seg: TcpRepr, ack: number, dsack: boolean, pureDup: boolean, now: number): void {
  if (seqLt(ack, c.tlpEndSeq)) return;
  if ((c.fl & F.TLP_IS_RETRANS) === 0) {
    c.fl &= ~F.TLP_OUTSTANDING; // new data probed: RACK sees any loss
    return;
  }
  if (dsack) {
    const r = seg.sack![1]! >>> 0;
    if (seqGt(r, c.tlpStartSeq) && seqLe(r, c.tlpEndSeq)) {
      c.fl &= ~F.TLP_OUTSTANDING; // both copies arrived: nothing was lost
      return;
    }
  }
  if (seqGt(ack, c.tlpEndSeq)) {
    // Delivered beyond the probe with no D-SACK for it: the probe repaired
    // a loss. Congestion response as for a fast recovery.
    c.fl &= ~F.TLP_OUTSTANDING;
    c.stats.tlpLossRecoveries++;
    if ((c.fl & F.IN_RECOVERY) === 0) {
      c.cc.onEnterRecovery(now, seqDiff(c.sndNxt, c.sndUna));
      c.cc.onExitRecovery(now);
    }
    return;
  }
  // ack == TLP.end_seq: a plain duplicate means the probe was a second copy.
  if (pureDup) c.fl &= ~F.TLP_OUTSTANDING;
}
