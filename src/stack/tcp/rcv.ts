/**
 * The receiver (RFC 9293 §3.10.7.4): PAWS (RFC 7323 §5), segment
 * acceptability, RST and SYN in a synchronized state (RFC 5961 §3-4), then
 * in-order text into the receive ring, out-of-order text into the assembler
 * (held, SACKed), the FIN, delayed ACKs (RFC 1122 §4.2.3.2), D-SACK reports
 * (RFC 2883), answers to unacceptable segments, and when a read makes a
 * window update worth sending.
 */
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqAdd32, seqDiff, seqGe, seqGt, seqLe, seqLt } from '../../wire/seq.js';
import { Assembler } from './assembler.js';
import { State } from './types.js';
import { Ev, F, IDLE_RING, NO_ASM, enterTimeWait, finish, queueRst, setState, takeRcvRing, type Tcb } from './tcb.js';
import { ringPut, toTarget, usePlacement } from './buffers.js';
import { challengeAck, processAck } from './snd.js';

const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000; // RFC 7323 §5.5: ts.recent invalid after 24 days idle
const OOW_ACK_INTERVAL_MS = 500; // Linux tcp_invalid_ratelimit for ACKs to out-of-window pure ACKs

/**
 * RFC 9293 §3.10.7.4: a segment in a synchronized state (SYN_RECEIVED and
 * later) — PAWS, acceptability, RST, SYN, ACK (snd.ts processAck), text and
 * FIN. Sequence numbers go to the helpers as int32 bit patterns (they
 * compare them only modulo 2^32): a uint32 >= 2^31 passed to a function V8
 * does not inline is a heap number per segment.
 */
export function rcvSegment(c: Tcb, seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number): void {
  let f = seg.flags;
  let seq = seg.seq;
  const len = seg.payloadLength;
  const pOff = payloadOff;

  // SYN_RECEIVED: a retransmitted SYN means our SYN-ACK was lost; a SYN-ACK
  // (simultaneous open) carries an old SYN but a new ACK: strip the SYN.
  if (c.state === State.SYN_RECEIVED && (f & TCP_SYN) !== 0 && seq === c.irs && (f & TCP_RST) === 0) {
    if ((f & TCP_ACK) === 0) {
      c.sndNxt = c.iss; // resend SYN-ACK
      return;
    }
    f &= ~TCP_SYN;
    seq = seqAdd(seq, 1);
  }

  // RFC 7323 §5.3 PAWS: a timestamp older than ts.recent marks an old duplicate.
  if ((c.fl & F.TS_OK) !== 0 && seg.tsVal !== undefined && (f & TCP_RST) === 0) {
    if (seqLt(seg.tsVal, c.tsRecent) && now - c.tsRecentAge < PAWS_IDLE_MS) {
      c.stats.pawsDrops++;
      sendOowAck(c, len > 0, seq);
      return;
    }
  }

  // First: sequence number acceptability.
  const segLen = len + ((f & TCP_SYN) !== 0 ? 1 : 0) + ((f & TCP_FIN) !== 0 ? 1 : 0);
  const wnd = c.rcvWindowNow();
  if (!acceptable(c, seq | 0, segLen, wnd)) {
    c.stats.outOfWindow++;
    if ((f & TCP_RST) === 0) {
      if (c.state === State.TIME_WAIT && (f & TCP_FIN) !== 0) {
        c.closeAt = now + c.config.timeWaitMs; // retransmitted FIN: restart 2MSL (§3.10.7.4)
      }
      if (len > 0) {
        c.stats.duplicateBytes += len;
        if (seqLe(seqAdd(seq, len), c.rcvNxt)) noteDsack(c, seq, seqAdd(seq, len));
      }
      sendOowAck(c, len > 0 || (f & TCP_FIN) !== 0, seq);
    }
    return;
  }

  // Second: RST (RFC 5961 §3.2: exact match resets, in-window draws a challenge ACK).
  if ((f & TCP_RST) !== 0) {
    c.stats.resetsIn++;
    if (seq !== c.rcvNxt) {
      challengeAck(c, now);
      return;
    }
    if (c.state !== State.TIME_WAIT) c.stats.connectionsReset++;
    switch (c.state) {
      case State.SYN_RECEIVED:
        // Passive: back to LISTEN, i.e. this embryonic connection just goes; active: refused.
        finish(c, (c.fl & F.PASSIVE) !== 0 ? undefined : 'ECONNREFUSED');
        return;
      case State.ESTABLISHED:
      case State.FIN_WAIT_1:
      case State.FIN_WAIT_2:
      case State.CLOSE_WAIT:
        finish(c, 'ECONNRESET');
        return;
      default:
        // CLOSING, LAST_ACK, TIME_WAIT: just close.
        finish(c, undefined);
        return;
    }
  }

  // Third (RFC 9293 security check is obsolete). Fourth: SYN in a synchronised
  // state draws a challenge ACK (RFC 5961 §4.2), whatever its sequence number.
  if ((f & TCP_SYN) !== 0) {
    challengeAck(c, now);
    return;
  }

  // Fifth: ACK.
  if ((f & TCP_ACK) === 0) return;

  // Timestamps: remember ts.recent for echoing (RFC 7323 §4.3: only if the
  // segment covers Last.ACK.sent, so a delayed ACK echoes the oldest).
  if ((c.fl & F.TS_OK) !== 0 && seg.tsVal !== undefined && seqGe(seg.tsVal, c.tsRecent) && seqLe(seq, c.lastAckSent)) {
    c.tsRecent = seg.tsVal;
    c.tsRecentAge = now;
  }
  c.lastRecv = now;
  c.cold.keepProbes = 0;

  if (c.state === State.SYN_RECEIVED) {
    if (seqLe(seg.ack, c.sndUna) || seqGt(seg.ack, c.sndMax)) {
      // RFC 9293: <SEQ=SEG.ACK><CTL=RST>.
      queueRst(c, seg.ack, 0, TCP_RST);
      c.stats.badAcks++;
      return;
    }
    c.sndWnd = seg.window << c.sndShift;
    c.maxSndWnd = Math.max(c.maxSndWnd, c.sndWnd);
    c.sndWl1 = seq;
    c.sndWl2 = seg.ack;
    setState(c, State.ESTABLISHED);
    c.pendingEvents |= Ev.CONNECTED;
    if ((c.fl & F.FIN_QUEUED) !== 0) setState(c, State.FIN_WAIT_1);
  }

  if (!processAck(c, seg, seq | 0, len, f, now)) return;
  if (c.state === State.CLOSED) return;

  // Sixth: URG is not supported (RFC 6093 recommends against new uses). Seventh: text. Eighth: FIN.
  if (len > 0 || (f & TCP_FIN) !== 0) {
    rcvText(c, seg, seq | 0, payload, pOff, now, f);
  }
}

/**
 * RFC 9293 §3.10.7.4 table: is any part of the segment inside the receive
 * window? `seq`: int32 or uint32 (compared modulo 2^32).
 */
export function acceptable(c: Tcb, seq: number, segLen: number, wnd: number): boolean {
  const rn = c._rcvNxt;
  if (segLen === 0) {
    // A segment with no text (an ACK, a window update) is taken anywhere
    // from rcvNxt up to and including the right edge of the window — the
    // larger of the window now and the edge we last advertised, which a
    // filling buffer does not pull back — as Linux tcp_sequence does. A
    // peer whose data beyond a shrunken window was dropped acknowledges
    // with the edge as its sequence number (tcp_acceptable_seq); refusing
    // that ACK left its acknowledgment unread and both ends retransmitting
    // into each other's closed windows.
    let right = seqAdd32(rn, wnd);
    if (seqGt(c._rcvAdv, right)) right = c._rcvAdv;
    return seqLe(rn, seq) && seqLe(seq, right);
  }
  // Old text reaching up to what we last acknowledged: a retransmitted FIN
  // (BSD stacks such as QEMU's slirp put their FIN on every segment until
  // it is acknowledged) or the last data again. Nothing in it is new
  // (rcvText trims it and ACKs), but its ACK and window are current:
  // dropping them left our sender waiting for the RTO, which resent data
  // the peer had acknowledged. As Linux tcp_sequence (end_seq >= rcv_wup;
  // BSD processes the ACK of any old segment).
  if (seqLe(seq, rn) && seqGe(seqAdd32(seq, segLen), c._lastAckSent)) return true;
  if (wnd === 0) {
    // Nothing fits, but the ACK/RST/FIN-at-rcvNxt of a segment starting at
    // rcvNxt is still useful (RFC 9293: "special allowance" for ACKs; Linux
    // accepts seq == rcv_nxt with a zero window).
    return seqDiff(seq, rn) === 0;
  }
  const end = seqAdd32(rn, wnd);
  const last = seqAdd32(seq, segLen - 1);
  return (seqLe(rn, seq) && seqLt(seq, end)) || (seqLe(rn, last) && seqLt(last, end));
}

/** Seventh and eighth steps: segment text and FIN. `seq` is the sequence number of the first data byte. */
export function rcvText(c: Tcb, seg: TcpRepr, seq: number, payload: Uint8Array, payloadOff: number, now: number, flags = seg.flags): void {
  const s = c.state;
  const canReceive = s === State.ESTABLISHED || s === State.FIN_WAIT_1 || s === State.FIN_WAIT_2;
  let len = seg.payloadLength;
  let fin = (flags & TCP_FIN) !== 0;
  if (!canReceive) {
    // CLOSE_WAIT, CLOSING, LAST_ACK, TIME_WAIT: the peer already sent FIN; ignore text.
    if (fin && s === State.TIME_WAIT) {
      c.closeAt = now + c.config.timeWaitMs;
      c.fl |= F.ACK_NOW | F.ACK_EACH;
    } else if ((len > 0 || fin) && seqLt(seq, c.rcvNxt)) {
      // Old text or the peer's FIN again (see acceptable()): tell it where we are.
      c.fl |= F.ACK_NOW | F.ACK_EACH;
    }
    return;
  }
  if (len > 0 && (c.fl & F.APP_CLOSED) !== 0) {
    // The application is gone: nobody will read this (RFC 2525 §2.17 / Linux tcp_rcv_state_process).
    queueRst(c, c.sndMax, c.rcvNxt, TCP_RST | TCP_ACK);
    finish(c, undefined);
    return;
  }
  const finSeq = seqAdd(seq, len);
  // Trim what we already have (front) and what does not fit the ring (tail).
  let off = seqDiff(seq, c.rcvNxt);
  let pOff = payloadOff;
  if (off < 0) {
    const skip = Math.min(-off, len);
    c.stats.duplicateBytes += skip;
    if (skip > 0) noteDsack(c, seq, seqAdd(seq, skip));
    pOff += skip;
    len -= skip;
    off = 0;
  }
  // Keep only what lies inside the window we advertised (RFC 9293 §3.10.7.4
  // "seventh": segments are trimmed to the window) and fits the ring.
  const wnd = c.rcvWindowNow();
  const free = c.rcvFree();
  const room = wnd < free ? wnd : free;
  if (off + len > room) {
    const keep = Math.max(0, room - off);
    len = keep;
    fin = false; // the FIN lies beyond what we kept
  }
  if (len > 0) {
    const segSize = c.rcvSegHint > 0 ? c.rcvSegHint : len;
    if (segSize > c.rcvMss) c.rcvMss = Math.min(segSize, c.advMss);
    c.stats.bytesIn += len;
    if (off === 0) {
      const hadHoles = c.asm.heldBytes > 0;
      if (toTarget(c, payload, pOff, len)) {
        // Straight into the reader's memory (nothing was held out of order):
        // read at once. A pushed segment read at once is acknowledged at once
        // (below, the delayed-ACK rules see what is unacknowledged), as Linux
        // tcp_cleanup_rbuf does once a reader has drained a pushed segment:
        // the sender pushes at the end of what it has queued, and a sender
        // waiting for that ACK to complete a write (a lent buffer) would
        // otherwise wait out the delayed-ACK timer.
        c._rcvNxt = seqAdd32(c._rcvNxt, len);
        if ((flags & TCP_PSH) !== 0) c.fl |= F.ACK_NOW;
      } else {
        const ring = c.rcvRing === IDLE_RING ? takeRcvRing(c) : c.rcvRing;
        if (!usePlacement(c, payload, pOff, len, ring)) ringPut(ring, 0, payload, pOff, len);
        ring.commit(len);
        const extra = c.asm.advance(len);
        if (extra > 0) ring.commit(extra);
        c._rcvNxt = seqAdd32(c._rcvNxt, len + extra);
      }
      c.pendingEvents |= Ev.READABLE;
      if (hadHoles) {
        // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap.
        c.fl |= F.ACK_NOW | F.ACK_EACH;
      } else {
        c.rcvUnackedBytes += len;
        // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment.
        if (!c.config.delayedAck || c.rcvUnackedBytes >= 2 * c.rcvMss) c.fl |= F.ACK_NOW;
        else if (c.ackAt === Infinity) c.ackAt = now + c.config.delayedAckMs;
      }
    } else {
      // Out of order: keep it (bounded) and send a duplicate ACK with SACK at once (RFC 5681 §4.2).
      c.stats.outOfOrderSegments++;
      if (c.asm === NO_ASM) c.asm = new Assembler(c.rcvCapacity, c.config.maxOooRanges);
      c.asmIdleDrains = 0;
      if (c.asm.add(off, len)) {
        ringPut(c.rcvRing === IDLE_RING ? takeRcvRing(c) : c.rcvRing, off, payload, pOff, len);
        c.stats.outOfOrderBytes += len;
      } else {
        c.stats.outOfOrderDropped += len;
      }
      c.fl |= F.ACK_NOW | F.ACK_EACH;
    }
  } else if (seg.payloadLength > 0) {
    c.fl |= F.ACK_NOW | F.ACK_EACH; // all duplicate or no room: tell the peer where we are
  }
  if (fin) {
    if (finSeq === c.rcvNxt) {
      receiveFin(c, now);
    } else if (seqGt(finSeq, c.rcvNxt)) {
      // FIN beyond a hole: remember it; it takes effect when the hole fills.
      c.fl |= F.PENDING_FIN;
      c.pendingFinSeq = finSeq;
      c.fl |= F.ACK_NOW | F.ACK_EACH;
    }
  }
  if ((c.fl & F.PENDING_FIN) !== 0 && c.pendingFinSeq === c.rcvNxt && (c.fl & F.FIN_RECEIVED) === 0) receiveFin(c, now);
}

/** Eighth step: the peer's FIN is in order. */
export function receiveFin(c: Tcb, now: number): void {
  if ((c.fl & F.FIN_RECEIVED) !== 0) return;
  c.fl |= F.FIN_RECEIVED;
  c.fl &= ~F.PENDING_FIN;
  c.rcvNxt = seqAdd(c.rcvNxt, 1);
  c.fl |= F.ACK_NOW | F.ACK_EACH;
  c.pendingEvents |= Ev.PEER_CLOSED;
  switch (c.state) {
    case State.SYN_RECEIVED:
    case State.ESTABLISHED:
      setState(c, State.CLOSE_WAIT);
      break;
    case State.FIN_WAIT_1:
      // Our FIN not yet acknowledged: simultaneous close (RFC 9293 figure 13).
      if ((c.fl & F.FIN_QUEUED) !== 0 && c.sndUna === c.finSeqPlusOne()) enterTimeWait(c, now);
      else setState(c, State.CLOSING);
      break;
    case State.FIN_WAIT_2:
      enterTimeWait(c, now);
      break;
    default:
      break;
  }
}

/** Receiver: [l, r) arrived again; report it in the next ACK (RFC 2883). */
export function noteDsack(c: Tcb, l: number, r: number): void {
  if ((c.fl & F.SACK_OK) === 0 || !c.config.rack) return;
  c.fl |= F.DSACK_PENDING;
  c.cold.dsackL = l >>> 0;
  c.cold.dsackR = r >>> 0;
}

/**
 * ACK for an unacceptable segment (RFC 9293 §3.10.7.4). Segments with data
 * always get one (the peer may be retransmitting what we already have); pure
 * ACKs at most every 500 ms, so two confused ends cannot ACK each other forever.
 */
export function sendOowAck(c: Tcb, hasData: boolean, seq = 0): void {
  // Zero-window and keepalive probes (seq = RCV.NXT - 1) must always be answered.
  if (!hasData && seq !== seqAdd(c.rcvNxt, -1)) {
    if (c.now - c.lastOowAck < OOW_ACK_INTERVAL_MS) return;
    c.lastOowAck = Math.floor(c.now);
  }
  c.fl |= F.ACK_NOW | F.ACK_EACH;
}

/** After a read: is the window opening enough to be worth an immediate update? */
export function windowUpdateWorthSending(c: Tcb): boolean {
  const s = c.state;
  if (s !== State.ESTABLISHED && s !== State.FIN_WAIT_1 && s !== State.FIN_WAIT_2) return false;
  const cur = c.rcvWindowNow();
  const max = c.rcvShift > 0 ? 65535 << c.rcvShift : 65535;
  const wnd = Math.min(c.rcvFree(), max);
  const inc = wnd - cur;
  if (inc < Math.min(c.rcvCapacity >>> 1, c.advMss)) return false;
  // Like Linux __tcp_cleanup_rbuf: update when the window at least doubles or was below one MSS.
  return cur < c.advMss || wnd >= 2 * cur;
}
