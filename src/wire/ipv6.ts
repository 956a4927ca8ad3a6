/**
 * IPv6 header codec (RFC 8200) and IPv6 address helpers: text (RFC 4291 §2.2
 * in, RFC 5952 out), prefixes, the solicited-node multicast group and its
 * Ethernet address (RFC 2464 §7), EUI-64 interface identifiers, and the
 * pseudo-header sum every upper-layer checksum over IPv6 covers (§8.1).
 *
 * Addresses are 16-byte Uint8Arrays. The header's extension headers are not
 * walked here: `ipv6-ext.ts` does that, bounded.
 */
import { WireError, checkBounds } from './errors.js';
import { fold16 } from './checksum.js';
import { u16, w16 } from './bytes.js';

export const IPV6_HEADER_LEN = 40;
export const IPV6_MIN_MTU = 1280;
export const IPV6_ADDRESS_LEN = 16;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

export interface Ipv6Repr {
  src: Uint8Array;
  dst: Uint8Array;
  /** The first next-header value (an extension header or the upper layer). */
  nextHeader: number;
  hopLimit: number;
  trafficClass: number;
  flowLabel: number;
  /** Bytes after the 40-byte header (extension headers included). */
  payloadLength: number;
}

/** Reusable view over an IPv6 packet; wrap() checks version and length. */
export class Ipv6Packet {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  /** Bytes after the fixed header, as the header says (at most what was received). */
  payloadLength = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < IPV6_HEADER_LEN) throw new WireError('truncated', 'IPv6 packet shorter than 40 bytes');
    const v = buf[off]! >>> 4;
    if (v !== 6) throw new WireError('bad-version', `IP version ${v}`);
    const pl = u16(buf, off + 4);
    // A zero payload length with a hop-by-hop header is a jumbogram (RFC 2675), which no Ethernet carries.
    if (IPV6_HEADER_LEN + pl > len) throw new WireError('bad-length', `payload length ${pl} (have ${len - IPV6_HEADER_LEN})`);
    this.buf = buf;
    this.off = off;
    this.payloadLength = pl;
    return this;
  }

  get version(): number {
    return this.buf[this.off]! >>> 4;
  }
  get trafficClass(): number {
    return ((this.buf[this.off]! & 0x0f) << 4) | (this.buf[this.off + 1]! >>> 4);
  }
  get flowLabel(): number {
    const b = this.buf;
    const o = this.off;
    return ((b[o + 1]! & 0x0f) << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  }
  get nextHeader(): number {
    return this.buf[this.off + 6]!;
  }
  get hopLimit(): number {
    return this.buf[this.off + 7]!;
  }
  /** Absolute index of the source address in buf. */
  get srcOffset(): number {
    return this.off + 8;
  }
  /** Absolute index of the destination address in buf. */
  get dstOffset(): number {
    return this.off + 24;
  }
  get payloadOffset(): number {
    return this.off + IPV6_HEADER_LEN;
  }
}

const scratch = new Ipv6Packet();

export function parseIpv6(buf: Uint8Array, off: number, len: number): Ipv6Repr {
  const p = scratch.wrap(buf, off, len);
  return {
    src: buf.slice(p.srcOffset, p.srcOffset + 16),
    dst: buf.slice(p.dstOffset, p.dstOffset + 16),
    nextHeader: p.nextHeader,
    hopLimit: p.hopLimit,
    trafficClass: p.trafficClass,
    flowLabel: p.flowLabel,
    payloadLength: p.payloadLength,
  };
}

/** Writes the 40-byte header. Returns 40. */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array, off: number): number {
  if (off < 0 || off + IPV6_HEADER_LEN > buf.length) throw new Error('emitIpv6: buffer too small');
  if (repr.payloadLength > 0xffff || repr.payloadLength < 0) throw new Error(`emitIpv6: payload length ${repr.payloadLength}`);
  const tc = repr.trafficClass & 0xff;
  const fl = repr.flowLabel & 0xfffff;
  buf[off] = 0x60 | (tc >>> 4);
  buf[off + 1] = ((tc & 0x0f) << 4) | (fl >>> 16);
  buf[off + 2] = fl >>> 8;
  buf[off + 3] = fl;
  w16(buf, off + 4, repr.payloadLength);
  buf[off + 6] = repr.nextHeader;
  buf[off + 7] = repr.hopLimit;
  // Byte loops: a subarray view per address would be two allocations per packet.
  const src = repr.src;
  const dst = repr.dst;
  for (let i = 0; i < 16; i++) {
    buf[off + 8 + i] = src[i]!;
    buf[off + 24 + i] = dst[i]!;
  }
  return IPV6_HEADER_LEN;
}

/**
 * Folded (uncomplemented) sum of the IPv6 pseudo-header (RFC 8200 §8.1):
 * source, destination, upper-layer length (32 bits), next header. The
 * addresses are read at buf[srcOff] and buf[dstOff] (e.g. straight from the
 * received header).
 */
export function ipv6PseudoHeaderSum(buf: Uint8Array, srcOff: number, dstOff: number, length: number, nextHeader: number): number {
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += (buf[srcOff + i]! << 8) | buf[srcOff + i + 1]!;
  for (let i = 0; i < 16; i += 2) sum += (buf[dstOff + i]! << 8) | buf[dstOff + i + 1]!;
  sum += (length >>> 16) + (length & 0xffff) + (nextHeader & 0xff);
  return fold16(sum);
}

/** The pseudo-header sum from two address arrays. */
export function ipv6PseudoSum(src: Uint8Array, dst: Uint8Array, length: number, nextHeader: number): number {
  let sum = 0;
  for (let i = 0; i < 16; i += 2) sum += ((src[i]! << 8) | src[i + 1]!) + ((dst[i]! << 8) | dst[i + 1]!);
  sum += (length >>> 16) + (length & 0xffff) + (nextHeader & 0xff);
  return fold16(sum);
}

// ------------------------------------------------------------- addresses

export const IPV6_UNSPECIFIED = new Uint8Array(16);
/** ff02::1, all nodes on the link. */
export const IPV6_ALL_NODES = ipv6FromWords([0xff02, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2, all routers on the link. */
export const IPV6_ALL_ROUTERS = ipv6FromWords([0xff02, 0, 0, 0, 0, 0, 0, 2]);

function ipv6FromWords(words: number[]): Uint8Array {
  const a = new Uint8Array(16);
  for (let i = 0; i < 8; i++) w16(a, i * 2, words[i]!);
  return a;
}

export function ipv6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

export function isIpv6Unspecified(a: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 16; i++) if (a[off + i] !== 0) return false;
  return true;
}

export function isIpv6Multicast(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xff;
}

/** fe80::/10 */
export function isIpv6LinkLocal(a: Uint8Array, off = 0): boolean {
  return a[off] === 0xfe && (a[off + 1]! & 0xc0) === 0x80;
}

export function isIpv6Loopback(a: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 15; i++) if (a[off + i] !== 0) return false;
  return a[off + 15] === 1;
}

/** True when a[aOff..] and b[bOff..] agree on their first `prefixLength` bits. */
export function ipv6PrefixMatch(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, prefixLength: number): boolean {
  const whole = prefixLength >>> 3;
  for (let i = 0; i < whole; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  const rest = prefixLength & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[aOff + whole]! & mask) === (b[bOff + whole]! & mask);
}

/** The number of leading bits a[aOff, +16) and b[bOff, +16) share (0-128; RFC 6724's CommonPrefixLen). */
export function ipv6CommonPrefixLength(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): number {
  for (let i = 0; i < 16; i++) {
    const x = a[aOff + i]! ^ b[bOff + i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

/** ff02::1:ffXX:XXXX for the address at a[off] (RFC 4291 §2.7.1). */
export function solicitedNodeMulticast(a: Uint8Array, off = 0): Uint8Array {
  const m = new Uint8Array(16);
  m[0] = 0xff;
  m[1] = 0x02;
  m[11] = 0x01;
  m[12] = 0xff;
  m[13] = a[off + 13]!;
  m[14] = a[off + 14]!;
  m[15] = a[off + 15]!;
  return m;
}

/** True for a solicited-node group ff02::1:ffXX:XXXX. */
export function isSolicitedNodeMulticast(a: Uint8Array, off = 0): boolean {
  if (a[off] !== 0xff || a[off + 1] !== 0x02) return false;
  for (let i = 2; i < 11; i++) if (a[off + i] !== 0) return false;
  return a[off + 11] === 1 && a[off + 12] === 0xff;
}

/** The Ethernet group address of an IPv6 multicast address: 33:33 and its low 32 bits (RFC 2464 §7). */
export function ipv6MulticastMac(a: Uint8Array, off = 0): number {
  return 0x3333 * 0x1_0000_0000 + (((a[off + 12]! << 24) | (a[off + 13]! << 16) | (a[off + 14]! << 8) | a[off + 15]!) >>> 0);
}

/** The modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291 appendix A), 8 bytes. */
export function eui64FromMac(mac: number): Uint8Array {
  const hi = Math.floor(mac / 0x1_0000_0000) & 0xffff;
  const lo = mac >>> 0;
  const id = new Uint8Array(8);
  id[0] = (hi >>> 8) ^ 0x02;
  id[1] = hi & 0xff;
  id[2] = lo >>> 24;
  id[3] = 0xff;
  id[4] = 0xfe;
  id[5] = (lo >>> 16) & 0xff;
  id[6] = (lo >>> 8) & 0xff;
  id[7] = lo & 0xff;
  return id;
}

/** The first `prefixLength` bits of `prefix` followed by the 64-bit interface identifier. */
export function ipv6WithInterfaceId(prefix: Uint8Array, interfaceId: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a.set(prefix.subarray(0, 8), 0);
  a.set(interfaceId.subarray(0, 8), 8);
  return a;
}

/** The link-local address fe80::/64 + `interfaceId`. */
export function ipv6LinkLocal(interfaceId: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(interfaceId.subarray(0, 8), 8);
  return a;
}

/** A copy of `a` with every bit past `prefixLength` cleared. */
export function ipv6Prefix(a: Uint8Array, prefixLength: number): Uint8Array {
  const p = new Uint8Array(16);
  const whole = prefixLength >>> 3;
  p.set(a.subarray(0, whole), 0);
  const rest = prefixLength & 7;
  if (rest !== 0 && whole < 16) p[whole] = a[whole]! & ((0xff << (8 - rest)) & 0xff);
  return p;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (of two or more) of zero words as '::'. */
export function ipv6ToString(a: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(u16(a, off + i * 2));
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(':');
  // ::ffff:a.b.c.d, as node and the kernel print IPv4-mapped addresses.
  if (bestAt === 0 && bestLen === 5 && w[5] === 0xffff) {
    return `::ffff:${a[off + 12]}.${a[off + 13]}.${a[off + 14]}.${a[off + 15]}`;
  }
  if (bestAt < 0) return hex(w);
  return `${hex(w.slice(0, bestAt))}::${hex(w.slice(bestAt + bestLen))}`;
}

const HEXWORD_RE = /^[0-9a-fA-F]{1,4}$/;
const DOTTED_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]\d|\d)$/;

function parseWords(part: string, allowDotted: boolean): number[] | null {
  if (part === '') return [];
  const groups = part.split(':');
  const words: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (allowDotted && i === groups.length - 1 && g.includes('.')) {
      const m = DOTTED_RE.exec(g);
      if (m === null) return null;
      words.push((+m[1]! << 8) | +m[2]!, (+m[3]! << 8) | +m[4]!);
    } else if (HEXWORD_RE.test(g)) {
      words.push(parseInt(g, 16));
    } else {
      return null;
    }
  }
  return words;
}

/** Parses IPv6 text (RFC 4291 §2.2, an IPv4 dotted tail allowed; no zone). Throws WireError('unsupported'). */
export function parseIpv6Address(s: string): Uint8Array {
  const bad = (): WireError => new WireError('unsupported', `invalid IPv6 address: ${String(s)}`);
  if (typeof s !== 'string' || s.length > 45 || s.length < 2) throw bad();
  const halves = s.split('::');
  let words: number[];
  if (halves.length === 1) {
    const w = parseWords(s, true);
    if (w === null || w.length !== 8) throw bad();
    words = w;
  } else if (halves.length === 2) {
    const head = parseWords(halves[0]!, false);
    const tail = parseWords(halves[1]!, true);
    if (head === null || tail === null || head.length + tail.length > 7) throw bad();
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    throw bad();
  }
  return ipv6FromWords(words);
}

/** parseIpv6Address's bytes, or null where it throws. */
export function tryParseIpv6(s: string): Uint8Array | null {
  try {
    return parseIpv6Address(s);
  } catch {
    return null;
  }
}

/** True when `s` is IPv6 text parseIpv6Address takes. */
export function isIpv6Text(s: string): boolean {
  return tryParseIpv6(s) !== null;
}

/** 'fd00::2/64' -> { address, prefixLength }. Throws WireError('unsupported'). */
export function parseIpv6Cidr(s: string): { address: Uint8Array; prefixLength: number } {
  const m = typeof s === 'string' ? /^([^/]+)\/(12[0-8]|1[01]\d|[1-9]\d|\d)$/.exec(s) : null;
  if (m === null) throw new WireError('unsupported', `invalid IPv6 CIDR: ${String(s)}`);
  return { address: parseIpv6Address(m[1]!), prefixLength: +m[2]! };
}

/** The IPv4 address (uint32) of an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2), or -1. */
export function ipv4OfMapped(a: Uint8Array, off = 0): number {
  for (let i = 0; i < 10; i++) if (a[off + i] !== 0) return -1;
  if (a[off + 10] !== 0xff || a[off + 11] !== 0xff) return -1;
  return ((a[off + 12]! << 24) | (a[off + 13]! << 16) | (a[off + 14]! << 8) | a[off + 15]!) >>> 0;
}
