/**
 * One TCP connection (RFC 9293), I/O-free, as in smoltcp's socket/tcp.rs:
 *
 *  - `process(seg, payload, off, now)` takes one incoming segment (already
 *    demultiplexed to this connection by the layer). Payload bytes are copied
 *    into the receive ring during the call.
 *  - `dispatch(now, out)` emits whatever is due (SYN, data, retransmissions,
 *    ACKs, probes, RST) through `out.emitSegment(conn, repr, ringOffset)`; the
 *    repr is one reused object and payload bytes are copied by the emitter
 *    with `copyPayload`, so nothing is allocated per segment.
 *  - `pollAt()` says when `dispatch` is next needed for a timer.
 *
 * No clock is read here and nothing is scheduled: time is always passed in.
 * Application calls (write/read/shutdown/close/abort) change state and then
 * call `host.kick(conn)` so the layer can dispatch and re-arm its timer.
 *
 * This class is the facade: the record is Tcb (tcb.ts), and each mechanism
 * is a file of free functions over it — connect.ts (opening), rcv.ts
 * (receiver), snd.ts (sender), recovery/ (SACK scoreboard, RACK, TLP, fast
 * recovery), timers.ts, icmp.ts; see README.md. Events are collected while a
 * segment or a dispatch is handled and delivered at its end, so callbacks
 * never see a half-updated connection.
 */
import { TCP_ACK, TCP_RST, type TcpRepr } from '../../wire/tcp.js';
import { seqAdd, seqDiff, seqGt } from '../../wire/seq.js';
import { STATE_NAMES, State, type PeerSynOptions, type TcpState } from './types.js';
import { COLD_NONE } from './cold-state.js';
import {
  Ev,
  F,
  IDLE_RING,
  NO_ASM,
  NO_RING,
  Tcb,
  finish,
  maybeDropCold,
  queueRst,
  releaseCold,
  setState,
  takeCold,
  takeSndRing,
  type SegmentSink,
} from './tcb.js';
import { dropPlacement, holdPlacement, placeAfter, placeInOrder, rcvDrained, ringGet, ringPut, sndGet, sndGetSum, sndGetSumScatter } from './buffers.js';
import { AppIo, NO_IO } from './app-io.js';
import { emitRst } from './output.js';
import { pipe } from './recovery/sack-scoreboard.js';
import { rackReoWnd, rsIdx, rsStartOf } from './recovery/rack.js';
import { transmit } from './snd.js';
import { rcvSegment, windowUpdateWorthSending } from './rcv.js';
import { activeOpen, cookieOpen, passiveOpen, synSentSegment } from './connect.js';
import { icmpInput } from './icmp.js';
import { DEADLINE, nextDeadline, runTimers, timerDeadline } from './timers.js';

export { State, STATE_NAMES, DEFAULT_TCP_CONFIG, newConnStats } from './types.js';
export type { PeerSynOptions, TcpConfig, TcpConnStats, TcpErrorCode, TcpEvents, TcpState } from './types.js';
export type { ConnectionHost, ConnectionParams, SegmentSink } from './tcb.js';

export class Connection extends Tcb {
  // =========================================================================
  // Opening (connect.ts)

  /** Active open (RFC 9293 §3.10.1): SYN_SENT; the SYN goes out on the next dispatch. */
  connect(now: number): void {
    activeOpen(this, now);
  }

  /**
   * Passive open from a LISTEN socket: `seg` is the peer's SYN. The SYN-ACK
   * goes out on the next dispatch (RFC 9293 §3.10.7.2).
   */
  acceptSyn(seg: TcpRepr, now: number): void {
    passiveOpen(this, seg, now);
  }

  /**
   * Passive open completed by a SYN cookie (the SYN_RECEIVED state was never
   * stored). `seg` is the ACK that carried the cookie; the caller then feeds
   * it to process() for its ACK and data.
   */
  acceptCookie(seg: TcpRepr, opts: PeerSynOptions, now: number): void {
    cookieOpen(this, seg, opts, now);
  }

  // =========================================================================
  // Input, output, time

  /**
   * Handles one segment addressed to this connection. Never throws on
   * hostile input. `inBurst`: more segments of the same receive burst may
   * follow; when the connection's output may then wait for the burst's end
   * (outputMayWait), so do its events, and the call returns true: the layer
   * delivers them (deliverEvents) before servicing it at the end of the
   * burst, so the application reads a burst's in-order data at once, and its
   * answer leaves with the burst's ACK.
   */
  process(seg: TcpRepr, payload: Uint8Array, payloadOff: number, now: number, inBurst = false): boolean {
    takeCold(this);
    this.now = now;
    this.stats.segmentsIn++;
    switch (this.state) {
      case State.CLOSED:
      case State.LISTEN:
        break; // the layer answers segments for closed/listening ports
      case State.SYN_SENT:
        synSentSegment(this, seg, payload, payloadOff, now);
        break;
      default:
        rcvSegment(this, seg, payload, payloadOff, now);
        break;
    }
    // A placement lives for this segment only (before the application runs).
    dropPlacement(this);
    if (inBurst && this.outputMayWait) return true;
    this.flushEvents();
    return false;
  }

  /** Delivers events a segment of a burst left pending (process returned true). */
  deliverEvents(): void {
    this.flushEvents();
  }

  /** Emits everything due at `now`. */
  dispatch(now: number, sink: SegmentSink): void {
    takeCold(this);
    this.now = now;
    this.fl &= ~F.OUTPUT_FAILED;
    if (this.state === State.CLOSED) {
      if ((this.fl & F.RST_PENDING) !== 0) emitRst(this, sink);
      // Finished: the ColdState goes back for another connection.
      releaseCold(this);
      this.flushEvents();
      return;
    }
    runTimers(this, now, sink);
    if ((this.fl & F.RST_PENDING) !== 0) emitRst(this, sink);
    if ((this.state as TcpState) !== State.CLOSED) transmit(this, now, sink);
    if (this.cold !== COLD_NONE) maybeDropCold(this);
    this.flushEvents();
  }

  /** Next time dispatch() is needed (absolute ms), or Infinity. `-Infinity` means "now". */
  pollAt(): number {
    nextDeadline(this);
    return DEADLINE[0]!;
  }

  /**
   * @internal For the layer's timer: pollAt() in whole milliseconds, after
   * `now`; -1 when nothing is due (timers.ts timerDeadline).
   */
  timerDeadline(now: number): number {
    return timerDeadline(this, now);
  }

  /**
   * After process(): whether this connection's output may wait for the end of
   * the receive burst (TcpLayer coalescing). Only for in-order data in
   * ESTABLISHED with nothing held out of order, no D-SACK or RST to send: the
   * ACK then covers the whole burst (a stretch ACK, as with Linux's GRO).
   * Anything a peer counts ACK by ACK — duplicate ACKs for data out of
   * order, challenge ACKs, answers to probes and to old or out-of-window
   * segments (F.ACK_EACH) — goes out segment by segment.
   */
  get outputMayWait(): boolean {
    return (
      this.state === State.ESTABLISHED &&
      this.asm.heldBytes === 0 &&
      (this.fl & (F.ACK_EACH | F.DSACK_PENDING | F.RST_PENDING | F.PENDING_FIN)) === 0
    );
  }

  /** Copies `len` bytes of queued send data starting `ringOffset` bytes after the oldest unacknowledged byte. */
  copyPayload(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    return sndGet(this, ringOffset, dst, dstOff, len);
  }

  /**
   * copyPayload of exactly `len` bytes, returning their folded one's
   * complement sum for the checksum (so each byte is read once), or -1 when
   * fewer were queued (the caller then sums the segment itself).
   */
  copyPayloadSum(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    return sndGetSum(this, ringOffset, dst, dstOff, len);
  }

  /** Payload for the frames of a segment IP output cuts in software (buffers.ts sndGetSumScatter). */
  copyPayloadSumScatter(ringOffset: number, dst: Uint8Array, offs: Uint32Array, count: number, unit: number, total: number, sums: Int32Array): void {
    sndGetSumScatter(this, ringOffset, dst, offs, count, unit, total, sums);
  }

  /** Fused receive: the payload copied into the receive ring while the layer verifies its checksum (buffers.ts). */
  placeInOrder(seq: number, buf: Uint8Array, off: number, len: number): number {
    return placeInOrder(this, seq, buf, off, len);
  }

  /** Receive segment merging (gro.ts): the placement just made becomes the start of a held run, or false. */
  holdPlacement(): boolean {
    return holdPlacement(this);
  }

  /** Receive segment merging: places the next segment of the held run after it (buffers.ts placeAfter). */
  placeAfter(seq: number, buf: Uint8Array, off: number, len: number): number {
    return placeAfter(this, seq, buf, off, len);
  }

  /**
   * A held run of received segments (placedLen is non-zero between calls only
   * then) is processed before the application reads, closes or changes its
   * read target, so it never sees the connection halfway.
   */
  private settleHeld(): void {
    if (this.placedLen !== 0) this.host.flushHeld?.(this);
  }

  /** Forgets a placement the segment did not use (buffers.ts). */
  dropPlacement(): void {
    dropPlacement(this);
  }

  /**
   * An ICMP error quoting one of our segments whose sequence number was
   * `quotedSeq` (icmp.ts).
   */
  icmpError(kind: string, quotedSeq: number, mtu: number, now: number): void {
    if (icmpInput(this, kind, quotedSeq, mtu, now)) this.flushEvents();
  }

  // =========================================================================
  // Application side

  get stateName(): string {
    return STATE_NAMES[this.state];
  }
  /** True if this connection was created from a LISTEN. */
  get passive(): boolean {
    return (this.fl & F.PASSIVE) !== 0;
  }
  /** Bytes the application can read now. */
  get readable(): number {
    return this.rcvRing.length;
  }
  /** Free space in the send ring. */
  get writable(): number {
    return this.canWrite() ? this.sndFree() : 0;
  }
  /** Bytes queued but not yet acknowledged (lent ones included). */
  get sendQueued(): number {
    return this.sndQueued();
  }
  /** The peer sent FIN and everything before it has been read or is readable. */
  get peerFinished(): boolean {
    return (this.fl & F.FIN_RECEIVED) !== 0;
  }
  /** Effective send MSS (data bytes per full segment, with the options we send on data). */
  get mss(): number {
    return this.sndMss();
  }
  get sndWindowShift(): number {
    return this.sndShift;
  }
  get rcvWindowShift(): number {
    return this.rcvShift;
  }
  get sackEnabled(): boolean {
    return (this.fl & F.SACK_OK) !== 0;
  }
  get timestampsEnabled(): boolean {
    return (this.fl & F.TS_OK) !== 0;
  }
  get windowScalingEnabled(): boolean {
    return (this.fl & F.WS_OK) !== 0;
  }
  get peerMssOption(): number {
    return this.peerMss;
  }
  get retransmitTimeoutAt(): number {
    return this.rtoAt;
  }

  /**
   * Queues bytes for sending (copied into the send ring); returns how many
   * were accepted (0 when the ring is full, writing is over, or a loan is
   * out: its bytes must come first).
   */
  write(src: Uint8Array, off: number, len: number): number {
    if (!this.canWrite() || len <= 0) return 0;
    if (this.io.loanLen > 0) {
      this.fl |= F.WRITE_BLOCKED;
      return 0;
    }
    const n = Math.min(len, this.sndFree());
    if (n > 0) {
      const ring = this.sndRing === IDLE_RING ? takeSndRing(this) : this.sndRing;
      ringPut(ring, 0, src, off, n);
      ring.commit(n);
    }
    if (n < len) this.fl |= F.WRITE_BLOCKED;
    if (n > 0) this.host.kick(this);
    return n;
  }

  /**
   * Lends `src[off, off + len)` to the connection: the bytes follow what is
   * queued and are sent, and retransmitted, straight from `src`, never
   * copied into the send ring; the caller must leave them unchanged until
   * the loan is over (`lent` is 0 again: everything acknowledged, reported
   * by onWritable, or the connection ended). One loan at a time; while one
   * is out, write() accepts nothing. Returns whether the loan was taken
   * (false: writing is over, or a loan is out).
   */
  lend(src: Uint8Array, off: number, len: number): boolean {
    if (!this.canWrite() || len <= 0 || this.io.loanLen > 0) return false;
    this.appIo().lend(src, off, len);
    this.host.kick(this);
    return true;
  }

  /** Lent bytes not acknowledged yet (0: no loan out). */
  get lent(): number {
    return this.io.loanLen;
  }

  /**
   * The lender takes its buffer back before the loan is over (a socket
   * destroyed with a write in progress, whose buffer the application may
   * reuse at once): the lent bytes already sent are copied into the send
   * ring (they may have to be retransmitted; as node's write queue, whose
   * bytes in the kernel still go), the rest is dropped. When the send ring
   * cannot hold what was sent, the connection is reset instead.
   */
  returnLoan(): void {
    const io = this.io;
    if (io.loanLen === 0) return;
    let sent = seqDiff(this.sndMax, this.sndBase) - this.sndRing.length;
    if (sent > io.loanLen) sent = io.loanLen;
    if (sent > 0) {
      if (sent > Math.max(1, this.config.sendBufferSize) - this.sndRing.length) {
        io.endLoan();
        this.abort();
        return;
      }
      const ring = this.sndRing === IDLE_RING ? takeSndRing(this) : this.sndRing;
      ringPut(ring, 0, io.loanBuf, io.loanOff, sent);
      ring.commit(sent);
    }
    io.endLoan();
    // Unsent lent bytes are gone: never send past what the ring holds now.
    if (seqGt(this.sndNxt, seqAdd(this.sndBase, this.sndRing.length))) this.sndNxt = seqAdd(this.sndBase, this.sndRing.length);
    this.host.kick(this);
  }

  /**
   * The reader's memory for in-order data (the zero-copy receive path): while
   * the receive ring is empty and nothing is held out of order, in-order
   * payload is copied straight to buf[off, end), from off on, instead of into
   * the ring; those bytes are the reader's at once (the window stays open)
   * and readTargetFilled counts them until takeReadTarget. When a segment does
   * not fit, events.onReadTargetFull may give more room; otherwise the bytes
   * go to the ring (read()), after the target's. Take the fill before
   * setting another target.
   */
  setReadTarget(buf: Uint8Array, off: number, end: number): void {
    this.settleHeld();
    if (off < 0 || end > buf.length || off > end) throw new RangeError(`setReadTarget: [${off}, ${end}) outside a buffer of ${buf.length}`);
    if (this.io.rtFilled !== 0) throw new RangeError('setReadTarget: the previous target\'s fill was not taken');
    this.appIo().setTarget(buf, off, end);
  }

  /** No read target any more: nothing more goes there (a fill not taken yet stays for takeReadTarget). */
  clearReadTarget(): void {
    this.settleHeld();
    if (this.io !== NO_IO) this.io.clearTarget();
  }

  /** Bytes written to the read target that takeReadTarget has not taken yet. */
  get readTargetFilled(): number {
    return this.io.rtFilled;
  }

  /** The reader takes the target's fill: returns its length (the bytes end where the target's next byte goes). */
  takeReadTarget(): number {
    this.settleHeld();
    const n = this.io.rtFilled;
    if (n !== 0) this.io.rtFilled = 0;
    return n;
  }

  /** Room left in the read target. */
  get readTargetRoom(): number {
    return this.io.rtRoom;
  }

  private appIo(): AppIo {
    if (this.io === NO_IO) this.io = new AppIo();
    return this.io;
  }

  /** Reads and consumes received bytes; opens the window (RFC 9293 §3.8.6.2.2). */
  read(dst: Uint8Array, off: number, len: number): number {
    this.settleHeld();
    const n = ringGet(this.rcvRing, 0, dst, off, len);
    if (n > 0) {
      this.rcvRing.consume(n);
      rcvDrained(this);
    }
    if (n > 0 && windowUpdateWorthSending(this)) {
      this.fl |= F.ACK_NOW | F.ACK_EACH;
      this.host.kick(this);
    }
    return n;
  }

  /** Skips received bytes without copying them. */
  discard(len: number): number {
    this.settleHeld();
    const n = Math.min(len, this.rcvRing.length);
    if (n <= 0) return 0;
    this.rcvRing.consume(n);
    rcvDrained(this);
    if (windowUpdateWorthSending(this)) {
      this.fl |= F.ACK_NOW | F.ACK_EACH;
      this.host.kick(this);
    }
    return n;
  }

  setNoDelay(on = true): void {
    if (on) this.fl |= F.NO_DELAY;
    else this.fl &= ~F.NO_DELAY;
    if (on) this.host.kick(this);
  }

  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    takeCold(this);
    if (enable) this.fl |= F.KEEP_ALIVE;
    else this.fl &= ~F.KEEP_ALIVE;
    if (initialDelayMs !== undefined && initialDelayMs > 0) this.keepIdleMs = initialDelayMs;
    this.cold.keepProbes = 0;
    this.host.kick(this);
  }

  /** Half-close: FIN after all queued data (RFC 9293 §3.10.4). */
  shutdown(): void {
    this.settleHeld();
    takeCold(this);
    switch (this.state) {
      case State.SYN_SENT:
      case State.SYN_RECEIVED:
      case State.ESTABLISHED:
        this.fl |= F.FIN_QUEUED;
        // SYN_SENT / SYN_RECEIVED: the FIN waits for ESTABLISHED (RFC 9293
        // §3.10.4: "queue for processing after entering ESTABLISHED"), so
        // connect-write-end works as with any socket API.
        if (this.state === State.ESTABLISHED) setState(this, State.FIN_WAIT_1);
        break;
      case State.CLOSE_WAIT:
        this.fl |= F.FIN_QUEUED;
        setState(this, State.LAST_ACK);
        break;
      default:
        return;
    }
    this.host.kick(this);
  }

  /**
   * Full close. Unread received data means the application lost data, so the
   * peer is told with a RST (RFC 2525 §2.17, as Linux does); otherwise FIN.
   * After close() arriving data also draws a RST (the reader is gone).
   */
  close(): void {
    this.settleHeld();
    takeCold(this);
    if (this.state === State.CLOSED || this.state === State.TIME_WAIT) return;
    if (this.state === State.SYN_SENT) {
      // RFC 9293 §3.10.4 CLOSE in SYN-SENT: delete the TCB (nothing was synchronised).
      this.fl |= F.APP_CLOSED;
      finish(this, undefined);
      this.host.kick(this);
      return;
    }
    this.fl |= F.APP_CLOSED;
    if (this.rcvRing.length > 0 || this.io.rtFilled > 0) {
      this.abort();
      return;
    }
    if (this.state === State.FIN_WAIT_2 && this.closeAt === Infinity) {
      this.closeAt = this.now + this.config.finWait2TimeoutMs;
    }
    this.shutdown();
  }

  /** Abortive close: RST (RFC 9293 §3.10.5 ABORT), no error reported. */
  abort(): void {
    this.settleHeld();
    takeCold(this);
    const s = this.state;
    if (s === State.CLOSED) return;
    if (s !== State.SYN_SENT && s !== State.TIME_WAIT) {
      queueRst(this, this.sndMax, this.rcvNxt, TCP_RST | TCP_ACK);
    }
    this.fl |= F.APP_CLOSED;
    finish(this, undefined);
    this.host.kick(this);
  }

  /** Delivers the collected events, in the order a socket layer needs. */
  private flushEvents(): void {
    let ev = this.pendingEvents;
    if (ev === 0) return;
    this.pendingEvents = 0;
    const e = this.events;
    // Connect before data, data before end, end before close.
    if (ev & Ev.CONNECTED) e.onConnected?.();
    if (ev & Ev.READABLE && (this.rcvRing.length > 0 || this.io.rtFilled > 0)) e.onReadable?.();
    if (ev & Ev.PEER_CLOSED) e.onPeerClosed?.();
    if (ev & Ev.WRITABLE) e.onWritable?.();
    ev = ev & Ev.CLOSED;
    if (ev) e.onClosed?.(this.closeError);
  }

  // =========================================================================
  // Diagnostics (tests)

  /**
   * What the connection holds besides its own object: ring storage and ring
   * objects (none while nothing is buffered), the ColdState (only while data
   * is in flight or something unusual is going on) and the out-of-order
   * assembler (only after out-of-order data).
   */
  debugMemory(): { ringBytes: number; ringObjects: number; coldState: boolean; assembler: boolean } {
    let ringBytes = 0;
    let ringObjects = 0;
    for (const r of [this.sndRing, this.rcvRing]) {
      if (r === NO_RING || r === IDLE_RING) continue;
      ringObjects++;
      ringBytes += r.capacity;
    }
    return { ringBytes, ringObjects, coldState: this.cold !== COLD_NONE, assembler: this.asm !== NO_ASM };
  }

  /** Sender state. */
  debugSender(): {
    cwnd: number;
    ssthresh: number;
    rto: number;
    inRecovery: boolean;
    pipe: number;
    scoreboard: number[];
    sndWnd: number;
  } {
    return {
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      rto: this.rtt.rto,
      inRecovery: (this.fl & F.IN_RECOVERY) !== 0,
      pipe: pipe(this),
      scoreboard: this.cold.sb.slice(0, 2 * this.cold.sbN),
      sndWnd: this.sndWnd,
    };
  }

  /** RACK state (recovery/rack.ts). */
  debugRack(): {
    records: [number, number, number, number][];
    lostBytes: number;
    sackedSegs: number;
    reoWnd: number;
    minRtt: number;
    rtt: number;
    xmitTs: number;
    reordering: boolean;
    reoMult: number;
    rackAt: number;
    tlpAt: number;
    tlpEpisode: boolean;
  } {
    const cs = this.cold;
    const records: [number, number, number, number][] = [];
    for (let i = 0; i < cs.rsN; i++) {
      const k = rsIdx(this, i);
      records.push([rsStartOf(this, i), cs.rsEnd[k]!, cs.rsTs[k]!, cs.rsFl[k]!]);
    }
    return {
      records,
      lostBytes: cs.rsLostBytes,
      sackedSegs: cs.rsSackedSegs,
      reoWnd: rackReoWnd(this),
      minRtt: this.rackMinRtt,
      rtt: this.rackRtt,
      xmitTs: cs.rackXmitTs,
      reordering: (this.fl & F.RACK_REORDERING) !== 0,
      reoMult: this.rackReoMult,
      rackAt: cs.rackAt,
      tlpAt: cs.tlpAt,
      tlpEpisode: (this.fl & F.TLP_OUTSTANDING) !== 0,
    };
  }
}
