/**
 * Small seeded pseudo-random number generator (sfc32: Chris Doty-Humphrey's
 * "small fast chaotic" generator, 128 bits of state), used wherever the
 * driver layer needs reproducible randomness (impairments, tests).
 *
 * Same (seed, stream) -> same sequence, on every platform. Not for anything
 * cryptographic.
 */

/** splitmix32-style finaliser: spreads a 32-bit input over all bits. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

const TWO_POW_32 = 0x1_0000_0000;

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * @param seed any finite number; integers up to 2^53 are used in full, other
   *   values are folded (its low and high 32-bit words are mixed).
   * @param stream selects an independent sequence for the same seed (e.g. one
   *   per direction of a link).
   */
  constructor(seed: number, stream = 0) {
    if (!Number.isFinite(seed)) throw new RangeError(`Prng: seed must be finite, got ${seed}`);
    const s = Math.floor(Math.abs(seed));
    const lo = s % TWO_POW_32 >>> 0;
    const hi = Math.floor(s / TWO_POW_32) >>> 0;
    const neg = seed < 0 ? 0x5bd1e995 : 0;
    this.a = mix32(lo ^ neg);
    this.b = mix32(hi ^ mix32(this.a));
    this.c = mix32((stream >>> 0) ^ mix32(this.b));
    this.d = 1; // sfc32's counter
    // Discard the first outputs so that nearby seeds diverge completely.
    for (let i = 0; i < 15; i++) this.nextU32();
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A float uniformly distributed in [0, 1) (32 bits of resolution). */
  next(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /**
   * An integer uniformly distributed in [0, n) for an integer 1 <= n <= 2^32
   * (unbiased: rejection sampling).
   */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32) || !Number.isInteger(n)) {
      throw new RangeError(`Prng.nextInt: n must be an integer in [1, 2^32], got ${n}`);
    }
    // Largest multiple of n that fits in 2^32; values at or above it are rejected.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
