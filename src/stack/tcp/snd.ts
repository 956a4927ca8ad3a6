/**
 * The sender (RFC 9293 §3.8.6, §3.10.7.4 "fifth"): ACK processing (RFC 5961
 * §5.2 acceptability, window updates, RTT samples, the send ring released),
 * the send window and congestion window, Nagle (Minshall) and sender SWS
 * avoidance, persist, and emitting every segment: SYN, data, retransmissions
 * chosen by recovery, tail loss probes, window and keepalive probes, ACKs.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqAdd32, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from '../../wire/seq.js';
import { RS_MIN_RECORDS } from './cold-state.js';
import { State } from './types.js';
import { DUP_THRESH, Ev, F, enterTimeWait, finish, putSndRing, setState, type SegmentSink, type Tcb } from './tcb.js';
import { ackLoan } from './buffers.js';
import { OUT, SACK_OUT, emit, prepare } from './output.js';
import {
  lossPoint,
  nextSackedStart,
  pipe,
  skipSacked,
  trimScoreboard,
  updateScoreboard,
} from './recovery/sack-scoreboard.js';
import {
  isDsack,
  rackRecoveryDone,
  rsFirstLost,
  rsIdx,
  rsOnCumAck,
  rsOnSend,
  rsSkipDone,
  rsStartOf,
} from './recovery/rack.js';
import { armTlp } from './recovery/tlp.js';
import { onDupAck, rackTlpOnAck, recoveryOnAck } from './recovery/fast-recovery.js';

/** RFC 5961 §3.2/§4.2/§5.2 challenge ACK, rate limited per connection (§7). */
export function challengeAck(c: Tcb, now: number): void {
  if (now - c.challengeWindowStart >= 1000) {
    c.challengeWindowStart = Math.floor(now);
    c.challengeCount = 0;
  }
  if (c.challengeCount >= c.config.challengeAckLimit) {
    c.stats.challengeAcksSuppressed++;
    return;
  }
  c.challengeCount++;
  c.stats.challengeAcks++;
  c.fl |= F.ACK_NOW | F.ACK_EACH;
}

/**
 * ACK processing (RFC 9293 §3.10.7.4 "fifth", RFC 5961 §5.2, RFC 5681,
 * RFC 6582, RFC 6675). Returns false if the segment is to be dropped.
 */
export function processAck(c: Tcb, seg: TcpRepr, seq: number, len: number, f: number, now: number): boolean {
  // int32 bits (compared modulo 2^32 only, and with the records' int32
  // fields): a uint32 >= 2^31 that crosses a call V8 does not inline is a heap number.
  const ack = seg.ack | 0;
  // RFC 5961 §5.2: acceptable iff SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT (we use sndMax, the highest sent).
  if (seqGt(ack, c._sndMax) || seqLt(ack, seqAdd32(c._sndUna, -Math.max(c.maxSndWnd, 1)))) {
    c.stats.badAcks++;
    challengeAck(c, now);
    return false;
  }

  const oldWnd = c.sndWnd;
  const rack = c.rackOn();
  const dsack = rack && seg.sack !== undefined && seg.sack.length >= 2 && isDsack(seg.sack, ack);
  const newSack = (c.fl & F.SACK_OK) !== 0 && seg.sack !== undefined && seg.sack.length > 0 ? updateScoreboard(c, seg.sack) : false;
  const unaBefore = c._sndUna;

  // Window update (RFC 9293 §3.10.7.4: only from segments newer than the last update).
  if (seqLt(c._sndWl1, seq) || (seqDiff(c._sndWl1, seq) === 0 && seqLe(c._sndWl2, ack))) {
    c.sndWnd = seg.window << c.sndShift;
    if (c.sndWnd > c.maxSndWnd) c.maxSndWnd = c.sndWnd;
    c._sndWl1 = seq | 0;
    c._sndWl2 = ack;
    if (c.sndWnd > 0) {
      if (c.cold.persistTotal > 0) c.progressAt = now;
      c.cold.persistAt = Infinity;
      c.cold.persistBackoff = 0;
      c.cold.persistTotal = 0;
    }
  }
  c.cold.persistProbes = 0; // the peer is alive: persist may go on forever (RFC 1122 §4.2.2.17)

  if (seqGt(ack, c._sndUna)) {
    ackAdvance(c, seg, now);
  } else if (
    ack === c._sndUna &&
    seqGt(c._sndMax, c._sndUna) &&
    len === 0 &&
    (f & (TCP_SYN | TCP_FIN)) === 0 &&
    (c.sndWnd === oldWnd || newSack)
  ) {
    onDupAck(c, now);
  }
  if (rack) {
    const pureDup = ack === unaBefore && len === 0 && !newSack && c.sndWnd === oldWnd;
    rackTlpOnAck(c, seg, ack, dsack, pureDup, now);
  }

  // FIN acknowledged?
  const finAcked = (c.fl & F.FIN_QUEUED) !== 0 && c.sndUna === c.finSeqPlusOne();
  switch (c.state) {
    case State.FIN_WAIT_1:
      if (finAcked) {
        setState(c, State.FIN_WAIT_2);
        if ((c.fl & F.APP_CLOSED) !== 0) c.closeAt = now + c.config.finWait2TimeoutMs;
      }
      break;
    case State.CLOSING:
      if (finAcked) enterTimeWait(c, now);
      break;
    case State.LAST_ACK:
      if (finAcked) {
        finish(c, undefined);
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

/** The cumulative ACK moved forward: free the ring, sample RTT, grow cwnd, manage recovery. */
export function ackAdvance(c: Tcb, seg: TcpRepr, now: number): void {
  const ack = seg.ack | 0; // int32 bits, as in processAck
  const acked = seqDiff(ack, c._sndUna);
  const flightBefore = seqDiff(c._sndMax, c._sndUna);
  // Release acknowledged data (the SYN and FIN occupy sequence space but not ring bytes).
  let dataAcked = seqDiff(ack, c._sndBase);
  const queued = c.sndQueued();
  if (dataAcked > queued) dataAcked = queued;
  if (dataAcked > 0) {
    // The ring's bytes come first in the stream, then the loan's.
    const ringLen = c.sndRing.length;
    const fromRing = dataAcked < ringLen ? dataAcked : ringLen;
    if (fromRing > 0) c.sndRing.consume(fromRing);
    if (dataAcked > fromRing) ackLoan(c, dataAcked - fromRing);
    // The ring is empty: it gives its storage back (idle costs nothing).
    if (c.sndRing.length === 0) {
      putSndRing(c);
      if (queued === dataAcked && c.cold.rsN === 0 && c.cold.rsEnd.length > RS_MIN_RECORDS) c.cold.dropLog();
    }
    c._sndBase = seqAdd32(c._sndBase, dataAcked);
    if ((c.fl & F.WRITE_BLOCKED) !== 0 && c.canWrite()) {
      c.fl &= ~F.WRITE_BLOCKED;
      c.pendingEvents |= Ev.WRITABLE;
    }
  }
  c._sndUna = ack;
  c.progressAt = now;
  if (seqLt(c._sndNxt, ack)) c._sndNxt = ack; // after an RTO go-back-N
  c.retries = 0;

  // RTT (RFC 6298 / RFC 7323 §4.1): timestamps echo the segment that was
  // acknowledged, retransmitted or not; otherwise one timed segment, never a
  // retransmitted one (Karn's algorithm).
  let rttSample = -1;
  if ((c.fl & F.TS_OK) !== 0 && seg.tsEcr !== undefined && seg.tsEcr !== 0) {
    const d = seqDiff(c.tsNow(now), seg.tsEcr);
    if (d >= 0 && d < 3_600_000) rttSample = d;
  } else if ((c.fl & F.RTT_ACTIVE) !== 0 && seqGe(ack, c.cold.rttSeq)) {
    rttSample = Math.max(0, now - c.cold.rttTime);
  }
  if ((c.fl & F.RTT_ACTIVE) !== 0 && seqGe(ack, c.cold.rttSeq)) c.fl &= ~F.RTT_ACTIVE;
  if (rttSample >= 0) c.rtt.sample(rttSample);
  c.rtt.resetBackoff();

  // Trim the SACK scoreboard below the new cumulative ACK.
  trimScoreboard(c);
  if (c.rackOn()) {
    rsOnCumAck(c, ack, now, seg.tsEcr);
    if ((c.fl & F.RTO_RECOVERY) !== 0 && seqGe(ack, c._recover)) {
      c.fl &= ~F.RTO_RECOVERY;
      rackRecoveryDone(c);
    }
  }

  if ((c.fl & F.IN_RECOVERY) !== 0) {
    recoveryOnAck(c, ack, acked, dataAcked, now);
  } else if (c.state !== State.SYN_SENT && c.state !== State.SYN_RECEIVED) {
    if (dataAcked > 0) c.cc.onAck(dataAcked, now, rttSample, flightBefore);
  }
  c.cold.dupAcks = 0;

  // RFC 6298 §5.2/5.3: all acknowledged -> stop the timer; else restart it.
  if (c.sndUna === c.sndMax) c.rtoAt = Infinity;
  else c.rtoAt = now + c.rtt.rto;
  // RFC 8985 §7.2: restart the PTO on an ACK of new data. (With RACK the
  // episode ends by the §7.4 rules instead: rackTlpOnAck.)
  if (!c.rackOn()) c.fl &= ~F.TLP_OUTSTANDING;
  armTlp(c, now);
}

/** Usable window for new data: min(peer window, cwnd) minus what is in flight. */
export function usableWindow(c: Tcb): number {
  const byWnd = seqDiff(seqAdd32(c._sndUna, c.sndWnd), c._sndNxt);
  let cwnd = c.cc.cwnd + c.cold.inflation;
  // RFC 3042 limited transmit: one new segment per early duplicate ACK.
  if ((c.fl & F.IN_RECOVERY) === 0 && c.cold.dupAcks > 0 && c.cold.dupAcks < DUP_THRESH) cwnd += c.cold.dupAcks * c.sndMss();
  const byCwnd = cwnd - pipe(c);
  const u = Math.min(byWnd, byCwnd);
  return u > 0 ? u : 0;
}

/**
 * Length of the next new-data segment at sndNxt, applying the sender SWS
 * rules and Nagle (RFC 9293 §3.8.6.2.1, §3.7.4); 0 if nothing should go now.
 */
export function nextSegmentLength(c: Tcb): number {
  const unsent = c.unsentBytes();
  if (unsent === 0) return 0;
  const mss = c.sndMss();
  const usable = usableWindow(c);
  const len = Math.min(unsent, c.segMax(), usable);
  if (len <= 0) return 0;
  if (len >= mss) return len; // a full segment always goes
  if ((c.fl & F.FORCE_SEND) !== 0) return len;
  // Nagle (RFC 9293 §3.7.4) in Minshall's form, as Linux: a small segment
  // may go unless an earlier small segment is still unacknowledged. The
  // int32 fields, not the uint32 getters: this check runs once per transmit
  // round of a bulk send (the window's last, short piece), and V8 13.6
  // (node 24) inlines this function into sendOne but not seqGt, so two
  // getter values >= 2^31 were two new heap numbers per round (~9 bytes per
  // segment).
  const nagleOk = (c.fl & F.NO_DELAY) !== 0 || !seqGt(c._sndSml, c._sndUna);
  // All remaining data fits: push it (subject to Nagle).
  if (len === unsent && nagleOk) return len;
  // RFC 9293 §3.8.6.2.1: at least Fs * max window (Fs = 1/2) when Nagle allows.
  if (nagleOk && len >= c.maxSndWnd >>> 1 && c.maxSndWnd > 0) return len;
  return 0;
}

/** Whether the FIN goes now: queued, all data sent, not sent yet (or being resent from sndNxt). */
export function finSendable(c: Tcb, unsent: number): boolean {
  if ((c.fl & F.FIN_QUEUED) === 0 || unsent !== 0) return false;
  return seqLt(c.sndNxt, c.finSeqPlusOne());
}

/** Everything due: the SYN (or SYN-ACK), retransmissions and new data while the windows allow, then a pure ACK if one is still due. */
export function transmit(c: Tcb, now: number, sink: SegmentSink): void {
  const s = c.state;
  // SYN or SYN-ACK.
  if ((s === State.SYN_SENT || s === State.SYN_RECEIVED) && c.sndNxt === c.iss) {
    sendSyn(c, now, sink);
    return;
  }
  if (c.synchronizedForData()) {
    // RFC 5681 §4.1: restart from a small window after an idle period longer than the RTO.
    if (c.sndUna === c.sndMax && c.lastSendTime > 0 && now - c.lastSendTime > c.rtt.rto && c.unsentBytes() > 0) {
      c.cc.onIdleRestart(now);
      c.lastSendTime = now;
    }
    let guard = 0;
    while (guard++ < 100_000) {
      if (!sendOne(c, now, sink) || (c.fl & F.OUTPUT_FAILED) !== 0) break;
    }
    maybeArmPersist(c, now);
  }
  if ((c.fl & F.ACK_NOW) !== 0) {
    // A pure ACK carries a sequence number the peer accepts (Linux
    // tcp_acceptable_seq): the highest sent — after an RTO sndNxt is
    // rewound for go-back-N, and an older number would be unacceptable to a
    // peer that already received more — but never past the right edge of
    // the peer's window: when the peer's window has shrunk below what was
    // sent (its buffer filled while those bytes were dropped), an ACK
    // beyond the edge fails its acceptability test (RFC 9293 §3.10.7.4) and
    // its acknowledgment is never read, so both sides stall.
    const edge = seqAdd(c.sndUna, c.sndWnd);
    const o = prepare(c, TCP_ACK, (seqGt(c.sndMax, edge) ? edge : c.sndMax) | 0, now);
    o.payloadLength = 0;
    emit(c, sink, o, 0);
  }
}

/** The SYN (active open) or SYN-ACK (passive open), first or again; options per RFC 9293 §3.7.1, RFC 7323, RFC 2018. */
export function sendSyn(c: Tcb, now: number, sink: SegmentSink): void {
  const synAck = c.state === State.SYN_RECEIVED;
  const o = OUT;
  o.srcPort = c.localPort;
  o.dstPort = c.remotePort;
  o.seq = c.iss;
  o.ack = synAck ? c.rcvNxt : 0;
  o.flags = synAck ? TCP_SYN | TCP_ACK : TCP_SYN;
  // RFC 7323 §2.2: the window in a SYN is never scaled.
  o.window = Math.min(c.rcvCapacity, 65535);
  o.urgent = 0;
  o.mss = c.advMss;
  // Active open offers everything; a passive open only echoes what the peer offered.
  const offerWs = synAck ? (c.fl & F.WS_OK) !== 0 : c.config.windowScaling;
  o.windowScale = offerWs ? c.rcvShift : undefined;
  o.sackPermitted = (synAck ? (c.fl & F.SACK_OK) !== 0 : c.config.sack) ? true : undefined;
  const offerTs = synAck ? (c.fl & F.TS_OK) !== 0 : c.config.timestamps;
  o.tsVal = offerTs ? c.tsNow(now) : undefined;
  o.tsEcr = offerTs ? (synAck ? c._tsRecent : 0) : undefined;
  o.sack = undefined;
  o.payloadLength = 0;
  if (synAck) {
    c.rcvAdv = seqAdd(c.rcvNxt, o.window);
    c.lastAckSent = c.rcvNxt;
  }
  emit(c, sink, o, 0);
  if (c.sndMax !== c.iss) {
    c.stats.retransmits++;
    c.fl &= ~F.RTT_ACTIVE;
  } else if ((c.fl & F.TS_OK) === 0) {
    c.fl |= F.RTT_ACTIVE;
    c.cold.rttSeq = seqAdd(c.iss, 1);
    c.cold.rttTime = now;
  }
  c.sndNxt = seqAdd(c.iss, 1);
  if (seqGt(c.sndNxt, c.sndMax)) c.sndMax = c.sndNxt;
  if (c.rtoAt === Infinity) c.rtoAt = now + c.rtt.rto;
  c.fl &= ~(F.ACK_NOW | F.ACK_EACH);
}

/** Sends one data/FIN segment (retransmission or new); false when nothing (more) should go now. */
export function sendOne(c: Tcb, now: number, sink: SegmentSink): boolean {
  const mss = c.sndMss();
  // NewReno: retransmit the head (fast retransmit, partial ACK), regardless of cwnd (RFC 6582 §3.2).
  if ((c.fl & F.RTX_HEAD) !== 0) {
    c.fl &= ~F.RTX_HEAD;
    sendRange(c, c.sndUna | 0, mss, now, sink, true);
    return (c.fl & F.OUTPUT_FAILED) === 0;
  }
  if (c.rackOn()) {
    // RFC 8985 with RFC 6675: retransmit what RACK marked lost (lowest
    // first) while pipe < cwnd, before any new data; no rule-3 guesses.
    if (c.cold.rsLostBytes > 0) {
      const p = pipe(c);
      const avail = c.cc.cwnd - p;
      if (!(avail >= mss || (avail > 0 && p === 0) || p === 0)) return false;
      const i = rsFirstLost(c);
      if (i >= 0) {
        const st = rsStartOf(c, i);
        const len = seqDiff(c.cold.rsEnd[rsIdx(c, i)]!, st);
        return sendRange(c, st | 0, len < mss ? len : mss, now, sink, true) > 0;
      }
    }
    // After an RTO (or PMTU drop) every record was marked lost and is resent
    // above; sndNxt just steps over what is done.
    if (seqLt(c.sndNxt, c.sndMax)) {
      const s = rsSkipDone(c, c.sndNxt);
      if (s !== c.sndNxt) {
        c.sndNxt = s;
        return true;
      }
      return false;
    }
  } else if ((c.fl & F.IN_RECOVERY) !== 0 && (c.fl & F.RECOVERY_IS_SACK) !== 0) {
    // RFC 6675 NextSeg, rules 1 and 3: retransmit holes while pipe < cwnd.
    const avail = c.cc.cwnd - pipe(c);
    if (avail >= mss || (avail > 0 && pipe(c) === 0)) {
      let s = seqMax(c.cold.highRxt, c.sndUna);
      s = skipSacked(c, s);
      const lp = lossPoint(c);
      const highSacked = c.cold.sbN > 0 ? c.cold.sb[2 * c.cold.sbN - 1]! : c.sndUna;
      if (seqLt(s, highSacked)) {
        // Rule 1 (lost) or rule 3 (not yet lost but un-SACKed below HighSACK, only if no new data).
        const isLostSeg = seqLt(s, lp);
        if (isLostSeg || c.unsentBytes() === 0 || usableWindow(c) < mss) {
          const limit = Math.min(seqDiff(nextSackedStart(c, s), s), mss);
          const sent = sendRange(c, s | 0, limit, now, sink, true);
          if (sent > 0) {
            c.cold.highRxt = seqAdd(s, sent);
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
  if (seqLt(c.sndNxt, c.sndMax)) {
    const s = skipSacked(c, c.sndNxt);
    if (s !== c.sndNxt) {
      c.sndNxt = s;
      return true;
    }
    const cwndAvail = c.cc.cwnd - seqDiff(c.sndNxt, c.sndUna);
    const wndAvail = seqDiff(seqAdd32(c._sndUna, c.sndWnd), c._sndNxt);
    let limit = Math.min(mss, seqDiff(nextSackedStart(c, s), s));
    const avail = Math.min(cwndAvail, wndAvail);
    if (avail <= 0 && c.sndNxt !== c.sndUna) return false;
    if (avail > 0 && avail < limit) limit = avail;
    if (limit <= 0) limit = 1;
    const sent = sendRange(c, s | 0, limit, now, sink, true);
    if (sent <= 0) return false;
    c.sndNxt = seqAdd(s, sent);
    return true;
  }
  // New data.
  const len = nextSegmentLength(c);
  const unsent = c.unsentBytes();
  if (len > 0) {
    const sent = sendRange(c, c.sndNxt | 0, len, now, sink, false);
    if (sent <= 0) return false;
    return true;
  }
  // A FIN alone: nothing follows it.
  if (finSendable(c, unsent)) sendRange(c, c.sndNxt | 0, 0, now, sink, false);
  return false;
}

/**
 * Sends [seq, seq+len) of data (plus FIN if the data ends the stream and a
 * FIN is queued). Returns the sequence space covered (0 if emission
 * failed). `seq`: an int32 bit pattern (callers pass `x | 0`: no heap
 * number per call); compared modulo 2^32 only.
 */
export function sendRange(c: Tcb, seq: number, len: number, now: number, sink: SegmentSink, isRtx: boolean): number {
  const ringOff = seqDiff(seq, c.sndBase);
  const queued = c.sndQueued();
  const avail = queued - ringOff;
  let n = Math.min(len, avail > 0 ? avail : 0);
  // Leave room for SACK blocks (the option space is shared; RFC 2018 §3).
  const o = prepare(c, TCP_ACK, seq, now);
  const sackRoom = SACK_OUT.length > 0 ? 4 + 4 * SACK_OUT.length : 0;
  const maxPayload = c.segMax() - sackRoom;
  if (n > maxPayload) n = Math.max(1, maxPayload);
  // TSO: the NIC cuts at its MTU (sndMss() of payload, less the SACK
  // blocks). Several segments' worth that do not end the data are cut to
  // whole ones, as Linux tcp_mss_split_point: a send limited by the window
  // or cwnd otherwise left a short segment on the wire, and what is left
  // of the window now follows the SWS rules like any small segment.
  const unit = c.sndMss() - sackRoom;
  if (n > unit && unit > 0 && ringOff + n < queued) n -= n % unit;
  let flags = TCP_ACK;
  let space = n;
  if ((c.fl & F.FIN_QUEUED) !== 0 && ringOff + n === queued) {
    flags |= TCP_FIN;
    space += 1;
  }
  if (space === 0) return 0;
  if (n > 0 && ringOff + n === queued) flags |= TCP_PSH;
  o.flags = flags;
  o.payloadLength = n;
  emit(c, sink, o, ringOff);
  const end = seqAdd32(seq, space);
  const retransmission = isRtx || seqLt(seq, c.sndMax);
  if (retransmission) {
    c.stats.retransmits++;
    c.stats.retransmittedBytes += n;
    // Karn: a timed segment that is retransmitted cannot give a sample.
    if ((c.fl & F.RTT_ACTIVE) !== 0 && seqLe(seq, c.cold.rttSeq) && seqLt(c.cold.rttSeq, seqAdd32(end, 1))) c.fl &= ~F.RTT_ACTIVE;
  } else {
    c.stats.bytesOut += n;
    if (n < c.sndMss()) c.sndSml = end;
    if ((c.fl & F.RTT_ACTIVE) === 0 && (c.fl & F.TS_OK) === 0) {
      c.fl |= F.RTT_ACTIVE;
      c.cold.rttSeq = end;
      c.cold.rttTime = now;
    }
  }
  if (!isRtx || seqDiff(seq, c.sndNxt) === 0) {
    if (seqGt(end, c.sndNxt)) c.sndNxt = end;
  }
  if (c.sndUna === c.sndMax && c.cold.persistTotal === 0) c.progressAt = now; // the wait starts now
  if (c.rackOn()) rsOnSend(c, seq, end | 0, now);
  if (seqGt(end, c.sndMax)) c.sndMax = end;
  if (c.rtoAt === Infinity) c.rtoAt = now + c.rtt.rto;
  c.cold.persistAt = Infinity;
  c.fl &= ~F.FORCE_SEND;
  c.lastSendTime = now;
  if (!retransmission) armTlp(c, now);
  return space;
}

/** RFC 8985 §7.3: send one new segment if possible, else retransmit the last one. */
export function sendTailLossProbe(c: Tcb, now: number, sink: SegmentSink): void {
  if (!c.synchronizedForData() || c.sndUna === c.sndMax || (c.fl & F.IN_RECOVERY) !== 0) return;
  const mss = c.sndMss();
  const unsent = c.unsentBytes();
  const wndRoom = seqDiff(seqAdd32(c._sndUna, c.sndWnd), c._sndNxt);
  let sent = 0;
  let probeSeq = c.sndNxt;
  const isRetrans = !(unsent > 0 && wndRoom > 0);
  if (!isRetrans) {
    sent = sendRange(c, c.sndNxt | 0, Math.min(mss, unsent, wndRoom), now, sink, false);
  } else if (c.rackOn() && c.cold.rsN > 0) {
    // The highest-sequence segment sent so far (§7.3), at most one MSS of it.
    const end = c.cold.rsEnd[rsIdx(c, c.cold.rsN - 1)]!;
    let start = rsStartOf(c, c.cold.rsN - 1);
    if (seqDiff(end, start) > mss) start = seqAdd(end, -mss);
    probeSeq = start;
    sent = sendRange(c, start | 0, seqDiff(end, start), now, sink, true);
  } else {
    let start = seqAdd(c.sndMax, -mss);
    if (seqLt(start, c.sndUna)) start = c.sndUna;
    // A trailing FIN occupies the last sequence number but no ring byte.
    sent = sendRange(c, start | 0, seqDiff(c.sndMax, start), now, sink, true);
  }
  if (sent > 0) {
    c.stats.tailLossProbes++;
    c.fl |= F.TLP_OUTSTANDING;
    // §7.4.1: a new episode.
    c.tlpStartSeq = probeSeq;
    c.tlpEndSeq = c.sndMax;
    if (isRetrans) c.fl |= F.TLP_IS_RETRANS;
    else c.fl &= ~F.TLP_IS_RETRANS;
    c.cold.tlpAt = Infinity;
    c.rtoAt = now + c.rtt.rto; // §7.3: re-arm the RTO after the probe
  }
}

/** Zero window with data waiting and nothing in flight: arm the persist timer (RFC 9293 §3.8.6.1). */
export function maybeArmPersist(c: Tcb, now: number): void {
  if (c.sndMax !== c.sndUna) {
    c.cold.persistAt = Infinity;
    return;
  }
  const waiting = c.unsentBytes() > 0 || ((c.fl & F.FIN_QUEUED) !== 0 && seqLt(c.sndNxt, c.finSeqPlusOne()));
  if (!waiting) {
    c.cold.persistAt = Infinity;
    return;
  }
  if (c.cold.persistAt === Infinity) {
    if (c.cold.persistTotal === 0 && c.cold.persistBackoff === 0) c.progressAt = now;
    const base = c.rtt.rto;
    c.cold.persistAt = now + Math.min(base * 2 ** Math.min(c.cold.persistBackoff, 16), c.config.maxRtoMs);
  }
}

/** Zero-window / keepalive probe: an old sequence number draws an ACK (RFC 1122 §4.2.3.6, Linux). */
export function sendProbe(c: Tcb, sink: SegmentSink, now: number): void {
  const o = prepare(c, TCP_ACK, seqAdd(c.sndUna, -1) | 0, now);
  o.payloadLength = 0;
  emit(c, sink, o, 0);
}
