/**
 * The addon's byte kernels (addon/bytes) against the JavaScript definitions
 * they replace on the data path: the same one's complement sums and copies
 * at any offsets, lengths (odd ones too) and byteOffsets; arguments out of
 * bounds or of the wrong type are refused with -1 and touch nothing; and
 * copyBytes/onesSum give the same results with the kernels installed as
 * without. A failing case prints its fast-check seed (FC_SEED replays it).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeByteKernels } from '../../src/driver/addon.js';
import { copyBytes } from '../../src/wire/bytes.js';
import { NATIVE_SUM_MIN, internetChecksum, onesSum } from '../../src/wire/checksum.js';
import { byteKernelsInstalled, installByteKernels } from '../../src/wire/kernels.js';

const seed = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : undefined;
const runs = (n: number) => ({ numRuns: n, ...(seed !== undefined ? { seed } : {}) });
const kernels = nativeByteKernels();
if (kernels === null) console.log('[byte-kernels] skipped: the addon is not built (or USTACK_NATIVE_BYTES=0)');

/** RFC 1071 by definition: big-endian 16-bit words, end-around carry, folded (uncomplemented). */
function referenceSum(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** A view at a nonzero byteOffset into a larger buffer, holding `bytes`. */
function padded(bytes: Uint8Array, pad: number): Uint8Array {
  const v = new Uint8Array(bytes.length + pad + 16).subarray(pad, pad + bytes.length);
  v.set(bytes);
  return v;
}

/** Byte-equal (toEqual on 4000-element arrays costs more than the whole property). */
const same = (x: Uint8Array, y: Uint8Array): boolean => Buffer.compare(x, y) === 0;

const wasInstalled = byteKernelsInstalled();
afterAll(() => installByteKernels(wasInstalled ? kernels : null));

describe.skipIf(kernels === null)('native byte kernels (addon/bytes)', () => {
  const k = kernels!;

  it('sum equals the RFC 1071 definition at any offset and length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 9100 }), fc.nat(15), fc.nat(), fc.nat(), (bytes, pad, a, b) => {
        const buf = padded(bytes, pad);
        const off = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const len = (bytes.length - off === 0 ? 0 : b % (bytes.length - off + 1));
        expect(k.sum(buf, off, len)).toBe(referenceSum(buf, off, len));
      }),
      runs(3000),
    );
  });

  it('sums of all-0xff data and of data summing to 0 mod 0xffff fold as the JavaScript sum does', () => {
    for (const len of [0, 1, 2, 3, 16, 17, 1460, 65535]) {
      const ff = new Uint8Array(len).fill(0xff);
      expect(k.sum(ff, 0, len)).toBe(referenceSum(ff, 0, len));
    }
    const z = new Uint8Array(4);
    z[0] = 0xff; z[1] = 0xfe; z[3] = 0x01; // 0xfffe + 0x0001 = 0xffff
    expect(k.sum(z, 0, 4)).toBe(0xffff);
    expect(k.sum(new Uint8Array(1460), 0, 1460)).toBe(0);
  });

  it('copySum copies exactly and returns the sum of what it copied; copy copies exactly', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.nat(15), fc.nat(15), fc.nat(), fc.nat(), fc.nat(4000), (bytes, sp, dp, a, b, c) => {
        const src = padded(bytes, sp);
        const sOff = bytes.length === 0 ? 0 : a % bytes.length;
        const len = bytes.length - sOff === 0 ? 0 : b % (bytes.length - sOff + 1);
        const dst = padded(new Uint8Array(4000).fill(0xa5), dp);
        const dOff = Math.min(c, 4000 - len);
        const expected = dst.slice();
        expected.set(src.subarray(sOff, sOff + len), dOff);
        expect(k.copySum(dst, dOff, src, sOff, len)).toBe(referenceSum(src, sOff, len));
        expect(same(dst, expected)).toBe(true);
        const dst2 = padded(new Uint8Array(4000).fill(0x5a), dp);
        const expected2 = dst2.slice();
        expected2.set(src.subarray(sOff, sOff + len), dOff);
        expect(k.copy(dst2, dOff, src, sOff, len)).toBe(0);
        expect(same(dst2, expected2)).toBe(true);
      }),
      runs(2000),
    );
  });

  it('refuses ranges outside either view, negative or fractional indices and other types with -1, touching nothing', () => {
    const src = padded(new Uint8Array(100).fill(7), 3);
    const dst = new Uint8Array(100);
    const bad: Array<[unknown, unknown, unknown, unknown, unknown]> = [
      [dst, 0, src, 0, 101],
      [dst, 1, src, 0, 100],
      [dst, 0, src, 1, 100],
      [dst, 100, src, 0, 1],
      [dst, -1, src, 0, 1],
      [dst, 0, src, -5, 1],
      [dst, 0, src, 0, -1],
      [dst, 0, src, 0, 2 ** 53],
      [dst, 2 ** 40, src, 0, 1],
      [new Int32Array(25), 0, src, 0, 4],
      [dst, 0, new Float64Array(4), 0, 4],
      [dst, 0, 'abc', 0, 1],
      [null, 0, src, 0, 1],
      [dst, '0', src, 0, 1],
    ];
    for (const args of bad) {
      const call = args as unknown as [Uint8Array, number, Uint8Array, number, number];
      expect(k.copy(...call), String(args.slice(1))).toBe(-1);
      expect(k.copySum(...call)).toBe(-1);
    }
    expect(dst.every((x) => x === 0)).toBe(true);
    expect(k.sum(src, 0, 101)).toBe(-1);
    expect(k.sum(src, 101, 0)).toBe(-1);
    expect(k.sum(src, -1, 1)).toBe(-1);
    expect(k.sum(new Uint16Array(4) as unknown as Uint8Array, 0, 2)).toBe(-1);
    expect(k.sum(src, 100, 0)).toBe(0);
    // Too few arguments.
    expect((k.sum as unknown as (...a: unknown[]) => number)(src, 0)).toBe(-1);
  });

  it('copySumScatter puts each chunk at its offset with its sum, as copySum chunk by chunk does', () => {
    // The addon built from this tree has it (an older build leaves it out: nativeByteKernels).
    expect(typeof k.copySumScatter).toBe('function');
    const scatter = k.copySumScatter!;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 6000 }), fc.integer({ min: 1, max: 1500 }), fc.nat(15), fc.nat(), (bytes, unit, pad, a) => {
        const src = padded(bytes, pad);
        const sOff = a % bytes.length;
        const total = bytes.length - sOff;
        const count = Math.ceil(total / unit);
        // Chunks at scattered places of one destination, as frames in slots.
        const stride = unit + 37;
        const dst = padded(new Uint8Array(count * stride + 8), pad);
        const offs = new Uint32Array(count + 2);
        for (let i = 0; i < count; i++) offs[i] = (count - 1 - i) * stride + (i & 3);
        const sums = new Int32Array(count + 1).fill(-7);
        expect(scatter(dst, offs, count, src, sOff, unit, total, sums)).toBe(0);
        for (let i = 0; i < count; i++) {
          const n = Math.min(unit, total - i * unit);
          expect(same(dst.subarray(offs[i]!, offs[i]! + n), src.subarray(sOff + i * unit, sOff + i * unit + n))).toBe(true);
          expect(sums[i]).toBe(referenceSum(src, sOff + i * unit, n));
        }
        expect(sums[count]).toBe(-7);
      }),
      runs(500),
    );
  });

  it('copySumScatter refuses counts that do not cover total, ranges outside the views and wrong types, touching nothing', () => {
    const scatter = k.copySumScatter!;
    const src = new Uint8Array(100).fill(9);
    const dst = new Uint8Array(300);
    const offs = new Uint32Array([0, 100, 200]);
    const sums = new Int32Array(3);
    const bad: unknown[][] = [
      [dst, offs, 3, src, 0, 40, 80, sums], // 3 chunks of 40 are more than 80 bytes
      [dst, offs, 2, src, 0, 40, 81, sums], // 2 chunks of 40 are fewer than 81 bytes
      [dst, offs, 3, src, 0, 40, 101, sums], // past the source
      [dst, offs, 3, src, 30, 40, 100, sums],
      [dst, offs, 4, src, 0, 25, 100, sums], // more chunks than offsets
      [dst, offs, 3, src, 0, 40, 100, new Int32Array(2)], // more chunks than sums
      [dst, new Uint32Array([0, 100, 290]), 3, src, 0, 40, 100, sums], // the last chunk past the destination
      [dst, new Uint32Array([0, 100, 2 ** 32 - 1]), 3, src, 0, 40, 100, sums],
      [dst, offs, 0, src, 0, 40, 0, sums],
      [dst, offs, 3, src, 0, 0, 100, sums],
      [dst, offs, 2 ** 53, src, 0, 1, 100, sums],
      [dst, offs, 3, src, 0, 2 ** 62, 100, sums],
      [dst, new Int32Array([0, 100, 200]), 3, src, 0, 40, 100, sums],
      [dst, offs, 3, src, 0, 40, 100, new Uint32Array(3)],
      [dst, offs, -1, src, 0, 40, 100, sums],
      [dst, offs, 3, src, 0, 40, 100],
    ];
    for (const args of bad) {
      const call = args as unknown as Parameters<typeof scatter>;
      expect(scatter(...call), JSON.stringify(args.slice(2, 7))).toBe(-1);
    }
    expect(dst.every((x) => x === 0)).toBe(true);
    expect(sums.every((x) => x === 0)).toBe(true);
    expect(scatter(dst, offs, 3, src, 0, 40, 100, sums)).toBe(0);
    expect(dst[200 + 19]).toBe(9);
    expect(dst[200 + 20]).toBe(0);
  });

  it('copySumScatter takes at most 2,048 chunks (its offsets are copied once, then checked and used) and reads offsets from a SharedArrayBuffer the same way', () => {
    // What a single thread cannot show: another thread changing an offset between
    // the check and the copy. The addon checks and uses one copy of the offsets;
    // here the bound on that copy is what can fail, and shared offsets work alike.
    const scatter = k.copySumScatter!;
    const src = new Uint8Array(2_049).fill(5);
    const dst = new Uint8Array(2_049 * 2);
    const offs = new Uint32Array(new SharedArrayBuffer(4 * 2_049));
    for (let i = 0; i < 2_049; i++) offs[i] = 2 * i;
    const sums = new Int32Array(2_049);
    // 2,049 one-byte chunks, every range inside the views: refused for its count alone, nothing touched.
    expect(scatter(dst, offs, 2_049, src, 0, 1, 2_049, sums)).toBe(-1);
    expect(dst.every((x) => x === 0)).toBe(true);
    expect(sums.every((x) => x === 0)).toBe(true);
    // 2,048 are done, from the shared offsets.
    expect(scatter(dst, offs, 2_048, src, 0, 1, 2_048, sums)).toBe(0);
    for (let i = 0; i < 2_048; i++) {
      expect(dst[2 * i]).toBe(5);
      expect(dst[2 * i + 1]).toBe(0);
    }
    expect(sums[2_047]).toBe(referenceSum(src, 0, 1));
    expect(sums[2_048]).toBe(0);
    // An offset out of range in the shared array is refused like any other.
    offs[7] = dst.length;
    expect(scatter(dst, offs, 8, src, 0, 1, 8, sums)).toBe(-1);
  });

  it('copyBytes and onesSum give the same results with the kernels installed as with the JavaScript loops', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 3000 }), fc.nat(7), fc.nat(), fc.nat(), fc.nat(2 ** 40), (bytes, pad, a, b, initial) => {
        const buf = padded(bytes, pad);
        const off = a % bytes.length;
        const len = b % (bytes.length - off + 1);
        installByteKernels(null);
        const js = onesSum(buf, off, len, initial);
        const jsCk = internetChecksum(buf, off, len);
        const jsDst = new Uint8Array(3000);
        copyBytes(jsDst, 0, buf, off, len);
        installByteKernels(k);
        expect(onesSum(buf, off, len, initial)).toBe(js);
        expect(internetChecksum(buf, off, len)).toBe(jsCk);
        const nDst = new Uint8Array(3000);
        copyBytes(nDst, 0, buf, off, len);
        expect(same(nDst, jsDst)).toBe(true);
      }),
      runs(2000),
    );
    expect(NATIVE_SUM_MIN).toBeGreaterThan(0);
  });
});
