/** Big-endian byte helpers shared by the codecs (no bounds checks: callers check once). */
import { dataViewOf } from './checksum.js';
import { nativeCopy } from './kernels.js';
export function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
export function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}
export function w16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}
export function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/**
 * From this length on, the native kernel (when installed) beats the
 * JavaScript loops: a call costs ~90 ns, the unrolled byte loop ~1.3 ns a byte.
 */
export const NATIVE_COPY_MIN = 96;
/**
 * Bytes moved by copyBytes and the fused copy + checksum (copySum in
 * stack/tcp/buffers.ts) since the thread started, as COPIED[1] * 2^30 +
 * COPIED[0]: a diagnostics counter (the bench divides it by the bytes
 * delivered to count copies per byte; read it with bytesCopied()).
 *
 * Two Int32Array slots, each kept below 2^31, so that counting allocates
 * nothing even in code V8 has not optimised or has deoptimised (copyBytes
 * sometimes runs so for a long time on node 20 after a deoptimisation):
 * there, reading a Float64Array element makes a heap number and the sum
 * another, 32 bytes per copy, where an int32 element and a sum below 2^31
 * are Smis.
 */
const COPIED = new Int32Array(2);
const COPIED_UNIT = 0x40000000;

/** Adds `len` bytes to the copy counter (bytesCopied). */
export function countCopied(len: number): void {
  const low = COPIED[0]! + len;
  if (low < COPIED_UNIT) {
    COPIED[0] = low;
    return;
  }
  // Once per GiB: the low slot carries into the high one.
  COPIED[1] = COPIED[1]! + Math.floor(low / COPIED_UNIT);
  COPIED[0] = low % COPIED_UNIT;
}

/** Bytes copied by copyBytes and copySum in this thread so far (countCopied). */
export function bytesCopied(): number {
  return COPIED[1]! * COPIED_UNIT + COPIED[0]!;
}

/** From this length on, TypedArray.set (memcpy) is worth its view allocation. */
const BULK_COPY_MIN = 8192;
/** Below this, a byte loop beats setting up word copies (two DataView lookups). */
const WORD_COPY_MIN = 128;

/**
 * Copies src[sOff, sOff + len) to dst[dOff, dOff + len) (non-overlapping)
 * without allocating: 32-bit words through one cached DataView per
 * ArrayBuffer (unaligned access is fine), about 4x a byte loop on packet-
 * sized copies. `set(subarray())` is faster still but allocates a view per
 * call, which the per-segment data path must not do.
 */
export function copyBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): void {
  countCopied(len);
  if (len >= NATIVE_COPY_MIN && nativeCopy !== null && nativeCopy(dst, dOff, src, sOff, len) === 0) return;
  if (len >= BULK_COPY_MIN) {
    // A TSO super-frame or a large write: memcpy through a view. The view is
    // ~100 bytes of garbage per >= 8 KiB copied (< 13 KB per MB moved), and
    // the copy runs at memory speed rather than ~2-3 GB/s.
    dst.set(src.subarray(sOff, sOff + len), dOff);
    return;
  }
  if (len < WORD_COPY_MIN) {
    // Unrolled by four: ~1.3 ns a byte where the plain loop takes ~1.9.
    let i = 0;
    for (const end = len - 4; i <= end; i += 4) {
      dst[dOff + i] = src[sOff + i]!;
      dst[dOff + i + 1] = src[sOff + i + 1]!;
      dst[dOff + i + 2] = src[sOff + i + 2]!;
      dst[dOff + i + 3] = src[sOff + i + 3]!;
    }
    for (; i < len; i++) dst[dOff + i] = src[sOff + i]!;
    return;
  }
  const dv = dataViewOf(dst);
  const sv = dataViewOf(src);
  const d = dst.byteOffset + dOff;
  const s = src.byteOffset + sOff;
  let i = 0;
  // Int32, not Uint32: a value >= 2^31 would be a heap number (an
  // allocation) in code V8 has not optimised yet; int32 always fits a Smi.
  for (const end = len - 8; i <= end; i += 8) {
    dv.setInt32(d + i, sv.getInt32(s + i, true), true);
    dv.setInt32(d + i + 4, sv.getInt32(s + i + 4, true), true);
  }
  for (; i < len; i++) dst[dOff + i] = src[sOff + i]!;
}
