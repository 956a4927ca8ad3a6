/** UDP (RFC 768) over IPv4. */
import { WireError, checkBounds } from './errors.js';
import { onesSum, pseudoHeaderSum, internetChecksum } from './checksum.js';
import { u16, w16 } from './bytes.js';
import { IPPROTO_UDP } from './ipv4.js';

export const UDP_HEADER_LEN = 8;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payloadLength: number;
}

export type ChecksumMode = 'full' | 'pseudo' | 'none';

export class UdpDatagram {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  length = UDP_HEADER_LEN;

  /** `len` is the IP payload length; the UDP length field must be 8..len. */
  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < UDP_HEADER_LEN) throw new WireError('truncated', 'UDP datagram shorter than 8 bytes');
    const length = u16(buf, off + 4);
    if (length < UDP_HEADER_LEN || length > len) throw new WireError('bad-length', `UDP length ${length} (have ${len})`);
    this.buf = buf;
    this.off = off;
    this.length = length;
    return this;
  }

  get srcPort(): number {
    return u16(this.buf, this.off);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + 2);
  }
  get checksum(): number {
    return u16(this.buf, this.off + 6);
  }
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }
  get payloadLength(): number {
    return this.length - UDP_HEADER_LEN;
  }
  /** True when the checksum verifies or is absent (0). */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    return onesSum(this.buf, this.off, this.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, this.length)) === 0xffff;
  }
}

const scratch = new UdpDatagram();

export function parseUdp(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
  verifyChecksum = true,
): UdpRepr {
  const d = scratch.wrap(buf, off, len);
  if (verifyChecksum && !d.verifyChecksum(src, dst)) throw new WireError('bad-checksum', 'UDP checksum');
  return { srcPort: d.srcPort, dstPort: d.dstPort, payloadLength: d.payloadLength };
}

/**
 * Writes the 8-byte header; with 'full' the payload must already follow it.
 * 'pseudo' stores the folded pseudo-header sum for checksum offload; 'none' stores 0. Returns 8.
 */
export function emitUdp(
  repr: UdpRepr,
  buf: Uint8Array,
  off: number,
  src: number,
  dst: number,
  checksum: ChecksumMode = 'full',
): number {
  if (off < 0 || off + UDP_HEADER_LEN > buf.length) throw new Error('emitUdp: buffer too small');
  const length = UDP_HEADER_LEN + repr.payloadLength;
  if (length > 0xffff) throw new Error(`emitUdp: length ${length} > 65535`);
  w16(buf, off, repr.srcPort);
  w16(buf, off + 2, repr.dstPort);
  w16(buf, off + 4, length);
  w16(buf, off + 6, 0);
  if (checksum === 'full') {
    if (off + length > buf.length) throw new Error('emitUdp: payload runs past the buffer');
    const c = internetChecksum(buf, off, length, pseudoHeaderSum(src, dst, IPPROTO_UDP, length));
    w16(buf, off + 6, c === 0 ? 0xffff : c);
  } else if (checksum === 'pseudo') {
    w16(buf, off + 6, pseudoHeaderSum(src, dst, IPPROTO_UDP, length));
  }
  return UDP_HEADER_LEN;
}
