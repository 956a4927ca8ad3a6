/**
 * CUBIC congestion control (RFC 9438), byte-counted.
 *
 * Window arithmetic is done in segments of the current MSS (the RFC's unit)
 * with state stored in bytes, so an MSS change keeps the state meaningful.
 * Fast recovery mechanics (including the optional cwnd inflation) are shared
 * with NewReno, see `LossBasedCongestionControl`; CUBIC supplies the multiplicative
 * decrease (beta_cubic = 0.7 applied to cwnd, as RFC 9438 §4.6 and Linux)
 * and the window growth in congestion avoidance. Slow start below ssthresh is
 * the standard one (no HyStart).
 */
import { LossBasedCongestionControl, type LossBasedOptions } from './newreno.js';

/** RFC 9438 §5.1 constants. */
export const CUBIC_C = 0.4;
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: additive increase of the Reno-friendly estimate. */
const ALPHA_CUBIC = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

export interface CubicOptions extends LossBasedOptions {
  /** RFC 9438 §4.7 fast convergence; default true. */
  fastConvergence?: boolean;
}

export class Cubic extends LossBasedCongestionControl {
  readonly name = 'cubic';
  readonly fastConvergence: boolean;
  /** W_max in bytes: cwnd just before the last reduction (after fast convergence). 0 = none. */
  private wMax = 0;
  /** cwnd_prior in bytes (§4.3). */
  private cwndPrior = 0;
  /** Start of the current congestion avoidance epoch (ms), -1 if none. */
  private epochStart = -1;
  /** K in seconds for the current epoch. */
  private k = 0;
  /** The plateau of the current epoch's curve, in bytes. */
  private origin = 0;
  /** W_est in bytes (Reno-friendly estimate). */
  private wEst = 0;
  /** Smoothed RTT from the samples seen, ms; -1 before any. */
  private srttMs = -1;

  constructor(mss: number, now = 0, opts: CubicOptions = {}) {
    super(mss, now, opts);
    this.fastConvergence = opts.fastConvergence ?? true;
  }

  /** Introspection for tests and stats. */
  get state(): { wMax: number; k: number; epochStart: number; origin: number; wEst: number } {
    return { wMax: this.wMax, k: this.k, epochStart: this.epochStart, origin: this.origin, wEst: this.wEst };
  }

  /** RFC 9438 §4.6: ssthresh = cwnd * beta_cubic, at least 2 MSS. */
  protected reducedSsthresh(_inFlight: number): number {
    return Math.max(Math.floor(this._cwnd * CUBIC_BETA), 2 * this.mss);
  }

  protected override onCongestionEvent(_now: number, rto: boolean): void {
    const w = this._cwnd;
    if (rto) {
      // §4.8: the first CA stage after a timeout uses K = 0 and W_max = cwnd at its start.
      this.wMax = 0;
    } else if (this.fastConvergence && w < this.wMax) {
      // §4.7: release bandwidth to newer flows.
      this.wMax = (w * (1 + CUBIC_BETA)) / 2;
    } else {
      this.wMax = w;
    }
    this.cwndPrior = w;
    this.epochStart = -1;
  }

  protected override onLeaveSlowStart(_now: number): void {
    this.epochStart = -1;
  }

  protected override onIdle(_now: number): void {
    this.epochStart = -1;
  }

  protected override rttSample(rttMs: number): void {
    // Two stores rather than one of a conditional: TurboFan boxed the merged
    // (Smi | float64) value, one heap number per ACK.
    if (this.srttMs < 0) this.srttMs = rttMs;
    else this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
  }

  private startEpoch(now: number): void {
    this.epochStart = now;
    const mss = this.mss;
    if (this._cwnd < this.wMax) {
      this.k = Math.cbrt((this.wMax - this._cwnd) / mss / CUBIC_C);
      this.origin = this.wMax;
    } else {
      this.k = 0;
      this.origin = this._cwnd;
    }
    this.wEst = this._cwnd;
  }

  /** W_cubic(t) in bytes for the current epoch, t in seconds since its start. */
  windowAt(tSeconds: number): number {
    const d = tSeconds - this.k;
    return this.origin + CUBIC_C * d * d * d * this.mss;
  }

  protected congestionAvoidance(acked: number, now: number): void {
    if (this.epochStart < 0) this.startEpoch(now);
    const mss = this.mss;
    const cwnd = this._cwnd;
    const t = Math.max(0, now - this.epochStart) / 1000;
    const rtt = this.srttMs > 0 ? this.srttMs / 1000 : 0;
    const segAcked = acked / mss;
    const cwndSeg = cwnd / mss;

    // §4.3 Reno-friendly estimate.
    const alpha = this.wEst >= this.cwndPrior ? 1 : ALPHA_CUBIC;
    this.wEst += ((alpha * segAcked) / cwndSeg) * mss;

    const wCubic = this.windowAt(t);
    if (wCubic < this.wEst) {
      // §4.3 Reno-friendly region: never slower than Reno would be.
      if (this.wEst > cwnd) this._cwnd = this.wEst;
      return;
    }
    // §4.4/§4.5 concave and convex regions: aim for W_cubic(t + RTT).
    let target = this.windowAt(t + rtt) / mss;
    if (target < cwndSeg) target = cwndSeg;
    else if (target > 1.5 * cwndSeg) target = 1.5 * cwndSeg;
    this._cwnd = cwnd + ((target - cwndSeg) / cwndSeg) * segAcked * mss;
  }
}
