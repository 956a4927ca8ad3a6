/**
 * ICMPv4 (RFC 792, RFC 1191 for the next-hop MTU). Every type parses with the
 * generic 8-byte header; echo identifiers and the fragmentation-needed MTU are
 * surfaced in the repr only for the types that define them.
 */
import { WireError, checkBounds } from './errors.js';
import { onesSum, internetChecksum } from './checksum.js';
import { u16, w16 } from './bytes.js';

export const ICMP_HEADER_LEN = 8;

export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

// Destination unreachable codes.
export const ICMP_NET_UNREACHABLE = 0;
export const ICMP_HOST_UNREACHABLE = 1;
export const ICMP_PROTOCOL_UNREACHABLE = 2;
export const ICMP_PORT_UNREACHABLE = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_ADMIN_PROHIBITED = 13;
// Time exceeded codes.
export const ICMP_TTL_EXCEEDED = 0;
export const ICMP_REASSEMBLY_TIME_EXCEEDED = 1;

export interface IcmpRepr {
  type: number;
  code: number;
  /** Echo request/reply only. */
  ident?: number;
  seqNo?: number;
  /** Destination unreachable / fragmentation needed only. */
  nextHopMtu?: number;
  /** Bytes after the 8-byte header: echo data, or the original datagram excerpt. */
  payloadLength: number;
}

function isEcho(type: number): boolean {
  return type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
}
function isFragNeeded(type: number, code: number): boolean {
  return type === ICMP_DEST_UNREACHABLE && code === ICMP_FRAG_NEEDED;
}

export class IcmpPacket {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < ICMP_HEADER_LEN) throw new WireError('truncated', 'ICMP message shorter than 8 bytes');
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
  /** Bytes 4-5 (echo identifier). */
  get ident(): number {
    return u16(this.buf, this.off + 4);
  }
  /** Bytes 6-7 (echo sequence number). */
  get seqNo(): number {
    return u16(this.buf, this.off + 6);
  }
  /** Bytes 6-7 (next-hop MTU for fragmentation needed). */
  get nextHopMtu(): number {
    return u16(this.buf, this.off + 6);
  }
  /** Bytes 4-7 as an unsigned 32-bit value (e.g. redirect gateway). */
  get restOfHeader(): number {
    const b = this.buf;
    const o = this.off + 4;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  get payloadOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }
  get payloadLength(): number {
    return this.len - ICMP_HEADER_LEN;
  }
  verifyChecksum(): boolean {
    return onesSum(this.buf, this.off, this.len) === 0xffff;
  }
}

const scratch = new IcmpPacket();

export function parseIcmp(buf: Uint8Array, off: number, len: number, verifyChecksum = true): IcmpRepr {
  const p = scratch.wrap(buf, off, len);
  if (verifyChecksum && !p.verifyChecksum()) throw new WireError('bad-checksum', 'ICMP checksum');
  const type = p.type;
  const code = p.code;
  const repr: IcmpRepr = { type, code, payloadLength: p.payloadLength };
  if (isEcho(type)) {
    repr.ident = p.ident;
    repr.seqNo = p.seqNo;
  } else if (isFragNeeded(type, code)) {
    repr.nextHopMtu = p.nextHopMtu;
  }
  return repr;
}

/**
 * Writes the 8-byte header; the payload (payloadLength bytes) must already
 * follow it when checksum is 'full'. Returns 8.
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, off: number, checksum: 'full' | 'none' = 'full'): number {
  if (off < 0 || off + ICMP_HEADER_LEN > buf.length) throw new Error('emitIcmp: buffer too small');
  buf[off] = repr.type;
  buf[off + 1] = repr.code;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  if (isEcho(repr.type)) {
    w16(buf, off + 4, repr.ident ?? 0);
    w16(buf, off + 6, repr.seqNo ?? 0);
  } else if (isFragNeeded(repr.type, repr.code)) {
    w16(buf, off + 4, 0);
    w16(buf, off + 6, repr.nextHopMtu ?? 0);
  } else {
    w16(buf, off + 4, 0);
    w16(buf, off + 6, 0);
  }
  if (checksum === 'full') {
    const total = ICMP_HEADER_LEN + repr.payloadLength;
    if (off + total > buf.length) throw new Error('emitIcmp: payload runs past the buffer');
    w16(buf, off + 2, internetChecksum(buf, off, total));
  }
  return ICMP_HEADER_LEN;
}
