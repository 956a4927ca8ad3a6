/** Congestion control algorithms, chosen by name. */
import type { CongestionControl, CongestionControlName } from '../contracts.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export { Cubic, CUBIC_BETA, CUBIC_C } from './cubic.js';
export type { CubicOptions } from './cubic.js';
export { NewReno, LossBasedCongestionControl, initialWindow, INFINITE_SSTHRESH } from './newreno.js';
export type { LossBasedOptions } from './newreno.js';

/**
 * The algorithm by name. Fast recovery reduces cwnd to ssthresh and leaves
 * window inflation to the caller (see LossBasedCongestionControl).
 */
export function createCongestionControl(name: CongestionControlName, mss: number, now: number): CongestionControl {
  switch (name) {
    case 'cubic':
      return new Cubic(mss, now);
    case 'newreno':
      return new NewReno(mss, now);
    default:
      throw new TypeError(`unknown congestion control ${String(name)}`);
  }
}
