import { describe, it } from 'vitest';
import fc from 'fast-check';
import { createCongestionControl, Cubic, CUBIC_C, NewReno } from '../../src/stack/tcp/congestion/index.js';
import type { CongestionControl, CongestionControlName } from '../../src/stack/tcp/contracts.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

type Ev =
  | { k: 'ack'; bytes: number; rtt: number; inFlightFrac: number }
  | { k: 'enter'; inFlightFrac: number }
  | { k: 'dup' }
  | { k: 'partial'; bytes: number }
  | { k: 'exit' }
  | { k: 'rto'; inFlightFrac: number }
  | { k: 'idle' }
  | { k: 'mss'; mss: number };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('ack' as const), bytes: fc.nat(20_000), rtt: fc.integer({ min: -1, max: 500 }), inFlightFrac: fc.double({ min: 0, max: 1.5, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('enter' as const), inFlightFrac: fc.double({ min: 0, max: 1.5, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dup' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('partial' as const), bytes: fc.nat(50_000) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('exit' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('rto' as const), inFlightFrac: fc.double({ min: 0, max: 1.5, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('idle' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mss' as const), mss: fc.integer({ min: 88, max: 9000 }) }) },
);

const nameArb = fc.constantFrom<CongestionControlName>('newreno', 'cubic');

function apply(cc: CongestionControl & { onDupAck?: () => void }, ev: Ev, now: number): number {
  let mss = 0;
  switch (ev.k) {
    case 'ack':
      cc.onAck(ev.bytes, now, ev.rtt, Math.floor(cc.cwnd * ev.inFlightFrac));
      break;
    case 'enter':
      cc.onEnterRecovery(now, Math.floor(cc.cwnd * ev.inFlightFrac));
      break;
    case 'dup':
      cc.onDupAck?.();
      break;
    case 'partial':
      cc.onPartialAck(ev.bytes);
      break;
    case 'exit':
      cc.onExitRecovery(now);
      break;
    case 'rto':
      cc.onRto(now, Math.floor(cc.cwnd * ev.inFlightFrac));
      break;
    case 'idle':
      cc.onIdleRestart(now);
      break;
    case 'mss':
      cc.setMss(ev.mss);
      mss = ev.mss;
      break;
  }
  return mss;
}

describe('congestion control invariants', () => {
  it('cwnd is an integer >= 1 MSS and ssthresh >= 2 MSS after any congestion event', () => {
    fc.assert(
      fc.property(nameArb, fc.integer({ min: 88, max: 9000 }), fc.boolean(), fc.array(fc.tuple(evArb, fc.nat(1000)), { maxLength: 80 }), (name, mss0, inflation, evs) => {
        const cc = inflation
          ? name === 'newreno' ? new NewReno(mss0, 0, { inflation }) : new Cubic(mss0, 0, { inflation })
          : createCongestionControl(name, mss0, 0);
        let mss = mss0;
        let now = 0;
        let congested = false;
        for (const [ev, dt] of evs) {
          now += dt;
          mss = apply(cc, ev, now) || mss;
          if (ev.k === 'enter' || ev.k === 'rto') congested = true;
          if (!Number.isInteger(cc.cwnd)) throw new Error(`cwnd ${cc.cwnd} not an integer`);
          if (cc.cwnd < mss) throw new Error(`cwnd ${cc.cwnd} < mss ${mss} after ${ev.k}`);
          if (congested && cc.ssthresh < 2 * mss) {
            throw new Error(`ssthresh ${cc.ssthresh} < 2*mss`);
          }
          if (!Number.isFinite(cc.cwnd) || !Number.isFinite(cc.ssthresh)) throw new Error('non-finite window');
        }
      }),
      { numRuns: 400 },
    );
  });

  it('slow start doubles cwnd every RTT (per-segment or delayed ACKs)', () => {
    fc.assert(
      fc.property(nameArb, fc.integer({ min: 500, max: 9000 }), fc.integer({ min: 1, max: 6 }), fc.constantFrom(1, 2), (name, mss, rounds, perAck) => {
        const cc = createCongestionControl(name, mss, 0);
        for (let r = 0; r < rounds; r++) {
          const before = cc.cwnd;
          const segs = Math.floor(before / mss);
          const rest = before - segs * mss;
          for (let i = 0; i < segs; i += perAck) cc.onAck(Math.min(perAck, segs - i) * mss, r * 100, 100, before);
          if (rest > 0) cc.onAck(rest, r * 100, 100, before);
          if (cc.cwnd !== 2 * before) throw new Error(`round ${r}: ${before} -> ${cc.cwnd}`);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a loss halves the window for NewReno and multiplies it by 0.7 for CUBIC', () => {
    fc.assert(
      fc.property(nameArb, fc.integer({ min: 500, max: 9000 }), fc.integer({ min: 0, max: 6 }), fc.boolean(), (name, mss, rounds, inflation) => {
        const cc = name === 'newreno' ? new NewReno(mss, 0, { inflation }) : new Cubic(mss, 0, { inflation });
        for (let r = 0; r < rounds; r++) {
          const before = cc.cwnd;
          for (let i = 0; i < Math.ceil(before / mss); i++) cc.onAck(mss, 0, 50, before);
        }
        const w = cc.cwnd;
        cc.onEnterRecovery(1000, w);
        const factor = name === 'newreno' ? 0.5 : 0.7;
        const want = Math.max(Math.floor(w * factor), 2 * mss);
        if (cc.ssthresh !== want) throw new Error(`ssthresh ${cc.ssthresh}, want ${want}`);
        if (cc.cwnd !== want + (inflation ? 3 * mss : 0)) throw new Error(`recovery cwnd ${cc.cwnd}`);
        cc.onExitRecovery(1100);
        if (cc.cwnd !== want) throw new Error(`cwnd after recovery ${cc.cwnd}, want ${want}`);
        cc.onRto(2000, cc.cwnd);
        if (cc.cwnd !== mss) throw new Error(`cwnd after RTO ${cc.cwnd}`);
      }),
      { numRuns: 200 },
    );
  });

  it('CUBIC follows W(t) = C(t-K)^3 + W_max in the cubic region, and fast convergence applies', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 500, max: 1500 }),
        fc.integer({ min: 400, max: 1500 }),
        fc.integer({ min: 50, max: 200 }),
        (mss, wMaxSeg, rttMs) => {
          const cc = new Cubic(mss);
          // Reach W_max directly: a loss from a window of exactly wMaxSeg segments.
          while (cc.cwnd < wMaxSeg * mss) cc.onAck(Math.min(2 * mss, wMaxSeg * mss - cc.cwnd), 0, rttMs, cc.cwnd);
          const wMax = cc.cwnd;
          cc.onEnterRecovery(0, wMax);
          cc.onExitRecovery(0);
          const k0 = Math.cbrt((wMax - cc.cwnd) / mss / CUBIC_C);
          let carry = 0;
          for (let now = 1; now <= 3000; now++) {
            carry += cc.cwnd / rttMs;
            while (carry >= mss) {
              cc.onAck(mss, now, rttMs, cc.cwnd);
              carry -= mss;
            }
            if (now > 2 * rttMs) {
              const { k, epochStart } = cc.state;
              if (Math.abs(k - k0) > 1e-9) throw new Error(`K ${k} != ${k0}`);
              const t = (now - epochStart) / 1000;
              const w = (CUBIC_C * (t - k) ** 3) + wMax / mss;
              const err = Math.abs(cc.cwnd / mss - w);
              // Within rounding: cwnd is whole bytes and updates once per ACK.
              if (err > Math.max(1, 0.01 * w)) throw new Error(`t=${t}: cwnd ${cc.cwnd / mss} vs W(t) ${w}`);
            }
          }
          // A second loss below W_max: fast convergence.
          const w2 = cc.cwnd;
          if (w2 >= wMax) return;
          cc.onEnterRecovery(4000, w2);
          const got = cc.state.wMax;
          if (Math.abs(got - (w2 * 1.7) / 2) > 1) /* cwnd reports whole bytes */ throw new Error(`fast convergence W_max ${got}`);
        },
      ),
      { numRuns: 60 },
    );
  });
});
