/**
 * ImpairedNic: wraps any Nic and applies seeded impairments (loss,
 * duplication, corruption, reordering, delay + jitter, rate limiting with a
 * bounded queue) to frames in both directions.
 *
 * The same options apply to transmit (stack -> inner.txBurst) and receive
 * (inner.rxBurst -> stack) independently, each direction with its own PRNG
 * stream derived from the seed. Pool, slots, MAC, MTU and offloads are the
 * inner NIC's; held frames keep their slot and are tracked in typed arrays
 * (a binary min-heap of slot/len/due/seq), so nothing is allocated per frame.
 *
 * Per frame entering a direction, in this order:
 *  1. loss: dropped with probability `loss` (slot released).
 *  2. queue limit: if `queueLimit` frames are already held in this direction,
 *     tail drop (counted as queue_drops).
 *  3. duplicate: with probability `duplicate` an exact copy is made into a
 *     fresh slot (if the pool has one); the copy follows the original through
 *     steps 2 and 4-6 (it is not lost or duplicated again).
 *  4. corrupt: with probability `corrupt` one uniformly chosen bit of the frame
 *     is flipped.
 *  5. timing: with `rate`, departure = max(now, last departure) + len*8/rate;
 *     then due = departure + delay + uniform(-jitter, +jitter), clamped to be
 *     >= departure. Jitter does not reorder: due is also raised to the
 *     previous frame's due (reordering comes only from `reorder`).
 *  6. reorder: with probability `reorder` the frame is held back and released
 *     right after the NEXT frame that enters the same direction (a swap with
 *     its successor), i.e. it is due at max(its own due, the successor's due)
 *     and ordered after the successor. At most one frame is held back at a
 *     time (while one is, no other is chosen). If no successor arrives within
 *     REORDER_MAX_HOLD_MS after its own due time, it is released alone (and
 *     not counted as reordered).
 *
 * Frames are released when clock.now() >= due. Due frames move on every call:
 * txBurst() and rxBurst() both hand due transmit frames to inner.txBurst()
 * (frames it does not accept stay at the head and are retried); rxBurst() also
 * takes new frames from inner.rxBurst() and returns due receive frames.
 * pollAt() = min(inner.pollAt(), earliest due held frame in either direction).
 * With nothing configured, every call passes straight through to the inner NIC.
 *
 * Rate limiting counts only the frame's own bytes (no preamble/IFG overhead).
 */
import type { Clock } from '../time/clock.js';
import type { Nic, NicOffloads, NicStats } from './nic.js';
import { ForwardingNic } from './forwarding-nic.js';
import { ERR_INVALID_ARG_VALUE } from '../errors/node-errors.js';
import { Prng } from './prng.js';

export interface ImpairOptions {
  /** Probability that a frame is dropped, 0..1. */
  loss?: number;
  /** Probability that a frame is delivered twice, 0..1. */
  duplicate?: number;
  /** Probability that a frame is swapped with its successor, 0..1. */
  reorder?: number;
  /** Probability that one bit of a frame is flipped, 0..1. */
  corrupt?: number;
  /** Fixed one-way delay, ms. */
  delay?: number;
  /** Uniform jitter added to the delay, ±ms (result clamped at 0 extra delay). */
  jitter?: number;
  /** Link rate in bits per second; 0/undefined = unlimited. */
  rate?: number;
  /** Frames held per direction before tail drop (default 1000). */
  queueLimit?: number;
  /** PRNG seed (default 0): the same seed replays the same impairments. */
  seed?: number;
}

/** How long a frame chosen for reordering waits for a successor, ms past its due time. */
export const REORDER_MAX_HOLD_MS = 1;

const STAGE = 64;
const SCRATCH = 256;

function checkProbability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw ERR_INVALID_ARG_VALUE(`impair.${name}`, v, 'must be a probability between 0 and 1');
  }
  return v;
}

function checkNonNegative(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) {
    throw ERR_INVALID_ARG_VALUE(`impair.${name}`, v, 'must be a finite number >= 0');
  }
  return v;
}

/** One direction's state: configuration, PRNG, held frames, counters. */
class Direction {
  readonly active: boolean;
  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly corrupt: number;
  private readonly delay: number;
  private readonly jitter: number;
  /** ms per bit, 0 = unlimited. */
  private readonly msPerBit: number;
  private readonly queueLimit: number;
  private readonly prng: Prng;

  // Min-heap on (due, seq).
  private readonly hSlot: Uint32Array;
  private readonly hLen: Uint32Array;
  private readonly hDue: Float64Array;
  private readonly hSeq: Float64Array;
  private hSize = 0;
  private seq = 0;
  private lastDue = -Infinity;
  private lastDeparture = -Infinity;

  // The frame held back for reordering.
  private regFull = false;
  private regSlot = 0;
  private regLen = 0;
  private regDue = 0;
  private regTimeout = 0;

  lost = 0;
  duplicated = 0;
  dupNoBuffer = 0;
  corrupted = 0;
  reordered = 0;
  delayed = 0;
  queueDrops = 0;

  constructor(
    private readonly inner: Nic,
    opts: ImpairOptions,
    seed: number,
    stream: number,
  ) {
    this.loss = checkProbability('loss', opts.loss);
    this.duplicate = checkProbability('duplicate', opts.duplicate);
    this.reorder = checkProbability('reorder', opts.reorder);
    this.corrupt = checkProbability('corrupt', opts.corrupt);
    this.delay = checkNonNegative('delay', opts.delay);
    this.jitter = checkNonNegative('jitter', opts.jitter);
    const rate = checkNonNegative('rate', opts.rate);
    this.msPerBit = rate > 0 ? 1000 / rate : 0;
    const ql = opts.queueLimit ?? 1000;
    if (!Number.isInteger(ql) || ql < 1 || ql > 1 << 24) {
      throw ERR_INVALID_ARG_VALUE('impair.queueLimit', ql, 'must be an integer between 1 and 16777216');
    }
    this.queueLimit = ql;
    this.prng = new Prng(seed, stream);
    this.active =
      this.loss > 0 ||
      this.duplicate > 0 ||
      this.reorder > 0 ||
      this.corrupt > 0 ||
      this.delay > 0 ||
      this.jitter > 0 ||
      this.msPerBit > 0;
    const cap = this.active ? ql + 1 : 0;
    this.hSlot = new Uint32Array(cap);
    this.hLen = new Uint32Array(cap);
    this.hDue = new Float64Array(cap);
    this.hSeq = new Float64Array(cap);
  }

  /** Frames held in this direction. */
  get held(): number {
    return this.hSize + (this.regFull ? 1 : 0);
  }

  /** Earliest time something held here becomes deliverable (Infinity if none). */
  nextDue(): number {
    let t = this.hSize > 0 ? this.hDue[0]! : Infinity;
    if (this.regFull && this.regTimeout < t) t = this.regTimeout;
    return t;
  }

  /** Takes ownership of a frame entering this direction. */
  offer(slot: number, len: number, now: number): void {
    if (this.loss > 0 && this.prng.next() < this.loss) {
      this.lost++;
      this.inner.release(slot);
      return;
    }
    let copy = -1;
    if (this.duplicate > 0 && this.prng.next() < this.duplicate) {
      copy = this.inner.alloc();
      if (copy < 0) this.dupNoBuffer++;
      else {
        const size = this.inner.slotSize;
        this.inner.pool.copyWithin(copy * size, slot * size, slot * size + len);
        this.duplicated++;
      }
    }
    this.admit(slot, len, now);
    if (copy >= 0) this.admit(copy, len, now);
  }

  private admit(slot: number, len: number, now: number): void {
    if (this.held >= this.queueLimit) {
      this.queueDrops++;
      this.inner.release(slot);
      return;
    }
    if (this.corrupt > 0 && this.prng.next() < this.corrupt && len > 0) {
      const bit = this.prng.nextInt(len * 8);
      this.inner.pool[slot * this.inner.slotSize + (bit >> 3)]! ^= 1 << (bit & 7);
      this.corrupted++;
    }
    let due = now;
    if (this.msPerBit > 0) {
      const start = this.lastDeparture > now ? this.lastDeparture : now;
      due = start + len * 8 * this.msPerBit;
      this.lastDeparture = due;
    }
    let extra = this.delay;
    if (this.jitter > 0) extra += (this.prng.next() * 2 - 1) * this.jitter;
    if (extra > 0) due += extra;
    if (due < this.lastDue) due = this.lastDue;
    this.lastDue = due;
    if (due > now) this.delayed++;

    if (this.regFull) {
      // Swap: this frame goes first, the held-back one right after it.
      this.push(slot, len, due);
      this.regFull = false;
      this.push(this.regSlot, this.regLen, this.regDue > due ? this.regDue : due);
      this.reordered++;
    } else if (this.reorder > 0 && this.prng.next() < this.reorder) {
      this.regFull = true;
      this.regSlot = slot;
      this.regLen = len;
      this.regDue = due;
      this.regTimeout = due + REORDER_MAX_HOLD_MS;
    } else {
      this.push(slot, len, due);
    }
  }

  /**
   * Pops up to `max` frames due at `now` into out arrays starting at `start`;
   * also writes their due/seq into outDue/outSeq when given (for pushBack).
   */
  drainDue(
    now: number,
    outSlots: Uint32Array,
    outLens: Uint32Array,
    start: number,
    max: number,
    outDue: Float64Array | null,
    outSeq: Float64Array | null,
  ): number {
    if (this.regFull && this.regTimeout <= now) {
      this.regFull = false;
      this.push(this.regSlot, this.regLen, this.regTimeout);
    }
    let n = 0;
    while (n < max && this.hSize > 0 && this.hDue[0]! <= now) {
      const i = start + n;
      outSlots[i] = this.hSlot[0]!;
      outLens[i] = this.hLen[0]!;
      if (outDue !== null) outDue[i] = this.hDue[0]!;
      if (outSeq !== null) outSeq[i] = this.hSeq[0]!;
      this.popTop();
      n++;
    }
    return n;
  }

  /** Puts back a frame popped by drainDue, keeping its original place. */
  pushBack(slot: number, len: number, due: number, seq: number): void {
    this.insert(slot, len, due, seq);
  }

  /** Releases every held frame to the inner pool. */
  releaseAll(): void {
    for (let i = 0; i < this.hSize; i++) this.inner.release(this.hSlot[i]!);
    this.hSize = 0;
    if (this.regFull) this.inner.release(this.regSlot);
    this.regFull = false;
  }

  private push(slot: number, len: number, due: number): void {
    this.insert(slot, len, due, this.seq++);
  }

  private insert(slot: number, len: number, due: number, seq: number): void {
    let i = this.hSize++;
    const hDue = this.hDue;
    const hSeq = this.hSeq;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pd = hDue[p]!;
      if (pd < due || (pd === due && hSeq[p]! < seq)) break;
      this.move(p, i);
      i = p;
    }
    this.hSlot[i] = slot;
    this.hLen[i] = len;
    hDue[i] = due;
    hSeq[i] = seq;
  }

  private popTop(): void {
    const last = --this.hSize;
    if (last === 0) return;
    const slot = this.hSlot[last]!;
    const len = this.hLen[last]!;
    const due = this.hDue[last]!;
    const seq = this.hSeq[last]!;
    const hDue = this.hDue;
    const hSeq = this.hSeq;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= last) break;
      const r = c + 1;
      if (r < last && (hDue[r]! < hDue[c]! || (hDue[r] === hDue[c] && hSeq[r]! < hSeq[c]!))) c = r;
      const cd = hDue[c]!;
      if (due < cd || (due === cd && seq < hSeq[c]!)) break;
      this.move(c, i);
      i = c;
    }
    this.hSlot[i] = slot;
    this.hLen[i] = len;
    hDue[i] = due;
    hSeq[i] = seq;
  }

  private move(from: number, to: number): void {
    this.hSlot[to] = this.hSlot[from]!;
    this.hLen[to] = this.hLen[from]!;
    this.hDue[to] = this.hDue[from]!;
    this.hSeq[to] = this.hSeq[from]!;
  }
}

export class ImpairedNic extends ForwardingNic {
  private readonly tx: Direction;
  private readonly rx: Direction;
  private readonly active: boolean;
  private closed = false;
  private readonly stageSlots = new Uint32Array(STAGE);
  private readonly stageLens = new Uint32Array(STAGE);
  private readonly stageDue = new Float64Array(STAGE);
  private readonly stageSeq = new Float64Array(STAGE);
  private readonly scratchSlots: Uint32Array;
  private readonly scratchLens: Uint32Array;
  private readonly offloadsSeen: NicOffloads;

  constructor(
    inner: Nic,
    private readonly clock: Clock,
    opts: ImpairOptions,
  ) {
    super(inner);
    const seed = opts.seed ?? 0;
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw ERR_INVALID_ARG_VALUE('impair.seed', seed, 'must be a finite number');
    }
    this.tx = new Direction(inner, opts, seed, 1);
    this.rx = new Direction(inner, opts, seed, 2);
    this.active = this.tx.active;
    this.scratchSlots = new Uint32Array(this.active ? SCRATCH : 0);
    this.scratchLens = new Uint32Array(this.active ? SCRATCH : 0);
    // Corruption happens "on the wire": checksums must be complete before it,
    // so the stack must not leave them (or TSO segmentation) to the NIC below.
    const off = inner.offloads;
    this.offloadsSeen = (opts.corrupt ?? 0) > 0 ? { ...off, txChecksum: false, tso: false } : off;
  }

  override get offloads(): NicOffloads {
    return this.offloadsSeen;
  }

  /** Frames currently held (both directions). */
  get held(): number {
    return this.tx.held + this.rx.held;
  }

  override rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    if (!this.active) return this.inner.rxBurst(slots, lens, max, flags);
    if (this.closed) return 0;
    // Held frames keep no flags: the inner NIC is asked for complete checksums
    // (a TAP completes the kernel's partial ones) and the stack verifies them,
    // which also catches our own corruption.
    if (flags !== undefined) {
      const n = this.rxBurstImpaired(slots, lens, Math.min(max, flags.length));
      flags.fill(0, 0, n);
      return n;
    }
    return this.rxBurstImpaired(slots, lens, max);
  }

  private rxBurstImpaired(slots: Uint32Array, lens: Uint32Array, max: number): number {
    const now = this.clock.now();
    this.flushTx(now);
    if (max > slots.length) max = slots.length;
    if (max > lens.length) max = lens.length;
    const want = max < SCRATCH ? max : SCRATCH;
    if (want > 0) {
      const k = this.inner.rxBurst(this.scratchSlots, this.scratchLens, want);
      for (let i = 0; i < k; i++) this.rx.offer(this.scratchSlots[i]!, this.scratchLens[i]!, now);
    }
    return this.rx.drainDue(now, slots, lens, 0, max, null, null);
  }

  override txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (!this.active) return this.inner.txBurst(slots, lens, n);
    if (this.closed) return 0;
    if (n > slots.length) n = slots.length;
    if (n > lens.length) n = lens.length;
    const now = this.clock.now();
    for (let i = 0; i < n; i++) this.tx.offer(slots[i]!, lens[i]!, now);
    this.flushTx(now);
    return n;
  }

  override pollAt(): number {
    const inner = this.inner.pollAt();
    if (!this.active) return inner;
    const t = this.tx.nextDue();
    const r = this.rx.nextDue();
    let m = inner < t ? inner : t;
    if (r < m) m = r;
    return m;
  }

  override stats(): NicStats {
    const s: NicStats = { ...this.inner.stats() };
    for (const [dir, d] of [
      ['tx', this.tx],
      ['rx', this.rx],
    ] as const) {
      s[`impair_${dir}_lost`] = d.lost;
      s[`impair_${dir}_duplicated`] = d.duplicated;
      s[`impair_${dir}_dup_no_buffer`] = d.dupNoBuffer;
      s[`impair_${dir}_corrupted`] = d.corrupted;
      s[`impair_${dir}_reordered`] = d.reordered;
      s[`impair_${dir}_delayed`] = d.delayed;
      s[`impair_${dir}_queue_drops`] = d.queueDrops;
      s[`impair_${dir}_held`] = d.held;
    }
    return s;
  }

  /** Frees every held frame, then closes the inner NIC. */
  override async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.tx.releaseAll();
      this.rx.releaseAll();
    }
    await this.inner.close();
  }

  /** Hands due transmit frames to the inner NIC; refused ones stay queued in order. */
  private flushTx(now: number): void {
    const tx = this.tx;
    for (;;) {
      const k = tx.drainDue(now, this.stageSlots, this.stageLens, 0, STAGE, this.stageDue, this.stageSeq);
      if (k === 0) return;
      const acc = this.inner.txBurst(this.stageSlots, this.stageLens, k);
      if (acc < k) {
        for (let i = acc; i < k; i++) {
          tx.pushBack(this.stageSlots[i]!, this.stageLens[i]!, this.stageDue[i]!, this.stageSeq[i]!);
        }
        return;
      }
      if (k < STAGE) return;
    }
  }
}
