import { describe, it } from 'vitest';
import fc from 'fast-check';
import { SipHash24 } from '../../src/stack/tcp/siphash.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

/** Straightforward BigInt SipHash-2-4, written from the paper, as a cross-check. */
function refSipHash(key: Uint8Array, msg: Uint8Array): bigint {
  const M = (1n << 64n) - 1n;
  const rd = (b: Uint8Array, i: number, n: number): bigint => {
    let x = 0n;
    for (let j = n - 1; j >= 0; j--) x = (x << 8n) | BigInt(b[i + j]!);
    return x;
  };
  const rotl = (x: bigint, b: bigint): bigint => ((x << b) | (x >> (64n - b))) & M;
  const k0 = rd(key, 0, 8);
  const k1 = rd(key, 8, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = (): void => {
    v0 = (v0 + v1) & M; v1 = rotl(v1, 13n); v1 ^= v0; v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M; v3 = rotl(v3, 16n); v3 ^= v2;
    v0 = (v0 + v3) & M; v3 = rotl(v3, 21n); v3 ^= v0;
    v2 = (v2 + v1) & M; v1 = rotl(v1, 17n); v1 ^= v2; v2 = rotl(v2, 32n);
  };
  const n = msg.length;
  const full = n - (n % 8);
  for (let i = 0; i <= full; i += 8) {
    const m = i < full ? rd(msg, i, 8) : rd(msg, i, n - full) | (BigInt(n & 0xff) << 56n);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  v2 ^= 0xffn;
  round(); round(); round(); round();
  return v0 ^ v1 ^ v2 ^ v3;
}

describe('SipHash24 vs BigInt reference', () => {
  it('agrees for random keys and messages', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 300 }), (key, msg) => {
        const got = new SipHash24(key).hex(msg);
        const want = refSipHash(key, msg).toString(16).padStart(16, '0');
        if (got !== want) throw new Error(`${got} != ${want}`);
      }),
      { numRuns: 500 },
    );
  });
});
