import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesCopied, copyBytes, countCopied } from '../../src/wire/bytes.js';

const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;

describe('copyBytes', () => {
  it('copies exactly like a byte loop, at any offsets, lengths and byteOffsets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 3000 }),
        fc.nat(64),
        fc.nat(64),
        fc.nat(3000),
        fc.nat(3000),
        fc.nat(3000),
        (bytes, srcPad, dstPad, a, b, c) => {
          // Views into larger buffers so byteOffset is not 0.
          const src = new Uint8Array(bytes.length + srcPad + 8).subarray(srcPad);
          src.set(bytes);
          const dst = new Uint8Array(3000 + dstPad + 8).subarray(dstPad, dstPad + 3000);
          const sOff = bytes.length === 0 ? 0 : a % bytes.length;
          const len = Math.min(bytes.length - sOff, b % 3000);
          const dOff = Math.min(c, 3000 - len);
          const expected = dst.slice();
          for (let i = 0; i < len; i++) expected[dOff + i] = src[sOff + i]!;
          copyBytes(dst, dOff, src, sOff, len);
          expect(dst).toEqual(expected);
        },
      ),
      { numRuns: 2000, ...(seed !== undefined ? { seed } : {}) },
    );
  });

  it('counts the bytes copied exactly, across the low slot\'s carry at 2^30', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(2 ** 31 - 1), { maxLength: 20 }), (lens) => {
        const before = bytesCopied();
        let sum = 0;
        for (const len of lens) {
          countCopied(len);
          sum += len;
        }
        expect(bytesCopied() - before).toBe(sum);
      }),
      { numRuns: 500, ...(seed !== undefined ? { seed } : {}) },
    );
    const before = bytesCopied();
    copyBytes(new Uint8Array(300), 0, new Uint8Array(300), 0, 300);
    expect(bytesCopied() - before).toBe(300);
  });
});
