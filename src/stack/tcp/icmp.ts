/**
 * ICMP errors about our segments (RFC 1122 §4.2.3.9, RFC 5927): path MTU
 * discovery (RFC 1191) shrinks the segment size, a hard error ends a
 * connection that is still opening, anything else is a soft error reported
 * if the connection later times out (Linux sk_err_soft).
 */
import { seqLe, seqLt } from '../../wire/seq.js';
import { State, type TcpErrorCode } from './types.js';
import { F, finish, takeCold, type Tcb } from './tcb.js';
import { rsMarkAllLost } from './recovery/rack.js';

/**
 * An ICMP error quoting one of our segments whose sequence number was
 * `quotedSeq`. Only errors quoting data in flight are believed (RFC 5927
 * §4.1: makes blind ICMP attacks as hard as blind RST ones). Returns true
 * when it ended the connection (its events are then due at once).
 */
export function icmpInput(c: Tcb, kind: string, quotedSeq: number, mtu: number, now: number): boolean {
  takeCold(c);
  c.now = now;
  if (c.state === State.CLOSED || c.state === State.TIME_WAIT) return false;
  if (!(seqLe(c.sndUna, quotedSeq) && seqLt(quotedSeq, c.sndMax)) && !(c.sndUna === c.sndMax && quotedSeq === c.sndUna)) {
    return false;
  }
  if (kind === 'frag-needed') {
    // Path MTU discovery (RFC 1191): shrink the segment size and resend what
    // was too big at once; this is not congestion, so cwnd is left alone.
    const mms = mtu - 20;
    if (mms >= 68 && mms < c.mmsS) {
      c.mmsS = mms;
      c.cc.setMss(c.sndMss());
      if (c.synchronizedForData() && seqLt(c.sndUna, c.sndMax)) {
        c.sndNxt = c.sndUna;
        c.fl &= ~F.RTT_ACTIVE;
        if (c.rackOn()) rsMarkAllLost(c, false);
      }
    }
    return false;
  }
  const code: TcpErrorCode = kind === 'net-unreachable' ? 'ENETUNREACH' : kind === 'host-unreachable' ? 'EHOSTUNREACH' : 'ECONNREFUSED';
  if (c.state === State.SYN_SENT && (kind === 'port-unreachable' || kind === 'protocol-unreachable' || kind === 'admin-prohibited')) {
    // A hard error while connecting (as Linux): give up now.
    finish(c, 'ECONNREFUSED');
    return true;
  }
  // Established connections treat all of them as soft errors (RFC 1122 §4.2.3.9).
  c.cold.softError = code;
  return false;
}
