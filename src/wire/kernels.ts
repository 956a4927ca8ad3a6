/**
 * Optional native byte kernels for copyBytes and onesSum. The stack is pure
 * JavaScript; the composition root (ustack.ts) installs the addon's kernels
 * when the addon is built, and the wire helpers then hand packet-sized
 * ranges to them: one call costs ~30 ns and runs at memory speed, where a
 * JavaScript word loop moves 2-3 GB/s and TypedArray.set allocates a view
 * per call. Each kernel returns -1 on arguments it refuses (then the
 * JavaScript path runs), never touching memory outside the views.
 */
export interface ByteKernels {
  /** memmove src[sOff, sOff + len) to dst[dOff, ...): 0, or -1. */
  copy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** copy, returning the folded one's complement sum of the bytes (as onesSum with initial 0), or -1. */
  copySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** The folded one's complement sum of buf[off, off + len) (as onesSum with initial 0), or -1. */
  sum(buf: Uint8Array, off: number, len: number): number;
  /**
   * src[sOff, sOff + total) cut into `count` chunks of `unit` bytes (the
   * last one the rest): chunk k copied to dst[dOffs[k]...] and its folded
   * sum written to sums[k]; 0, or -1 (nothing done). One call for a burst of
   * frames (software segmentation).
   */
  copySumScatter?(dst: Uint8Array, dOffs: Uint32Array, count: number, src: Uint8Array, sOff: number, unit: number, total: number, sums: Int32Array): number;
}

export let nativeCopy: ByteKernels['copy'] | null = null;
export let nativeCopySum: ByteKernels['copySum'] | null = null;
export let nativeSum: ByteKernels['sum'] | null = null;
export let nativeCopySumScatter: NonNullable<ByteKernels['copySumScatter']> | null = null;

/** Installs (or, with null, removes) the native kernels for every stack in this thread. */
export function installByteKernels(k: ByteKernels | null): void {
  nativeCopy = k?.copy ?? null;
  nativeCopySum = k?.copySum ?? null;
  nativeSum = k?.sum ?? null;
  nativeCopySumScatter = k?.copySumScatter ?? null;
}

/** Whether native kernels are installed. */
export function byteKernelsInstalled(): boolean {
  return nativeCopy !== null;
}
