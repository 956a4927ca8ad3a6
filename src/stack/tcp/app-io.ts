/**
 * The application's own memory a connection moves bytes to and from without
 * its rings (the socket layer's zero-copy paths):
 *
 *  - the read target: memory of the reader's (a Buffer it will hand to the
 *    application) where in-order payload is copied straight from the packet
 *    while the receive ring is empty, instead of into the ring and later out
 *    of it. Bytes written there are the reader's at once, as if read (the
 *    window stays open); `rtFilled` counts those the reader has not taken yet.
 *  - the send loan: a caller's buffer whose bytes follow the send ring's in
 *    the byte stream and are sent (and retransmitted) straight from it, until
 *    they are acknowledged and the loan goes back: the bytes are never copied
 *    into the send ring.
 *
 * One object per connection that uses either, made on first use; a
 * connection that never does holds the shared NO_IO.
 */

const EMPTY = new Uint8Array(0);

export class AppIo {
  /** Read target: memory, next byte to write, end of the room; bytes written the reader has not taken. */
  rtBuf: Uint8Array = EMPTY;
  rtPos = 0;
  rtEnd = 0;
  rtFilled = 0;
  /** Send loan: the lent buffer and the unacknowledged part of its range, [loanOff, loanOff + loanLen). */
  loanBuf: Uint8Array = EMPTY;
  loanOff = 0;
  loanLen = 0;

  /** Room left in the read target (0 when none is set). */
  get rtRoom(): number {
    return this.rtEnd - this.rtPos;
  }

  /** Whether a read target is set (room or not). */
  get hasTarget(): boolean {
    return this.rtBuf !== EMPTY;
  }

  setTarget(buf: Uint8Array, off: number, end: number): void {
    this.rtBuf = buf;
    this.rtPos = off;
    this.rtEnd = end;
  }

  clearTarget(): void {
    this.rtBuf = EMPTY;
    this.rtPos = 0;
    this.rtEnd = 0;
  }

  lend(buf: Uint8Array, off: number, len: number): void {
    this.loanBuf = buf;
    this.loanOff = off;
    this.loanLen = len;
  }

  /** The loan is over (acknowledged, or the connection is done): the buffer is not referenced any more. */
  endLoan(): void {
    this.loanBuf = EMPTY;
    this.loanOff = 0;
    this.loanLen = 0;
  }
}

/** The AppIo of a connection that has not used either path: never written. */
export const NO_IO = new AppIo();
