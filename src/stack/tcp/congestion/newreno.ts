/**
 * Loss-based congestion control shared by NewReno and CUBIC, and NewReno
 * itself (RFC 5681, RFC 6582, RFC 3465 appropriate byte counting, RFC 6928
 * initial window). Byte-counted; time is handed in as milliseconds.
 *
 * Fast recovery (the same for every algorithm built on
 * `LossBasedCongestionControl`; only the new ssthresh and the growth in
 * congestion avoidance differ) comes in two flavours:
 *
 *   Default (`inflation: false`) — the window *reduction* only. The caller
 *   owns any RFC 6582 window inflation or uses the RFC 6675 pipe estimate
 *   (this is what connection.ts does, for both NewReno and SACK recovery):
 *   - onEnterRecovery: ssthresh = algorithm's reduction, cwnd = ssthresh
 *   - onPartialAck: cwnd unchanged (the caller deflates its own inflation)
 *   - onExitRecovery: cwnd = ssthresh
 *
 *   `inflation: true` — self-contained RFC 6582 §3.2 NewReno recovery:
 *   - onEnterRecovery: cwnd = ssthresh + 3*MSS
 *   - onDupAck (not in the contract): cwnd += MSS per further duplicate ACK
 *   - onPartialAck: deflate by the bytes acknowledged, add back one MSS if at
 *     least one MSS was acknowledged
 *   - onExitRecovery: cwnd = ssthresh
 *
 * Growth only happens when the window is being used: an ACK whose `inFlight`
 * (bytes outstanding before it) is less than half of cwnd does not grow
 * cwnd (as Linux's tcp_is_cwnd_limited; RFC 7661 motivates it). Pass -1 for
 * `inFlight` to skip that check.
 */
import type { CongestionControl } from '../contracts.js';

/** ssthresh before any congestion: effectively infinite, but JSON-safe. */
export const INFINITE_SSTHRESH = Number.MAX_SAFE_INTEGER;

/** RFC 6928 initial window: min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

export interface LossBasedOptions {
  /** Inflate/deflate cwnd inside fast recovery (RFC 6582 §3.2). Default false: see the module comment. */
  inflation?: boolean;
}

export abstract class LossBasedCongestionControl implements CongestionControl {
  abstract readonly name: string;
  /** Whether cwnd itself is inflated and deflated during fast recovery. */
  readonly inflation: boolean;
  protected mss: number;
  /** May be fractional internally (CUBIC); `cwnd` reports it floored. */
  protected _cwnd: number;
  protected _ssthresh = INFINITE_SSTHRESH;
  /** Bytes acknowledged towards the next +1 MSS in congestion avoidance (RFC 5681 §3.1). */
  protected bytesAcked = 0;
  protected recovering = false;
  /** An RTO fired and no new data has been acknowledged since (don't re-halve ssthresh). */
  protected afterRto = false;
  /** RFC 3465 §2.3: L = 1*SMSS in the slow start that follows an RTO. */
  private ssLimitSegments = 2;
  /** Nothing has happened yet: an MSS change re-derives the initial window. */
  private pristine = true;

  constructor(mss: number, _now: number, opts: LossBasedOptions = {}) {
    if (!(mss > 0)) throw new RangeError(`congestion control: bad MSS ${mss}`);
    this.inflation = opts.inflation ?? false;
    this.mss = mss;
    this._cwnd = initialWindow(mss);
  }

  get cwnd(): number {
    return Math.max(this.mss, Math.floor(this._cwnd));
  }

  get ssthresh(): number {
    return this._ssthresh;
  }

  /** True between onEnterRecovery and onExitRecovery (or an RTO). */
  get inRecovery(): boolean {
    return this.recovering;
  }

  setMss(mss: number): void {
    if (!(mss > 0) || mss === this.mss) return;
    this.mss = mss;
    if (this.pristine) {
      this._cwnd = initialWindow(mss);
      return;
    }
    if (this._cwnd < mss) this._cwnd = mss;
    if (this._ssthresh < 2 * mss) this._ssthresh = 2 * mss;
  }

  onAck(ackedBytes: number, now: number, rttMs: number, inFlight: number): void {
    if (rttMs >= 0) this.rttSample(rttMs);
    if (ackedBytes <= 0) return;
    this.pristine = false;
    this.afterRto = false;
    if (this.recovering) return; // window changes in recovery go through onPartialAck/onExitRecovery
    if (inFlight >= 0 && 2 * inFlight < this._cwnd) return; // not cwnd-limited
    let acked = ackedBytes;
    if (this._cwnd < this._ssthresh) {
      // Slow start with appropriate byte counting (RFC 3465), L = 2*SMSS.
      const inc = Math.min(acked, this.ssLimitSegments * this.mss);
      if (this._cwnd + inc <= this._ssthresh) {
        this._cwnd += inc;
        return;
      }
      // Reaching ssthresh: the rest of this ACK counts towards congestion avoidance.
      acked = this._cwnd + inc - this._ssthresh;
      this._cwnd = this._ssthresh;
      this.ssLimitSegments = 2;
      this.onLeaveSlowStart(now);
    }
    this.congestionAvoidance(acked, now);
  }

  onEnterRecovery(now: number, inFlight: number): void {
    this.pristine = false;
    this._ssthresh = this.reducedSsthresh(inFlight);
    this.onCongestionEvent(now, false);
    this._cwnd = this.inflation ? this._ssthresh + 3 * this.mss : this._ssthresh;
    this.bytesAcked = 0;
    this.recovering = true;
  }

  /**
   * One more duplicate ACK during fast recovery: inflate by one MSS (RFC 6582
   * §3.2 step 4) when `inflation` is on. Not in the contract.
   */
  onDupAck(): void {
    if (this.recovering && this.inflation) this._cwnd += this.mss;
  }

  onPartialAck(ackedBytes: number): void {
    this.afterRto = false;
    if (ackedBytes <= 0 || !this.inflation) return;
    let w = this._cwnd - ackedBytes;
    if (ackedBytes >= this.mss) w += this.mss;
    this._cwnd = Math.max(this.mss, w);
  }

  onExitRecovery(_now: number): void {
    if (!this.recovering) return;
    this.recovering = false;
    this._cwnd = Math.max(this.mss, this._ssthresh);
    this.bytesAcked = 0;
  }

  onRto(now: number, inFlight: number): void {
    this.pristine = false;
    // Repeated timeouts of the same data keep the ssthresh of the first one (RFC 5681 §3.1, eq. 4 note).
    if (!this.afterRto) {
      this._ssthresh = this.reducedSsthresh(inFlight);
      this.onCongestionEvent(now, true);
    }
    this.afterRto = true;
    this.recovering = false;
    this._cwnd = this.mss; // loss window
    this.bytesAcked = 0;
    this.ssLimitSegments = 1;
  }

  onIdleRestart(now: number): void {
    // RFC 5681 §4.1: cwnd = min(IW, cwnd); keep ssthresh at least 3/4 of the old cwnd (RFC 7661, as Linux).
    const old = this._cwnd;
    this._ssthresh = Math.max(this._ssthresh, Math.floor((3 * old) / 4));
    this._cwnd = Math.min(old, initialWindow(this.mss));
    this.bytesAcked = 0;
    this.onIdle(now);
  }

  /** New ssthresh after a congestion event. */
  protected abstract reducedSsthresh(inFlight: number): number;
  /** Congestion avoidance growth for `acked` bytes. */
  protected abstract congestionAvoidance(acked: number, now: number): void;
  /** Hook: a loss was detected (before cwnd is reduced; `_cwnd` is still the old window). */
  protected onCongestionEvent(_now: number, _rto: boolean): void {}
  /** Hook: slow start just ended by reaching ssthresh. */
  protected onLeaveSlowStart(_now: number): void {}
  /** Hook: idle restart. */
  protected onIdle(_now: number): void {}
  /** Hook: an RTT sample (ms). */
  protected rttSample(_rttMs: number): void {}
}

/** RFC 5681 / RFC 6582 NewReno. */
export class NewReno extends LossBasedCongestionControl {
  readonly name = 'newreno';

  constructor(mss: number, now = 0, opts: LossBasedOptions = {}) {
    super(mss, now, opts);
  }

  /** RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
  protected reducedSsthresh(inFlight: number): number {
    return Math.max(Math.floor(Math.max(0, inFlight) / 2), 2 * this.mss);
  }

  /** One MSS per cwnd of bytes acknowledged (RFC 5681 §3.1, byte counting). */
  protected congestionAvoidance(acked: number, _now: number): void {
    this.bytesAcked += acked;
    const w = this._cwnd;
    if (this.bytesAcked >= w) {
      this.bytesAcked -= w;
      this._cwnd = w + this.mss;
    }
  }
}
