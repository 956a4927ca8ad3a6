/**
 * IPv4 header codec (RFC 791). Options are skipped, never interpreted; emit
 * always writes a 20-byte header without options.
 */
import { WireError, checkBounds } from './errors.js';
import { onesSum } from './checksum.js';
import { u16, u32, w16, w32 } from './bytes.js';

export const IPV4_HEADER_LEN = 20;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPV4_BROADCAST = 0xffffffff;
export const IPV4_MAX_LENGTH = 65535;

export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  dscp: number;
  ecn: number;
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes; a multiple of 8. */
  fragmentOffset: number;
  payloadLength: number;
}

export class Ipv4Packet {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  headerLength = IPV4_HEADER_LEN;
  totalLength = IPV4_HEADER_LEN;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < IPV4_HEADER_LEN) throw new WireError('truncated', 'IPv4 packet shorter than 20 bytes');
    const vihl = buf[off]!;
    if (vihl >>> 4 !== 4) throw new WireError('bad-version', `IP version ${vihl >>> 4}`);
    const hl = (vihl & 0x0f) * 4;
    if (hl < IPV4_HEADER_LEN) throw new WireError('bad-header-length', `IHL ${vihl & 0x0f}`);
    if (hl > len) throw new WireError('truncated', 'IPv4 header runs past the packet');
    const total = u16(buf, off + 2);
    if (total < hl || total > len) throw new WireError('bad-length', `total length ${total} (header ${hl}, have ${len})`);
    this.buf = buf;
    this.off = off;
    this.headerLength = hl;
    this.totalLength = total;
    return this;
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  get ihl(): number {
    return this.buf[this.off]! & 0x0f;
  }
  get dscp(): number {
    return this.buf[this.off + 1]! >>> 2;
  }
  get ecn(): number {
    return this.buf[this.off + 1]! & 3;
  }
  get ident(): number {
    return u16(this.buf, this.off + 4);
  }
  get dontFragment(): boolean {
    return (this.buf[this.off + 6]! & 0x40) !== 0;
  }
  get moreFragments(): boolean {
    return (this.buf[this.off + 6]! & 0x20) !== 0;
  }
  /** Fragment offset in bytes. */
  get fragmentOffset(): number {
    return (u16(this.buf, this.off + 6) & 0x1fff) * 8;
  }
  /** True for any fragment (MF set or a non-zero offset). */
  get isFragment(): boolean {
    return (u16(this.buf, this.off + 6) & 0x3fff) !== 0;
  }
  get ttl(): number {
    return this.buf[this.off + 8]!;
  }
  get protocol(): number {
    return this.buf[this.off + 9]!;
  }
  get checksum(): number {
    return u16(this.buf, this.off + 10);
  }
  get src(): number {
    return u32(this.buf, this.off + 12);
  }
  get dst(): number {
    return u32(this.buf, this.off + 16);
  }
  get hasOptions(): boolean {
    return this.headerLength > IPV4_HEADER_LEN;
  }
  /** Absolute index of the payload in buf. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }
  verifyChecksum(): boolean {
    return onesSum(this.buf, this.off, this.headerLength) === 0xffff;
  }
}

const scratch = new Ipv4Packet();

export function parseIpv4(buf: Uint8Array, off: number, len: number, verifyChecksum = true): Ipv4Repr {
  const p = scratch.wrap(buf, off, len);
  if (verifyChecksum && !p.verifyChecksum()) throw new WireError('bad-checksum', 'IPv4 header checksum');
  const fragmentOffset = p.fragmentOffset;
  const payloadLength = p.payloadLength;
  if (fragmentOffset + payloadLength > IPV4_MAX_LENGTH) {
    throw new WireError('bad-length', 'fragment extends past 65535 bytes');
  }
  return {
    src: p.src,
    dst: p.dst,
    protocol: p.protocol,
    ttl: p.ttl,
    dscp: p.dscp,
    ecn: p.ecn,
    ident: p.ident,
    dontFragment: p.dontFragment,
    moreFragments: p.moreFragments,
    fragmentOffset,
    payloadLength,
  };
}

/** Writes a 20-byte header (no options) with the checksum unless `checksum` is false (then 0). Returns 20. */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, off: number, checksum = true): number {
  if (off < 0 || off + IPV4_HEADER_LEN > buf.length) throw new Error('emitIpv4: buffer too small');
  const total = IPV4_HEADER_LEN + repr.payloadLength;
  if (total > IPV4_MAX_LENGTH) throw new Error(`emitIpv4: total length ${total} > 65535`);
  const tos = ((repr.dscp & 0x3f) << 2) | (repr.ecn & 3);
  const ident = repr.ident & 0xffff;
  const frag =
    (repr.dontFragment ? 0x4000 : 0) | (repr.moreFragments ? 0x2000 : 0) | ((repr.fragmentOffset >>> 3) & 0x1fff);
  const ttl = repr.ttl & 0xff;
  const protocol = repr.protocol & 0xff;
  const src = repr.src;
  const dst = repr.dst;
  buf[off] = 0x45;
  buf[off + 1] = tos;
  w16(buf, off + 2, total);
  w16(buf, off + 4, ident);
  w16(buf, off + 6, frag);
  buf[off + 8] = ttl;
  buf[off + 9] = protocol;
  w32(buf, off + 12, src);
  w32(buf, off + 16, dst);
  // The checksum from the field values just written, not read back from
  // buf: ten 16-bit words (the checksum field counted as zero).
  let c = 0;
  if (checksum) {
    let sum =
      (0x4500 | tos) + total + ident + frag + ((ttl << 8) | protocol) +
      (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    sum = (sum & 0xffff) + (sum >>> 16);
    c = ~((sum & 0xffff) + (sum >>> 16)) & 0xffff;
  }
  buf[off + 10] = c >>> 8;
  buf[off + 11] = c & 0xff;
  return IPV4_HEADER_LEN;
}

export function ipToString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const DOTTED_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Strict dotted quad (no leading zeros, no shorthand). Throws WireError('unsupported'). */
export function parseIpv4Address(s: string): number {
  const m = typeof s === 'string' ? DOTTED_RE.exec(s) : null;
  if (m === null) throw new WireError('unsupported', `invalid IPv4 address: ${String(s)}`);
  return ((+m[1]! << 24) | (+m[2]! << 16) | (+m[3]! << 8) | +m[4]!) >>> 0;
}

/** Netmask for a prefix length 0..32. Throws WireError('unsupported') otherwise. */
export function prefixToNetmask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new WireError('unsupported', `invalid prefix length: ${String(prefixLength)}`);
  }
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** '10.0.0.2/24' -> { address, prefixLength: 24, netmask: 0xffffff00 }. Throws WireError('unsupported'). */
export function parseCidr(s: string): { address: number; prefixLength: number; netmask: number } {
  const m = typeof s === 'string' ? /^([^/]+)\/(3[0-2]|[12]\d|\d)$/.exec(s) : null;
  if (m === null) throw new WireError('unsupported', `invalid CIDR: ${String(s)}`);
  const address = parseIpv4Address(m[1]!);
  const prefixLength = +m[2]!;
  return { address, prefixLength, netmask: prefixToNetmask(prefixLength) };
}
