/**
 * Contracts between the TCP connection core (connection.ts, tcp-layer.ts) and
 * its pure helper modules. Each helper module lives in its own file and
 * implements exactly one of these.
 */

/** Congestion control (RFC 5681 / RFC 6582 NewReno, RFC 9438 CUBIC). Byte-counted. */
export interface CongestionControl {
  readonly name: string;
  /** Congestion window in bytes. */
  readonly cwnd: number;
  /** Slow-start threshold in bytes. */
  readonly ssthresh: number;
  /** Sender MSS changed (after the handshake, or PMTU). */
  setMss(mss: number): void;
  /**
   * New data acknowledged outside recovery. `rttMs` is a valid RTT sample or
   * -1; `inFlight` is bytes outstanding before this ACK.
   */
  onAck(ackedBytes: number, now: number, rttMs: number, inFlight: number): void;
  /** Loss detected by duplicate ACKs or SACK: enter fast recovery. */
  onEnterRecovery(now: number, inFlight: number): void;
  /** A partial ACK inside recovery (NewReno deflation). */
  onPartialAck(ackedBytes: number): void;
  /** Recovery point acknowledged: leave fast recovery. */
  onExitRecovery(now: number): void;
  /** Retransmission timeout fired. */
  onRto(now: number, inFlight: number): void;
  /** Connection idle for longer than an RTO (RFC 5681 §4.1 restart window). */
  onIdleRestart(now: number): void;
}

export type CongestionControlName = 'cubic' | 'newreno';

/** RTT estimation and the retransmission timer's value (RFC 6298). Milliseconds. */
export interface RttEstimatorContract {
  /** Smoothed RTT, or -1 before the first sample. */
  readonly srtt: number;
  readonly rttvar: number;
  /** Current RTO including exponential backoff, clamped to [minRto, maxRto]. */
  readonly rto: number;
  readonly backoffCount: number;
  /** A valid sample (never from a retransmitted segment: Karn). */
  sample(rttMs: number): void;
  /** Doubles the RTO after a timeout. */
  backoff(): void;
  /** New data acknowledged: drop the backoff. */
  resetBackoff(): void;
}

/**
 * Out-of-order receive bookkeeping: which byte ranges beyond the next expected
 * byte are held, as offsets relative to it. Bounded: at most `maxBytes` held
 * and at most `maxRanges` separate ranges.
 */
export interface AssemblerContract {
  /** Bytes held out of order. */
  readonly heldBytes: number;
  /**
   * Records [offset, offset+len). Returns false (and records nothing) if that
   * would exceed the bounds.
   */
  add(offset: number, len: number): boolean;
  /**
   * The in-order prefix grew by `n` bytes (data at offset 0 arrived): shifts
   * all ranges down by n and returns how many contiguous bytes now starting
   * at offset 0 are held (they become in-order).
   */
  advance(n: number): number;
  /** Ranges as [start0, end0, start1, end1, ...] relative offsets, most recent first (for SACK, RFC 2018 §4). */
  ranges(out: number[]): number[];
  clear(): void;
}
