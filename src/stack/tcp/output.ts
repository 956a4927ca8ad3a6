/**
 * Building outgoing segments: the one reused repr every connection fills
 * (a segment is filled and handed to the sink synchronously, before any
 * other connection runs, so one per connection would only cost memory), the
 * header fields every segment carries (window with receiver SWS avoidance,
 * timestamps, SACK and D-SACK blocks), the one RST builder, and the write
 * descriptor the layer hands IP output.
 */
import { TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH, emitTcp, newTcpRepr, type TcpChecksumMode, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqAdd32, seqGt } from '../../wire/seq.js';
import { dataViewOf } from '../../wire/checksum.js';
import { nativeCopySum } from '../../wire/kernels.js';
import type { L4Segmenter, L4Writer } from '../iface/ip-output.js';
import { F, type SegmentSink, type Tcb } from './tcb.js';

/** The SACK block list of OUT (RFC 2018 §3: at most 4 blocks, 3 with timestamps). */
export const SACK_OUT: number[] = [];
/** The outgoing repr shared by every connection. */
export const OUT: TcpRepr = newTcpRepr();
OUT.sack = SACK_OUT;
/** Scratch for the assembler's ranges while SACK blocks are built. */
const ASM_RANGES: number[] = [];

/**
 * Payloads from this length on are copied and summed in one native call
 * (transmit: SegmentWrite; receive: the layer's fused placement) when the
 * kernels are installed; below it the JavaScript loops cost less than the
 * call.
 */
export const FUSED_MIN = 64;

/** Fills the shared repr with the fields every synchronized segment carries. `seq`: int32 bit pattern (see SegmentSink). */
export function prepare(c: Tcb, flags: number, seq: number, now: number): TcpRepr {
  const o = OUT;
  o.srcPort = c.localPort;
  o.dstPort = c.remotePort;
  o.seq = seq;
  o.ack = c.rcvNxt;
  o.flags = flags;
  o.urgent = 0;
  o.mss = undefined;
  o.windowScale = undefined;
  o.sackPermitted = undefined;
  o.window = windowField(c);
  if ((c.fl & F.TS_OK) !== 0) {
    // int32 bit patterns (see SegmentSink): no heap number per segment.
    o.tsVal = c.tsNow(now);
    o.tsEcr = c._tsRecent;
  } else {
    o.tsVal = undefined;
    o.tsEcr = undefined;
  }
  // RFC 2018 §4: SACK blocks whenever out-of-order data is held, most recent first.
  const so = SACK_OUT;
  // Only when it holds blocks: setting an array's length is a runtime call
  // (~200 instructions), and most segments carry no SACK.
  if (so.length !== 0) so.length = 0;
  if ((c.fl & F.SACK_OK) !== 0 && (c.asm.heldBytes > 0 || (c.fl & F.DSACK_PENDING) !== 0)) {
    const maxBlocks = (c.fl & F.TS_OK) !== 0 ? 3 : 4;
    if ((c.fl & F.DSACK_PENDING) !== 0) {
      // RFC 2883 §4: the D-SACK block goes first, once.
      so.push(c.cold.dsackL, c.cold.dsackR);
      c.fl &= ~F.DSACK_PENDING;
      c.stats.dsacksOut++;
    }
    const r = c.asm.heldBytes > 0 ? c.asm.ranges(ASM_RANGES) : ASM_RANGES;
    if (c.asm.heldBytes === 0) r.length = 0;
    for (let i = 0; i + 1 < r.length && so.length < 2 * maxBlocks; i += 2) {
      so.push(seqAdd(c.rcvNxt, r[i]!), seqAdd(c.rcvNxt, r[i + 1]!));
    }
  }
  o.sack = so;
  return o;
}

/**
 * The window field (RFC 9293 §3.8.6.2.2 receiver SWS avoidance, RFC 7323
 * scaling): free ring space, but the right edge moves only by at least
 * min(buffer/2, MSS), and never moves left.
 */
export function windowField(c: Tcb): number {
  const cur = c.rcvWindowNow();
  const max = c.rcvShift > 0 ? 65535 << c.rcvShift : 65535;
  let wnd = Math.min(c.rcvFree(), max);
  const swsThreshold = Math.min(c.rcvCapacity >>> 1, c.advMss);
  if (wnd > cur && wnd - cur < swsThreshold) wnd = cur;
  if (wnd < cur) wnd = cur;
  let field = wnd >>> c.rcvShift;
  if (field << c.rcvShift < cur) field++; // rounding must not shrink the window
  if (field > 65535) field = 65535;
  const edge = seqAdd32(c._rcvNxt, field << c.rcvShift);
  if (seqGt(edge, c._rcvAdv)) c._rcvAdv = edge;
  return field;
}

/**
 * Emits the shared repr; bookkeeping common to every segment that carries
 * an ACK. A segment the output refuses (no route, no buffer) is treated as
 * sent and lost on the wire: the retransmission timer, with its backoff
 * and retry limit, deals with it (a failing route must not turn into a
 * retry every millisecond, nor keep a connection alive forever). The rest
 * of this dispatch round is skipped (F.OUTPUT_FAILED).
 */
export function emit(c: Tcb, sink: SegmentSink, o: TcpRepr, ringOff: number): void {
  if (sink.emitSegment(c, o, ringOff)) c.stats.segmentsOut++;
  else c.fl |= F.OUTPUT_FAILED;
  if ((o.flags & TCP_ACK) !== 0) {
    c.fl &= ~(F.ACK_NOW | F.ACK_EACH);
    c.ackAt = Infinity;
    c.rcvUnackedBytes = 0;
    c.lastAckSent = o.ack;
  }
}

/** Sends the RST queueRst left in ColdState. */
export function emitRst(c: Tcb, sink: SegmentSink): void {
  c.fl &= ~F.RST_PENDING;
  const cs = c.cold;
  fillRst(OUT, c.localPort, c.remotePort, cs.rstSeq, cs.rstAck, cs.rstFlags);
  if (sink.emitSegment(c, OUT, 0)) {
    c.stats.segmentsOut++;
    c.stats.resetsOut++;
  }
}

/**
 * Fills `o` as a RST: no options, no payload, window 0; the ACK field only
 * with TCP_ACK in `flags`. Used for a connection's own RSTs and for the
 * layer's replies to segments that belong to no connection (RFC 9293
 * §3.10.7.1).
 */
export function fillRst(o: TcpRepr, srcPort: number, dstPort: number, seq: number, ack: number, flags: number): void {
  o.srcPort = srcPort;
  o.dstPort = dstPort;
  o.seq = seq;
  o.ack = (flags & TCP_ACK) !== 0 ? ack : 0;
  o.flags = flags;
  o.window = 0;
  o.urgent = 0;
  o.mss = undefined;
  o.windowScale = undefined;
  o.sackPermitted = undefined;
  o.sack = undefined;
  o.tsVal = undefined;
  o.tsEcr = undefined;
  o.payloadLength = 0;
}

/** Where a segment's payload comes from: a connection's send ring (Connection.copyPayload / copyPayloadSum). */
export interface PayloadSource {
  copyPayload(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number;
  copyPayloadSum(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number;
  /** `count` chunks of `unit` bytes (`total` in all) from ringOffset to dst[offs[k]...], each one's folded sum in sums[k]. */
  copyPayloadSumScatter(ringOffset: number, dst: Uint8Array, offs: Uint32Array, count: number, unit: number, total: number, sums: Int32Array): void;
}

/**
 * One outgoing segment on its way through IP output: the repr, where its
 * payload comes from (a connection's send ring at `ringOffset`, or none),
 * the addresses and checksum mode for the header. IP output takes a writer
 * function (L4Writer) that it calls once with the packet buffer: `writer`
 * is this descriptor's write, bound once, so a layer reuses one descriptor
 * for every segment and nothing is allocated per segment.
 */
export class SegmentWrite implements L4Segmenter {
  /** The connection whose send ring holds the payload; null for a segment without one. */
  source: PayloadSource | null = null;
  repr: TcpRepr = OUT;
  ringOffset = 0;
  headerLength = 0;
  /** Payload bytes per frame when IP output segments this one in software (L4Segmenter). */
  unit = 0;
  src = 0;
  dst = 0;
  mode: TcpChecksumMode = 'full';
  readonly writer: L4Writer = (buf: Uint8Array, off: number): void => this.write(buf, off);
  /** The first frame's header, which the burst's other frames copy and patch (writeHeader). */
  private readonly template = new DataView(new ArrayBuffer(60));
  /** The frames' buffer (the NIC's slot pool) and a DataView of its ArrayBuffer (wire/checksum dataViewOf). */
  private viewOf: Uint8Array | null = null;
  private view: DataView = new DataView(new ArrayBuffer(0));
  /**
   * The first frame's checksum sum less its sequence number, flags word,
   * TCP length and payload sum (one's complement, unfolded): what every
   * frame of the burst shares, pseudo-header included.
   */
  private partial = 0;

  /** Writes the segment at buf[off...]: the payload from the send ring first, then the header and checksum. */
  write(buf: Uint8Array, off: number): void {
    const r = this.repr;
    const n = r.payloadLength;
    const from = this.source;
    let sum = -1;
    if (n > 0 && from !== null) {
      // With the native kernels, the payload is summed while it is copied
      // out of the send ring (one pass), and emitTcp sums only the header.
      if (n >= FUSED_MIN && this.mode === 'full' && nativeCopySum !== null) {
        sum = from.copyPayloadSum(this.ringOffset, buf, off + this.headerLength, n);
      } else {
        from.copyPayload(this.ringOffset, buf, off + this.headerLength, n);
      }
    }
    emitTcp(r, buf, off, this.src, this.dst, this.mode, sum);
  }

  /** The payload of a segment IP output cuts in software (L4Segmenter), from the send ring: one native call when it lies in one span. */
  copyPayloads(buf: Uint8Array, offs: Uint32Array, count: number, total: number, sums: Int32Array): void {
    this.source!.copyPayloadSumScatter(this.ringOffset, buf, offs, count, this.unit, total, sums);
  }

  /**
   * The header of one frame of a segment IP output cuts in software
   * (L4Segmenter; only with checksum mode 'full'), its payload already in
   * place with sum `sum`: emitted for the first frame, copied for the others
   * with the sequence number, flags (CWR on the first frame only, PSH and
   * FIN on the last only) and checksum patched. The checksum comes from the
   * first frame's (RFC 1624): what the frames share, the pseudo-header
   * included, is never summed again.
   */
  writeHeader(buf: Uint8Array, off: number, payloadOff: number, len: number, sum: number): void {
    const r = this.repr;
    const hl = this.headerLength;
    const last = payloadOff + len === r.payloadLength;
    // CWR rides on the first frame only (RFC 3168 §6.1.3: a CWR on a later
    // frame could cancel the peer's echo of a new CE mark, as Linux's
    // tcp_gso_segment knows); PSH and FIN on the last only.
    let flags = r.flags;
    if (payloadOff !== 0) flags &= ~TCP_CWR;
    if (!last) flags &= ~(TCP_PSH | TCP_FIN);
    const seq = (r.seq + payloadOff) | 0;
    const flagWord = ((hl >>> 2) << 12) | (flags & 0xff);
    const t = this.template;
    if (payloadOff === 0) {
      const whole = r.payloadLength;
      const wholeFlags = r.flags;
      r.payloadLength = len;
      r.flags = flags;
      emitTcp(r, buf, off, this.src, this.dst, 'full', sum);
      r.payloadLength = whole;
      r.flags = wholeFlags;
      if (buf !== this.viewOf) {
        this.viewOf = buf;
        this.view = dataViewOf(buf);
      }
      const v = this.view;
      const at = buf.byteOffset + off;
      for (let i = 0; i < hl; i += 4) t.setInt32(i, v.getInt32(at + i));
      const c0 = v.getUint16(at + 16);
      this.partial =
        (~c0 & 0xffff) + (~seq >>> 16) + (~seq & 0xffff) + (~flagWord & 0xffff) + (~(hl + len) & 0xffff) + (~sum & 0xffff);
      return;
    }
    // Headers are whole 32-bit words: copied a word at a time.
    const v = this.view;
    const at = buf.byteOffset + off;
    for (let i = 0; i < hl; i += 4) v.setInt32(at + i, t.getInt32(i));
    v.setInt32(at + 4, seq);
    v.setUint8(at + 13, flags);
    let s = this.partial + ((seq >>> 16) & 0xffff) + (seq & 0xffff) + flagWord + hl + len + sum;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    v.setUint16(at + 16, ~s & 0xffff);
  }
}
