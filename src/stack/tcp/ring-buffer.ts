/**
 * A fixed-capacity byte ring for TCP send and receive buffers.
 *
 * Layout: `head` is the index of the first readable byte, `length` bytes are
 * readable from there (wrapping at `capacity`). The region past the readable
 * tail (`free` bytes) may hold bytes placed by `writeAt` (out-of-order data)
 * that become readable only when `commit` is called.
 *
 * Allocation: none after construction; copies go through wire/bytes'
 * copyBytes (32-bit words via cached DataViews).
 *
 * Misuse (counts out of range) throws RangeError: those are bugs in the
 * caller, never a consequence of network input.
 */
import { copyBytes } from '../wire/bytes.js';

export class ByteRing {
  /** The backing store; exposed for zero-copy use with the span helpers. */
  readonly buffer: Uint8Array;
  readonly capacity: number;
  private head = 0;
  private len = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`ByteRing capacity must be a positive integer, got ${capacity}`);
    }
    this.capacity = capacity;
    this.buffer = new Uint8Array(capacity);
  }

  /** Readable bytes. */
  get length(): number {
    return this.len;
  }

  /** Bytes that can still be written (or placed with writeAt). */
  get free(): number {
    return this.capacity - this.len;
  }

  /** Physical index of logical position `pos` (0 <= pos < 2*capacity) from head. */
  private index(pos: number): number {
    const i = this.head + pos;
    return i >= this.capacity ? i - this.capacity : i;
  }

  /** Copies `len` bytes into the ring at logical position `pos` past head; no bounds checks. */
  private put(pos: number, src: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    const start = this.index(pos);
    const first = Math.min(len, this.capacity - start);
    copyBytes(this.buffer, start, src, off, first);
    if (first < len) copyBytes(this.buffer, 0, src, off + first, len - first);
  }

  /** Copies `len` bytes out of the ring from logical position `pos`; no bounds checks. */
  private get(pos: number, dst: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    const start = this.index(pos);
    const first = Math.min(len, this.capacity - start);
    copyBytes(dst, off, this.buffer, start, first);
    if (first < len) copyBytes(dst, off + first, this.buffer, 0, len - first);
  }

  /** Appends min(len, free) bytes at the readable tail; returns how many were copied. */
  write(src: Uint8Array, off: number, len: number): number {
    const n = Math.min(len, this.capacity - this.len);
    if (n <= 0) return 0;
    this.put(this.len, src, off, n);
    this.len += n;
    return n;
  }

  /**
   * Places bytes `offset` bytes past the readable tail without making them
   * readable (out-of-order reassembly). Requires offset + len <= free.
   */
  writeAt(offset: number, src: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    if (offset < 0 || offset + len > this.capacity - this.len) {
      throw new RangeError(`ByteRing.writeAt out of range: offset ${offset} len ${len} free ${this.free}`);
    }
    this.put(this.len + offset, src, off, len);
  }

  /** Makes `n` bytes past the tail readable (bytes placed earlier with writeAt). */
  commit(n: number): void {
    if (n < 0 || n > this.capacity - this.len) {
      throw new RangeError(`ByteRing.commit(${n}) exceeds free space ${this.free}`);
    }
    this.len += n;
  }

  /** Copies out and consumes up to `len` bytes; returns how many. */
  read(dst: Uint8Array, off: number, len: number): number {
    const n = Math.min(len, this.len);
    if (n <= 0) return 0;
    this.get(0, dst, off, n);
    this.consume(n);
    return n;
  }

  /**
   * Copies up to `len` readable bytes starting `offsetFromStart` bytes after
   * the first readable byte, without consuming; returns how many.
   */
  peek(offsetFromStart: number, dst: Uint8Array, off: number, len: number): number {
    if (offsetFromStart < 0) throw new RangeError(`ByteRing.peek offset ${offsetFromStart} < 0`);
    const n = Math.min(len, this.len - offsetFromStart);
    if (n <= 0) return 0;
    this.get(offsetFromStart, dst, off, n);
    return n;
  }

  /** Discards `n` readable bytes from the front. */
  consume(n: number): void {
    if (n < 0 || n > this.len) {
      throw new RangeError(`ByteRing.consume(${n}) exceeds readable length ${this.len}`);
    }
    this.head = this.index(n);
    this.len -= n;
  }

  /** Drops everything, including bytes placed with writeAt. */
  clear(): void {
    this.head = 0;
    this.len = 0;
  }

  /**
   * Zero-copy view of readable bytes from `offsetFromStart` on, as up to two
   * (start, length) pairs of indices into `buffer`, written to `out[0..3]`
   * (unused pairs get length 0). Returns the number of spans (0, 1 or 2).
   */
  readableSpans(out: number[] | Uint32Array, offsetFromStart = 0): number {
    return this.spans(out, offsetFromStart, this.len - offsetFromStart);
  }

  /**
   * Zero-copy view of the free region past the readable tail, starting
   * `offset` bytes past the tail, as up to two (start, length) pairs; fill them
   * and then call `commit`. Returns the number of spans.
   */
  writableSpans(out: number[] | Uint32Array, offset = 0): number {
    return this.spans(out, this.len + offset, this.capacity - this.len - offset);
  }

  private spans(out: number[] | Uint32Array, pos: number, len: number): number {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    if (len <= 0 || pos < 0) return 0;
    const start = this.index(pos);
    const first = Math.min(len, this.capacity - start);
    out[0] = start;
    out[1] = first;
    if (first === len) return 1;
    out[2] = 0;
    out[3] = len - first;
    return 2;
  }
}
