/**
 * Out-of-order receive bookkeeping (which bytes beyond RCV.NXT are held).
 *
 * Ranges are kept sorted and disjoint in preallocated typed arrays — starts,
 * ends and a recency stamp per range — so no objects are created per segment.
 * Overlapping and adjacent ranges coalesce on insert. Offsets are relative to
 * the next expected byte (RCV.NXT); `advance` moves that origin.
 *
 * The data bytes themselves live elsewhere (e.g. ByteRing.writeAt); this only
 * tracks which offsets are present.
 */
import type { AssemblerContract } from './contracts.js';

export class Assembler implements AssemblerContract {
  readonly maxBytes: number;
  readonly maxRanges: number;
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  /** Larger = more recently added or extended (RFC 2018 §4 ordering). */
  private readonly stamps: Float64Array;
  /** Scratch for `ranges`: indices ordered by recency. */
  private readonly order: Int32Array;
  private count = 0;
  private held = 0;
  private clock = 0;

  constructor(maxBytes: number, maxRanges: number) {
    if (!(maxBytes >= 0) || !Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new RangeError(`Assembler: bad bounds maxBytes=${maxBytes} maxRanges=${maxRanges}`);
    }
    this.maxBytes = maxBytes;
    this.maxRanges = maxRanges;
    this.starts = new Float64Array(maxRanges);
    this.ends = new Float64Array(maxRanges);
    this.stamps = new Float64Array(maxRanges);
    this.order = new Int32Array(maxRanges);
  }

  /** Bytes held out of order. */
  get heldBytes(): number {
    return this.held;
  }

  /** Number of separate ranges held. */
  get rangeCount(): number {
    return this.count;
  }

  /** True when nothing is held. */
  get isEmpty(): boolean {
    return this.count === 0;
  }

  /**
   * Records [offset, offset+len). Returns false (and records nothing) if the
   * result would hold more than maxBytes or more than maxRanges ranges. Data
   * that only overlaps what is already held is always accepted (and marks
   * that range as the most recent). len <= 0 is a no-op returning true.
   */
  add(offset: number, len: number): boolean {
    if (len <= 0) return true;
    if (offset < 0) throw new RangeError(`Assembler.add: negative offset ${offset}`);
    const end = offset + len;
    const starts = this.starts;
    const ends = this.ends;
    const n = this.count;
    // i: first range whose end >= offset (touches or lies after the new one).
    let i = 0;
    while (i < n && ends[i]! < offset) i++;
    // j: first range whose start > end (lies strictly after, not adjacent).
    let j = i;
    let covered = 0;
    while (j < n && starts[j]! <= end) {
      covered += ends[j]! - starts[j]!;
      j++;
    }
    const merged = j - i;
    const newStart = merged > 0 && starts[i]! < offset ? starts[i]! : offset;
    const newEnd = merged > 0 && ends[j - 1]! > end ? ends[j - 1]! : end;
    const newHeld = this.held - covered + (newEnd - newStart);
    const newCount = n - merged + 1;
    if (newHeld > this.held && newHeld > this.maxBytes) return false;
    if (newCount > this.maxRanges) return false;

    const stamp = ++this.clock;
    if (merged === 0) {
      // Insert at i: shift [i, n) right by one.
      for (let k = n; k > i; k--) {
        starts[k] = starts[k - 1]!;
        ends[k] = ends[k - 1]!;
        this.stamps[k] = this.stamps[k - 1]!;
      }
    } else if (merged > 1) {
      // Collapse [i, j) into i: shift [j, n) left by merged-1.
      const shift = merged - 1;
      for (let k = j; k < n; k++) {
        starts[k - shift] = starts[k]!;
        ends[k - shift] = ends[k]!;
        this.stamps[k - shift] = this.stamps[k]!;
      }
    }
    starts[i] = newStart;
    ends[i] = newEnd;
    this.stamps[i] = stamp;
    this.count = newCount;
    this.held = newHeld;
    return true;
  }

  /**
   * The in-order prefix grew by `n` bytes (data at offset 0 arrived). Shifts
   * all ranges down by n, dropping what falls below 0. If a held range then
   * starts at offset 0, it is removed and its length returned: those bytes are
   * now in order too, and the origin moves past them as well. So after
   * `k = advance(n)`, offsets are relative to the old origin + n + k; the
   * caller delivers n + k bytes. Returns 0 when nothing became contiguous.
   */
  advance(n: number): number {
    if (n < 0) throw new RangeError(`Assembler.advance: negative ${n}`);
    const starts = this.starts;
    const ends = this.ends;
    const stamps = this.stamps;
    // Drop ranges entirely below n.
    let drop = 0;
    while (drop < this.count && ends[drop]! <= n) {
      this.held -= ends[drop]! - starts[drop]!;
      drop++;
    }
    let extra = 0;
    if (drop < this.count && starts[drop]! <= n) {
      // This range now begins at (or straddles) the origin: it is in order.
      extra = ends[drop]! - n;
      this.held -= ends[drop]! - starts[drop]!;
      drop++;
    }
    const shift = n + extra;
    const m = this.count - drop;
    for (let k = 0; k < m; k++) {
      starts[k] = starts[k + drop]! - shift;
      ends[k] = ends[k + drop]! - shift;
      stamps[k] = stamps[k + drop]!;
    }
    this.count = m;
    if (m === 0) this.held = 0;
    return extra;
  }

  /**
   * Ranges as [start0, end0, start1, end1, ...] relative offsets, the most
   * recently added or extended first, then the others by decreasing recency
   * (RFC 2018 §4). Clears `out` first and returns it.
   */
  ranges(out: number[]): number[] {
    out.length = 0;
    const n = this.count;
    const order = this.order;
    const stamps = this.stamps;
    // Insertion sort of indices by stamp, descending; n is small.
    for (let k = 0; k < n; k++) {
      let p = k;
      while (p > 0 && stamps[order[p - 1]!]! < stamps[k]!) {
        order[p] = order[p - 1]!;
        p--;
      }
      order[p] = k;
    }
    for (let k = 0; k < n; k++) {
      const idx = order[k]!;
      out.push(this.starts[idx]!, this.ends[idx]!);
    }
    return out;
  }

  /** Ranges in ascending offset order, [start0, end0, ...]. Clears `out` first. */
  sortedRanges(out: number[]): number[] {
    out.length = 0;
    for (let k = 0; k < this.count; k++) out.push(this.starts[k]!, this.ends[k]!);
    return out;
  }

  /** Whether [offset, offset+len) is entirely held. */
  contains(offset: number, len: number): boolean {
    const end = offset + len;
    for (let k = 0; k < this.count; k++) {
      if (this.starts[k]! <= offset && end <= this.ends[k]!) return true;
      if (this.starts[k]! > offset) return false;
    }
    return false;
  }

  clear(): void {
    this.count = 0;
    this.held = 0;
  }
}
