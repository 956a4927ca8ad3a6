/**
 * TCP header codec (RFC 9293 §3.1) with options (RFC 9293 MSS, RFC 7323 window
 * scale and timestamps, RFC 2018 SACK).
 *
 * The TcpRepr shape below is the contract shared with src/stack/tcp.
 */
import { WireError, checkBounds } from './errors.js';
import { onesSum, pseudoHeaderSum, internetChecksum } from './checksum.js';
import { u16, u32, w16, w32 } from './bytes.js';
import { IPPROTO_TCP } from './ipv4.js';

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WINDOW_SCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMPS = 8;
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number; // uint32
  ack: number; // uint32 (meaningful only with TCP_ACK)
  flags: number; // TCP_* bitmask
  window: number; // raw 16-bit field, unscaled
  urgent: number;
  /** Options; undefined means absent. */
  mss?: number;
  windowScale?: number; // shift count as sent (0..14 after clamping by the receiver)
  sackPermitted?: boolean;
  /** SACK blocks as [left0, right0, left1, right1, ...]; at most 4 blocks. */
  sack?: number[];
  tsVal?: number; // present iff tsEcr present
  tsEcr?: number;
  /** Length of the payload that follows the header (parse fills it; emit uses it). */
  payloadLength: number;
}

/**
 * A TcpRepr with every key present (options undefined = absent), for objects
 * reused across segments: a fixed shape keeps V8 from falling back to
 * dictionary mode, where each uint32 store would allocate.
 */
export function newTcpRepr(): TcpRepr {
  return {
    srcPort: 0,
    dstPort: 0,
    seq: 0,
    ack: 0,
    flags: 0,
    window: 0,
    urgent: 0,
    mss: undefined,
    windowScale: undefined,
    sackPermitted: undefined,
    sack: undefined,
    tsVal: undefined,
    tsEcr: undefined,
    payloadLength: 0,
  };
}

export type TcpChecksumMode = 'full' | 'pseudo' | 'none';

/**
 * Reusable view over a TCP segment. wrap() checks the data offset and walks
 * the options once (the one TCP option parser: it validates their structure
 * and records where each option's value is); afterwards no accessor or
 * reader can go out of bounds or throw.
 */
export class TcpSegmentView {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;
  len = 0;
  headerLength = TCP_HEADER_LEN;
  // Where wrap() found each option's value in buf (-1: absent). A repeated
  // option: the last one wins.
  private mssAt = -1;
  private wsAt = -1;
  private sackPerm = false;
  private sackAt = -1;
  /** SACK edges (2 per block). */
  private sackEdges = 0;
  private tsAt = -1;
  /** The SACK block list readSegment hands out (reused). */
  private readonly sackList: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

  /** `len` is the whole segment (the IP payload length). */
  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < TCP_HEADER_LEN) throw new WireError('truncated', 'TCP segment shorter than 20 bytes');
    const doff = buf[off + 12]! >>> 4;
    if (doff < 5) throw new WireError('bad-header-length', `data offset ${doff}`);
    const hl = doff * 4;
    if (hl > len) throw new WireError('truncated', 'TCP header runs past the segment');
    this.walkOptions(buf, off + TCP_HEADER_LEN, off + hl);
    this.buf = buf;
    this.off = off;
    this.len = len;
    this.headerLength = hl;
    return this;
  }

  /**
   * Walks the options in buf[start, end): validates their structure (throws
   * WireError('bad-option')) and records where each known one is. Unknown
   * kinds are skipped by their length.
   */
  private walkOptions(buf: Uint8Array, start: number, end: number): void {
    let mssAt = -1;
    let wsAt = -1;
    let sackPerm = false;
    let sackAt = -1;
    let sackEdges = 0;
    let tsAt = -1;
    let i = start;
    while (i < end) {
      const kind = buf[i]!;
      if (kind === TCPOPT_EOL) break;
      if (kind === TCPOPT_NOP) {
        i++;
        continue;
      }
      if (i + 1 >= end) throw new WireError('bad-option', `option ${kind} without a length`);
      const l = buf[i + 1]!;
      if (l < 2 || i + l > end) throw new WireError('bad-option', `option ${kind} length ${l}`);
      switch (kind) {
        case TCPOPT_MSS:
          if (l !== 4) throw new WireError('bad-option', `MSS length ${l}`);
          mssAt = i + 2;
          break;
        case TCPOPT_WINDOW_SCALE:
          if (l !== 3) throw new WireError('bad-option', `window scale length ${l}`);
          wsAt = i + 2;
          break;
        case TCPOPT_SACK_PERMITTED:
          if (l !== 2) throw new WireError('bad-option', `SACK-permitted length ${l}`);
          sackPerm = true;
          break;
        case TCPOPT_SACK:
          if (l < 10 || l > 34 || (l - 2) % 8 !== 0) throw new WireError('bad-option', `SACK length ${l}`);
          sackAt = i + 2;
          sackEdges = (l - 2) >>> 2;
          break;
        case TCPOPT_TIMESTAMPS:
          if (l !== 10) throw new WireError('bad-option', `timestamps length ${l}`);
          tsAt = i + 2;
          break;
        default:
          break;
      }
      i += l;
    }
    this.mssAt = mssAt;
    this.wsAt = wsAt;
    this.sackPerm = sackPerm;
    this.sackAt = sackAt;
    this.sackEdges = sackEdges;
    this.tsAt = tsAt;
  }

  get srcPort(): number {
    return u16(this.buf, this.off);
  }
  get dstPort(): number {
    return u16(this.buf, this.off + 2);
  }
  get seq(): number {
    return u32(this.buf, this.off + 4);
  }
  /**
   * The sequence number's 32 bits as an int32 (`>>> 0` for the unsigned
   * value): for comparisons modulo 2^32 on the per-segment path, where a
   * uint32 >= 2^31 returned by a call V8 does not inline is a heap number.
   */
  get seqBits(): number {
    const b = this.buf;
    const o = this.off;
    return (b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!;
  }
  get ack(): number {
    return u32(this.buf, this.off + 8);
  }
  /** Data offset in 32-bit words. */
  get dataOffset(): number {
    return this.headerLength >>> 2;
  }
  get flags(): number {
    return this.buf[this.off + 13]!;
  }
  get window(): number {
    return u16(this.buf, this.off + 14);
  }
  get checksum(): number {
    return u16(this.buf, this.off + 16);
  }
  get urgent(): number {
    return u16(this.buf, this.off + 18);
  }
  get hasOptions(): boolean {
    return this.headerLength > TCP_HEADER_LEN;
  }
  /** Absolute index of the payload in buf. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  get payloadLength(): number {
    return this.len - this.headerLength;
  }
  /**
   * Whether the segment's checksum verifies. `payloadSum`: the folded sum of
   * the payload when the caller already has it (from a copy that summed the
   * bytes), so only the header is read here; the header is a multiple of 4
   * bytes long, so the payload's words line up with the segment's.
   */
  verifyChecksum(src: number, dst: number, payloadSum = -1): boolean {
    const pseudo = pseudoHeaderSum(src, dst, IPPROTO_TCP, this.len);
    if (payloadSum >= 0) return onesSum(this.buf, this.off, this.headerLength, pseudo + payloadSum) === 0xffff;
    return onesSum(this.buf, this.off, this.len, pseudo) === 0xffff;
  }
  /**
   * Stores the options into `into` and deletes the option keys that are
   * absent. Does not allocate unless a SACK array is needed.
   */
  readOptions(into: TcpRepr): TcpRepr {
    const b = this.buf;
    if (this.mssAt >= 0) into.mss = u16(b, this.mssAt);
    else if ('mss' in into) delete into.mss;
    if (this.wsAt >= 0) into.windowScale = b[this.wsAt]!;
    else if ('windowScale' in into) delete into.windowScale;
    if (this.sackPerm) into.sackPermitted = true;
    else if ('sackPermitted' in into) delete into.sackPermitted;
    if (this.sackAt >= 0) {
      const arr = Array.isArray(into.sack) ? into.sack : [];
      arr.length = this.sackEdges;
      for (let k = 0; k < this.sackEdges; k++) arr[k] = u32(b, this.sackAt + 4 * k);
      into.sack = arr;
    } else if ('sack' in into) delete into.sack;
    if (this.tsAt >= 0) {
      into.tsVal = u32(b, this.tsAt);
      into.tsEcr = u32(b, this.tsAt + 4);
    } else {
      if ('tsVal' in into) delete into.tsVal;
      if ('tsEcr' in into) delete into.tsEcr;
    }
    return into;
  }
  /** Fills every field of `into` (fixed fields, options, payloadLength). */
  readRepr(into: TcpRepr): TcpRepr {
    into.srcPort = this.srcPort;
    into.dstPort = this.dstPort;
    into.seq = this.seq;
    into.ack = this.ack;
    into.flags = this.flags;
    into.window = this.window;
    into.urgent = this.urgent;
    into.payloadLength = this.payloadLength;
    return this.readOptions(into);
  }
  /**
   * readRepr for a repr reused segment after segment (newTcpRepr): it keeps
   * its shape, as absent options become undefined instead of being deleted
   * (a repr that loses keys drops to dictionary mode in V8, where every
   * uint32 store allocates); timestamps are int32 bit patterns (the keys
   * also hold undefined, so V8 keeps them tagged, and a value >= 2^31 would
   * be a new heap number per segment; callers compare them modulo 2^32);
   * SACK blocks go into one array this view reuses (valid until the next
   * readSegment). The bytes are read here, not through the getters or
   * bytes.ts: a uint32 >= 2^31 returned by a call that V8 does not inline is
   * a heap number.
   */
  readSegment(into: TcpRepr): TcpRepr {
    const b = this.buf;
    const o = this.off;
    into.srcPort = (b[o]! << 8) | b[o + 1]!;
    into.dstPort = (b[o + 2]! << 8) | b[o + 3]!;
    into.seq = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
    into.ack = ((b[o + 8]! << 24) | (b[o + 9]! << 16) | (b[o + 10]! << 8) | b[o + 11]!) >>> 0;
    into.flags = b[o + 13]!;
    into.window = (b[o + 14]! << 8) | b[o + 15]!;
    into.urgent = (b[o + 18]! << 8) | b[o + 19]!;
    into.payloadLength = this.len - this.headerLength;
    const m = this.mssAt;
    into.mss = m >= 0 ? (b[m]! << 8) | b[m + 1]! : undefined;
    into.windowScale = this.wsAt >= 0 ? b[this.wsAt]! : undefined;
    into.sackPermitted = this.sackPerm ? true : undefined;
    if (this.sackAt >= 0) {
      const arr = this.sackList;
      const n = this.sackEdges;
      arr.length = n;
      for (let k = 0, i = this.sackAt; k < n; k++, i += 4) arr[k] = ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
      into.sack = arr;
    } else {
      into.sack = undefined;
    }
    const t = this.tsAt;
    if (t >= 0) {
      into.tsVal = (b[t]! << 24) | (b[t + 1]! << 16) | (b[t + 2]! << 8) | b[t + 3]!;
      into.tsEcr = (b[t + 4]! << 24) | (b[t + 5]! << 16) | (b[t + 6]! << 8) | b[t + 7]!;
    } else {
      into.tsVal = undefined;
      into.tsEcr = undefined;
    }
    return into;
  }
}

const scratch = new TcpSegmentView();

/** `len` is the whole segment (IP payload length); src/dst are the IPv4 addresses for the pseudo-header. */
export function parseTcp(
  buf: Uint8Array,
  off: number,
  len: number,
  src: number,
  dst: number,
  verifyChecksum = true,
): TcpRepr {
  const v = scratch.wrap(buf, off, len);
  if (verifyChecksum && !v.verifyChecksum(src, dst)) throw new WireError('bad-checksum', 'TCP checksum');
  const repr: TcpRepr = {
    srcPort: v.srcPort,
    dstPort: v.dstPort,
    seq: v.seq,
    ack: v.ack,
    flags: v.flags,
    window: v.window,
    urgent: v.urgent,
    payloadLength: v.payloadLength,
  };
  return v.readOptions(repr);
}

function sackWords(repr: TcpRepr): number {
  const s = repr.sack;
  if (s === undefined || s.length === 0) return 0;
  if (s.length % 2 !== 0 || s.length > 8) throw new Error(`TCP SACK: ${s.length} edges (need 2, 4, 6 or 8)`);
  return s.length;
}

/**
 * Header length emitTcp will write for repr (a multiple of 4). Throws a plain
 * Error above 60 bytes: too many options is a programming error.
 */
export function tcpHeaderLength(repr: TcpRepr): number {
  let n = TCP_HEADER_LEN;
  if (repr.mss !== undefined) n += 4;
  if (repr.tsVal !== undefined) n += 12; // SACK-permitted rides in the timestamps word
  else if (repr.sackPermitted) n += 4;
  if (repr.windowScale !== undefined) n += 4;
  const sw = sackWords(repr);
  if (sw > 0) n += 4 + 4 * sw;
  if (n > TCP_MAX_HEADER_LEN) throw new Error(`TCP header would be ${n} bytes (> 60)`);
  return n;
}

/**
 * Writes the header with options in Linux's layout (tcp_options_write):
 * MSS; SACK-permitted+timestamps or NOP,NOP,timestamps; NOP,NOP,SACK-permitted
 * (without timestamps); NOP,window scale; NOP,NOP,SACK blocks. With 'full' the
 * payload (repr.payloadLength bytes) must already follow the header, and
 * `payloadSum`, when given (>= 0), is its folded one's complement sum (as
 * onesSum with initial 0): then only the header is summed here, for a caller
 * that summed the payload while copying it. Returns the header length.
 */
export function emitTcp(
  repr: TcpRepr,
  buf: Uint8Array,
  off: number,
  src: number,
  dst: number,
  checksum: TcpChecksumMode = 'full',
  payloadSum = -1,
): number {
  const hl = tcpHeaderLength(repr);
  if (off < 0 || off + hl > buf.length) throw new Error('emitTcp: buffer too small');
  w16(buf, off, repr.srcPort);
  w16(buf, off + 2, repr.dstPort);
  w32(buf, off + 4, repr.seq);
  w32(buf, off + 8, repr.ack);
  buf[off + 12] = (hl >>> 2) << 4;
  buf[off + 13] = repr.flags;
  w16(buf, off + 14, repr.window);
  buf[off + 16] = 0;
  buf[off + 17] = 0;
  w16(buf, off + 18, repr.urgent);
  let o = off + TCP_HEADER_LEN;
  if (repr.mss !== undefined) {
    buf[o] = TCPOPT_MSS;
    buf[o + 1] = 4;
    w16(buf, o + 2, repr.mss);
    o += 4;
  }
  if (repr.tsVal !== undefined) {
    if (repr.sackPermitted) {
      buf[o] = TCPOPT_SACK_PERMITTED;
      buf[o + 1] = 2;
    } else {
      buf[o] = TCPOPT_NOP;
      buf[o + 1] = TCPOPT_NOP;
    }
    buf[o + 2] = TCPOPT_TIMESTAMPS;
    buf[o + 3] = 10;
    w32(buf, o + 4, repr.tsVal);
    w32(buf, o + 8, repr.tsEcr ?? 0);
    o += 12;
  } else if (repr.sackPermitted) {
    buf[o] = TCPOPT_NOP;
    buf[o + 1] = TCPOPT_NOP;
    buf[o + 2] = TCPOPT_SACK_PERMITTED;
    buf[o + 3] = 2;
    o += 4;
  }
  if (repr.windowScale !== undefined) {
    buf[o] = TCPOPT_NOP;
    buf[o + 1] = TCPOPT_WINDOW_SCALE;
    buf[o + 2] = 3;
    buf[o + 3] = repr.windowScale;
    o += 4;
  }
  const sw = sackWords(repr);
  if (sw > 0) {
    buf[o] = TCPOPT_NOP;
    buf[o + 1] = TCPOPT_NOP;
    buf[o + 2] = TCPOPT_SACK;
    buf[o + 3] = 2 + 4 * sw;
    o += 4;
    const s = repr.sack!;
    for (let k = 0; k < sw; k++, o += 4) w32(buf, o, s[k]!);
  }
  const total = hl + repr.payloadLength;
  if (checksum === 'full') {
    if (off + total > buf.length) throw new Error('emitTcp: payload runs past the buffer');
    // The fixed 20 bytes are summed from the values just written (not read
    // back), the options and payload from buf. The header is a multiple of 4
    // bytes, so the payload's words line up with the segment's.
    const seq = repr.seq;
    const ack = repr.ack;
    const fixed =
      (repr.srcPort & 0xffff) + (repr.dstPort & 0xffff) + (seq >>> 16) + (seq & 0xffff) + (ack >>> 16) + (ack & 0xffff) +
      (((hl >>> 2) << 12) | (repr.flags & 0xff)) + (repr.window & 0xffff) + (repr.urgent & 0xffff);
    const pseudo = pseudoHeaderSum(src, dst, IPPROTO_TCP, total) + fixed;
    if (payloadSum >= 0) w16(buf, off + 16, internetChecksum(buf, off + TCP_HEADER_LEN, hl - TCP_HEADER_LEN, pseudo + payloadSum));
    else w16(buf, off + 16, internetChecksum(buf, off + TCP_HEADER_LEN, total - TCP_HEADER_LEN, pseudo));
  } else if (checksum === 'pseudo') {
    w16(buf, off + 16, pseudoHeaderSum(src, dst, IPPROTO_TCP, total));
  }
  return hl;
}
