/**
 * Opening a connection (RFC 9293 §3.5, §3.10.1, §3.10.7.2-3): the active
 * open, the passive open from a SYN or from a SYN cookie's ACK (RFC 4987),
 * option negotiation (MSS RFC 9293 §3.7.1, window scale and timestamps RFC
 * 7323, SACK-permitted RFC 2018), and segments arriving in SYN_SENT
 * (including simultaneous open).
 */
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqGt, seqLe } from '../../wire/seq.js';
import { State, type PeerSynOptions } from './types.js';
import {
  DEFAULT_PEER_MSS,
  Ev,
  F,
  MAX_WINDOW_SHIFT,
  MIN_SND_MSS,
  finish,
  queueRst,
  setState,
  takeCold,
  type Tcb,
} from './tcb.js';
import { ackAdvance } from './snd.js';
import { rcvText } from './rcv.js';

/** Active open (RFC 9293 §3.10.1): SYN_SENT; the SYN goes out on the next dispatch. */
export function activeOpen(c: Tcb, now: number): void {
  if (c.state !== State.CLOSED) throw new Error('connect: connection already in use');
  takeCold(c);
  c.now = now;
  c.lastRecv = now;
  setState(c, State.SYN_SENT);
  c.fl &= ~(F.ACK_NOW | F.ACK_EACH);
}

/**
 * Passive open from a LISTEN socket: `seg` is the peer's SYN. The SYN-ACK
 * goes out on the next dispatch (RFC 9293 §3.10.7.2).
 */
export function passiveOpen(c: Tcb, seg: TcpRepr, now: number): void {
  takeCold(c);
  c.now = now;
  c.lastRecv = now;
  c.fl |= F.PASSIVE;
  c.irs = seg.seq;
  c.rcvNxt = seqAdd(seg.seq, 1);
  c.rcvAdv = c.rcvNxt;
  c.lastAckSent = c.rcvNxt;
  negotiate(c, seg.mss ?? -1, seg.windowScale ?? -1, seg.sackPermitted === true, seg.tsVal !== undefined, true);
  if ((c.fl & F.TS_OK) !== 0) {
    c.tsRecent = seg.tsVal!;
    c.tsRecentAge = now;
  }
  c.sndWnd = seg.window; // SYN windows are never scaled (RFC 7323 §2.2)
  c.maxSndWnd = c.sndWnd;
  c.sndWl1 = seg.seq;
  c.sndWl2 = c.iss;
  setState(c, State.SYN_RECEIVED);
}

/**
 * Passive open completed by a SYN cookie (the SYN_RECEIVED state was never
 * stored). `seg` is the ACK that carried the cookie; the caller then feeds
 * it to process() for its ACK and data.
 */
export function cookieOpen(c: Tcb, seg: TcpRepr, opts: PeerSynOptions, now: number): void {
  takeCold(c);
  c.now = now;
  c.lastRecv = now;
  c.fl |= F.PASSIVE;
  c.irs = seqAdd(seg.seq, -1);
  c.rcvNxt = seg.seq;
  // The stateless SYN-ACK advertised min(buffer, 65535) unscaled: honour it.
  c.rcvAdv = seqAdd(c.rcvNxt, Math.min(c.rcvCapacity, 65535));
  c.lastAckSent = c.rcvNxt;
  negotiate(c, opts.mss, opts.windowScale, opts.sackPermitted, opts.timestamps, true);
  if ((c.fl & F.TS_OK) !== 0 && seg.tsVal !== undefined) {
    c.tsRecent = seg.tsVal;
    c.tsRecentAge = now;
  }
  // Our SYN-ACK (carrying the cookie as ISN) is what this ACK acknowledges.
  c.sndNxt = seqAdd(c.iss, 1);
  c.sndMax = c.sndNxt;
  c.sndWl1 = seqAdd(seg.seq, -1);
  c.sndWl2 = c.iss;
  setState(c, State.SYN_RECEIVED);
}

/** Records what both sides agreed in the SYN exchange. */
export function negotiate(c: Tcb, mss: number, ws: number, sack: boolean, ts: boolean, weOffer: boolean): void {
  const cfg = c.config;
  // Absent (or 0): 536 (RFC 9293 §3.7.1). Tiny values are clamped like Linux's
  // tcp_min_snd_mss, so a peer cannot make us send 1-byte segments (CVE-2019-11479).
  c.peerMss = mss > 0 ? Math.max(mss, MIN_SND_MSS) : DEFAULT_PEER_MSS;
  if (cfg.windowScaling && weOffer && ws >= 0) {
    c.fl |= F.WS_OK;
    c.sndShift = Math.min(ws, MAX_WINDOW_SHIFT);
  } else {
    c.fl &= ~F.WS_OK;
    c.sndShift = 0;
    c.rcvShift = 0;
  }
  c.fl &= ~(F.SACK_OK | F.TS_OK);
  if (cfg.sack && sack) c.fl |= F.SACK_OK;
  if (cfg.timestamps && ts) c.fl |= F.TS_OK;
  c.cc.setMss(c.sndMss());
}

/** RFC 9293 §3.10.7.3 "If the state is SYN-SENT". */
export function synSentSegment(c: Tcb, seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number): void {
  const f = seg.flags;
  const hasAck = (f & TCP_ACK) !== 0;
  // First: the ACK must acknowledge our SYN exactly (iss < ack <= sndMax).
  if (hasAck && (seqLe(seg.ack, c.iss) || seqGt(seg.ack, c.sndMax))) {
    if ((f & TCP_RST) === 0) queueRst(c, seg.ack, 0, TCP_RST);
    c.stats.badAcks++;
    return;
  }
  // Second: RST is acceptable only with an acceptable ACK (RFC 5961 §3.2 keeps this rule).
  if ((f & TCP_RST) !== 0) {
    if (hasAck) {
      c.stats.resetsIn++;
      c.stats.connectionsReset++;
      finish(c, 'ECONNREFUSED');
    }
    return;
  }
  if ((f & TCP_SYN) === 0) return; // fifth: neither SYN nor RST: drop
  // Fourth: SYN.
  c.lastRecv = now;
  c.irs = seg.seq;
  c.rcvNxt = seqAdd(seg.seq, 1);
  c.rcvAdv = c.rcvNxt;
  c.lastAckSent = c.rcvNxt;
  negotiate(c, seg.mss ?? -1, seg.windowScale ?? -1, seg.sackPermitted === true, seg.tsVal !== undefined, true);
  if ((c.fl & F.TS_OK) !== 0) {
    c.tsRecent = seg.tsVal!;
    c.tsRecentAge = now;
  }
  if (hasAck) {
    // Our SYN is acknowledged: ESTABLISHED. RTT sample from the SYN unless it was retransmitted (Karn).
    ackAdvance(c, seg, now);
    c.sndWnd = seg.window; // unscaled in a SYN
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = seg.seq;
    c.sndWl2 = seg.ack;
    setState(c, State.ESTABLISHED);
    c.pendingEvents |= Ev.CONNECTED;
    c.fl |= F.ACK_NOW | F.ACK_EACH;
    if ((c.fl & F.FIN_QUEUED) !== 0) setState(c, State.FIN_WAIT_1);
    if (seg.payloadLength > 0 || (f & TCP_FIN) !== 0) {
      rcvText(c, seg, seqAdd(seg.seq, 1), payload, payloadOff, now);
    }
  } else {
    // Simultaneous open (RFC 9293 §3.5 figure 7): SYN_RECEIVED, send SYN-ACK with our ISS.
    c.sndWnd = seg.window;
    c.maxSndWnd = c.sndWnd;
    c.sndWl1 = seg.seq;
    c.sndWl2 = c.iss;
    setState(c, State.SYN_RECEIVED);
    c.sndNxt = c.iss; // the SYN goes again, now with ACK
    c.rtoAt = Infinity;
    c.fl &= ~F.RTT_ACTIVE;
  }
}
