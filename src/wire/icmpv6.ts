/**
 * ICMPv6 (RFC 4443): the 8-byte header of every message, echo, and the
 * error messages (destination unreachable, Packet Too Big with its MTU, time
 * exceeded, parameter problem with its pointer). The checksum covers the
 * IPv6 pseudo-header (RFC 8200 §8.1), so parse and emit take the addresses.
 * Neighbor Discovery messages are ICMPv6 too; their bodies are `ndp.ts`.
 */
import { WireError, checkBounds } from './errors.js';
import { onesSum, internetChecksum } from './checksum.js';
import { u16, u32, w16, w32 } from './bytes.js';
import { IPPROTO_ICMPV6, ipv6PseudoSum } from './ipv6.js';

export const ICMPV6_HEADER_LEN = 8;

export const ICMPV6_DEST_UNREACHABLE = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAMETER_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ICMPV6_REDIRECT = 137;
export const ICMPV6_MLD2_REPORT = 143;

// Destination unreachable codes.
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADMIN_PROHIBITED = 1;
export const ICMPV6_ADDR_UNREACHABLE = 3;
export const ICMPV6_PORT_UNREACHABLE = 4;
// Time exceeded codes.
export const ICMPV6_HOP_LIMIT_EXCEEDED = 0;
export const ICMPV6_REASSEMBLY_TIME_EXCEEDED = 1;
// Parameter problem codes.
export const ICMPV6_ERRONEOUS_HEADER = 0;
export const ICMPV6_UNRECOGNIZED_NEXT_HEADER = 1;
export const ICMPV6_UNRECOGNIZED_OPTION = 2;

/** Error messages are types 0-127 (RFC 4443 §2.1). */
export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

export interface Icmpv6Repr {
  type: number;
  code: number;
  /** Echo request/reply only. */
  ident?: number;
  seqNo?: number;
  /** Packet Too Big only. */
  mtu?: number;
  /** Parameter problem only: the offset of the offending byte. */
  pointer?: number;
  /** Bytes after the 8-byte header. */
  payloadLength: number;
}

function isEcho(type: number): boolean {
  return type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY;
}

export class Icmpv6Packet {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    // RS is the shortest message there is: 8 bytes.
    if (len < ICMPV6_HEADER_LEN) throw new WireError('truncated', 'ICMPv6 message shorter than 8 bytes');
    this.buf = buf;
    this.off = off;
    this.len = len;
    return this;
  }

  get type(): number {
    return this.buf[this.off]!;
  }
  get code(): number {
    return this.buf[this.off + 1]!;
  }
  get checksum(): number {
    return u16(this.buf, this.off + 2);
  }
  get ident(): number {
    return u16(this.buf, this.off + 4);
  }
  get seqNo(): number {
    return u16(this.buf, this.off + 6);
  }
  /** Bytes 4-7 as an unsigned 32-bit value: Packet Too Big's MTU, parameter problem's pointer. */
  get word(): number {
    return u32(this.buf, this.off + 4);
  }
  get payloadOffset(): number {
    return this.off + ICMPV6_HEADER_LEN;
  }
  get payloadLength(): number {
    return this.len - ICMPV6_HEADER_LEN;
  }
  /** `pseudoSum`: ipv6PseudoHeaderSum of the carrying packet with this message's length and 58. */
  verifyChecksum(pseudoSum: number): boolean {
    return onesSum(this.buf, this.off, this.len, pseudoSum) === 0xffff;
  }
}

const scratch = new Icmpv6Packet();

/** Parses the message at buf[off, off + len) carried from src to dst; checks the checksum unless told not to. */
export function parseIcmpv6(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array, verifyChecksum = true): Icmpv6Repr {
  const p = scratch.wrap(buf, off, len);
  if (verifyChecksum && !p.verifyChecksum(ipv6PseudoSum(src, dst, len, IPPROTO_ICMPV6))) {
    throw new WireError('bad-checksum', 'ICMPv6 checksum');
  }
  const type = p.type;
  const repr: Icmpv6Repr = { type, code: p.code, payloadLength: p.payloadLength };
  if (isEcho(type)) {
    repr.ident = p.ident;
    repr.seqNo = p.seqNo;
  } else if (type === ICMPV6_PACKET_TOO_BIG) {
    repr.mtu = p.word;
  } else if (type === ICMPV6_PARAMETER_PROBLEM) {
    repr.pointer = p.word;
  }
  return repr;
}

/**
 * Writes the 8-byte header; the payload (payloadLength bytes) must already
 * follow it when a checksum is asked for (src and dst given). Returns 8.
 */
export function emitIcmpv6(repr: Icmpv6Repr, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  if (off < 0 || off + ICMPV6_HEADER_LEN > buf.length) throw new Error('emitIcmpv6: buffer too small');
  buf[off] = repr.type;
  buf[off + 1] = repr.code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  if (isEcho(repr.type)) {
    w16(buf, off + 4, repr.ident ?? 0);
    w16(buf, off + 6, repr.seqNo ?? 0);
  } else if (repr.type === ICMPV6_PACKET_TOO_BIG) {
    w32(buf, off + 4, repr.mtu ?? 0);
  } else if (repr.type === ICMPV6_PARAMETER_PROBLEM) {
    w32(buf, off + 4, repr.pointer ?? 0);
  } else {
    w32(buf, off + 4, 0);
  }
  if (src !== undefined && dst !== undefined) {
    const total = ICMPV6_HEADER_LEN + repr.payloadLength;
    if (off + total > buf.length) throw new Error('emitIcmpv6: payload runs past the buffer');
    w16(buf, off + 2, internetChecksum(buf, off, total, ipv6PseudoSum(src, dst, total, IPPROTO_ICMPV6)));
  }
  return ICMPV6_HEADER_LEN;
}

/** Fills the checksum of the ICMPv6 message at buf[off, off + len) sent from src to dst. */
export function fillIcmpv6Checksum(buf: Uint8Array, off: number, len: number, src: Uint8Array, dst: Uint8Array): void {
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  w16(buf, off + 2, internetChecksum(buf, off, len, ipv6PseudoSum(src, dst, len, IPPROTO_ICMPV6)));
}
