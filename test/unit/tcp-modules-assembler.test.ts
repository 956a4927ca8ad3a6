import { describe, expect, it } from 'vitest';
import { Assembler } from '../../src/stack/tcp/assembler.js';

describe('Assembler', () => {
  it('starts empty', () => {
    const a = new Assembler(1000, 4);
    expect(a.heldBytes).toBe(0);
    expect(a.ranges([])).toEqual([]);
    expect(a.advance(10)).toBe(0);
  });

  it('coalesces overlapping and adjacent ranges', () => {
    const a = new Assembler(1000, 4);
    expect(a.add(10, 10)).toBe(true);
    expect(a.add(30, 10)).toBe(true);
    expect(a.sortedRanges([])).toEqual([10, 20, 30, 40]);
    expect(a.add(20, 10)).toBe(true); // adjacent on both sides
    expect(a.sortedRanges([])).toEqual([10, 40]);
    expect(a.heldBytes).toBe(30);
    expect(a.add(5, 50)).toBe(true); // swallows everything
    expect(a.sortedRanges([])).toEqual([5, 55]);
    expect(a.heldBytes).toBe(50);
  });

  it('enforces maxRanges but accepts additions that merge', () => {
    const a = new Assembler(1000, 2);
    expect(a.add(10, 5)).toBe(true);
    expect(a.add(30, 5)).toBe(true);
    expect(a.add(50, 5)).toBe(false);
    expect(a.sortedRanges([])).toEqual([10, 15, 30, 35]);
    expect(a.add(15, 15)).toBe(true); // bridges the two
    expect(a.sortedRanges([])).toEqual([10, 35]);
    expect(a.add(50, 5)).toBe(true);
  });

  it('enforces maxBytes but accepts duplicates', () => {
    const a = new Assembler(20, 8);
    expect(a.add(0 + 10, 15)).toBe(true);
    expect(a.add(40, 6)).toBe(false);
    expect(a.heldBytes).toBe(15);
    expect(a.add(12, 5)).toBe(true); // only overlaps
    expect(a.add(40, 5)).toBe(true); // exactly at the bound
    expect(a.heldBytes).toBe(20);
    expect(a.add(25, 1)).toBe(false);
    expect(a.add(41, 3)).toBe(true);
  });

  it('advance shifts ranges and hands back the newly contiguous prefix', () => {
    const a = new Assembler(1000, 4);
    a.add(10, 10); // [10,20)
    a.add(30, 5); // [30,35)
    expect(a.advance(5)).toBe(0);
    expect(a.sortedRanges([])).toEqual([5, 15, 25, 30]);
    // 5 bytes at offset 0 arrive: [5,15) becomes contiguous
    expect(a.advance(5)).toBe(10);
    // origin moved by 15: [25,30) -> [10,15)
    expect(a.sortedRanges([])).toEqual([10, 15]);
    expect(a.heldBytes).toBe(5);
  });

  it('advance handles a range straddling the new origin and ranges fully covered', () => {
    const a = new Assembler(1000, 4);
    a.add(2, 3); // [2,5)
    a.add(8, 8); // [8,16)
    a.add(20, 2); // [20,22)
    expect(a.advance(10)).toBe(6); // [2,5) dropped, [8,16) straddles -> 6 more bytes
    expect(a.sortedRanges([])).toEqual([4, 6]);
    expect(a.heldBytes).toBe(2);
  });

  it('lists the most recently added or extended range first (RFC 2018 §4)', () => {
    const a = new Assembler(1000, 8);
    a.add(10, 5);
    a.add(30, 5);
    a.add(50, 5);
    expect(a.ranges([])).toEqual([50, 55, 30, 35, 10, 15]);
    a.add(15, 2); // extends the first
    expect(a.ranges([])).toEqual([10, 17, 50, 55, 30, 35]);
    a.add(31, 1); // duplicate inside [30,35) still counts as most recent
    expect(a.ranges([])).toEqual([30, 35, 10, 17, 50, 55]);
    const out = [1, 2, 3];
    expect(a.ranges(out)).toBe(out);
  });

  it('clear drops everything', () => {
    const a = new Assembler(1000, 4);
    a.add(1, 5);
    a.clear();
    expect(a.heldBytes).toBe(0);
    expect(a.ranges([])).toEqual([]);
  });
});
