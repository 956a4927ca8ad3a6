/**
 * A byte ring for TCP send and receive buffers.
 *
 * Layout: `head` is the index of the first readable byte, `length` bytes are
 * readable from there (wrapping at `capacity`). The region past the readable
 * tail (`free` bytes) may hold bytes placed by `writeAt` (out-of-order data)
 * that become readable only when `commit` is called.
 *
 * Size: `limit` is the most the ring ever holds (the configured buffer size;
 * `free` = limit - length, so a receive window computed from it never depends
 * on what happens to be allocated). `capacity` is what is allocated now. An
 * eager ring (the default) allocates `limit` bytes at construction. A lazy
 * ring starts with nothing, allocates on the first write, grows by doubling
 * (copying what it holds, placed out-of-order bytes included) up to `limit`,
 * and gives its storage back with `release()` when the owner knows nothing is
 * held (length 0 and nothing placed with writeAt): an idle connection holds
 * no ring memory. Storage comes from and goes back to a `RingPool`, so the
 * steady state (fill, drain, release, fill again) allocates nothing; the
 * size taken next time is remembered from the last tenure (it shrinks when
 * the ring was mostly empty), so a bulk transfer does not regrow each time.
 *
 * Copies go through wire/bytes' copyBytes (32-bit words via cached DataViews).
 *
 * Misuse (counts out of range) throws RangeError: those are bugs in the
 * caller, never a consequence of network input.
 */
import { copyBytes } from '../../wire/bytes.js';

/** Smallest allocation of a lazy ring (bytes). */
export const RING_MIN_CAPACITY = 4096;

const EMPTY = new Uint8Array(0);
/** A lazy ring's next allocation halves after this many tenures in a row using under a quarter of it. */
const UNDERUSED_TENURES = 8;

/**
 * Free ring storage shared by the connections of a layer (like a slab of
 * socket buffers): released storage is kept, by exact size, up to `maxBytes`
 * in all, and handed out again instead of allocating (and zero-filling) new
 * memory. Storage handed out is not cleared: a ring only ever reads bytes it
 * wrote.
 */
/** Free buffers of one size: a stack that never shrinks its array (pop/push could reallocate it). */
class SizeClass {
  readonly bufs: (Uint8Array | null)[] = [];
  n = 0;
}

export class RingPool {
  private readonly classes = new Map<number, SizeClass>();
  /**
   * The size classes of powers of two by log2 (what rings take unless a
   * configured limit is not one): an array read per take and give instead
   * of a Map lookup, on a path a request/response runs twice per direction.
   */
  private readonly pow2: (SizeClass | undefined)[] = [];
  private bytes = 0;
  /** Ring objects without storage, for takeRing (bounded). */
  private readonly rings: ByteRing[] = [];
  private nRings = 0;
  /** Allocations made because the pool had nothing of the size (diagnostics). */
  allocations = 0;

  constructor(readonly maxBytes = 4 << 20) {}

  /** Bytes held for reuse. */
  get retainedBytes(): number {
    return this.bytes;
  }

  private classOf(size: number): SizeClass | undefined {
    if ((size & (size - 1)) === 0) return this.pow2[31 - Math.clz32(size)];
    return this.classes.get(size);
  }

  take(size: number): Uint8Array {
    const c = this.classOf(size);
    if (c !== undefined && c.n > 0) {
      const i = --c.n;
      const b = c.bufs[i]!;
      c.bufs[i] = null;
      this.bytes -= size;
      return b;
    }
    this.allocations++;
    return new Uint8Array(size);
  }

  give(buf: Uint8Array): void {
    const size = buf.length;
    if (size === 0 || this.bytes + size > this.maxBytes) return;
    let c = this.classOf(size);
    if (c === undefined) {
      c = new SizeClass();
      if ((size & (size - 1)) === 0) this.pow2[31 - Math.clz32(size)] = c;
      else this.classes.set(size, c);
    }
    if (c.n === c.bufs.length) c.bufs.push(buf);
    else c.bufs[c.n] = buf;
    c.n++;
    this.bytes += size;
  }

  /**
   * A lazy ring of at most `limit` bytes, holding nothing yet; `sizeState` is
   * what giveRing returned for the previous ring in the same role (0 if
   * none), so the first allocation starts at the size the last tenure
   * needed. Lets a connection hold no ring object at all while idle.
   */
  takeRing(limit: number, sizeState: number): ByteRing {
    const r = this.nRings > 0 ? this.rings[--this.nRings]! : new ByteRing(limit, { lazy: true, pool: this });
    r.reuse(limit, sizeState);
    return r;
  }

  /**
   * Takes back an empty ring (its storage and the object); returns its size
   * state for the next takeRing in the same role. The caller must hold
   * nothing in it (length 0, nothing placed past the tail that it needs).
   */
  giveRing(r: ByteRing): number {
    r.dispose();
    const state = r.sizeState;
    if (this.nRings < MAX_FREE_RINGS) {
      if (this.nRings === this.rings.length) this.rings.push(r);
      else this.rings[this.nRings] = r;
      this.nRings++;
    }
    return state;
  }

  /** Drops everything retained. */
  clear(): void {
    this.classes.clear();
    this.pow2.length = 0;
    this.bytes = 0;
    this.rings.length = 0;
    this.nRings = 0;
  }
}

/** Ring objects a pool keeps for takeRing. */
const MAX_FREE_RINGS = 256;

/** The pool of rings created without one. */
export const defaultRingPool = new RingPool();

export interface ByteRingOptions {
  /** Allocate on demand instead of `limit` bytes now (default false). */
  lazy?: boolean;
  /** Where a lazy ring takes and returns storage (default: defaultRingPool). */
  pool?: RingPool;
}

function nextPow2(n: number): number {
  let p = RING_MIN_CAPACITY;
  while (p < n) p *= 2;
  return p;
}

export class ByteRing {
  /** The backing store (its length is `capacity`); exposed for zero-copy use with the span helpers. */
  buffer: Uint8Array;
  /** Most bytes the ring holds (readable + placed). */
  limit: number;
  private head = 0;
  private len = 0;
  /** Largest logical extent needed during the current tenure of `buffer`. */
  private peak = 0;
  /** Size to take on the next allocation (lazy rings). */
  private hint = 0;
  /** Consecutive tenures that used less than a quarter of the storage. */
  private underused = 0;
  private readonly pool: RingPool | null;

  constructor(limit: number, opts?: ByteRingOptions) {
    if (!Number.isInteger(limit) || limit <= 0) {
      throw new RangeError(`ByteRing capacity must be a positive integer, got ${limit}`);
    }
    this.limit = limit;
    if (opts?.lazy === true) {
      this.pool = opts.pool ?? defaultRingPool;
      this.buffer = EMPTY;
    } else {
      this.pool = null;
      this.buffer = new Uint8Array(limit);
    }
  }

  /** Bytes allocated now (`limit` for an eager ring; 0 for an empty released lazy ring). */
  get capacity(): number {
    return this.buffer.length;
  }

  /** Readable bytes. */
  get length(): number {
    return this.len;
  }

  /** Bytes that can still be written (or placed with writeAt), whether or not allocated yet. */
  get free(): number {
    return this.limit - this.len;
  }

  /**
   * Makes at least `n` logical bytes from the head addressable (n <= limit):
   * allocates or grows (doubling, copying everything held, including bytes
   * placed past the tail). Amortised: not per segment.
   */
  ensure(n: number): void {
    if (n > this.peak) this.peak = n;
    const cap = this.buffer.length;
    if (n <= cap) return;
    if (n > this.limit) throw new RangeError(`ByteRing.ensure(${n}) exceeds limit ${this.limit}`);
    let size = nextPow2(n);
    if (size < 2 * cap) size = 2 * cap;
    if (cap === 0 && size < this.hint) size = this.hint;
    if (size > this.limit) size = this.limit;
    const pool = this.pool ?? defaultRingPool;
    const next = pool.take(size);
    if (cap > 0) {
      // Linearise the whole old buffer from head: readable bytes and placed ones.
      const old = this.buffer;
      const first = cap - this.head;
      copyBytes(next, 0, old, this.head, first);
      if (this.head > 0) copyBytes(next, first, old, 0, this.head);
      if (this.pool !== null) pool.give(old);
    }
    this.buffer = next;
    this.head = 0;
  }

  /**
   * Gives the storage back (lazy rings only; eager rings keep theirs). Only
   * when nothing is held: length 0 and the caller placed nothing past the
   * tail that it still needs. Returns whether storage was released.
   */
  release(): boolean {
    if (this.pool === null || this.len !== 0 || this.buffer.length === 0) return false;
    const cap = this.buffer.length;
    // Next time start at this size, so a transfer that drains the ring often
    // does not regrow it every time (and keeps finding its size in the pool);
    // halve it after UNDERUSED_TENURES tenures in a row that needed less than
    // a quarter of it.
    this.hint = cap;
    if (this.peak > cap >>> 2) this.underused = 0;
    else if (++this.underused >= UNDERUSED_TENURES) {
      this.underused = 0;
      this.hint = Math.max(RING_MIN_CAPACITY, cap >>> 1);
    }
    this.pool.give(this.buffer);
    this.buffer = EMPTY;
    this.head = 0;
    this.peak = 0;
    return true;
  }

  /**
   * The sizing memory of a lazy ring (next allocation size, underused
   * tenures) as one small integer, for a ring object handed back to a pool:
   * see RingPool.takeRing.
   */
  get sizeState(): number {
    // ceil(log2(hint)), 0 for no hint.
    const log = this.hint <= 1 ? 0 : 32 - Math.clz32(this.hint - 1);
    return (log << 4) | this.underused;
  }

  /** Reinitialises a pooled lazy ring: empty, no storage, new limit and sizing memory. */
  reuse(limit: number, sizeState: number): void {
    this.limit = limit;
    this.head = 0;
    this.len = 0;
    this.peak = 0;
    const log = sizeState >>> 4;
    this.hint = log > 0 ? Math.min(limit, 1 << log) : 0;
    this.underused = sizeState & 15;
  }

  /** Drops everything held and gives the storage back (lazy rings): the ring is done with. */
  dispose(): void {
    this.clear();
    this.release();
  }

  /** Physical index of logical position `pos` (0 <= pos < 2*capacity) from head. */
  private index(pos: number): number {
    const i = this.head + pos;
    const cap = this.buffer.length;
    return i >= cap ? i - cap : i;
  }

  /** Copies `len` bytes into the ring at logical position `pos` past head; no bounds checks. */
  private put(pos: number, src: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    this.ensure(pos + len);
    const start = this.index(pos);
    const first = Math.min(len, this.buffer.length - start);
    copyBytes(this.buffer, start, src, off, first);
    if (first < len) copyBytes(this.buffer, 0, src, off + first, len - first);
  }

  /** Copies `len` bytes out of the ring from logical position `pos`; no bounds checks. */
  private get(pos: number, dst: Uint8Array, off: number, len: number): void {
    if (len <= 0) return;
    const start = this.index(pos);
    const first = Math.min(len, this.buffer.length - start);
    copyBytes(dst, off, this.buffer, start, first);
    if (first < len) copyBytes(dst, off + first, this.buffer, 0, len - first);
  }

  /** Appends min(len, free) bytes at the readable tail; returns how many were copied. */
  write(src: Uint8Array, off: number, len: number): number {
    const n = Math.min(len, this.limit - this.len);
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
    if (offset < 0 || offset + len > this.limit - this.len) {
      throw new RangeError(`ByteRing.writeAt out of range: offset ${offset} len ${len} free ${this.free}`);
    }
    this.put(this.len + offset, src, off, len);
  }

  /** Makes `n` bytes past the tail readable (bytes placed earlier with writeAt). */
  commit(n: number): void {
    if (n < 0 || n > this.limit - this.len) {
      throw new RangeError(`ByteRing.commit(${n}) exceeds free space ${this.free}`);
    }
    if (this.len + n > this.buffer.length) this.ensure(this.len + n);
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
    if (n === 0) return;
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
   * and then call `commit`. Returns the number of spans. A lazy ring shows
   * only what is allocated: call `ensure(length + offset + n)` first.
   */
  writableSpans(out: number[] | Uint32Array, offset = 0): number {
    return this.spans(out, this.len + offset, this.buffer.length - this.len - offset);
  }

  private spans(out: number[] | Uint32Array, pos: number, len: number): number {
    out[0] = 0;
    out[1] = 0;
    out[2] = 0;
    out[3] = 0;
    if (len <= 0 || pos < 0) return 0;
    const start = this.index(pos);
    const first = Math.min(len, this.buffer.length - start);
    out[0] = start;
    out[1] = first;
    if (first === len) return 1;
    out[2] = 0;
    out[3] = len - first;
    return 2;
  }
}
