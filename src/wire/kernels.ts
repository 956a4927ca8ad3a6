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
}

export let nativeCopy: ByteKernels['copy'] | null = null;
export let nativeCopySum: ByteKernels['copySum'] | null = null;
export let nativeSum: ByteKernels['sum'] | null = null;

/** Installs (or, with null, removes) the native kernels for every stack in this thread. */
export function installByteKernels(k: ByteKernels | null): void {
  nativeCopy = k?.copy ?? null;
  nativeCopySum = k?.copySum ?? null;
  nativeSum = k?.sum ?? null;
}

/** Whether native kernels are installed. */
export function byteKernelsInstalled(): boolean {
  return nativeCopy !== null;
}
