/**
 * Multicast Listener Discovery (RFC 3810, MLDv2; RFC 2710's 24-byte query
 * for MLDv1): the Multicast Listener Query (type 130) and the Version 2
 * Multicast Listener Report (type 143) with its address records. The
 * messages are ICMPv6: buf[off] is the ICMPv6 type; the checksum is
 * ICMPv6's (the emitters fill it when given the addresses; the parsers do
 * not check it, the caller does). Parsers throw WireError on anything that
 * does not fit; counts are bounded by the message length.
 */
import { WireError, checkBounds } from './errors.js';
import { ICMPV6_MLD_QUERY, ICMPV6_MLD2_REPORT, fillIcmpv6Checksum } from './icmpv6.js';

/** Address record types (RFC 3810 §5.2.12). */
export const MLD2_MODE_IS_INCLUDE = 1;
export const MLD2_MODE_IS_EXCLUDE = 2;
export const MLD2_CHANGE_TO_INCLUDE = 3;
export const MLD2_CHANGE_TO_EXCLUDE = 4;
export const MLD2_ALLOW_NEW_SOURCES = 5;
export const MLD2_BLOCK_OLD_SOURCES = 6;

/** The fixed part of a query: MLDv1 (RFC 2710) and MLDv2 (RFC 3810 §5.1). */
export const MLD1_QUERY_LEN = 24;
export const MLD2_QUERY_MIN_LEN = 28;
/** The report's header, and each record's fixed part. */
export const MLD2_REPORT_HEADER_LEN = 8;
export const MLD2_RECORD_HEADER_LEN = 20;

export interface MldQuery {
  /** 1 for a 24-byte query (MLDv1), 2 for an MLDv2 one. */
  version: 1 | 2;
  /** Maximum Response Code as on the wire (mld2MaxResponseMs decodes it). */
  maxResponseCode: number;
  /** The group asked about; :: for a general query. */
  group: Uint8Array;
  /** MLDv2: the S flag (routers suppress their timer updates). */
  suppress: boolean;
  /** MLDv2: Querier's Robustness Variable (0-7). */
  qrv: number;
  /** MLDv2: Querier's Query Interval Code. */
  qqic: number;
  /** MLDv2: the sources of a multicast-address-and-source-specific query. */
  sources: Uint8Array[];
  /** The sources parseMldQuery passed over beyond its maxSources (absent when none were). */
  sourcesSkipped?: number;
}

export interface Mld2Record {
  type: number;
  group: Uint8Array;
  sources: Uint8Array[];
  /** Auxiliary data (a multiple of 4 bytes; RFC 3810 defines none, receivers ignore it). */
  auxData: Uint8Array;
}

export interface Mld2Report {
  records: Mld2Record[];
}

/** Maximum Response Delay in ms from its code (RFC 3810 §5.1.3: exponential above 32767). */
export function mld2MaxResponseMs(code: number): number {
  if (code < 0x8000) return code;
  const mant = code & 0xfff;
  const exp = (code >>> 12) & 0x7;
  return (mant | 0x1000) * 2 ** (exp + 3);
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function put16(buf: Uint8Array, at: number, v: number): void {
  buf[at] = (v >>> 8) & 0xff;
  buf[at + 1] = v & 0xff;
}

/**
 * Parses a query at buf[off, off + len) (ICMPv6 type 130). Throws WireError.
 * At most `maxSources` sources are copied out (a reassembled query can name
 * ~4,090); the rest are counted in sourcesSkipped, not read.
 */
export function parseMldQuery(buf: Uint8Array, off: number, len: number, maxSources = Infinity): MldQuery {
  checkBounds(buf, off, len);
  if (len < MLD1_QUERY_LEN) throw new WireError('truncated', `MLD query shorter than ${MLD1_QUERY_LEN} bytes`);
  if (buf[off] !== ICMPV6_MLD_QUERY) throw new WireError('unsupported', `ICMPv6 type ${buf[off]!} is not an MLD query`);
  const group = buf.slice(off + 8, off + 24);
  const maxResponseCode = u16(buf, off + 4);
  // RFC 3810 §8.1: exactly 24 bytes is MLDv1; 25-27 is no valid query.
  if (len === MLD1_QUERY_LEN) return { version: 1, maxResponseCode, group, suppress: false, qrv: 0, qqic: 0, sources: [] };
  if (len < MLD2_QUERY_MIN_LEN) throw new WireError('truncated', `MLD query of ${len} bytes: neither MLDv1 (24) nor MLDv2 (28 or more)`);
  const n = u16(buf, off + 26);
  if (MLD2_QUERY_MIN_LEN + 16 * n > len) throw new WireError('truncated', `MLDv2 query with ${n} sources past its ${len} bytes`);
  const kept = Math.min(n, Math.max(0, maxSources));
  const sources: Uint8Array[] = [];
  for (let i = 0; i < kept; i++) sources.push(buf.slice(off + 28 + 16 * i, off + 44 + 16 * i));
  const flags = buf[off + 24]!;
  const q: MldQuery = { version: 2, maxResponseCode, group, suppress: (flags & 0x08) !== 0, qrv: flags & 0x07, qqic: buf[off + 25]!, sources };
  if (kept < n) q.sourcesSkipped = n - kept;
  return q;
}

/** The length of a query's encoding. */
export function mldQueryLength(q: MldQuery): number {
  return q.version === 1 ? MLD1_QUERY_LEN : MLD2_QUERY_MIN_LEN + 16 * q.sources.length;
}

/** Writes a query at buf[off]; fills the checksum when `src` and `dst` are given. Returns its length. */
export function emitMldQuery(q: MldQuery, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  const len = mldQueryLength(q);
  checkBounds(buf, off, len);
  buf.fill(0, off, off + len);
  buf[off] = ICMPV6_MLD_QUERY;
  put16(buf, off + 4, q.maxResponseCode);
  buf.set(q.group.subarray(0, 16), off + 8);
  if (q.version === 2) {
    buf[off + 24] = (q.suppress ? 0x08 : 0) | (q.qrv & 0x07);
    buf[off + 25] = q.qqic & 0xff;
    put16(buf, off + 26, q.sources.length);
    q.sources.forEach((s, i) => buf.set(s.subarray(0, 16), off + 28 + 16 * i));
  }
  if (src !== undefined && dst !== undefined) fillIcmpv6Checksum(buf, off, len, src, dst);
  return len;
}

/** Parses a Version 2 Multicast Listener Report at buf[off, off + len) (ICMPv6 type 143). Throws WireError. */
export function parseMld2Report(buf: Uint8Array, off: number, len: number): Mld2Report {
  checkBounds(buf, off, len);
  if (len < MLD2_REPORT_HEADER_LEN) throw new WireError('truncated', 'MLDv2 report shorter than 8 bytes');
  if (buf[off] !== ICMPV6_MLD2_REPORT) throw new WireError('unsupported', `ICMPv6 type ${buf[off]!} is not an MLDv2 report`);
  const count = u16(buf, off + 6);
  // Each record takes 20 bytes at least: a count the message cannot hold is refused before any work.
  if (MLD2_REPORT_HEADER_LEN + MLD2_RECORD_HEADER_LEN * count > len) throw new WireError('truncated', `MLDv2 report with ${count} records past its ${len} bytes`);
  const end = off + len;
  let at = off + MLD2_REPORT_HEADER_LEN;
  const records: Mld2Record[] = [];
  for (let r = 0; r < count; r++) {
    if (at + MLD2_RECORD_HEADER_LEN > end) throw new WireError('truncated', `MLDv2 record ${r} past the report`);
    const type = buf[at]!;
    const aux = buf[at + 1]! * 4;
    const n = u16(buf, at + 2);
    const size = MLD2_RECORD_HEADER_LEN + 16 * n + aux;
    if (at + size > end) throw new WireError('truncated', `MLDv2 record ${r} (${n} sources, ${aux} bytes of aux data) past the report`);
    const sources: Uint8Array[] = [];
    for (let i = 0; i < n; i++) sources.push(buf.slice(at + 20 + 16 * i, at + 36 + 16 * i));
    records.push({ type, group: buf.slice(at + 4, at + 20), sources, auxData: buf.slice(at + 20 + 16 * n, at + size) });
    at += size;
  }
  return { records };
}

/** The length of a report's encoding. */
export function mld2ReportLength(r: Mld2Report): number {
  let n = MLD2_REPORT_HEADER_LEN;
  for (const rec of r.records) n += MLD2_RECORD_HEADER_LEN + 16 * rec.sources.length + rec.auxData.length;
  return n;
}

/** Writes a report at buf[off]; fills the checksum when `src` and `dst` are given. Returns its length. */
export function emitMld2Report(r: Mld2Report, buf: Uint8Array, off: number, src?: Uint8Array, dst?: Uint8Array): number {
  const len = mld2ReportLength(r);
  checkBounds(buf, off, len);
  if (r.records.length > 0xffff) throw new RangeError('emitMld2Report: more than 65,535 records');
  buf.fill(0, off, off + MLD2_REPORT_HEADER_LEN);
  buf[off] = ICMPV6_MLD2_REPORT;
  put16(buf, off + 6, r.records.length);
  let at = off + MLD2_REPORT_HEADER_LEN;
  for (const rec of r.records) {
    if (rec.auxData.length % 4 !== 0 || rec.auxData.length > 255 * 4) throw new RangeError('emitMld2Report: aux data must be a multiple of 4 bytes, at most 1020');
    buf[at] = rec.type & 0xff;
    buf[at + 1] = rec.auxData.length / 4;
    put16(buf, at + 2, rec.sources.length);
    buf.set(rec.group.subarray(0, 16), at + 4);
    rec.sources.forEach((s, i) => buf.set(s.subarray(0, 16), at + 20 + 16 * i));
    buf.set(rec.auxData, at + 20 + 16 * rec.sources.length);
    at += MLD2_RECORD_HEADER_LEN + 16 * rec.sources.length + rec.auxData.length;
  }
  if (src !== undefined && dst !== undefined) fillIcmpv6Checksum(buf, off, len, src, dst);
  return len;
}
