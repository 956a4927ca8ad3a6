/**
 * Moving bytes between packet buffers and the connection's rings: copies
 * over the ring's (at most two) spans, copies that also sum the bytes for
 * the checksum (native kernel when installed), and the fused receive
 * placement that lets the layer verify a checksum with the sum of a copy it
 * already made. The zero-copy paths (app-io.ts) are here too: payload
 * copied straight into the reader's memory while the receive ring is empty,
 * and sent straight from a lent buffer that follows the send ring's bytes.
 * The rings themselves come and go with the record (tcb.ts: takeSndRing,
 * putRcvRing, ...).
 */
import { copyBytes, countCopied } from '../../wire/bytes.js';
import { addPartSum, fold16, onesSum } from '../../wire/checksum.js';
import { nativeCopySum, nativeCopySumScatter } from '../../wire/kernels.js';
import { seqDiff } from '../../wire/seq.js';
import type { ByteRing } from './ring-buffer.js';
import { State } from './types.js';
import { Ev, F, IDLE_RING, NO_ASM, NO_RING, putRcvRing, takeRcvRing, type Tcb } from './tcb.js';
import { NO_IO } from './app-io.js';

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
    countCopied(len);
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
  if (targetFor(c, len)) {
    // Into the reader's memory (app-io.ts), past its fill: not the reader's
    // until rcvText takes the placement.
    const io = c.io;
    const sum = fold16(copySum(io.rtBuf, io.rtPos, buf, off, len));
    c.placedBuf = buf;
    c.placedOff = off;
    c.placedLen = len;
    c.placedStore = io.rtBuf;
    c.placedTookRing = false;
    return sum;
  }
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
 * Receive segment merging (gro.ts): makes the placement placeInOrder just
 * made the first part of a merged run — its bytes named where they now lie
 * (placedBuf/placedOff = the store and the position in it), so rcvText
 * takes them as placed, and any copy from "the payload" reads these very
 * bytes, never the frame, whose slot goes back before the run is processed.
 * False (nothing changed) when the placed bytes are not one contiguous span
 * of the ring (they wrap): the segment is then processed on its own.
 */
export function holdPlacement(c: Tcb): boolean {
  if (c.placedLen === 0 || c.placedStore === null) return false;
  const io = c.io;
  if (io !== NO_IO && c.placedStore === io.rtBuf) {
    c.placedBuf = io.rtBuf;
    c.placedOff = io.rtPos;
    return true;
  }
  const ring = c.rcvRing;
  if (ring === NO_RING || ring === IDLE_RING || ring.buffer !== c.placedStore) return false;
  const sp = spanScratch;
  ring.writableSpans(sp, 0);
  if (sp[1]! < c.placedLen) return false;
  c.placedBuf = ring.buffer;
  c.placedOff = sp[0]!;
  return true;
}

/**
 * Receive segment merging: copies the payload of the next segment of a held
 * run (gro.ts) right after the run's placed bytes, not committed, and
 * returns its folded sum for the checksum; the caller then adds it to the
 * run (placedLen += len) only if the checksum verifies. -1, nothing done,
 * unless the whole run would still be what placeInOrder accepts — in order
 * (seq is rcvNxt + the run's length), inside the window and the ring's
 * space, nothing held out of order — and still one contiguous span of the
 * ring or the read target (never asking the reader for room: no
 * application code runs while a run is held).
 */
export function placeAfter(c: Tcb, seq: number, buf: Uint8Array, off: number, len: number): number {
  const held = c.placedLen;
  if (held === 0 || c.state !== State.ESTABLISHED || (c.fl & F.APP_CLOSED) !== 0 || len <= 0) return -1;
  if (seqDiff(seq, c.rcvNxt) !== held || c.asm.heldBytes !== 0) return -1;
  const total = held + len;
  if (total > c.rcvWindowNow() || total > c.rcvFree()) return -1;
  const io = c.io;
  if (io !== NO_IO && c.placedStore === io.rtBuf) {
    if (c.placedOff !== io.rtPos || io.rtEnd - io.rtPos < total) return -1;
    return fold16(copySum(io.rtBuf, io.rtPos + held, buf, off, len));
  }
  const ring = c.rcvRing;
  if (ring === NO_RING || ring === IDLE_RING || ring.buffer !== c.placedStore) return -1;
  // Growing linearises the ring, placed bytes included (ByteRing.ensure):
  // the run then starts right after the committed bytes of the new buffer.
  ring.ensure(ring.length + total);
  const sp = spanScratch;
  ring.writableSpans(sp, 0);
  c.placedBuf = ring.buffer;
  c.placedStore = ring.buffer;
  c.placedOff = sp[0]!;
  if (sp[1]! < total) return -1;
  return fold16(copySum(ring.buffer, sp[0]! + held, buf, off, len));
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

/**
 * Whether in-order payload of len bytes goes to the reader's memory: a read
 * target is set, the receive ring is empty and nothing is held out of order
 * (so the bytes come right after everything the reader has), and the target
 * has room — asking the reader once for more (TcpEvents.onReadTargetFull).
 */
export function targetFor(c: Tcb, len: number): boolean {
  const io = c.io;
  if (io === NO_IO || c.rcvRing.length !== 0 || c.asm.heldBytes !== 0 || !io.hasTarget) return false;
  if (io.rtEnd - io.rtPos >= len) return true;
  const e = c.events;
  if (e.onReadTargetFull === undefined) return false;
  e.onReadTargetFull(len);
  return io.rtEnd - io.rtPos >= len;
}

/**
 * In-order text (rcvText) for the reader's memory: takes the placement
 * placeInOrder made there for this payload, or copies the payload there;
 * false (nothing done) when the bytes are for the receive ring instead.
 */
export function toTarget(c: Tcb, payload: Uint8Array, pOff: number, len: number): boolean {
  const io = c.io;
  if (io === NO_IO) return false;
  if (c.placedLen >= len && payload === c.placedBuf && pOff === c.placedOff && c.placedStore === io.rtBuf) {
    c.placedLen = 0;
    c.placedBuf = null;
    c.placedStore = null;
  } else if (targetFor(c, len)) {
    copyBytes(io.rtBuf, io.rtPos, payload, pOff, len);
  } else {
    return false;
  }
  io.rtPos += len;
  io.rtFilled += len;
  return true;
}

/** `n` lent bytes were acknowledged: the loan shrinks, and once all of it is, it goes back (Ev.WRITABLE). */
export function ackLoan(c: Tcb, n: number): void {
  const io = c.io;
  io.loanOff += n;
  io.loanLen -= n;
  if (io.loanLen === 0) {
    io.endLoan();
    c.pendingEvents |= Ev.WRITABLE;
  }
}

/** Copies up to len queued bytes starting `offset` bytes after the oldest unacknowledged one: the send ring's, then the loan's. */
export function sndGet(c: Tcb, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const ringLen = c.sndRing.length;
  let n = offset < ringLen ? ringGet(c.sndRing, offset, dst, dOff, len < ringLen - offset ? len : ringLen - offset) : 0;
  const io = c.io;
  if (n < len && io.loanLen > 0) {
    const at = offset + n - ringLen;
    let k = io.loanLen - at;
    if (k > len - n) k = len - n;
    if (k > 0) {
      copyBytes(dst, dOff + n, io.loanBuf, io.loanOff + at, k);
      n += k;
    }
  }
  return n;
}

/** sndGet of exactly len bytes that also returns their folded sum; -1 (after copying what there is) when fewer are queued. */
export function sndGetSum(c: Tcb, offset: number, dst: Uint8Array, dOff: number, len: number): number {
  const io = c.io;
  const ringLen = c.sndRing.length;
  if (io.loanLen === 0 || offset + len <= ringLen) return ringGetSum(c.sndRing, offset, dst, dOff, len);
  // The ring's part (a bytes, maybe none), then the loan's from `at`.
  const a = offset < ringLen ? ringLen - offset : 0;
  const at = offset + a - ringLen;
  if (at + len - a > io.loanLen) {
    sndGet(c, offset, dst, dOff, len);
    return -1;
  }
  const fromLoan = copySum(dst, dOff + a, io.loanBuf, io.loanOff + at, len - a);
  if (a === 0) return fold16(fromLoan);
  return fold16(addPartSum(ringGetSum(c.sndRing, offset, dst, dOff, a), fromLoan, a));
}

/**
 * Payload for `count` frames of a segment cut in software: the queued bytes
 * [offset, offset + total) in chunks of `unit` (the last one the rest),
 * chunk k copied to dst[offs[k]...] and its folded sum left in sums[k].
 * One native call when the bytes lie in one span (of the send ring, or of
 * the loan); else chunk by chunk (sndGetSum).
 */
export function sndGetSumScatter(
  c: Tcb,
  offset: number,
  dst: Uint8Array,
  offs: Uint32Array,
  count: number,
  unit: number,
  total: number,
  sums: Int32Array,
): void {
  const k = nativeCopySumScatter;
  if (k !== null) {
    const ring = c.sndRing;
    const ringLen = ring.length;
    const io = c.io;
    if (offset + total <= ringLen) {
      const sp = spanScratch;
      ring.readableSpans(sp, offset);
      if (sp[1]! >= total && k(dst, offs, count, ring.buffer, sp[0]!, unit, total, sums) === 0) {
        countCopied(total);
        return;
      }
    } else if (offset >= ringLen && offset - ringLen + total <= io.loanLen) {
      if (k(dst, offs, count, io.loanBuf, io.loanOff + offset - ringLen, unit, total, sums) === 0) {
        countCopied(total);
        return;
      }
    }
  }
  for (let i = 0; i < count; i++) {
    const p = i * unit;
    const len = i + 1 < count ? unit : total - p;
    const at = offs[i]!;
    const s = sndGetSum(c, offset + p, dst, at, len);
    sums[i] = s >= 0 ? s : onesSum(dst, at, len);
  }
}

/** Nothing left to read and nothing held out of order: the receive ring gives its storage back. */
export function rcvDrained(c: Tcb): void {
  const r = c.rcvRing;
  if (r.length !== 0 || c.asm.heldBytes !== 0) return;
  if (r !== IDLE_RING && r !== NO_RING) putRcvRing(c);
  if (c.asm !== NO_ASM && ++c.asmIdleDrains >= ASM_IDLE_DRAINS) c.asm = NO_ASM;
}
