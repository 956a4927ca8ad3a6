/**
 * Moving bytes between packet buffers and the connection's rings: copies
 * over the ring's (at most two) spans, copies that also sum the bytes for
 * the checksum (native kernel when installed), and the fused receive
 * placement that lets the layer verify a checksum with the sum of a copy it
 * already made. The rings themselves come and go with the record (tcb.ts:
 * takeSndRing, putRcvRing, ...).
 */
import { BYTES_COPIED, copyBytes } from '../../wire/bytes.js';
import { addPartSum, fold16, onesSum } from '../../wire/checksum.js';
import { nativeCopySum } from '../../wire/kernels.js';
import { seqDiff } from '../../wire/seq.js';
import type { ByteRing } from './ring-buffer.js';
import { State } from './types.js';
import { F, IDLE_RING, NO_ASM, NO_RING, putRcvRing, takeRcvRing, type Tcb } from './tcb.js';

/** A connection's assembler goes after this many receive-ring drains in a row without out-of-order data. */
const ASM_IDLE_DRAINS = 8;

/** Where ByteRing.readableSpans / writableSpans leave [start0, len0, start1, len1]. */
const spanScratch: number[] = [0, 0, 0, 0];

// The copies go through wire/bytes' copyBytes, which allocates nothing for
// packet-sized lengths: the steady state of a bulk transfer allocates nothing.

/** Copies len bytes into the ring's free region, `offset` bytes past its readable tail (no commit). */
export function ringPut(ring: ByteRing, offset: number, src: Uint8Array, sOff: number, len: number): void {
  const sp = spanScratch;
  ring.ensure(ring.length + offset + len);
  const n = ring.writableSpans(sp, offset);
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  copyBytes(buf, sp[0]!, src, sOff, a);
  if (a < len && n > 1) copyBytes(buf, sp[2]!, src, sOff + a, Math.min(len - a, sp[3]!));
}

/** Copies up to len readable bytes starting `offset` bytes into the ring; returns how many. */
export function ringGet(ring: ByteRing, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.readableSpans(sp, offset);
  if (n === 0) return 0;
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  copyBytes(dst, dOff, buf, sp[0]!, a);
  let b = 0;
  if (a < len && n > 1) {
    b = Math.min(len - a, sp[3]!);
    copyBytes(dst, dOff + a, buf, sp[2]!, b);
  }
  return a + b;
}

/**
 * Copies len bytes and returns their folded one's complement sum: the native
 * kernel touches each byte once; where it is not installed or refuses, a
 * copy and then a sum of the copy.
 */
export function copySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number {
  const r = nativeCopySum !== null ? nativeCopySum(dst, dOff, src, sOff, len) : -1;
  if (r >= 0) {
    BYTES_COPIED[0] += len;
    return r;
  }
  copyBytes(dst, dOff, src, sOff, len);
  return onesSum(dst, dOff, len);
}

/** ringPut that also returns the folded sum of the len bytes (the ring's free space must be allocated: ensure). */
export function ringPutSum(ring: ByteRing, src: Uint8Array, sOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.writableSpans(sp, 0);
  const buf = ring.buffer;
  const a = Math.min(len, sp[1]!);
  let sum = copySum(buf, sp[0]!, src, sOff, a);
  // The second span's bytes sit at payload offset a, which is odd when the first span is.
  if (a < len && n > 1) sum = addPartSum(sum, copySum(buf, sp[2]!, src, sOff + a, len - a), a);
  return fold16(sum);
}

/**
 * ringGet of exactly len bytes that also returns their folded sum; -1 (after
 * copying what there is, as ringGet) when the ring holds fewer.
 */
export function ringGetSum(ring: ByteRing, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const sp = spanScratch;
  const n = ring.readableSpans(sp, offset);
  const a = Math.min(len, sp[1]!);
  const b = a < len && n > 1 ? Math.min(len - a, sp[3]!) : 0;
  if (a + b < len) {
    ringGet(ring, offset, dst, dOff, len);
    return -1;
  }
  const buf = ring.buffer;
  let sum = copySum(dst, dOff, buf, sp[0]!, a);
  if (b > 0) sum = addPartSum(sum, copySum(dst, dOff + a, buf, sp[2]!, b), a);
  return fold16(sum);
}

/**
 * Fused receive, for a segment whose checksum the NIC did not verify:
 * copies its payload into the receive ring's free space, not committed,
 * and returns the bytes' folded sum, so the layer verifies the checksum
 * with it and rcvText commits the bytes instead of copying them again
 * (each byte read once). Returns -1, doing nothing, unless that is safe
 * whatever the segment turns out to be: ESTABLISHED, the payload starts at
 * rcvNxt and lies wholly inside the window and the ring, and nothing is
 * held out of order (so the free space holds no bytes anyone needs: a
 * corrupt segment overwrites only garbage, and dropPlacement forgets it).
 */
export function placeInOrder(c: Tcb, seq: number, buf: Uint8Array, off: number, len: number): number {
  if (c.state !== State.ESTABLISHED || (c.fl & F.APP_CLOSED) !== 0 || len <= 0 || seqDiff(seq, c.rcvNxt) !== 0) return -1;
  if (c.asm.heldBytes !== 0 || c.rcvRing === NO_RING || len > c.rcvWindowNow() || len > c.rcvFree()) return -1;
  const took = c.rcvRing === IDLE_RING;
  const ring = took ? takeRcvRing(c) : c.rcvRing;
  ring.ensure(ring.length + len);
  const sum = ringPutSum(ring, buf, off, len);
  c.placedBuf = buf;
  c.placedOff = off;
  c.placedLen = len;
  c.placedStore = ring.buffer;
  c.placedTookRing = took;
  return sum;
}

/**
 * Forgets a placement rcvText did not use (its checksum failed, or the
 * segment was trimmed or dropped): the bytes stay uncommitted garbage, and
 * a ring taken for them goes back, as if the segment never came.
 */
export function dropPlacement(c: Tcb): void {
  if (c.placedLen === 0) return;
  c.placedLen = 0;
  c.placedBuf = null;
  c.placedStore = null;
  if (c.placedTookRing && c.rcvRing.length === 0 && c.asm.heldBytes === 0) putRcvRing(c);
  c.placedTookRing = false;
}

/** Whether placeInOrder already put these len bytes at the ring's tail (then they are taken as placed). */
export function usePlacement(c: Tcb, payload: Uint8Array, pOff: number, len: number, ring: ByteRing): boolean {
  if (c.placedLen < len || payload !== c.placedBuf || pOff !== c.placedOff || ring.buffer !== c.placedStore) return false;
  c.placedLen = 0;
  c.placedBuf = null;
  c.placedStore = null;
  c.placedTookRing = false;
  return true;
}

/** Nothing left to read and nothing held out of order: the receive ring gives its storage back. */
export function rcvDrained(c: Tcb): void {
  const r = c.rcvRing;
  if (r.length !== 0 || c.asm.heldBytes !== 0) return;
  if (r !== IDLE_RING && r !== NO_RING) putRcvRing(c);
  if (c.asm !== NO_ASM && ++c.asmIdleDrains >= ASM_IDLE_DRAINS) c.asm = NO_ASM;
}
