/**
 * The one error type every wire parser throws. Malformed input is data: callers
 * catch WireError, count `reason`, and drop the frame.
 */
export type WireErrorReason =
  | 'truncated'
  | 'bad-checksum'
  | 'bad-version'
  | 'bad-header-length'
  | 'bad-length'
  | 'bad-option'
  | 'unsupported';

export class WireError extends Error {
  readonly reason: WireErrorReason;
  constructor(reason: WireErrorReason, message?: string) {
    super(message ?? reason);
    this.name = 'WireError';
    this.reason = reason;
  }
}

/** Throws WireError('truncated') unless [off, off+len) lies inside buf with integer bounds. */
export function checkBounds(buf: Uint8Array, off: number, len: number): void {
  if (!(Number.isInteger(off) && Number.isInteger(len) && off >= 0 && len >= 0 && off + len <= buf.length)) {
    throw new WireError('truncated', `range [${off}, ${off}+${len}) outside buffer of ${buf.length}`);
  }
}

/**
 * Wraps a reusable view over buf[off, off + len): returns null when the
 * packet is well formed, or the WireError's reason for the caller to count.
 * Anything but a WireError is a bug and propagates.
 */
export function wrapOrReason(view: { wrap(buf: Uint8Array, off: number, len: number): unknown }, buf: Uint8Array, off: number, len: number): WireErrorReason | null {
  try {
    view.wrap(buf, off, len);
    return null;
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
}
