/**
 * Round-trip time estimation and the retransmission timeout (RFC 6298).
 * Milliseconds throughout; no clock reads — samples are handed in.
 */
import type { RttEstimatorContract } from './contracts.js';

export interface RttEstimatorOptions {
  /** RTO before the first sample (RFC 6298 §2.1: 1 s). */
  initialRto?: number;
  /** Lower bound on the RTO. 200 ms as Linux (RFC 6298 §2.4 says 1 s). */
  minRto?: number;
  /** Upper bound on the RTO, backoff included (RFC 6298 §2.5: at least 60 s). */
  maxRto?: number;
  /** Clock granularity G. */
  granularity?: number;
}

const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;
/** Shift used for the RTO stops growing here: 2^30 times any RTO exceeds every sane maxRto. */
const MAX_BACKOFF_SHIFT = 30;

export class RttEstimator implements RttEstimatorContract {
  readonly initialRto: number;
  readonly minRto: number;
  readonly maxRto: number;
  readonly granularity: number;

  private _srtt = -1;
  private _rttvar = 0;
  /** RTO without backoff, already clamped. */
  private baseRto: number;
  private _backoff = 0;

  constructor(opts: RttEstimatorOptions = {}) {
    this.initialRto = opts.initialRto ?? 1000;
    this.minRto = opts.minRto ?? 200;
    this.maxRto = opts.maxRto ?? 120_000;
    this.granularity = opts.granularity ?? 1;
    if (!(this.minRto > 0) || !(this.maxRto >= this.minRto)) {
      throw new RangeError(`RttEstimator: need 0 < minRto <= maxRto (got ${this.minRto}, ${this.maxRto})`);
    }
    this.baseRto = this.clamp(this.initialRto);
  }

  /** Smoothed RTT, or -1 before the first sample. */
  get srtt(): number {
    return this._srtt;
  }

  get rttvar(): number {
    return this._rttvar;
  }

  /** Current RTO including exponential backoff, clamped to [minRto, maxRto]. */
  get rto(): number {
    if (this._backoff === 0) return this.baseRto;
    return Math.min(this.maxRto, this.baseRto * 2 ** Math.min(this._backoff, MAX_BACKOFF_SHIFT));
  }

  get backoffCount(): number {
    return this._backoff;
  }

  /**
   * A valid RTT sample (never from a retransmitted segment: Karn). Updates
   * SRTT/RTTVAR per RFC 6298 §2.2–2.3. The backoff is left alone; the caller
   * drops it with resetBackoff() when new data is acknowledged.
   */
  sample(rttMs: number): void {
    if (!Number.isFinite(rttMs)) return;
    // Math.max/min rather than conditionals: V8 boxes a value merged from a
    // small integer and a double (a heap number per sample).
    const r = Math.max(0, rttMs);
    if (this._srtt < 0) {
      this._srtt = r;
      this._rttvar = r / 2;
    } else {
      // RTTVAR is updated with the old SRTT, then SRTT (RFC 6298 §2.3 order).
      this._rttvar = (1 - BETA) * this._rttvar + BETA * Math.abs(this._srtt - r);
      this._srtt = (1 - ALPHA) * this._srtt + ALPHA * r;
    }
    this.baseRto = Math.min(Math.max(this._srtt + Math.max(this.granularity, K * this._rttvar), this.minRto), this.maxRto);
  }

  /** Doubles the RTO after a timeout (RFC 6298 §5.5), capped at maxRto. */
  backoff(): void {
    this._backoff++;
  }

  /** New data acknowledged: drop the backoff. */
  resetBackoff(): void {
    this._backoff = 0;
  }

  private clamp(v: number): number {
    return v < this.minRto ? this.minRto : v > this.maxRto ? this.maxRto : v;
  }
}
