import { describe, expect, it } from 'vitest';
import { ByteRing } from '../../src/stack/tcp/ring-buffer.js';

function bytes(n: number, start = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (start + i) & 0xff;
  return b;
}

describe('ByteRing', () => {
  it('reports capacity, length and free', () => {
    const r = new ByteRing(10);
    expect(r.capacity).toBe(10);
    expect(r.length).toBe(0);
    expect(r.free).toBe(10);
    expect(r.write(bytes(4), 0, 4)).toBe(4);
    expect(r.length).toBe(4);
    expect(r.free).toBe(6);
  });

  it('rejects a bad capacity', () => {
    expect(() => new ByteRing(0)).toThrow(RangeError);
    expect(() => new ByteRing(1.5)).toThrow(RangeError);
  });

  it('write copies only what fits', () => {
    const r = new ByteRing(8);
    expect(r.write(bytes(20), 0, 20)).toBe(8);
    expect(r.free).toBe(0);
    expect(r.write(bytes(1), 0, 1)).toBe(0);
  });

  it('wraps around on write and read (small and large copies)', () => {
    for (const cap of [10, 1000]) {
      const r = new ByteRing(cap);
      const third = Math.floor(cap * 0.7);
      r.write(bytes(third), 0, third);
      const tmp = new Uint8Array(cap);
      expect(r.read(tmp, 0, third)).toBe(third);
      const src = bytes(cap, 33);
      expect(r.write(src, 0, cap)).toBe(cap);
      const out = new Uint8Array(cap);
      expect(r.read(out, 0, cap)).toBe(cap);
      expect(out).toEqual(src);
      expect(r.length).toBe(0);
    }
  });

  it('peek does not consume and honours the offset', () => {
    const r = new ByteRing(16);
    r.write(bytes(12), 0, 12);
    const out = new Uint8Array(4);
    expect(r.peek(5, out, 0, 4)).toBe(4);
    expect([...out]).toEqual([5, 6, 7, 8]);
    expect(r.length).toBe(12);
    expect(r.peek(10, out, 0, 4)).toBe(2);
    expect(r.peek(12, out, 0, 4)).toBe(0);
    expect(r.peek(20, out, 0, 4)).toBe(0);
  });

  it('writeAt places bytes that commit makes readable', () => {
    const r = new ByteRing(16);
    r.write(bytes(3), 0, 3);
    r.writeAt(4, bytes(4, 100), 0, 4); // hole of 4 bytes at [3, 7)
    expect(r.length).toBe(3);
    r.writeAt(0, bytes(4, 50), 0, 4); // fill the hole
    r.commit(8);
    const out = new Uint8Array(11);
    expect(r.read(out, 0, 11)).toBe(11);
    expect([...out]).toEqual([0, 1, 2, 50, 51, 52, 53, 100, 101, 102, 103]);
  });

  it('writeAt and commit reject out-of-range arguments', () => {
    const r = new ByteRing(8);
    r.write(bytes(4), 0, 4);
    expect(() => r.writeAt(2, bytes(3), 0, 3)).toThrow(RangeError);
    expect(() => r.commit(5)).toThrow(RangeError);
    expect(() => r.consume(5)).toThrow(RangeError);
  });

  it('exposes readable and writable spans for zero-copy use', () => {
    const r = new ByteRing(10);
    r.write(bytes(8), 0, 8);
    r.consume(6); // head = 6, 2 readable at [6, 8)
    r.write(bytes(5, 8), 0, 5); // readable [6,10) + [0,3)
    const spans = [0, 0, 0, 0];
    expect(r.readableSpans(spans)).toBe(2);
    expect(spans).toEqual([6, 4, 0, 3]);
    expect(r.readableSpans(spans, 5)).toBe(1);
    expect(spans).toEqual([1, 2, 0, 0]);
    expect(r.writableSpans(spans)).toBe(1);
    expect(spans).toEqual([3, 3, 0, 0]);
    r.buffer[3] = 42;
    r.commit(1);
    r.consume(7);
    const out = new Uint8Array(1);
    r.read(out, 0, 1);
    expect(out[0]).toBe(42);
  });

  it('clear empties the ring', () => {
    const r = new ByteRing(8);
    r.write(bytes(5), 0, 5);
    r.clear();
    expect(r.length).toBe(0);
    expect(r.free).toBe(8);
  });
});
