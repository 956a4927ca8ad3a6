/**
 * A dgram socket's SO_RCVBUF / SO_SNDBUF as Linux keeps them: set(n) stores
 * 2n, clamped to [minimum, 2 * rmem_max]; get returns the stored value.
 */

/** Linux: net.core.rmem_default / wmem_default. */
export const DEFAULT_BUF = 212992;
/** Twice net.core.rmem_max: the cap of a stored size. */
const MAX_BUF = 425984;
export const MIN_RCVBUF = 2304;
export const MIN_SNDBUF = 4608;

/** The size the kernel stores for a request of `size` bytes: doubled, capped by 2 * rmem_max, floored at `min`. */
export function linuxBufSize(size: number, min: number): number {
  return Math.max(min, Math.min(size * 2, MAX_BUF));
}
