import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Timer, TimerWheel } from '../../src/time/timer-wheel.js';
import { Prng } from '../../src/driver/prng.js';

/** Naive reference: armed timers in an array; the minimum (deadline, seq) fires first. */
class RefWheel {
  private entries: { id: number; deadline: number; seq: number }[] = [];
  private seq = 0;
  arm(id: number, deadline: number): void {
    this.disarm(id);
    this.entries.push({ id, deadline, seq: this.seq++ });
  }
  disarm(id: number): void {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i >= 0) this.entries.splice(i, 1);
  }
  isArmed(id: number): boolean {
    return this.entries.some((e) => e.id === id);
  }
  deadlineOf(id: number): number {
    return this.entries.find((e) => e.id === id)!.deadline;
  }
  nextDeadline(): number {
    let m = Infinity;
    for (const e of this.entries) if (e.deadline < m) m = e.deadline;
    return m;
  }
  get size(): number {
    return this.entries.length;
  }
  advance(now: number, fire: (id: number) => void): number {
    let n = 0;
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.entries.length; i++) {
        const e = this.entries[i]!;
        if (e.deadline > now) continue;
        if (best < 0) best = i;
        else {
          const b = this.entries[best]!;
          if (e.deadline < b.deadline || (e.deadline === b.deadline && e.seq < b.seq)) best = i;
        }
      }
      if (best < 0) return n;
      const [e] = this.entries.splice(best, 1);
      n++;
      fire(e!.id);
    }
  }
}

describe('TimerWheel basics', () => {
  it('fires in deadline order with ties in arming order', () => {
    const w = new TimerWheel(0);
    const log: string[] = [];
    const mk = (name: string) => new Timer(() => log.push(name));
    const a = mk('a');
    const b = mk('b');
    const c = mk('c');
    const d = mk('d');
    w.arm(a, 10);
    w.arm(b, 5.5);
    w.arm(c, 10);
    w.arm(d, 5.25);
    expect(w.size).toBe(4);
    expect(w.nextDeadline()).toBe(5.25);
    expect(w.advance(5.4)).toBe(1);
    expect(log).toEqual(['d']);
    expect(w.nextDeadline()).toBe(5.5);
    expect(w.advance(100)).toBe(3);
    expect(log).toEqual(['d', 'b', 'a', 'c']);
    expect(w.size).toBe(0);
    expect(w.nextDeadline()).toBe(Infinity);
  });

  it('re-arming moves a timer and puts it last among equal deadlines', () => {
    const w = new TimerWheel(0);
    const log: string[] = [];
    const a = new Timer(() => log.push('a'));
    const b = new Timer(() => log.push('b'));
    w.arm(a, 7);
    w.arm(b, 7);
    w.arm(a, 7);
    expect(a.armed).toBe(true);
    expect(a.deadline).toBe(7);
    w.arm(b, 3000);
    expect(w.nextDeadline()).toBe(7);
    w.advance(7);
    expect(log).toEqual(['a']);
    expect(w.nextDeadline()).toBe(3000);
    w.advance(2999.999);
    expect(log).toEqual(['a']);
    w.advance(3000);
    expect(log).toEqual(['a', 'b']);
  });

  it('disarm is a no-op when not armed, and removes when armed', () => {
    const w = new TimerWheel(0);
    let fired = 0;
    const t = new Timer(() => fired++);
    w.disarm(t);
    w.arm(t, 50);
    expect(w.size).toBe(1);
    w.disarm(t);
    w.disarm(t);
    expect(t.armed).toBe(false);
    expect(w.size).toBe(0);
    expect(w.nextDeadline()).toBe(Infinity);
    expect(w.advance(1000)).toBe(0);
    expect(fired).toBe(0);
  });

  it('deadlines in the past fire on the next advance, with the advance time', () => {
    const w = new TimerWheel(1000);
    const seen: number[] = [];
    const t = new Timer((now) => seen.push(now));
    w.arm(t, 10);
    expect(w.nextDeadline()).toBe(10);
    expect(w.advance(1000)).toBe(1);
    expect(seen).toEqual([1000]);
  });

  it('a timer armed by a callback with deadline <= now fires in the same advance', () => {
    const w = new TimerWheel(0);
    const log: string[] = [];
    const late = new Timer(() => log.push('late'));
    const chained = new Timer(() => log.push('chained'));
    const first = new Timer((now) => {
      log.push('first');
      w.arm(chained, now - 1); // already due
      w.arm(late, now + 1); // not due in this call
    });
    w.arm(first, 20);
    expect(w.advance(500)).toBe(2);
    expect(log).toEqual(['first', 'chained']);
    expect(w.nextDeadline()).toBe(501);
  });

  it('a callback may disarm a timer due in the same advance', () => {
    const w = new TimerWheel(0);
    const log: string[] = [];
    const victim = new Timer(() => log.push('victim'));
    const killer = new Timer(() => {
      log.push('killer');
      w.disarm(victim);
    });
    w.arm(killer, 5);
    w.arm(victim, 6);
    expect(w.advance(10)).toBe(1);
    expect(log).toEqual(['killer']);
  });

  it('handles far deadlines (overflow) and Infinity', () => {
    const w = new TimerWheel(0);
    const log: number[] = [];
    const far = new Timer((now) => log.push(now));
    const never = new Timer(() => log.push(-1));
    const year = 365 * 24 * 3600 * 1000;
    w.arm(far, 5 * year + 0.5);
    w.arm(never, Infinity);
    expect(w.size).toBe(2);
    expect(w.nextDeadline()).toBe(5 * year + 0.5);
    expect(w.advance(5 * year)).toBe(0);
    expect(w.nextDeadline()).toBe(5 * year + 0.5);
    expect(w.advance(5 * year + 1)).toBe(1);
    expect(log).toEqual([5 * year + 1]);
    expect(w.nextDeadline()).toBe(Infinity);
    expect(never.armed).toBe(true);
    expect(w.size).toBe(1);
    // advance(Infinity) fires everything finite, never Infinity, and the wheel keeps working.
    const soon = new Timer(() => log.push(-2));
    w.arm(soon, 6 * year);
    expect(w.advance(Infinity)).toBe(1);
    expect(never.armed).toBe(true);
    w.arm(soon, 7 * year);
    expect(w.nextDeadline()).toBe(7 * year);
    expect(w.advance(7 * year)).toBe(1);
  });

  it('a virtual-time driver reaches every timer by jumping to nextDeadline', () => {
    const w = new TimerWheel(0);
    const prng = new Prng(42);
    const fired: number[] = [];
    const timers: Timer[] = [];
    const deadlines: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t = new Timer(() => fired.push(i));
      const d = prng.next() * 10 ** (1 + prng.nextInt(9));
      timers.push(t);
      deadlines.push(d);
      w.arm(t, d);
    }
    let steps = 0;
    while (w.size > 0) {
      const next = w.nextDeadline();
      expect(w.advance(next)).toBeGreaterThan(0);
      steps++;
    }
    expect(fired.length).toBe(2000);
    const expected = deadlines.map((d, i) => [d, i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    expect(fired).toEqual(expected.map((e) => e[1]));
    expect(steps).toBeLessThanOrEqual(2000);
  });

  it('arms and disarms 1,000,000 times on a fixed set of timers without leaking', () => {
    const w = new TimerWheel(0);
    const N = 1000;
    const timers: Timer[] = [];
    const expectedDeadline = new Float64Array(N).fill(NaN);
    let fired = 0;
    for (let i = 0; i < N; i++) timers.push(new Timer(() => fired++));
    const prng = new Prng(7);
    let now = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const k = prng.nextInt(N);
      if (prng.next() < 0.4) {
        w.disarm(timers[k]!);
        expectedDeadline[k] = NaN;
      } else {
        const d = now + 1 + prng.nextInt(100_000) / 8;
        w.arm(timers[k]!, d);
        expectedDeadline[k] = d;
      }
      if ((i & 0xffff) === 0) {
        now += 0.5; // small steps: nothing is due yet (every deadline >= now + 1)
        expect(w.advance(now)).toBe(0);
      }
    }
    let armed = 0;
    let min = Infinity;
    for (let i = 0; i < N; i++) {
      const d = expectedDeadline[i]!;
      if (Number.isNaN(d)) {
        expect(timers[i]!.armed).toBe(false);
      } else {
        armed++;
        if (d < min) min = d;
        expect(timers[i]!.armed).toBe(true);
        expect(timers[i]!.deadline).toBe(d);
      }
    }
    expect(w.size).toBe(armed);
    expect(w.nextDeadline()).toBe(min);
    expect(w.advance(now + 1e6)).toBe(armed);
    expect(fired).toBe(armed);
    expect(w.size).toBe(0);
  });
});

type Op =
  | { kind: 'arm'; id: number; offset: number }
  | { kind: 'disarm'; id: number }
  | { kind: 'advance'; delta: number }
  | { kind: 'jump' }
  | { kind: 'check' };

const N_TIMERS = 12;

/** Offsets relative to the current time: past, same tick, near, far, very far, exact ties. */
const offsetArb = fc.oneof(
  fc.double({ min: -50, max: 3, noNaN: true }),
  fc.integer({ min: -5, max: 300 }),
  fc.double({ min: 0, max: 5000, noNaN: true }),
  fc.integer({ min: 0, max: 64 ** 4 }),
  fc.double({ min: 0, max: 64 ** 6 * 3, noNaN: true }),
  fc.constantFrom(0, 0.5, 1, 63, 64, 4096, 64 ** 6, Infinity),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('arm' as const), id: fc.nat(N_TIMERS - 1), offset: offsetArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('disarm' as const), id: fc.nat(N_TIMERS - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      delta: fc.oneof(
        fc.double({ min: -2, max: 10, noNaN: true }),
        fc.integer({ min: 0, max: 200 }),
        fc.double({ min: 0, max: 64 ** 5, noNaN: true }),
        fc.double({ min: 0, max: 64 ** 6 * 4, noNaN: true }),
      ),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ kind: 'jump' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'check' as const }) },
);

/** What a timer's callback does when it fires: maybe (re)arm another timer relative to now. */
const actionArb = fc.array(
  fc.option(fc.record({ target: fc.nat(N_TIMERS - 1), offset: offsetArb, disarmInstead: fc.boolean() }), {
    nil: null,
  }),
  { minLength: N_TIMERS, maxLength: N_TIMERS },
);

describe('TimerWheel model test', () => {
  it('matches a naive sorted reference in firing order and nextDeadline', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e7, noNaN: true }), actionArb, fc.array(opArb, { maxLength: 120 }), (start, actions, ops) => {
        const wheel = new TimerWheel(start);
        const ref = new RefWheel();
        const realLog: number[] = [];
        const refLog: number[] = [];
        let now = start;
        // Callback budget per advance keeps self-re-arming chains finite; both
        // sides consume it identically because they fire in the same order.
        let realBudget = 0;
        let refBudget = 0;
        const timers: Timer[] = [];
        for (let id = 0; id < N_TIMERS; id++) {
          timers.push(
            new Timer((t) => {
              realLog.push(id);
              const a = actions[id];
              if (a && realBudget-- > 0) {
                if (a.disarmInstead) wheel.disarm(timers[a.target]!);
                else wheel.arm(timers[a.target]!, t + a.offset);
              }
            }),
          );
        }
        const refFire = (id: number): void => {
          refLog.push(id);
          const a = actions[id];
          if (a && refBudget-- > 0) {
            if (a.disarmInstead) ref.disarm(a.target);
            else ref.arm(a.target, now + a.offset);
          }
        };
        const doAdvance = (to: number): void => {
          realBudget = refBudget = 20;
          const n1 = wheel.advance(to);
          const n2 = ref.advance(to, refFire);
          expect(n1).toBe(n2);
        };
        for (const op of ops) {
          switch (op.kind) {
            case 'arm':
              wheel.arm(timers[op.id]!, now + op.offset);
              ref.arm(op.id, now + op.offset);
              break;
            case 'disarm':
              wheel.disarm(timers[op.id]!);
              ref.disarm(op.id);
              break;
            case 'advance':
              now += op.delta;
              doAdvance(now);
              break;
            case 'jump': {
              const next = ref.nextDeadline();
              if (Number.isFinite(next) && next > now) now = next;
              doAdvance(now);
              break;
            }
            case 'check':
              break;
          }
          expect(realLog).toEqual(refLog);
          expect(wheel.nextDeadline()).toBe(ref.nextDeadline());
          expect(wheel.size).toBe(ref.size);
          for (let id = 0; id < N_TIMERS; id++) {
            expect(timers[id]!.armed).toBe(ref.isArmed(id));
            if (ref.isArmed(id)) expect(timers[id]!.deadline).toBe(ref.deadlineOf(id));
          }
        }
        // Drain everything finite and compare the tail too.
        for (let i = 0; i < 50 && Number.isFinite(ref.nextDeadline()); i++) {
          now = Math.max(now, ref.nextDeadline());
          doAdvance(now);
          expect(realLog).toEqual(refLog);
          expect(wheel.nextDeadline()).toBe(ref.nextDeadline());
        }
      }),
      { numRuns: 400 },
    );
  });
});
