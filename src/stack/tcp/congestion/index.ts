/** Congestion control algorithms, chosen by name. */
import type { CongestionControl, CongestionControlName } from '../contracts.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export { Cubic, CUBIC_BETA, CUBIC_C } from './cubic.js';
export type { CubicOptions } from './cubic.js';
export { NewReno, LossBasedCongestionControl, initialWindow, INFINITE_SSTHRESH } from './newreno.js';

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
