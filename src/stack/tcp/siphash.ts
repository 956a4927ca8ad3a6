/**
 * SipHash-2-4 (Aumasson & Bernstein, 2012) on 32-bit operations.
 *
 * 64-bit words are carried as (hi, lo) pairs of uint32 so no BigInt and no
 * allocation is involved. Key and message bytes are little-endian as in the
 * reference implementation; the 64-bit result is returned as two uint32
 * halves (`lo` = low 32 bits, `hi` = high 32 bits).
 */

// The four state words, as module-level scratch (the functions here never re-enter).
let v0h = 0, v0l = 0, v1h = 0, v1l = 0, v2h = 0, v2l = 0, v3h = 0, v3l = 0;

function sipRound(): void {
  let t: number;
  let h: number;
  // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
  t = v0l + v1l;
  v0h = (v0h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = t >>> 0;
  h = v1h;
  v1h = ((h << 13) | (v1l >>> 19)) >>> 0;
  v1l = ((v1l << 13) | (h >>> 19)) >>> 0;
  v1h = (v1h ^ v0h) >>> 0;
  v1l = (v1l ^ v0l) >>> 0;
  h = v0h;
  v0h = v0l;
  v0l = h;
  // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
  t = v2l + v3l;
  v2h = (v2h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = t >>> 0;
  h = v3h;
  v3h = ((h << 16) | (v3l >>> 16)) >>> 0;
  v3l = ((v3l << 16) | (h >>> 16)) >>> 0;
  v3h = (v3h ^ v2h) >>> 0;
  v3l = (v3l ^ v2l) >>> 0;
  // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
  t = v0l + v3l;
  v0h = (v0h + v3h + (t > 0xffffffff ? 1 : 0)) >>> 0;
  v0l = t >>> 0;
  h = v3h;
  v3h = ((h << 21) | (v3l >>> 11)) >>> 0;
  v3l = ((v3l << 21) | (h >>> 11)) >>> 0;
  v3h = (v3h ^ v0h) >>> 0;
  v3l = (v3l ^ v0l) >>> 0;
  // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
  t = v2l + v1l;
  v2h = (v2h + v1h + (t > 0xffffffff ? 1 : 0)) >>> 0;
  v2l = t >>> 0;
  h = v1h;
  v1h = ((h << 17) | (v1l >>> 15)) >>> 0;
  v1l = ((v1l << 17) | (h >>> 15)) >>> 0;
  v1h = (v1h ^ v2h) >>> 0;
  v1l = (v1l ^ v2l) >>> 0;
  h = v2h;
  v2h = v2l;
  v2l = h;
}

function compress(mh: number, ml: number): void {
  v3h = (v3h ^ mh) >>> 0;
  v3l = (v3l ^ ml) >>> 0;
  sipRound();
  sipRound();
  v0h = (v0h ^ mh) >>> 0;
  v0l = (v0l ^ ml) >>> 0;
}

function le32(b: Uint8Array, i: number): number {
  return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0;
}

/** A SipHash-2-4 instance with a fixed 128-bit key. Results land in `lo`/`hi`. */
export class SipHash24 {
  /** Key as k0 = (k0h, k0l), k1 = (k1h, k1l). */
  private readonly k0l: number;
  private readonly k0h: number;
  private readonly k1l: number;
  private readonly k1h: number;
  /** Low and high 32 bits of the last result. */
  lo = 0;
  hi = 0;

  constructor(key: Uint8Array) {
    if (key.length !== 16) throw new RangeError(`SipHash key must be 16 bytes, got ${key.length}`);
    this.k0l = le32(key, 0);
    this.k0h = le32(key, 4);
    this.k1l = le32(key, 8);
    this.k1h = le32(key, 12);
  }

  /** Hashes msg[off, off+len); returns the low 32 bits (the high ones are in `hi`). */
  hash(msg: Uint8Array, off = 0, len = msg.length - off): number {
    v0h = (this.k0h ^ 0x736f6d65) >>> 0;
    v0l = (this.k0l ^ 0x70736575) >>> 0;
    v1h = (this.k1h ^ 0x646f7261) >>> 0;
    v1l = (this.k1l ^ 0x6e646f6d) >>> 0;
    v2h = (this.k0h ^ 0x6c796765) >>> 0;
    v2l = (this.k0l ^ 0x6e657261) >>> 0;
    v3h = (this.k1h ^ 0x74656462) >>> 0;
    v3l = (this.k1l ^ 0x79746573) >>> 0;
    const end = off + len;
    const blocksEnd = off + (len & ~7);
    let i = off;
    for (; i < blocksEnd; i += 8) compress(le32(msg, i + 4), le32(msg, i));
    // Final block: remaining 0..7 bytes, length byte on top.
    let ml = 0;
    let mh = (len & 0xff) << 24;
    const rem = end - i;
    for (let j = 0; j < rem; j++) {
      const b = msg[i + j]!;
      if (j < 4) ml |= b << (8 * j);
      else mh |= b << (8 * (j - 4));
    }
    compress(mh >>> 0, ml >>> 0);
    v2l = (v2l ^ 0xff) >>> 0;
    sipRound();
    sipRound();
    sipRound();
    sipRound();
    this.lo = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
    this.hi = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
    return this.lo;
  }

  /** Hash as 16 lowercase hex digits of the 64-bit value (tests and diagnostics; allocates). */
  hex(msg: Uint8Array, off = 0, len = msg.length - off): string {
    this.hash(msg, off, len);
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}

/** One-shot SipHash-2-4; writes [lo, hi] into `out` and returns it. */
export function sipHash24(key: Uint8Array, msg: Uint8Array, out: Uint32Array = new Uint32Array(2)): Uint32Array {
  const h = new SipHash24(key);
  h.hash(msg);
  out[0] = h.lo;
  out[1] = h.hi;
  return out;
}

/** 16 random bytes for a SipHash key (crypto.getRandomValues). */
export function randomKey(): Uint8Array {
  const k = new Uint8Array(16);
  globalThis.crypto.getRandomValues(k);
  return k;
}
