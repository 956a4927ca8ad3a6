import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  seqAdd,
  seqDiff,
  seqLt,
  seqLe,
  seqGt,
  seqGe,
  seqMax,
  seqMin,
  seqInRange,
} from '../../src/wire/seq.js';

const fcParams = (numRuns: number): fc.Parameters<unknown> =>
  process.env.FC_SEED ? { numRuns, seed: Number(process.env.FC_SEED) } : { numRuns };

describe('sequence-number arithmetic', () => {
  it('wraps on add', () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(0xfffffff0, 0x20)).toBe(0x10);
    expect(seqAdd(5, -10)).toBe(0xfffffffb);
    expect(seqAdd(0, 0)).toBe(0);
  });

  it('measures signed distance across the wrap', () => {
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
    expect(seqDiff(7, 7)).toBe(0);
    expect(seqDiff(0x80000000, 0)).toBe(-0x80000000);
  });

  it('orders across the wrap', () => {
    expect(seqLt(0xffffffff, 0)).toBe(true);
    expect(seqGt(0, 0xffffffff)).toBe(true);
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGe(0x10, 0xfffffff0)).toBe(true);
    expect(seqLe(5, 5)).toBe(true);
    expect(seqGe(5, 5)).toBe(true);
    expect(seqLt(5, 5)).toBe(false);
    expect(seqGt(5, 5)).toBe(false);
    // Half the space ahead counts as "before" (distance -2^31).
    expect(seqLt(0x80000000, 0)).toBe(true);
    expect(seqLt(0x7fffffff, 0)).toBe(false);
  });

  it('max/min pick across the wrap', () => {
    expect(seqMax(0xfffffffe, 3)).toBe(3);
    expect(seqMin(0xfffffffe, 3)).toBe(0xfffffffe);
  });

  it('range checks across the wrap', () => {
    expect(seqInRange(0xffffffff, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInRange(0, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInRange(0x10, 0xfffffff0, 0x10)).toBe(false);
    expect(seqInRange(0xfffffff0, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInRange(0xffffffef, 0xfffffff0, 0x10)).toBe(false);
    expect(seqInRange(5, 5, 5)).toBe(false);
  });

  it('behaves like integers for distances below 2^31', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: -0x7fffffff, max: 0x7fffffff }),
        (a, d) => {
          const b = seqAdd(a, d);
          expect(b).toBeGreaterThanOrEqual(0);
          expect(b).toBeLessThanOrEqual(0xffffffff);
          expect(seqDiff(b, a)).toBe(d);
          expect(seqLt(a, b)).toBe(d > 0);
          expect(seqGt(a, b)).toBe(d < 0);
          expect(seqLe(a, b)).toBe(d >= 0);
          expect(seqGe(a, b)).toBe(d <= 0);
          expect(seqMax(a, b)).toBe(d > 0 ? b : a);
          expect(seqMin(a, b)).toBe(d > 0 ? a : b);
          if (d > 0) {
            expect(seqInRange(a, a, b)).toBe(true);
            expect(seqInRange(b, a, b)).toBe(false);
            expect(seqInRange(seqAdd(a, Math.floor(d / 2)), a, b)).toBe(true);
          }
        },
      ),
      fcParams(10_000),
    );
  });
});
