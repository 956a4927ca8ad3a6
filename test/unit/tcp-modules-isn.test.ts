import { describe, expect, it } from 'vitest';
import { IsnGenerator } from '../../src/stack/tcp/isn.js';
import { SipHash24 } from '../../src/stack/tcp/siphash.js';
import { seqDiff } from '../../src/wire/seq.js';

const SECRET = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const L = 0x0a000002;
const R = 0x0a000001;

describe('IsnGenerator (RFC 6528)', () => {
  it('is M + SipHash(4-tuple) with M in 4 µs ticks', () => {
    const g = new IsnGenerator(SECRET);
    const msg = Uint8Array.from([10, 0, 0, 2, 10, 0, 0, 1, 0x1f, 0x90, 0xc3, 0x50]);
    const f = new SipHash24(SECRET).hash(msg);
    expect(g.next(L, 8080, R, 50000, 0)).toBe(f);
    expect(g.next(L, 8080, R, 50000, 1000)).toBe((f + 250_000) >>> 0);
  });

  it('is deterministic for a secret and differs between secrets', () => {
    const a = new IsnGenerator(SECRET);
    const b = new IsnGenerator(SECRET);
    const c = new IsnGenerator(new Uint8Array(16));
    expect(a.next(L, 80, R, 1234, 5)).toBe(b.next(L, 80, R, 1234, 5));
    expect(a.next(L, 80, R, 1234, 5)).not.toBe(c.next(L, 80, R, 1234, 5));
  });

  it('differs per tuple', () => {
    const g = new IsnGenerator(SECRET);
    const base = g.next(L, 80, R, 1234, 0);
    expect(g.next(L, 80, R, 1235, 0)).not.toBe(base);
    expect(g.next(L, 81, R, 1234, 0)).not.toBe(base);
    expect(g.next(L, 80, R + 1, 1234, 0)).not.toBe(base);
    expect(g.next(L + 1, 80, R, 1234, 0)).not.toBe(base);
    expect(g.next(R, 1234, L, 80, 0)).not.toBe(base); // direction matters
  });

  it('advances with time and wraps modulo 2^32', () => {
    const g = new IsnGenerator(SECRET);
    const a = g.next(L, 80, R, 1234, 100);
    const b = g.next(L, 80, R, 1234, 101);
    expect(seqDiff(b, a)).toBe(250);
    const far = g.next(L, 80, R, 1234, 100 + 2 ** 32 / 250);
    expect(far).toBe(a);
  });

  it('works with a random secret', () => {
    const g = new IsnGenerator();
    const x = g.next(L, 80, R, 1234, 0);
    expect(Number.isInteger(x) && x >= 0 && x < 2 ** 32).toBe(true);
  });
});
