import { describe, it } from 'vitest';
import fc from 'fast-check';
import { RttEstimator } from '../../src/stack/tcp/rtt.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

describe('RttEstimator properties', () => {
  it('matches the RFC 6298 formulas and stays within bounds', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1000, max: 200_000 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.oneof(fc.double({ min: 0, max: 100_000, noNaN: true }), fc.constant(-1), fc.constant(-2)), {
          maxLength: 50,
        }),
        (minRto, maxRto, g, ops) => {
          const e = new RttEstimator({ minRto, maxRto, granularity: g });
          let srtt = -1;
          let rttvar = 0;
          let base = Math.min(maxRto, Math.max(minRto, 1000));
          let backoff = 0;
          for (const op of ops) {
            if (op === -1) {
              e.backoff();
              backoff++;
            } else if (op === -2) {
              e.resetBackoff();
              backoff = 0;
            } else {
              e.sample(op);
              if (srtt < 0) {
                srtt = op;
                rttvar = op / 2;
              } else {
                rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - op);
                srtt = 0.875 * srtt + 0.125 * op;
              }
              base = Math.min(maxRto, Math.max(minRto, srtt + Math.max(g, 4 * rttvar)));
            }
            const want = Math.min(maxRto, base * 2 ** backoff);
            const tol = 1e-9 * Math.max(1, want);
            if (Math.abs(e.rto - want) > tol) throw new Error(`rto ${e.rto} want ${want}`);
            if (e.rto < minRto || e.rto > maxRto) throw new Error(`rto ${e.rto} out of bounds`);
            if (srtt >= 0 && Math.abs(e.srtt - srtt) > 1e-9 * Math.max(1, srtt)) throw new Error('srtt differs');
            if (e.backoffCount !== backoff) throw new Error('backoffCount differs');
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
