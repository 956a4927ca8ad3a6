/**
 * The stack's one timer structure: a hierarchical hashed timing wheel.
 *
 * - Resolution 1 ms ("tick" = Math.floor(deadline)); deadlines are floats and
 *   timers still fire in exact (deadline, arming order) order.
 * - LEVELS levels of SLOTS slots each: level k slot covers 64^k ticks, so the
 *   wheel spans 64^6 ms (about 795 days) ahead of the current tick; deadlines
 *   beyond that (and Infinity) wait in an overflow list.
 * - Timers are intrusive doubly-linked nodes: arm/disarm are O(1) (arm does a
 *   few divisions to pick the level) and allocate nothing.
 * - Timers whose tick is <= the current tick live in one `pending` list kept
 *   sorted by (deadline, seq); advance() fires from its head. Slots are moved
 *   into it (merge-sorted, no allocation) as the current tick reaches them.
 * - advance() jumps over empty stretches using per-level occupancy bitmaps,
 *   so a virtual clock jumping an hour ahead costs a handful of steps.
 *
 * Invariants (c = current tick):
 *  - pending holds exactly the armed timers with tick <= c, sorted;
 *  - a timer with c < tick is at the lowest level k whose 64^(k+1)-aligned
 *    epoch contains both tick and c, in slot floor(tick / 64^k) % 64; that
 *    slot's index is always greater than c's index at level k, so all timers
 *    at level k are earlier than all timers at level k+1;
 *  - timers whose tick is in no such epoch are in the overflow list.
 */

const BITS = 6;
const SLOTS = 1 << BITS; // 64
const LEVELS = 6;

/** 64^k for k = 0..LEVELS. */
const UNIT: number[] = [];
for (let k = 0, u = 1; k <= LEVELS; k++, u *= SLOTS) UNIT.push(u);

/** Ticks below this (2^31) take place()'s integer path. */
const INT_TICKS = 2 ** 31;

/** Where a timer currently lives. */
const WHERE_NONE = -1;
const WHERE_PENDING = -2;
const WHERE_OVERFLOW = -3;

export class Timer {
  /** @internal */ _deadline = 0;
  /** @internal */ _tick = 0;
  /** @internal */ _seq = 0;
  /** @internal list membership: WHERE_* or a slot index (level * 64 + slot). */
  _where = WHERE_NONE;
  /** @internal */ _next: Timer | null = null;
  /** @internal */ _prev: Timer | null = null;

  constructor(readonly callback: (now: number) => void) {}

  /** The deadline it was last armed with (ms). Meaningful while armed. */
  get deadline(): number {
    return this._deadline;
  }

  get armed(): boolean {
    return this._where !== WHERE_NONE;
  }
}

/** Strict (deadline, seq) order. */
function before(a: Timer, b: Timer): boolean {
  return a._deadline < b._deadline || (a._deadline === b._deadline && a._seq < b._seq);
}

/** Merges two sorted singly-linked (via _next) lists. */
function mergeSorted(a: Timer | null, b: Timer | null): Timer | null {
  if (a === null) return b;
  if (b === null) return a;
  let head: Timer;
  if (before(b, a)) {
    head = b;
    b = b._next;
  } else {
    head = a;
    a = a._next;
  }
  let tail = head;
  while (a !== null && b !== null) {
    if (before(b, a)) {
      tail._next = b;
      tail = b;
      b = b._next;
    } else {
      tail._next = a;
      tail = a;
      a = a._next;
    }
  }
  tail._next = a !== null ? a : b;
  return head;
}

/** Sorts a singly-linked (via _next) list of `n` timers; stable merge sort. */
function sortList(head: Timer | null, n: number): Timer | null {
  if (n <= 1) {
    if (head !== null) head._next = null;
    return head;
  }
  const half = n >> 1;
  let mid = head!;
  for (let i = 1; i < half; i++) mid = mid._next!;
  const right = mid._next;
  mid._next = null;
  return mergeSorted(sortList(head, half), sortList(right, n - half));
}

export class TimerWheel {
  /** Current tick: every timer with tick <= cur is in `pending`. */
  private cur: number;
  private readonly heads: (Timer | null)[] = new Array<Timer | null>(LEVELS * SLOTS).fill(null);
  /** Two 32-bit occupancy words per level. */
  private readonly occupied = new Uint32Array(LEVELS * 2);
  private pendingHead: Timer | null = null;
  private pendingTail: Timer | null = null;
  private overflowHead: Timer | null = null;
  private overflowCount = 0;
  private count = 0;
  private seq = 0;
  private nextCache = Infinity;
  private nextValid = true;

  constructor(now: number) {
    if (Number.isNaN(now)) throw new RangeError('TimerWheel: now must be a number');
    this.cur = Math.floor(now);
  }

  /**
   * The whole millisecond of the last advance(): a cheap, slightly stale
   * clock (a small integer, no reading) for bookkeeping on the scale of
   * seconds, such as neighbour-cache ages.
   */
  get tick(): number {
    return this.cur;
  }

  /** Number of armed timers. */
  get size(): number {
    return this.count;
  }

  /**
   * Arms `timer` to fire at `deadline` (ms), re-arming it if already armed (it
   * then counts as armed last among equal deadlines). A deadline at or before
   * the current time fires on the next advance(). Infinity: armed, never fires.
   */
  arm(timer: Timer, deadline: number): void {
    if (Number.isNaN(deadline)) throw new RangeError('TimerWheel.arm: deadline is NaN');
    if (timer._where !== WHERE_NONE) this.unlink(timer);
    timer._deadline = deadline;
    timer._tick = Math.floor(deadline);
    timer._seq = this.seq++;
    this.count++;
    if (this.nextValid && deadline < this.nextCache) this.nextCache = deadline;
    if (timer._tick <= this.cur) this.insertPending(timer);
    else this.place(timer);
  }

  /** Disarms `timer`; no-op if it is not armed. */
  disarm(timer: Timer): void {
    if (timer._where !== WHERE_NONE) this.unlink(timer);
  }

  /** The earliest armed deadline, or Infinity if none is armed. */
  nextDeadline(): number {
    if (!this.nextValid) {
      this.nextCache = this.computeNext();
      this.nextValid = true;
    }
    return this.nextCache;
  }

  /**
   * Fires, in (deadline, arming order) order, every timer whose deadline is
   * <= now, including timers armed by callbacks during this call. Callbacks
   * receive `now`. Returns how many fired. Timers armed at Infinity never fire. Time never moves backwards: an
   * earlier `now` than before only fires what is due by it.
   */
  advance(now: number): number {
    if (Number.isNaN(now)) throw new RangeError('TimerWheel.advance: now is NaN');
    // Infinity deadlines mean "never": advance(Infinity) fires every finite timer only.
    if (now === Infinity) now = Number.MAX_VALUE;
    const target = Math.floor(now);
    let fired = 0;
    for (;;) {
      let t = this.pendingHead;
      while (t !== null && t._deadline <= now) {
        this.unlink(t);
        fired++;
        t.callback(now);
        t = this.pendingHead;
      }
      if (this.cur >= target) return fired;
      this.step(target);
    }
  }

  // ---------------------------------------------------------------- internals

  /** Removes an armed timer from whichever list holds it. */
  private unlink(t: Timer): void {
    const where = t._where;
    const next = t._next;
    const prev = t._prev;
    if (prev !== null) prev._next = next;
    if (next !== null) next._prev = prev;
    if (where === WHERE_PENDING) {
      if (prev === null) this.pendingHead = next;
      if (next === null) this.pendingTail = prev;
    } else if (where === WHERE_OVERFLOW) {
      if (prev === null) this.overflowHead = next;
      this.overflowCount--;
    } else if (prev === null) {
      this.heads[where] = next;
      if (next === null) {
        const w = where >> 5;
        this.occupied[w] = this.occupied[w]! & ~(1 << (where & 31));
      }
    }
    t._next = null;
    t._prev = null;
    t._where = WHERE_NONE;
    this.count--;
    if (this.nextValid && t._deadline <= this.nextCache) this.nextValid = false;
  }

  /** Sorted insert into pending, scanning from the tail (new deadlines tend to be late). */
  private insertPending(t: Timer): void {
    t._where = WHERE_PENDING;
    let p = this.pendingTail;
    while (p !== null && before(t, p)) p = p._prev;
    if (p === null) {
      t._prev = null;
      t._next = this.pendingHead;
      if (this.pendingHead !== null) this.pendingHead._prev = t;
      else this.pendingTail = t;
      this.pendingHead = t;
    } else {
      t._prev = p;
      t._next = p._next;
      if (p._next !== null) p._next._prev = t;
      else this.pendingTail = t;
      p._next = t;
    }
  }

  /** Puts a timer with tick > cur into its wheel slot or the overflow list. */
  private place(t: Timer): void {
    const tick = t._tick;
    const cur = this.cur;
    if (tick < INT_TICKS && cur >= 0) {
      // Both fit in 31 bits (the first ~24 days of a clock from 0): the level
      // is where tick and cur first differ, found with integer operations
      // only. Math.floor on a quotient is a builtin call that some V8 tiers
      // do not inline (node 22 inlined place() into callers but called
      // Math.floor, boxing a heap number per arm).
      const k = ((31 - Math.clz32(tick ^ cur)) / BITS) | 0;
      this.link(t, k * SLOTS + ((tick >>> (k * BITS)) & (SLOTS - 1)));
      return;
    }
    for (let k = 0; k < LEVELS; k++) {
      const span = UNIT[k + 1]!;
      if (Math.floor(tick / span) === Math.floor(cur / span)) {
        this.link(t, k * SLOTS + (Math.floor(tick / UNIT[k]!) & (SLOTS - 1)));
        return;
      }
    }
    t._where = WHERE_OVERFLOW;
    t._prev = null;
    t._next = this.overflowHead;
    if (this.overflowHead !== null) this.overflowHead._prev = t;
    this.overflowHead = t;
    this.overflowCount++;
  }

  /** Pushes `t` onto wheel slot `idx` and marks the slot occupied. */
  private link(t: Timer, idx: number): void {
    const head = this.heads[idx] ?? null;
    t._where = idx;
    t._prev = null;
    t._next = head;
    if (head !== null) head._prev = t;
    else {
      const w = idx >> 5;
      this.occupied[w] = this.occupied[w]! | (1 << (idx & 31));
    }
    this.heads[idx] = t;
  }

  /** Lowest set bit index of level k's occupancy, or -1. */
  private firstSlot(k: number): number {
    const lo = this.occupied[2 * k]!;
    if (lo !== 0) return 31 - Math.clz32(lo & -lo);
    const hi = this.occupied[2 * k + 1]!;
    if (hi !== 0) return 32 + 31 - Math.clz32(hi & -hi);
    return -1;
  }

  /**
   * Moves `cur` forward (cur < target) to the next tick at which something
   * happens, or to target if nothing happens before it; timers whose tick is
   * reached move into pending.
   */
  private step(target: number): void {
    for (let k = 0; k < LEVELS; k++) {
      const j = this.firstSlot(k);
      if (j < 0) continue;
      // Start tick of level k's slot j in cur's level-(k+1) epoch.
      const span = UNIT[k + 1]!;
      const n = Math.floor(this.cur / span) * span + j * UNIT[k]!;
      if (n > target) {
        this.cur = target;
        return;
      }
      this.cur = n;
      const idx = k * SLOTS + j;
      const list = this.heads[idx] ?? null;
      this.heads[idx] = null;
      const w = idx >> 5;
      this.occupied[w] = this.occupied[w]! & ~(1 << (idx & 31));
      this.redistribute(list);
      return;
    }
    // The wheel is empty: only the overflow list (if anything) remains.
    if (this.overflowCount > 0) {
      let minTick = Infinity;
      for (let t = this.overflowHead; t !== null; t = t._next) if (t._tick < minTick) minTick = t._tick;
      const top = UNIT[LEVELS]!;
      const n = Math.floor(minTick / top) * top;
      if (Number.isFinite(n) && n <= target) {
        this.cur = n > this.cur ? n : this.cur;
        const list = this.overflowHead!;
        this.overflowHead = null;
        this.overflowCount = 0;
        this.redistribute(list);
        return;
      }
    }
    this.cur = target;
  }

  /**
   * Re-places every timer of a detached list (linked via _next) relative to
   * the new `cur`; those now due (tick <= cur) are sorted and merged into pending.
   */
  private redistribute(list: Timer | null): void {
    let due: Timer | null = null;
    let dueCount = 0;
    let t = list;
    while (t !== null) {
      const next = t._next;
      if (t._tick <= this.cur) {
        t._next = due;
        due = t;
        dueCount++;
      } else {
        this.place(t);
      }
      t = next;
    }
    if (dueCount === 0) return;
    // Everything already in pending has tick < cur <= these ticks, so in the
    // common case this is an append; mergeSorted handles the general case.
    let merged = sortList(due, dueCount);
    if (this.pendingHead !== null) merged = mergeSorted(this.pendingHead, merged);
    let prev: Timer | null = null;
    for (let p = merged; p !== null; p = p._next) {
      p._prev = prev;
      p._where = WHERE_PENDING;
      prev = p;
    }
    this.pendingHead = merged;
    this.pendingTail = prev;
  }

  private computeNext(): number {
    if (this.pendingHead !== null) return this.pendingHead._deadline;
    for (let k = 0; k < LEVELS; k++) {
      const j = this.firstSlot(k);
      if (j < 0) continue;
      let min = Infinity;
      for (let t: Timer | null = this.heads[k * SLOTS + j] ?? null; t !== null; t = t._next) if (t._deadline < min) min = t._deadline;
      return min;
    }
    let min = Infinity;
    for (let t = this.overflowHead; t !== null; t = t._next) if (t._deadline < min) min = t._deadline;
    return min;
  }
}
