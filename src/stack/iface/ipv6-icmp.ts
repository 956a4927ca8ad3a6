/**
 * ICMPv6 on one interface (RFC 4443): messages in — checksum checked, ND
 * handed to ipv6-nd.ts, MLD to ipv6-mld.ts, echo requests answered (never to a group or to ::),
 * echo replies to the waiter, errors to the path MTU table (Packet Too Big,
 * RFC 8201) and to the transport that sent the quoted packet — and out:
 * echo requests, and errors quoting the offending packet, rate limited
 * (§2.4 f) and never about an error, a group destination (but where RFC 8200
 * §4.2 asks) or an unspecified or multicast source (§2.4 e).
 */
import { wrapOrReason } from '../../wire/errors.js';
import {
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPPROTO_ICMPV6,
  IPPROTO_FRAGMENT,
  ipv6PseudoHeaderSum,
  isIpv6Multicast,
  isIpv6Unspecified,
} from '../../wire/ipv6.js';
import { FRAGMENT_HEADER_LEN } from '../../wire/ipv6-ext.js';
import {
  Icmpv6Packet,
  ICMPV6_HEADER_LEN,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNRECOGNIZED_NEXT_HEADER,
  ICMPV6_ROUTER_SOLICIT,
  ICMPV6_REDIRECT,
  ICMPV6_MLD_QUERY,
  ICMPV6_MLD2_REPORT,
  emitIcmpv6,
  fillIcmpv6Checksum,
  isIcmpv6Error,
} from '../../wire/icmpv6.js';
import { TokenBucket } from './token-bucket.js';
import type { IcmpErrorKind } from './ip-output.js';
import type { Addr6, Ipv6Addresses } from './ipv6-addresses.js';
import type { Ipv6Output } from './ipv6-output.js';
import type { Ipv6Nd } from './ipv6-nd.js';
import type { Ipv6Mld } from './ipv6-mld.js';
import type { PathMtu6 } from './path-mtu6.js';
import type { Echo6ReplyHandler, Ipv6LinkState, Ipv6Stats } from './ipv6-types.js';

/** What ICMPv6 errors reach of a transport (Ipv6TransportInput has it). */
export interface Ipv6ErrorSink {
  /**
   * An ICMPv6 error quoting a packet this transport sent from `local` to
   * `remote` (views valid during the call): buf[off, off + len) is the
   * quoted transport header, at least 8 bytes. `kind` as for ICMPv4
   * (Packet Too Big is 'frag-needed'); `mtu` is the reported path MTU for
   * it (already applied to the path), else 0.
   */
  icmpError6?(local: Uint8Array, remote: Uint8Array, buf: Uint8Array, off: number, len: number, kind: IcmpErrorKind, mtu: number, now: number): void;
}

/** ICMPv6 destination unreachable codes as the kinds transports know (RFC 4443 §3.1; Linux icmpv6_err_convert). */
function unreachableKind(code: number): IcmpErrorKind | null {
  switch (code) {
    case 0: return 'net-unreachable'; // no route
    case 2: // beyond the scope of the source address
    case 3: return 'host-unreachable'; // address unreachable
    case 4: return 'port-unreachable';
    case 1: // administratively prohibited
    case 5: // source address failed ingress/egress policy
    case 6: return 'admin-prohibited'; // reject route
    default: return null;
  }
}

export class Ipv6Icmp {
  echoReplyHandler: Echo6ReplyHandler | null = null;
  private readonly icmp = new Icmpv6Packet();
  private readonly errors: TokenBucket;

  constructor(
    private readonly stats: Ipv6Stats,
    private readonly link: Ipv6LinkState,
    private readonly addrs: Ipv6Addresses,
    private readonly output: Ipv6Output,
    private readonly nd: Ipv6Nd,
    private readonly mld: Ipv6Mld,
    private readonly pmtu: PathMtu6,
    /** The transports by protocol number (the facade's table, read here for errors). */
    private readonly transports: ReadonlyArray<Ipv6ErrorSink | undefined>,
    rate: { perSecond: number; burst: number },
  ) {
    this.errors = new TokenBucket(rate.perSecond, rate.burst);
  }

  /**
   * The ICMPv6 message at buf[off, off + len) of the packet at buf[ipOff];
   * `multicast`: sent to a group; `target`: our address it was sent to.
   */
  input(buf: Uint8Array, ipOff: number, off: number, len: number, multicast: boolean, target: Addr6 | null, frameSrc: number, now: number): void {
    const st = this.stats;
    st.icmp6_rx++;
    const p = this.icmp;
    if (wrapOrReason(p, buf, off, len) !== null) {
      st.icmp6_rx_drop_malformed++;
      return;
    }
    if (!p.verifyChecksum(ipv6PseudoHeaderSum(buf, ipOff + 8, ipOff + 24, len, IPPROTO_ICMPV6))) {
      st.icmp6_rx_drop_bad_checksum++;
      return;
    }
    const type = p.type;
    if (type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_REDIRECT) {
      this.nd.input(buf, ipOff, off, len, frameSrc, now);
      return;
    }
    if (type === ICMPV6_MLD_QUERY) {
      this.mld.query(buf, ipOff, off, len, now);
      return;
    }
    // MLDv1 report and done (131, 132), MLDv2 report: other listeners'.
    if (type === ICMPV6_MLD2_REPORT || type === ICMPV6_MLD_QUERY + 1 || type === ICMPV6_MLD_QUERY + 2) {
      this.mld.otherReport();
      return;
    }
    if (target !== null && target.state === 'tentative') {
      st.ip6_rx_drop_not_for_us++;
      return;
    }
    if (type === ICMPV6_ECHO_REQUEST) {
      st.icmp6_rx_echo_requests++;
      if (multicast) {
        // No answers to group echoes: an amplifier for anyone on the link.
        st.icmp6_rx_drop_multicast_echo++;
        return;
      }
      // The unspecified source is for DAD's solicitations only (RFC 4291 §2.5.2): nothing answers to it.
      if (isIpv6Unspecified(buf, ipOff + 8)) {
        st.ip6_rx_drop_martian_source++;
        return;
      }
      this.sendEchoReply(buf, ipOff, off, len);
      return;
    }
    if (type === ICMPV6_ECHO_REPLY) {
      st.icmp6_rx_echo_replies++;
      this.echoReplyHandler?.(buf.slice(ipOff + 8, ipOff + 24), p.ident, p.seqNo, buf, p.payloadOffset, p.payloadLength, now);
      return;
    }
    if (isIcmpv6Error(type)) {
      st.icmp6_rx_errors++;
      if (type === ICMPV6_PACKET_TOO_BIG) {
        st.icmp6_rx_packet_too_big++;
        this.packetTooBig(p.word, buf, p.payloadOffset, p.payloadLength, now);
      }
      this.transportError(type, p.code, p.word, buf, p.payloadOffset, p.payloadLength, now);
    }
  }

  /**
   * Hands an ICMPv6 error to the transport that sent the quoted packet: it
   * must come from one of our addresses, its upper-layer header (after a
   * first fragment's header, if any) quoted for 8 bytes at least.
   */
  private transportError(type: number, code: number, word: number, buf: Uint8Array, off: number, len: number, now: number): void {
    let kind: IcmpErrorKind | null = null;
    let mtu = 0;
    if (type === ICMPV6_DEST_UNREACHABLE) kind = unreachableKind(code);
    else if (type === ICMPV6_PACKET_TOO_BIG) {
      kind = 'frag-needed';
      mtu = Math.max(IPV6_MIN_MTU, Math.min(word, this.link.mtu));
    } else if (type === ICMPV6_TIME_EXCEEDED) kind = 'ttl-exceeded';
    else if (type === ICMPV6_PARAMETER_PROBLEM && code === ICMPV6_UNRECOGNIZED_NEXT_HEADER) kind = 'protocol-unreachable';
    if (kind === null || len < IPV6_HEADER_LEN + 8 || buf[off]! >>> 4 !== 6 || this.addrs.find(buf, off + 8) === null) return;
    const end = off + len;
    let nh = buf[off + 6]!;
    let at = off + IPV6_HEADER_LEN;
    if (nh === IPPROTO_FRAGMENT) {
      // Only a first fragment quotes the transport header.
      if (at + FRAGMENT_HEADER_LEN + 8 > end || (((buf[at + 2]! << 8) | buf[at + 3]!) & 0xfff8) !== 0) return;
      nh = buf[at]!;
      at += FRAGMENT_HEADER_LEN;
    }
    const t = this.transports[nh];
    if (t?.icmpError6 === undefined) return;
    t.icmpError6(buf.subarray(off + 8, off + 24), buf.subarray(off + 24, off + 40), buf, at, end - at, kind, mtu, now);
  }

  /**
   * RFC 8201: the quoted packet (an IPv6 header at least) must be one we
   * sent; its destination's path MTU becomes the reported one (path-mtu6.ts).
   */
  private packetTooBig(mtu: number, buf: Uint8Array, off: number, len: number, now: number): void {
    if (len < IPV6_HEADER_LEN || buf[off]! >>> 4 !== 6 || this.addrs.find(buf, off + 8) === null) {
      this.stats.icmp6_rx_pmtu_ignored++;
      return;
    }
    if (this.pmtu.learn(buf, off + 24, mtu, this.link.mtu, now)) this.stats.icmp6_rx_pmtu_updates++;
  }

  private sendEchoReply(buf: Uint8Array, ipOff: number, off: number, len: number): void {
    const src = buf.slice(ipOff + 24, ipOff + 40);
    const dst = buf.slice(ipOff + 8, ipOff + 24);
    this.stats.icmp6_tx_echo_replies++;
    this.output.send(src, dst, IPPROTO_ICMPV6, len, (out, o) => {
      out.set(buf.subarray(off, off + len), o);
      out[o] = ICMPV6_ECHO_REPLY;
      out[o + 1] = 0;
      fillIcmpv6Checksum(out, o, len, src, dst);
    });
  }

  /**
   * Sends an ICMPv6 error quoting the packet at buf[off, off + len) (as
   * much as fits the minimum MTU, RFC 4443 §2.4 c), rate limited (§2.4 f).
   * Never about an error message, a packet from an unspecified or multicast
   * source, or a multicast-destined one unless `toMulticast` (§2.4 e.3: a
   * Parameter Problem for an option type that asks for it).
   */
  sendError(type: number, code: number, word: number, buf: Uint8Array, off: number, len: number, now: number, toMulticast = false): void {
    if (isIpv6Unspecified(buf, off + 8) || isIpv6Multicast(buf, off + 8) || (!toMulticast && isIpv6Multicast(buf, off + 24))) return;
    if (buf[off + 6] === IPPROTO_ICMPV6 && len >= IPV6_HEADER_LEN + 1 && isIcmpv6Error(buf[off + IPV6_HEADER_LEN]!)) return;
    if (!this.errors.take(now)) {
      this.stats.icmp6_tx_rate_limited++;
      return;
    }
    const to = buf.slice(off + 8, off + 24);
    const local = this.addrs.find(buf, off + 24);
    const from = local !== null && local.usable ? local.address : this.output.sourceFor(to);
    if (from === null) return;
    const quote = Math.min(len, IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
    this.stats.icmp6_tx_errors++;
    this.output.send(from, to, IPPROTO_ICMPV6, ICMPV6_HEADER_LEN + quote, (out, o) => {
      out.set(buf.subarray(off, off + quote), o + ICMPV6_HEADER_LEN);
      emitIcmpv6({ type, code, pointer: word, mtu: word, payloadLength: quote }, out, o, from, to);
    });
  }

  /** Sends an ICMPv6 echo request (ping). */
  sendEchoRequest(dst: Uint8Array, ident: number, seqNo: number, data: Uint8Array): boolean {
    const src = this.output.sourceFor(dst);
    if (src === null) {
      this.stats.ip6_tx_drop_no_source++;
      return false;
    }
    const len = ICMPV6_HEADER_LEN + data.length;
    return this.output.send(src, dst, IPPROTO_ICMPV6, len, (out, o) => {
      out.set(data, o + ICMPV6_HEADER_LEN);
      emitIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, ident, seqNo, payloadLength: data.length }, out, o, src, dst);
    });
  }
}
