/**
 * Neighbor Discovery messages (RFC 4861 §4): router solicitation and
 * advertisement, neighbour solicitation and advertisement, redirect, and the
 * options they carry (§4.6: source/target link-layer address, prefix
 * information, redirected header, MTU). Unknown options are skipped (§4.6),
 * an option of length zero makes the message malformed ('bad-option'), and
 * an option running past the message 'truncated'; a known option whose
 * content is malformed is skipped and counted (`malformed`), the others kept.
 *
 * The messages are ICMPv6: buf[off] is the ICMPv6 type. The checksum is
 * ICMPv6's (`icmpv6.ts`); parseNdp does not check it, the caller does.
 */
import { WireError, checkBounds } from './errors.js';
import { u16, u32, w16, w32 } from './bytes.js';
import { readMac, writeMac } from './ethernet.js';
import {
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_REDIRECT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_ROUTER_SOLICIT,
  fillIcmpv6Checksum,
} from './icmpv6.js';

export const ND_OPT_SOURCE_LL = 1;
export const ND_OPT_TARGET_LL = 2;
export const ND_OPT_PREFIX_INFO = 3;
export const ND_OPT_REDIRECTED_HEADER = 4;
export const ND_OPT_MTU = 5;

/** Prefix information (§4.6.2). Lifetimes in seconds; 0xffffffff is infinity. */
export interface NdPrefixInfo {
  prefix: Uint8Array;
  prefixLength: number;
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number;
  preferredLifetime: number;
}

export interface NdOptions {
  sourceMac?: number;
  targetMac?: number;
  mtu?: number;
  prefixes?: NdPrefixInfo[];
  /** The redirected header option's data (after its 6 reserved bytes; a multiple of 8 bytes). */
  redirected?: Uint8Array;
  /** Options skipped as malformed (a prefix information or MTU option of the wrong size, a prefix length above 128); absent when none. */
  malformed?: number;
}

export type NdRepr =
  | { kind: 'rs'; options: NdOptions }
  | {
      kind: 'ra';
      curHopLimit: number;
      managed: boolean;
      other: boolean;
      /** Seconds; 0: not a default router. */
      routerLifetime: number;
      /** Milliseconds; 0: unspecified. */
      reachableTime: number;
      /** Milliseconds; 0: unspecified. */
      retransTimer: number;
      options: NdOptions;
    }
  | { kind: 'ns'; target: Uint8Array; options: NdOptions }
  | { kind: 'na'; router: boolean; solicited: boolean; override: boolean; target: Uint8Array; options: NdOptions }
  | { kind: 'redirect'; target: Uint8Array; destination: Uint8Array; options: NdOptions };

/** Bytes before the options, per message type (0 for a type that is not ND). */
export function ndFixedLength(type: number): number {
  switch (type) {
    case ICMPV6_ROUTER_SOLICIT: return 8;
    case ICMPV6_ROUTER_ADVERT: return 16;
    case ICMPV6_NEIGHBOR_SOLICIT: return 24;
    case ICMPV6_NEIGHBOR_ADVERT: return 24;
    case ICMPV6_REDIRECT: return 40;
    default: return 0;
  }
}

/**
 * Parses the options at buf[off, off + len) into `out`. Throws WireError
 * for an option of length 0 or one past the message (RFC 4861 §6.1: the
 * whole message is invalid); a known option whose content is malformed is
 * skipped and counted in `out.malformed`, and the rest are processed.
 */
export function parseNdOptions(buf: Uint8Array, off: number, len: number, out: NdOptions = {}): NdOptions {
  checkBounds(buf, off, len);
  let i = off;
  const end = off + len;
  while (i < end) {
    if (i + 2 > end) throw new WireError('truncated', 'ND option header past the message');
    const type = buf[i]!;
    const olen = buf[i + 1]! * 8;
    if (olen === 0) throw new WireError('bad-option', 'ND option of length 0');
    if (i + olen > end) throw new WireError('truncated', 'ND option past the message');
    switch (type) {
      case ND_OPT_SOURCE_LL:
        if (out.sourceMac === undefined) out.sourceMac = readMac(buf, i + 2);
        break;
      case ND_OPT_TARGET_LL:
        if (out.targetMac === undefined) out.targetMac = readMac(buf, i + 2);
        break;
      case ND_OPT_MTU:
        if (olen !== 8) {
          out.malformed = (out.malformed ?? 0) + 1;
          break;
        }
        if (out.mtu === undefined) out.mtu = u32(buf, i + 4);
        break;
      case ND_OPT_PREFIX_INFO: {
        const prefixLength = buf[i + 2]!;
        if (olen !== 32 || prefixLength > 128) {
          out.malformed = (out.malformed ?? 0) + 1;
          break;
        }
        const flags = buf[i + 3]!;
        (out.prefixes ??= []).push({
          prefix: buf.slice(i + 16, i + 32),
          prefixLength,
          onLink: (flags & 0x80) !== 0,
          autonomous: (flags & 0x40) !== 0,
          validLifetime: u32(buf, i + 4),
          preferredLifetime: u32(buf, i + 8),
        });
        break;
      }
      case ND_OPT_REDIRECTED_HEADER:
        if (out.redirected === undefined) out.redirected = buf.slice(i + 8, i + olen);
        break;
      default:
        // Unknown options are skipped (RFC 4861 §4.6).
        break;
    }
    i += olen;
  }
  return out;
}

/** Parses an ND message (ICMPv6 type at buf[off]). Throws WireError; 'unsupported' for a type that is not ND. */
export function parseNdp(buf: Uint8Array, off: number, len: number): NdRepr {
  checkBounds(buf, off, len);
  if (len < 8) throw new WireError('truncated', 'ND message shorter than 8 bytes');
  const type = buf[off]!;
  const fixed = ndFixedLength(type);
  if (fixed === 0) throw new WireError('unsupported', `ICMPv6 type ${type} is not Neighbor Discovery`);
  if (len < fixed) throw new WireError('truncated', `ND message of type ${type} shorter than ${fixed} bytes`);
  const options = parseNdOptions(buf, off + fixed, len - fixed);
  switch (type) {
    case ICMPV6_ROUTER_SOLICIT:
      return { kind: 'rs', options };
    case ICMPV6_ROUTER_ADVERT: {
      const flags = buf[off + 5]!;
      return {
        kind: 'ra',
        curHopLimit: buf[off + 4]!,
        managed: (flags & 0x80) !== 0,
        other: (flags & 0x40) !== 0,
        routerLifetime: u16(buf, off + 6),
        reachableTime: u32(buf, off + 8),
        retransTimer: u32(buf, off + 12),
        options,
      };
    }
    case ICMPV6_NEIGHBOR_SOLICIT:
      return { kind: 'ns', target: buf.slice(off + 8, off + 24), options };
    case ICMPV6_NEIGHBOR_ADVERT: {
      const flags = buf[off + 4]!;
      return {
        kind: 'na',
        router: (flags & 0x80) !== 0,
        solicited: (flags & 0x40) !== 0,
        override: (flags & 0x20) !== 0,
        target: buf.slice(off + 8, off + 24),
        options,
      };
    }
    default:
      return { kind: 'redirect', target: buf.slice(off + 8, off + 24), destination: buf.slice(off + 24, off + 40), options };
  }
}

function typeOf(repr: NdRepr): number {
  switch (repr.kind) {
    case 'rs': return ICMPV6_ROUTER_SOLICIT;
    case 'ra': return ICMPV6_ROUTER_ADVERT;
    case 'ns': return ICMPV6_NEIGHBOR_SOLICIT;
    case 'na': return ICMPV6_NEIGHBOR_ADVERT;
    default: return ICMPV6_REDIRECT;
  }
}

export function ndOptionsLength(o: NdOptions): number {
  let n = 0;
  if (o.sourceMac !== undefined) n += 8;
  if (o.targetMac !== undefined) n += 8;
  if (o.mtu !== undefined) n += 8;
  if (o.prefixes !== undefined) n += 32 * o.prefixes.length;
  if (o.redirected !== undefined) n += 8 + ((o.redirected.length + 7) & ~7);
  return n;
}

/** The message's length in bytes (the ICMPv6 header included). */
export function ndpLength(repr: NdRepr): number {
  return ndFixedLength(typeOf(repr)) + ndOptionsLength(repr.options);
}

function emitOptions(o: NdOptions, buf: Uint8Array, off: number): number {
  let i = off;
  if (o.sourceMac !== undefined) {
    buf[i] = ND_OPT_SOURCE_LL;
    buf[i + 1] = 1;
    writeMac(buf, i + 2, o.sourceMac);
    i += 8;
  }
  if (o.targetMac !== undefined) {
    buf[i] = ND_OPT_TARGET_LL;
    buf[i + 1] = 1;
    writeMac(buf, i + 2, o.targetMac);
    i += 8;
  }
  if (o.mtu !== undefined) {
    buf[i] = ND_OPT_MTU;
    buf[i + 1] = 1;
    w16(buf, i + 2, 0);
    w32(buf, i + 4, o.mtu);
    i += 8;
  }
  for (const p of o.prefixes ?? []) {
    buf[i] = ND_OPT_PREFIX_INFO;
    buf[i + 1] = 4;
    buf[i + 2] = p.prefixLength;
    buf[i + 3] = (p.onLink ? 0x80 : 0) | (p.autonomous ? 0x40 : 0);
    w32(buf, i + 4, p.validLifetime);
    w32(buf, i + 8, p.preferredLifetime);
    w32(buf, i + 12, 0);
    buf.set(p.prefix.subarray(0, 16), i + 16);
    i += 32;
  }
  if (o.redirected !== undefined) {
    const padded = (o.redirected.length + 7) & ~7;
    buf[i] = ND_OPT_REDIRECTED_HEADER;
    buf[i + 1] = 1 + padded / 8;
    buf.fill(0, i + 2, i + 8 + padded);
    buf.set(o.redirected, i + 8);
    i += 8 + padded;
  }
  return i - off;
}

/**
 * Writes the message (ICMPv6 header included, code 0) at buf[off]; fills the
 * ICMPv6 checksum when src and dst are given. Returns its length.
 */
export function emitNdp(repr: NdRepr, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  const total = ndpLength(repr);
  if (off < 0 || off + total > buf.length) throw new Error('emitNdp: buffer too small');
  const type = typeOf(repr);
  buf[off] = type;
  buf[off + 1] = 0;
  w16(buf, off + 2, 0);
  w32(buf, off + 4, 0);
  switch (repr.kind) {
    case 'rs':
      break;
    case 'ra':
      buf[off + 4] = repr.curHopLimit;
      buf[off + 5] = (repr.managed ? 0x80 : 0) | (repr.other ? 0x40 : 0);
      w16(buf, off + 6, repr.routerLifetime);
      w32(buf, off + 8, repr.reachableTime);
      w32(buf, off + 12, repr.retransTimer);
      break;
    case 'ns':
      buf.set(repr.target.subarray(0, 16), off + 8);
      break;
    case 'na':
      buf[off + 4] = (repr.router ? 0x80 : 0) | (repr.solicited ? 0x40 : 0) | (repr.override ? 0x20 : 0);
      buf.set(repr.target.subarray(0, 16), off + 8);
      break;
    case 'redirect':
      buf.set(repr.target.subarray(0, 16), off + 8);
      buf.set(repr.destination.subarray(0, 16), off + 24);
      break;
  }
  emitOptions(repr.options, buf, off + ndFixedLength(type));
  if (src !== undefined && dst !== undefined) fillIcmpv6Checksum(buf, off, total, src, dst);
  return total;
}
