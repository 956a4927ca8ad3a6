/**
 * Ethernet II framing (IEEE 802.3) with an optional single IEEE 802.1Q tag.
 * MAC addresses are 48-bit integers held in a JS number.
 */
import { WireError, checkBounds } from './errors.js';

export const ETH_HEADER_LEN = 14;
export const ETH_VLAN_HEADER_LEN = 18;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const MAC_BROADCAST = 0xffffffffffff;

const TWO32 = 0x1_0000_0000;
const TWO40 = 0x100_0000_0000;

export interface EthernetRepr {
  dst: number;
  src: number;
  /** The type of the payload (the inner type when tagged). */
  ethertype: number;
  vlan?: { pcp: number; dei: boolean; vid: number };
}

export function readMac(buf: Uint8Array, off: number): number {
  const hi = (buf[off]! << 8) | buf[off + 1]!;
  const lo = ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0;
  return hi * TWO32 + lo;
}

export function writeMac(buf: Uint8Array, off: number, mac: number): void {
  writeMacHalves(buf, off, macHigh16(mac), macLow32(mac));
}

/** A MAC's top 16 bits (a small integer). */
export function macHigh16(mac: number): number {
  return Math.floor(mac / TWO32) & 0xffff;
}

/** A MAC's low 32 bits as an int32 (a small integer; the 48-bit number is a heap number in V8). */
export function macLow32(mac: number): number {
  return mac % TWO32 | 0;
}

/**
 * Writes a MAC given as its halves (macHigh16, macLow32): what the per-packet
 * paths keep, so no 48-bit number is handled per frame.
 */
export function writeMacHalves(buf: Uint8Array, off: number, hi: number, lo: number): void {
  buf[off] = hi >>> 8;
  buf[off + 1] = hi;
  buf[off + 2] = lo >>> 24;
  buf[off + 3] = lo >>> 16;
  buf[off + 4] = lo >>> 8;
  buf[off + 5] = lo;
}

/** "02:00:00:00:00:01" */
export function macToString(mac: number): string {
  const hi = Math.floor(mac / TWO32) & 0xffff;
  const lo = mac >>> 0;
  const bytes = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

const MAC_RE = /^([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/;

/** Parses "02:00:00:00:00:01" (or with '-' separators). Throws WireError('unsupported') on bad text. */
export function parseMac(s: string): number {
  const m = typeof s === 'string' ? MAC_RE.exec(s) : null;
  if (m === null) throw new WireError('unsupported', `invalid MAC address: ${String(s)}`);
  let mac = 0;
  for (const i of [1, 3, 4, 5, 6, 7]) mac = mac * 256 + parseInt(m[i]!, 16);
  return mac;
}

/** True for group addresses (I/G bit set), including broadcast. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / TWO40) & 1) === 1;
}

/** Reusable view over an Ethernet frame. */
export class EthernetFrame {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;
  headerLength = ETH_HEADER_LEN;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < ETH_HEADER_LEN) throw new WireError('truncated', 'ethernet frame shorter than 14 bytes');
    let hl = ETH_HEADER_LEN;
    if (((buf[off + 12]! << 8) | buf[off + 13]!) === ETHERTYPE_VLAN) {
      if (len < ETH_VLAN_HEADER_LEN) throw new WireError('truncated', '802.1Q frame shorter than 18 bytes');
      hl = ETH_VLAN_HEADER_LEN;
    }
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.headerLength = hl;
    return this;
  }

  get dst(): number {
    return readMac(this.buf, this.off);
  }
  get src(): number {
    return readMac(this.buf, this.off + 6);
  }
  /** The payload's type: the inner ethertype after an 802.1Q tag. */
  get ethertype(): number {
    const o = this.off + this.headerLength - 2;
    return (this.buf[o]! << 8) | this.buf[o + 1]!;
  }
  get isVlan(): boolean {
    return this.headerLength === ETH_VLAN_HEADER_LEN;
  }
  /** The 802.1Q VLAN identifier, or -1 if untagged. */
  get vlanId(): number {
    if (this.headerLength !== ETH_VLAN_HEADER_LEN) return -1;
    return ((this.buf[this.off + 14]! << 8) | this.buf[this.off + 15]!) & 0x0fff;
  }
  /** Priority code point (0 if untagged). */
  get vlanPcp(): number {
    if (this.headerLength !== ETH_VLAN_HEADER_LEN) return 0;
    return this.buf[this.off + 14]! >>> 5;
  }
  get vlanDei(): boolean {
    if (this.headerLength !== ETH_VLAN_HEADER_LEN) return false;
    return (this.buf[this.off + 14]! & 0x10) !== 0;
  }
  /** Absolute index of the payload in buf. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  get payloadLength(): number {
    return this.len - this.headerLength;
  }
}

const scratch = new EthernetFrame();

export function parseEthernet(buf: Uint8Array, off: number, len: number): EthernetRepr {
  const f = scratch.wrap(buf, off, len);
  const repr: EthernetRepr = { dst: f.dst, src: f.src, ethertype: f.ethertype };
  if (f.isVlan) repr.vlan = { pcp: f.vlanPcp, dei: f.vlanDei, vid: f.vlanId };
  return repr;
}

export function ethernetHeaderLength(repr: EthernetRepr): number {
  return repr.vlan ? ETH_VLAN_HEADER_LEN : ETH_HEADER_LEN;
}

/** Writes the header; returns its length (14 or 18). */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off: number): number {
  const hl = ethernetHeaderLength(repr);
  if (off < 0 || off + hl > buf.length) throw new Error('emitEthernet: buffer too small');
  writeMac(buf, off, repr.dst);
  writeMac(buf, off + 6, repr.src);
  let o = off + 12;
  if (repr.vlan) {
    buf[o] = ETHERTYPE_VLAN >>> 8;
    buf[o + 1] = ETHERTYPE_VLAN & 0xff;
    const tci = ((repr.vlan.pcp & 7) << 13) | (repr.vlan.dei ? 0x1000 : 0) | (repr.vlan.vid & 0x0fff);
    buf[o + 2] = tci >>> 8;
    buf[o + 3] = tci;
    o += 4;
  }
  buf[o] = repr.ethertype >>> 8;
  buf[o + 1] = repr.ethertype;
  return hl;
}
