/**
 * Time for the whole stack. Milliseconds as a float; monotonic.
 * Nothing in src/stack reads a clock directly: it is handed a Clock.
 */
export interface Clock {
  now(): number;
  /** True for performance.now() time (RealClock): the poll loop may then pass its own reading down. */
  readonly isReal?: boolean;
}

/** Wall-clock time from the monotonic high-resolution timer. */
export class RealClock implements Clock {
  readonly isReal = true;
  now(): number {
    return performance.now();
  }
}

/** A clock that only moves when told: protocol tests run on it. */
export class VirtualClock implements Clock {
  private t: number;
  constructor(start = 0) {
    this.t = start;
  }
  now(): number {
    return this.t;
  }
  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): void {
    if (ms > 0) this.t += ms;
  }
  /** Moves time forward to `t` if it lies in the future. */
  advanceTo(t: number): void {
    if (t > this.t) this.t = t;
  }
}
