/**
 * Timers (all absolute milliseconds, Infinity = off, passed-in time only):
 * retransmission (RFC 6298) and its expiry, delayed ACK (RFC 1122
 * §4.2.3.2), TIME_WAIT (2*MSL) and the orphaned FIN_WAIT_2 timeout, persist
 * (RFC 9293 §3.8.6.1), keepalive (RFC 1122 §4.2.3.6), the RFC 5482 user
 * timeout, and the RACK reorder and tail loss probe timers of RFC 8985 when
 * they fire. The layer arms one wheel timer per connection at
 * timerDeadline().
 */
import { TCP_ACK, TCP_RST } from '../../wire/tcp.js';
import { State } from './types.js';
import { F, finish, queueRst, type SegmentSink, type Tcb } from './tcb.js';
import { pipe } from './recovery/sack-scoreboard.js';
import { rackRecoveryDone, rackRun, rsMarkAllLost } from './recovery/rack.js';
import { enterRecovery } from './recovery/fast-recovery.js';
import { sendProbe, sendTailLossProbe } from './snd.js';

/** Where nextDeadline() leaves its result (a typed array holds a double without boxing it). */
export const DEADLINE = new Float64Array(1);

/**
 * The layer's timer deadline: the next deadline rounded up to a whole
 * millisecond, at least now + 1 (never the same millisecond again right
 * after a dispatch at `now`); -1 when nothing is due. A small integer, not
 * a double: this runs after every segment, and a double returned from a
 * call V8 does not inline is a new heap number. Timers fire up to 1 ms
 * after their exact deadline (the wheel's resolution anyway).
 */
export function timerDeadline(c: Tcb, now: number): number {
  nextDeadline(c);
  const at = DEADLINE[0]!;
  if (at === Infinity) return -1;
  return Math.ceil(at <= now ? now + 1 : at);
}

/** The next time dispatch is needed (absolute ms; -Infinity = now, Infinity = none), into DEADLINE[0]. */
export function nextDeadline(c: Tcb): void {
  const cs = c.cold;
  let t: number;
  if (c.state === State.CLOSED) t = (c.fl & F.RST_PENDING) !== 0 ? -Infinity : Infinity;
  else if ((c.fl & F.RST_PENDING) !== 0 || (c.fl & F.ACK_NOW) !== 0) t = -Infinity;
  else {
    t = c.closeAt;
    if (c.rtoAt < t) t = c.rtoAt;
    if (c.ackAt < t) t = c.ackAt;
    if (cs.tlpAt < t) t = cs.tlpAt;
    if (cs.rackAt < t) t = cs.rackAt;
    if (cs.persistAt < t) t = cs.persistAt;
    if ((c.fl & F.KEEP_ALIVE) !== 0) {
      const k = keepAliveAt(c);
      if (k < t) t = k;
    }
  }
  DEADLINE[0] = t;
}

/** When the next keepalive probe is due (RFC 1122 §4.2.3.6), or Infinity. */
export function keepAliveAt(c: Tcb): number {
  if ((c.fl & F.KEEP_ALIVE) === 0) return Infinity;
  const s = c.state;
  if (s !== State.ESTABLISHED && s !== State.CLOSE_WAIT && s !== State.FIN_WAIT_2) return Infinity;
  if (c.sndNxt !== c.sndUna || c.sndQueued() > 0) return Infinity; // RTO / persist in charge
  return c.cold.keepProbes === 0
    ? c.lastRecv + c.keepIdleMs
    : c.cold.keepLastProbe + c.config.keepIntervalMs;
}

/** Runs every timer due at `now`, in a fixed order; stops early when one ends the connection. */
export function runTimers(c: Tcb, now: number, sink: SegmentSink): void {
  const cs = c.cold;
  if (now >= c.closeAt) {
    c.closeAt = Infinity;
    if (c.state === State.TIME_WAIT || c.state === State.FIN_WAIT_2) {
      if (c.state === State.FIN_WAIT_2) c.stats.timeouts++;
      finish(c, undefined);
      return;
    }
  }
  if (now >= cs.rackAt) {
    // RFC 8985 §6.2: the reorder window passed with no ACK to trigger detection.
    cs.rackAt = Infinity;
    c.stats.rackReorderTimeouts++;
    if (rackRun(c, now)) enterRecovery(c, now);
  }
  if (now >= cs.tlpAt) {
    cs.tlpAt = Infinity;
    sendTailLossProbe(c, now, sink);
  }
  if (now >= c.rtoAt) {
    cs.tlpAt = Infinity;
    cs.rackAt = Infinity;
    c.rtoAt = Infinity;
    onRetransmitTimeout(c, now);
    if (c.state === State.CLOSED) return;
  }
  if (now >= cs.persistAt && c.sndWnd > 0) {
    // Sender SWS override (RFC 9293 §3.8.6.2.1): the window is open but too
    // small for the SWS rules; after the timeout send what fits.
    cs.persistAt = Infinity;
    c.fl |= F.FORCE_SEND;
  }
  if (now >= cs.persistAt) {
    cs.persistAt = Infinity;
    cs.persistProbes++;
    cs.persistTotal++;
    if (
      cs.persistProbes > c.config.maxRetries ||
      userTimedOut(c, now) ||
      ((c.fl & F.APP_CLOSED) !== 0 && cs.persistTotal > c.config.orphanRetries)
    ) {
      c.stats.timeouts++;
      finish(c, 'ETIMEDOUT');
      return;
    }
    c.stats.persistProbes++;
    cs.persistBackoff++;
    sendProbe(c, sink, now);
  }
  const ka = keepAliveAt(c);
  if (now >= ka) {
    if (cs.keepProbes >= c.config.keepCount) {
      // RFC 1122 §4.2.3.6: the peer is dead. Linux tells it with a RST.
      c.stats.timeouts++;
      queueRst(c, c.sndMax, c.rcvNxt, TCP_RST | TCP_ACK);
      finish(c, 'ETIMEDOUT');
      return;
    }
    cs.keepProbes++;
    cs.keepLastProbe = now;
    c.stats.keepaliveProbes++;
    sendProbe(c, sink, now);
  }
  if (now >= c.ackAt) {
    c.ackAt = Infinity;
    c.stats.delayedAcks++;
    c.fl |= F.ACK_NOW | F.ACK_EACH;
  }
}

/** RFC 6298 §5.4-5.7: retransmission timer expired. */
export function onRetransmitTimeout(c: Tcb, now: number): void {
  const cs = c.cold;
  c.retries++;
  const s = c.state;
  const limit = s === State.SYN_SENT || s === State.SYN_RECEIVED ? c.config.synRetries : c.config.maxRetries;
  if (c.retries > limit || userTimedOut(c, now)) {
    c.stats.timeouts++;
    finish(c, cs.softError !== undefined && cs.softError !== 'ECONNREFUSED' ? cs.softError : 'ETIMEDOUT');
    return;
  }
  c.stats.rtoTimeouts++;
  const flight = pipe(c);
  if (s !== State.SYN_SENT && s !== State.SYN_RECEIVED) c.cc.onRto(now, flight);
  c.rtt.backoff(); // RFC 6298 §5.5
  c.fl &= ~F.RTT_ACTIVE; // Karn
  // Go back N from the oldest unacknowledged byte (RFC 5681 §3.1); ranges
  // SACKed again by later ACKs are skipped as we resend. Leave recovery;
  // RFC 6582 §4: set recover.
  c.sndNxt = c.sndUna;
  // RFC 2018 §8 / RFC 6675 §5.1: after a timeout the SACK information is
  // not trusted (the receiver may have reneged); ACKs rebuild it.
  cs.sbN = 0;
  c.fl &= ~F.TLP_OUTSTANDING;
  if (c.rackOn() && s !== State.SYN_SENT && s !== State.SYN_RECEIVED) {
    // RFC 8985 §6.3: everything outstanding is lost (SACK state is not trusted, above).
    if ((c.fl & F.IN_RECOVERY) !== 0) rackRecoveryDone(c);
    rsMarkAllLost(c, true);
    c.fl |= F.RTO_RECOVERY;
  }
  c.fl &= ~(F.IN_RECOVERY | F.RTX_HEAD);
  cs.inflation = 0;
  cs.dupAcks = 0;
  c.recover = c.sndMax;
  if (s === State.SYN_SENT || s === State.SYN_RECEIVED) c.sndNxt = c.iss;
}

/** RFC 5482 user timeout: no progress for userTimeoutMs. */
export function userTimedOut(c: Tcb, now: number): boolean {
  const u = c.config.userTimeoutMs;
  return u > 0 && now - c.progressAt >= u;
}
