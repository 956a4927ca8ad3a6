/**
 * The part of software GSO (a TCP segment longer than the MTU cut into
 * frames by IP output, ip-output.ts L4Segmenter) that IPv4 and IPv6 share:
 * whether a segment can be cut here, the burst's slots and where each
 * frame's payload goes, the one call that copies and sums all the
 * payloads, and the first frame's link + IP header that the other frames
 * copy a 32-bit word at a time before the family patches its own fields
 * (IPv4: total length, ID, header checksum; IPv6: payload length).
 */
import type { L4Segmenter } from './ip-output.js';

/** Frames one segmented burst may take (a 64 KiB segment at a 256-byte MTU). */
export const GSO_FRAMES_MAX = 256;

/** Where a burst's frames come from: the interface's NIC slots. */
export interface GsoSlots {
  readonly pool: Uint8Array;
  readonly slotSize: number;
  /** A slot to build a frame in, or -1 (counted by the interface). */
  allocTxSlot(): number;
}

export class GsoBurst {
  /** The burst's slots, where their payloads go, and the payloads' folded sums. */
  readonly slots = new Uint32Array(GSO_FRAMES_MAX);
  readonly offs = new Uint32Array(GSO_FRAMES_MAX);
  readonly sums = new Int32Array(GSO_FRAMES_MAX);
  /** The first frame's link + IP header (at most 64 bytes), which the others copy. */
  private readonly header = new DataView(new ArrayBuffer(64));
  /** The slot pool as a DataView: headers are copied a word at a time. */
  private readonly view: DataView;
  /** The burst taken last: its payload bytes, bytes per frame, and whether every frame got a slot. */
  private payload = 0;
  private unit = 1;
  complete = false;

  constructor(private readonly from: GsoSlots) {
    const pool = from.pool;
    this.view = new DataView(pool.buffer, pool.byteOffset, pool.byteLength);
  }

  /**
   * Whether a TCP packet of `length` bytes (header + payload) can be cut
   * into frames by `seg` under an MTU of `mtu` with an IP header of `ipHeader`
   * bytes, none of the packets longer than `max`.
   */
  static fits(length: number, seg: L4Segmenter, mtu: number, ipHeader: number, max: number): boolean {
    const unit = seg.unit;
    return length <= max && unit > 0 && ipHeader + seg.headerLength + unit <= mtu && length - seg.headerLength <= unit * GSO_FRAMES_MAX;
  }

  /**
   * Takes the slots of a burst of `payload` bytes cut into `seg.unit`-byte
   * frames whose payload starts `payloadAt` bytes into the slot, and has
   * `seg` copy and sum the payloads of the frames that got one. Returns
   * how many did (0: none; fewer than the burst's frames when slots ran
   * out, and `complete` false).
   */
  take(seg: L4Segmenter, payload: number, payloadAt: number): number {
    const unit = seg.unit;
    const frames = Math.ceil(payload / unit);
    this.payload = payload;
    this.unit = unit;
    const slots = this.slots;
    const offs = this.offs;
    const slotSize = this.from.slotSize;
    let count = 0;
    while (count < frames) {
      const slot = this.from.allocTxSlot();
      if (slot < 0) break;
      slots[count] = slot;
      offs[count++] = slot * slotSize + payloadAt;
    }
    this.complete = count === frames;
    if (count > 0) seg.copyPayloads(this.from.pool, offs, count, this.complete ? payload : count * unit, this.sums);
    return count;
  }

  /** Payload bytes frame `k` of the burst carries (the last one the rest). */
  lengthOf(k: number): number {
    const rest = this.payload - k * this.unit;
    return rest < this.unit ? rest : this.unit;
  }

  /** Where frame `k`'s slot starts in the pool. */
  baseOf(k: number): number {
    return this.slots[k]! * this.from.slotSize;
  }

  /** Keeps the `len` header bytes (even, at most 64) at pool[base...] as the burst's. */
  keepHeader(base: number, len: number): void {
    const t = this.header;
    const v = this.view;
    let i = 0;
    for (; i + 4 <= len; i += 4) t.setInt32(i, v.getInt32(base + i));
    if (i < len) t.setUint16(i, v.getUint16(base + i));
  }

  /** Copies the kept header (`len` bytes, as kept) to pool[base...]. */
  copyHeader(base: number, len: number): void {
    const t = this.header;
    const v = this.view;
    let i = 0;
    for (; i + 4 <= len; i += 4) v.setInt32(base + i, t.getInt32(i));
    if (i < len) v.setUint16(base + i, t.getUint16(i));
  }

  /** The slot pool as a DataView, for the family's patches. */
  get poolView(): DataView {
    return this.view;
  }
}
