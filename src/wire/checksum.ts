/**
 * The Internet checksum (RFC 1071): the 16-bit one's complement of the one's
 * complement sum of the data taken as big-endian 16-bit words.
 *
 * onesSum reads 32-bit big-endian words through a DataView (unaligned reads
 * are fine, so odd offsets cost nothing extra) and folds carries only at the
 * end: a 32-bit word is congruent to the sum of its two 16-bit halves modulo
 * 0xffff, and a JS number holds 2^53 exactly, so a packet-sized sum never
 * needs an intermediate fold.
 */
import { checkBounds } from './errors.js';
import { nativeSum } from './kernels.js';

/**
 * The views of the last few buffers seen (most-recent first): a stack's slot
 * pool, its peer's, a receive ring and an application buffer alternate on
 * the data path, and a WeakMap lookup each time cost 6% of a request/response
 * profile. Holds at most CACHE_SIZE buffers alive.
 */
const CACHE_SIZE = 4;
const cachedBuffers: (ArrayBufferLike | null)[] = [null, null, null, null];
const cachedViews: (DataView | null)[] = [null, null, null, null];
let cacheNext = 0;
const dataViews = new WeakMap<ArrayBufferLike, DataView>();

/**
 * A DataView over buf's whole underlying buffer: one per ArrayBuffer, created
 * on first use (a small cache is checked first, then a WeakMap), so summing
 * packets in a slot pool never allocates.
 */
export function dataViewOf(buf: Uint8Array): DataView {
  const ab = buf.buffer;
  for (let i = 0; i < CACHE_SIZE; i++) {
    if (cachedBuffers[i] === ab) return cachedViews[i]!;
  }
  let dv = dataViews.get(ab);
  if (dv === undefined) {
    dv = new DataView(ab);
    dataViews.set(ab, dv);
  }
  cachedBuffers[cacheNext] = ab;
  cachedViews[cacheNext] = dv;
  cacheNext = (cacheNext + 1) % CACHE_SIZE;
  return dv;
}

const TWO32 = 0x1_0000_0000;

/** Folds a non-negative integer sum (< 2^53) to 16 bits with end-around carry. */
export function fold16(sum: number): number {
  // Reduce to < 2^33 first with 32-bit end-around carry (safe for any sum < 2^53).
  while (sum >= TWO32) sum = (sum % TWO32) + Math.floor(sum / TWO32);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * One's complement sum of buf[off, off+len) as big-endian 16-bit words (an odd
 * trailing byte is padded with zero), added to `initial`. Returns the folded,
 * uncomplemented 16-bit sum (0..0xffff). `initial` may be any non-negative
 * integer below 2^48 (e.g. a previous onesSum or pseudoHeaderSum).
 */
/** Below this length, summing byte pairs beats finding the buffer's DataView. */
const SHORT_SUM = 128;
/** From this length on, the native kernel (when installed) beats the JavaScript loops. */
export const NATIVE_SUM_MIN = 96;

export function onesSum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  checkBounds(buf, off, len);
  if (len < SHORT_SUM) {
    // Headers and small datagrams: byte pairs straight from the array (no
    // DataView lookup, which costs more than the sum at these lengths).
    // Four bytes a step (headers are whole 32-bit words): the sum stays below
    // 2^23 for len < 128, a small integer.
    let sum = initial > 0xffff ? fold16(initial) : initial;
    const end4 = off + (len & ~3);
    let i = off;
    for (; i < end4; i += 4) sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
    if ((len & 2) !== 0) {
      sum += (buf[i]! << 8) | buf[i + 1]!;
      i += 2;
    }
    if ((len & 1) !== 0) sum += buf[i]! << 8;
    sum = (sum & 0xffff) + (sum >>> 16);
    return (sum & 0xffff) + (sum >>> 16);
  }
  if (len >= NATIVE_SUM_MIN && nativeSum !== null) {
    const r = nativeSum(buf, off, len);
    if (r >= 0) {
      let sum = r + (initial > 0xffff ? fold16(initial) : initial);
      sum = (sum & 0xffff) + (sum >>> 16);
      return (sum & 0xffff) + (sum >>> 16);
    }
  }
  const dv = dataViewOf(buf);
  let i = buf.byteOffset + off;
  // Everything stays a small integer (Smi): each 32-bit word is read signed
  // and split into its two 16-bit halves, and the sum is folded every 16 KiB
  // so it never passes 2^30. A sum of whole 32-bit words would pass 2^31
  // and be a heap number — an allocation per call — in any code V8 has not
  // optimised (or has deoptimised): seen as the top allocation site of bulk TCP.
  let sum = initial > 0xffff ? fold16(initial) : initial;
  let blocks = len >>> 4;
  while (blocks > 0) {
    let n = blocks > 1024 ? 1024 : blocks;
    blocks -= n;
    while (n-- > 0) {
      const a = dv.getInt32(i);
      const b = dv.getInt32(i + 4);
      const c = dv.getInt32(i + 8);
      const d = dv.getInt32(i + 12);
      sum += (a >>> 16) + (a & 0xffff) + (b >>> 16) + (b & 0xffff) + (c >>> 16) + (c & 0xffff) + (d >>> 16) + (d & 0xffff);
      i += 16;
    }
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  let rest = len & 15;
  while (rest >= 2) {
    sum += dv.getUint16(i);
    i += 2;
    rest -= 2;
  }
  if (rest === 1) sum += dv.getUint8(i) << 8;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** Folds any sum (as from onesSum) and complements it: the value for a checksum field. */
export function foldChecksum(sum: number): number {
  return ~fold16(sum) & 0xffff;
}

/** The Internet checksum of buf[off, off+len) with `initial` added (0 when the data verify). */
export function internetChecksum(buf: Uint8Array, off: number, len: number, initial = 0): number {
  return ~onesSum(buf, off, len, initial) & 0xffff;
}

/**
 * Folded (uncomplemented) one's complement sum of the IPv4 pseudo-header
 * (RFC 9293 §3.1, RFC 768): source, destination, zero/protocol, length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  const sum =
    (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (protocol & 0xff) + (length & 0xffff);
  return fold16(sum);
}

/**
 * Adds `partSum`, the folded sum of a run of bytes taken on its own, to
 * `sum`, where the run starts `at` bytes into the data `sum` covers. Words
 * are counted from the start of the data: a run at an odd position has its
 * bytes in the other halves of the words, and as one's complement sums do
 * not depend on byte order (RFC 1071 §2(B)), that is its sum byte-swapped.
 * Returns `sum` plus at most 0xffff, unfolded (fold with onesSum's `initial`
 * or foldChecksum).
 */
export function addPartSum(sum: number, partSum: number, at: number): number {
  return sum + ((at & 1) === 0 ? partSum : ((partSum & 0xff) << 8) | (partSum >>> 8));
}
