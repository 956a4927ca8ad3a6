/**
 * The IPv6 extension-header walk (RFC 8200 §4), bounded: at most
 * `maxHeaders` extension headers and `maxBytes` of them, hop-by-hop only
 * first, options TLVs checked to lie inside their header. It never throws: a
 * malformed chain gives a reason for the caller to count and drop.
 *
 * What the walk does with each header:
 *  - hop-by-hop and destination options: every option walked; Pad1/PadN and
 *    options whose type says "skip" (top bits 00) pass, any other unknown
 *    option makes the packet 'bad-option' (the sender asked for a discard);
 *    the option type's top bits say whether to answer (§4.2: `problem*`).
 *  - routing: segments left 0 is ignored (§4.4); any other value is
 *    'unsupported' (we are no router; type 0 is deprecated by RFC 5095),
 *    answered with Parameter Problem code 0 at the routing type.
 *  - a hop-by-hop header anywhere but first is 'bad-option', answered as an
 *    unrecognised next header (code 1, as Linux does).
 *  - fragment: recorded (offset, M flag, identification, where the
 *    fragmentable part starts); the walk stops there for a non-first
 *    fragment, whose next headers are not in this packet.
 * The walk ends at the first header that is not an extension header (the
 * upper layer, or 59 "no next header").
 */
import type { WireErrorReason } from './errors.js';
import { IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ROUTING } from './ipv6.js';

export const FRAGMENT_HEADER_LEN = 8;

export interface ExtLimits {
  /** Extension headers a packet may carry (Linux has no fixed cap; 8 covers every legitimate chain). */
  maxHeaders: number;
  /** Bytes of extension headers a packet may carry. */
  maxBytes: number;
}

export const DEFAULT_EXT_LIMITS: ExtLimits = { maxHeaders: 8, maxBytes: 1024 };

/** The walk's result; one object reused by the caller. */
export class ExtWalk {
  /** The upper-layer protocol (or the fragment header's next header for a non-first fragment). */
  protocol = 0;
  /** Absolute index of the upper-layer data (or of the fragment data). */
  offset = 0;
  /** Bytes of upper-layer data (or of fragment data). */
  length = 0;
  headers = 0;
  /** A fragment header was found. */
  fragment = false;
  /** In bytes. */
  fragmentOffset = 0;
  moreFragments = false;
  fragmentId = 0;
  /** Absolute index of the byte holding the next-header value that names the fragment header. */
  fragmentNextHeaderAt = 0;
  /** Absolute index of the fragment header. */
  fragmentHeaderAt = 0;
  /** A router alert option (RFC 2711) was in the hop-by-hop header (MLD carries one). */
  routerAlert = false;
  /**
   * When the walk refuses the packet: the ICMPv6 Parameter Problem code the
   * sender is owed (0 erroneous header field, 1 unrecognised next header, 2
   * unrecognised option; RFC 8200 §4), or -1 when the packet is dropped
   * silently (malformed, or an option type with top bits 01).
   */
  problemCode = -1;
  /** Absolute index of the byte the Parameter Problem points at. */
  problemAt = 0;
  /** The error is owed even to a packet sent to a multicast group (option type top bits 10, §4.2). */
  problemToMulticast = false;

  reset(): void {
    this.protocol = 0;
    this.offset = 0;
    this.length = 0;
    this.headers = 0;
    this.fragment = false;
    this.fragmentOffset = 0;
    this.moreFragments = false;
    this.fragmentId = 0;
    this.fragmentNextHeaderAt = 0;
    this.fragmentHeaderAt = 0;
    this.routerAlert = false;
    this.problemCode = -1;
    this.problemAt = 0;
    this.problemToMulticast = false;
  }

}

/** Records what the sender of a refused packet is owed (ExtWalk.problemCode). */
function problem(out: ExtWalk, code: number, at: number, toMulticast = false): void {
  out.problemCode = code;
  out.problemAt = at;
  out.problemToMulticast = toMulticast;
}

export function isExtensionHeader(nh: number): boolean {
  return nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_FRAGMENT || nh === IPPROTO_DSTOPTS;
}

/** Walks the TLV options of a hop-by-hop or destination options header at buf[off, off + len). */
function walkOptions(buf: Uint8Array, off: number, len: number, out: ExtWalk): WireErrorReason | null {
  let i = off + 2;
  const end = off + len;
  while (i < end) {
    const type = buf[i]!;
    if (type === 0) {
      i++;
      continue;
    }
    if (i + 2 > end) return 'truncated';
    const olen = buf[i + 1]!;
    if (i + 2 + olen > end) return 'truncated';
    if (type === 5 && olen === 2) out.routerAlert = true;
    else if (type !== 1 && (type & 0xc0) !== 0) {
      // §4.2: 01 discard silently; 10 discard and answer, even to a group; 11 answer unless to a group.
      const action = type >>> 6;
      if (action !== 1) problem(out, 2, i, action === 2);
      return 'bad-option';
    }
    i += 2 + olen;
  }
  return null;
}

/**
 * Walks the chain starting with `nextHeader` over buf[off, off + len) (the
 * IPv6 payload). Fills `out`; returns null or the reason the packet is malformed.
 */
export function walkExtensionHeaders(
  buf: Uint8Array,
  off: number,
  len: number,
  nextHeader: number,
  out: ExtWalk,
  limits: ExtLimits = DEFAULT_EXT_LIMITS,
  nextHeaderAt = -1,
): WireErrorReason | null {
  out.reset();
  if (off < 0 || len < 0 || off + len > buf.length) return 'truncated';
  let nh = nextHeader;
  let nhAt = nextHeaderAt;
  let i = off;
  const end = off + len;
  while (isExtensionHeader(nh)) {
    if (nh === IPPROTO_HOPOPTS && out.headers !== 0) {
      if (nhAt >= 0) problem(out, 1, nhAt);
      return 'bad-option';
    }
    if (out.headers >= limits.maxHeaders) return 'bad-length';
    out.headers++;
    if (nh === IPPROTO_FRAGMENT) {
      if (i + FRAGMENT_HEADER_LEN > end) return 'truncated';
      if (out.fragment) return 'bad-option';
      const fo = (buf[i + 2]! << 8) | buf[i + 3]!;
      out.fragment = true;
      out.fragmentOffset = fo & 0xfff8;
      out.moreFragments = (fo & 1) !== 0;
      out.fragmentId = ((buf[i + 4]! << 24) | (buf[i + 5]! << 16) | (buf[i + 6]! << 8) | buf[i + 7]!) >>> 0;
      out.fragmentNextHeaderAt = nhAt;
      out.fragmentHeaderAt = i;
      nhAt = i;
      nh = buf[i]!;
      i += FRAGMENT_HEADER_LEN;
      if (i - off > limits.maxBytes) return 'bad-length';
      // The headers after a non-first fragment's fragment header are not here.
      if (out.fragmentOffset !== 0) break;
      continue;
    }
    if (i + 2 > end) return 'truncated';
    const hlen = (buf[i + 1]! + 1) * 8;
    if (i + hlen > end) return 'truncated';
    if (i + hlen - off > limits.maxBytes) return 'bad-length';
    if (nh === IPPROTO_ROUTING) {
      if (buf[i + 3] !== 0) {
        problem(out, 0, i + 2);
        return 'unsupported';
      }
    } else {
      const why = walkOptions(buf, i, hlen, out);
      if (why !== null) return why;
    }
    nhAt = i;
    nh = buf[i]!;
    i += hlen;
  }
  out.protocol = nh;
  out.offset = i;
  out.length = end - i;
  return null;
}
