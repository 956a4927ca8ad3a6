import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  onesSum,
  foldChecksum,
  internetChecksum,
  pseudoHeaderSum,
} from '../../src/wire/checksum.js';
import { WireError } from '../../src/wire/errors.js';

const fcParams = (numRuns: number): fc.Parameters<unknown> =>
  process.env.FC_SEED ? { numRuns, seed: Number(process.env.FC_SEED) } : { numRuns };

/** Byte-pair reference: sums 16-bit big-endian words one at a time, folding every step. */
function naiveSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  let sum = initial;
  for (let i = 0; i < len; i += 2) {
    const hi = buf[off + i]!;
    const lo = i + 1 < len ? buf[off + i + 1]! : 0;
    sum += (hi << 8) | lo;
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

describe('Internet checksum', () => {
  it('matches RFC 1071 §3 worked example', () => {
    const b = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(onesSum(b, 0, 8)).toBe(0xddf2);
    expect(internetChecksum(b, 0, 8)).toBe(0x220d);
    expect(foldChecksum(0x2ddf0)).toBe(0x220d);
    // The same bytes at an odd offset inside a larger buffer.
    const big = new Uint8Array(21);
    big.set(b, 7);
    expect(onesSum(big, 7, 8)).toBe(0xddf2);
  });

  it('handles odd lengths by padding with a zero byte', () => {
    const b = new Uint8Array([0x12, 0x34, 0x56]);
    expect(onesSum(b, 0, 3)).toBe(0x1234 + 0x5600);
    expect(onesSum(b, 2, 1)).toBe(0x5600);
    expect(onesSum(b, 1, 0)).toBe(0);
  });

  it('verifies to zero once the checksum is stored', () => {
    const b = new Uint8Array([0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x00, 0x00, 0x40, 0x11, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    const c = internetChecksum(b, 0, 20);
    b[10] = c >>> 8;
    b[11] = c & 0xff;
    expect(internetChecksum(b, 0, 20)).toBe(0);
    expect(onesSum(b, 0, 20)).toBe(0xffff);
  });

  it('pseudoHeaderSum equals the sum over the 12-byte pseudo-header', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xffff }),
        (src, dst, proto, length) => {
          const p = new Uint8Array(12);
          const dv = new DataView(p.buffer);
          dv.setUint32(0, src);
          dv.setUint32(4, dst);
          p[9] = proto;
          dv.setUint16(10, length);
          expect(pseudoHeaderSum(src, dst, proto, length)).toBe(naiveSum(p, 0, 12));
        },
      ),
      fcParams(2000),
    );
  });

  it('equals a naive byte-pair sum for random buffers, offsets, lengths and initial values', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffffff }),
        fc.boolean(),
        (bytes, a, b, initial, sliced) => {
          // Optionally view the bytes through a Uint8Array with a non-zero byteOffset.
          const store = new Uint8Array(bytes.length + 3);
          store.set(bytes, 3);
          const buf = sliced ? store.subarray(3) : bytes;
          const off = bytes.length === 0 ? 0 : a % (bytes.length + 1);
          const len = b % (bytes.length - off + 1);
          expect(onesSum(buf, off, len, initial)).toBe(naiveSum(buf, off, len, initial));
          expect(internetChecksum(buf, off, len)).toBe(~naiveSum(buf, off, len) & 0xffff);
        },
      ),
      fcParams(10_000),
    );
  });

  it('stays exact past the intermediate fold (buffers over 4 MiB)', () => {
    const n = 9 * 1024 * 1024 + 3;
    const buf = new Uint8Array(n).fill(0xff);
    expect(onesSum(buf, 0, n - 1)).toBe(0xffff);
    for (let i = 0; i < n; i += 4093) buf[i] = i & 0xff;
    expect(onesSum(buf, 1, n - 1)).toBe(naiveSum(buf, 1, n - 1));
  });

  it('throws WireError for ranges outside the buffer', () => {
    const b = new Uint8Array(4);
    expect(() => onesSum(b, 2, 3)).toThrow(WireError);
    expect(() => onesSum(b, -1, 1)).toThrow(WireError);
  });
});
