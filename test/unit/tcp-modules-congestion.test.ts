import { describe, expect, it } from 'vitest';
import {
  createCongestionControl,
  Cubic,
  CUBIC_BETA,
  CUBIC_C,
  INFINITE_SSTHRESH,
  initialWindow,
  NewReno,
} from '../../src/stack/tcp/congestion/index.js';
import type { CongestionControl } from '../../src/stack/tcp/contracts.js';

const MSS = 1000;

/** One RTT's worth of per-segment ACKs with the window full. */
function ackRound(cc: CongestionControl, now: number, rtt = -1): void {
  const segs = Math.floor(cc.cwnd / MSS);
  const inFlight = cc.cwnd;
  for (let i = 0; i < segs; i++) cc.onAck(MSS, now, rtt, inFlight);
}

describe('initial window (RFC 6928)', () => {
  it('is min(10*MSS, max(2*MSS, 14600))', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(9000)).toBe(18000);
    expect(initialWindow(4000)).toBe(14600);
    expect(new NewReno(1460).cwnd).toBe(14600);
    expect(new Cubic(1460).cwnd).toBe(14600);
  });
});

describe('createCongestionControl', () => {
  it('creates each algorithm by name', () => {
    expect(createCongestionControl('newreno', MSS, 0).name).toBe('newreno');
    expect(createCongestionControl('cubic', MSS, 0).name).toBe('cubic');
    expect(() => createCongestionControl('bbr' as never, MSS, 0)).toThrow(TypeError);
  });
});

describe('NewReno', () => {
  it('starts in slow start with an infinite ssthresh', () => {
    const cc = new NewReno(MSS);
    expect(cc.ssthresh).toBe(INFINITE_SSTHRESH);
    expect(cc.cwnd).toBe(10 * MSS);
  });

  it('slow start doubles cwnd per RTT', () => {
    const cc = new NewReno(MSS);
    for (let r = 0; r < 5; r++) {
      const before = cc.cwnd;
      ackRound(cc, r * 100);
      expect(cc.cwnd).toBe(2 * before);
    }
  });

  it('counts at most 2*SMSS per ACK in slow start (RFC 3465 L=2)', () => {
    const cc = new NewReno(MSS);
    cc.onAck(8 * MSS, 0, -1, cc.cwnd);
    expect(cc.cwnd).toBe(12 * MSS);
  });

  it('does not grow when the window is not being used', () => {
    const cc = new NewReno(MSS);
    cc.onAck(MSS, 0, -1, 2 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onAck(MSS, 0, -1, -1); // unknown in-flight: grow
    expect(cc.cwnd).toBe(11 * MSS);
  });

  it('fast recovery (default): ssthresh = max(FlightSize/2, 2*MSS), cwnd = ssthresh; inflation left to the caller', () => {
    const cc = new NewReno(MSS);
    expect(cc.inflation).toBe(false);
    ackRound(cc, 0); // 20 MSS
    cc.onEnterRecovery(100, 20 * MSS);
    expect(cc.inRecovery).toBe(true);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onDupAck();
    cc.onPartialAck(3 * MSS);
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onAck(MSS, 150, -1, 20 * MSS); // an ACK inside recovery does not grow cwnd
    expect(cc.cwnd).toBe(10 * MSS);
    cc.onExitRecovery(200);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.inRecovery).toBe(false);
  });

  it('fast recovery with inflation (RFC 6582): cwnd = ssthresh + 3*MSS, +MSS per dup ACK, partial-ACK deflation, exit at ssthresh', () => {
    const cc = new NewReno(MSS, 0, { inflation: true });
    ackRound(cc, 0); // 20 MSS
    cc.onEnterRecovery(100, 20 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(13 * MSS);
    cc.onDupAck();
    expect(cc.cwnd).toBe(14 * MSS);
    cc.onPartialAck(3 * MSS); // deflate by 3, add back 1
    expect(cc.cwnd).toBe(12 * MSS);
    cc.onPartialAck(MSS / 2); // less than an MSS: no add-back
    expect(cc.cwnd).toBe(11.5 * MSS);
    cc.onExitRecovery(200);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.inRecovery).toBe(false);
  });

  it('ssthresh never drops below 2*MSS', () => {
    const cc = new NewReno(MSS);
    cc.onEnterRecovery(0, MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
  });

  it('congestion avoidance adds one MSS per window acknowledged', () => {
    const cc = new NewReno(MSS);
    cc.onEnterRecovery(0, 20 * MSS);
    cc.onExitRecovery(0);
    expect(cc.cwnd).toBe(10 * MSS);
    for (let r = 1; r <= 5; r++) {
      ackRound(cc, r * 100);
      expect(cc.cwnd).toBe((10 + r) * MSS);
    }
  });

  it('RTO: loss window of 1 MSS, ssthresh halves once for repeated timeouts, then slow start with L=1', () => {
    const cc = new NewReno(MSS);
    ackRound(cc, 0); // 20 MSS
    cc.onRto(100, 20 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    cc.onRto(300, MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.onAck(2 * MSS, 400, -1, MSS);
    expect(cc.cwnd).toBe(2 * MSS); // L = 1*SMSS after an RTO
    cc.onRto(500, 2 * MSS); // new data acked since: a fresh timeout halves again
    expect(cc.ssthresh).toBe(2 * MSS);
  });

  it('slow start stops at ssthresh and carries over into congestion avoidance', () => {
    const cc = new NewReno(MSS);
    cc.onRto(0, 8 * MSS); // ssthresh 4 MSS
    cc.onAck(MSS, 1, -1, MSS); // 2
    cc.onAck(MSS, 1, -1, 2 * MSS); // 3
    cc.onAck(MSS, 1, -1, 3 * MSS); // 4 = ssthresh
    expect(cc.cwnd).toBe(4 * MSS);
    cc.onAck(MSS, 1, -1, 4 * MSS);
    expect(cc.cwnd).toBe(4 * MSS);
  });

  it('idle restart: cwnd = min(cwnd, IW), ssthresh keeps 3/4 of the old window', () => {
    const cc = new NewReno(MSS);
    cc.onEnterRecovery(0, 40 * MSS);
    cc.onExitRecovery(0); // 20 MSS, ssthresh 20
    cc.onIdleRestart(10_000);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.ssthresh).toBe(20 * MSS);
  });

  it('setMss re-derives the initial window before anything happened', () => {
    const cc = new NewReno(536);
    cc.setMss(1460);
    expect(cc.cwnd).toBe(14600);
    cc.onAck(1460, 0, -1, 14600);
    cc.setMss(1000);
    expect(cc.cwnd).toBe(16060);
  });
});

describe('CUBIC', () => {
  it('slow start doubles cwnd per RTT', () => {
    const cc = new Cubic(MSS);
    for (let r = 0; r < 5; r++) {
      const before = cc.cwnd;
      ackRound(cc, r * 100, 100);
      expect(cc.cwnd).toBe(2 * before);
    }
  });

  it('loss multiplies the window by beta_cubic = 0.7 and records W_max', () => {
    const cc = new Cubic(MSS);
    ackRound(cc, 0); // 20
    ackRound(cc, 100); // 40
    expect(cc.cwnd).toBe(40 * MSS);
    cc.onEnterRecovery(200, 40 * MSS);
    expect(cc.ssthresh).toBe(28 * MSS);
    expect(cc.cwnd).toBe(28 * MSS);
    cc.onExitRecovery(300);
    expect(cc.cwnd).toBe(28 * MSS);
    expect(cc.state.wMax).toBe(40 * MSS);
  });

  it('with inflation, recovery starts at ssthresh + 3*MSS', () => {
    const cc = new Cubic(MSS, 0, { inflation: true });
    ackRound(cc, 0);
    cc.onEnterRecovery(100, cc.cwnd);
    expect(cc.cwnd).toBe(14 * MSS + 3 * MSS);
    cc.onExitRecovery(200);
    expect(cc.cwnd).toBe(14 * MSS);
  });

  it('fast convergence lowers W_max when a loss comes before the previous plateau', () => {
    const cc = new Cubic(MSS);
    ackRound(cc, 0);
    ackRound(cc, 100); // 40 MSS
    cc.onEnterRecovery(200, cc.cwnd);
    cc.onExitRecovery(300); // 28 MSS
    cc.onEnterRecovery(400, cc.cwnd); // loss at 28 < W_max 40
    expect(cc.state.wMax).toBeCloseTo((28 * MSS * (1 + CUBIC_BETA)) / 2, 6);
    const noFc = new Cubic(MSS, 0, { fastConvergence: false });
    ackRound(noFc, 0);
    ackRound(noFc, 100);
    noFc.onEnterRecovery(200, noFc.cwnd);
    noFc.onExitRecovery(300);
    noFc.onEnterRecovery(400, noFc.cwnd);
    expect(noFc.state.wMax).toBe(28 * MSS);
  });

  it('K = cbrt(W_max * (1 - beta) / C) after a loss', () => {
    const cc = new Cubic(MSS);
    for (let r = 0; r < 4; r++) ackRound(cc, r * 100); // 160 MSS
    const wMax = cc.cwnd / MSS;
    cc.onEnterRecovery(1000, cc.cwnd);
    cc.onExitRecovery(1100);
    cc.onAck(MSS, 1100, 100, cc.cwnd);
    const wantK = Math.cbrt((wMax - Math.floor(wMax * MSS * CUBIC_BETA) / MSS) / CUBIC_C);
    expect(cc.state.k).toBeCloseTo(wantK, 9);
  });

  function cubicTrace(rttMs: number, targetSeg: number, durationMs: number) {
    const cc = new Cubic(MSS);
    while (cc.cwnd < targetSeg * MSS) ackRound(cc, 0, rttMs);
    const wMaxSeg = cc.cwnd / MSS;
    cc.onEnterRecovery(0, cc.cwnd);
    cc.onExitRecovery(0);
    const start = 1000;
    // ACK clocking: every millisecond, cwnd/RTT worth of bytes is acknowledged.
    let carry = 0;
    const points: { t: number; cwnd: number; w: number; wEst: number }[] = [];
    for (let now = start; now <= start + durationMs; now++) {
      carry += cc.cwnd / rttMs;
      while (carry >= MSS) {
        cc.onAck(MSS, now, rttMs, cc.cwnd);
        carry -= MSS;
      }
      const { k, epochStart, wEst } = cc.state;
      const t = (now - epochStart) / 1000;
      if (now > start + 2 * rttMs) {
        points.push({ t, cwnd: cc.cwnd / MSS, w: CUBIC_C * (t - k) ** 3 + wMaxSeg, wEst: wEst / MSS });
      }
    }
    return { points, wMaxSeg, k: cc.state.k };
  }

  it('window growth follows W(t) = C(t-K)^3 + W_max (large window: cubic region)', () => {
    const { points, wMaxSeg, k } = cubicTrace(100, 1000, 2 * 10_000);
    expect(k).toBeGreaterThan(5);
    let maxErr = 0;
    for (const p of points) maxErr = Math.max(maxErr, Math.abs(p.cwnd - p.w) / p.w);
    // cwnd aims at W(t+RTT) and closes the gap over about one RTT, so it sits on the curve.
    expect(maxErr).toBeLessThan(0.01);
    const last = points[points.length - 1]!;
    expect(last.t).toBeGreaterThan(1.5 * k);
    expect(last.cwnd).toBeGreaterThan(wMaxSeg); // past the plateau into the convex region
  });

  it('window follows max(W_cubic(t), W_est) when Reno would be faster', () => {
    const { points } = cubicTrace(50, 100, 10_000);
    let maxErr = 0;
    let renoPoints = 0;
    for (const p of points) {
      const want = Math.max(p.w, p.wEst);
      if (p.wEst > p.w) renoPoints++;
      maxErr = Math.max(maxErr, Math.abs(p.cwnd - want) / want);
    }
    expect(renoPoints).toBeGreaterThan(0);
    expect(maxErr).toBeLessThan(0.01);
  });

  it('RTO: loss window, then a K = 0 epoch starting at the current cwnd (RFC 9438 §4.8)', () => {
    const cc = new Cubic(MSS);
    ackRound(cc, 0);
    ackRound(cc, 100); // 40
    cc.onRto(200, 40 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(28 * MSS);
    while (cc.cwnd < cc.ssthresh) cc.onAck(MSS, 300, 100, cc.cwnd);
    cc.onAck(MSS, 400, 100, cc.cwnd);
    expect(cc.state.k).toBe(0);
    expect(cc.state.origin).toBe(28 * MSS);
  });

  it('Reno-friendly region: never grows slower than the W_est estimate', () => {
    // Tiny window and long RTT: Reno's additive increase beats the cubic curve.
    const cc = new Cubic(MSS);
    cc.onEnterRecovery(0, cc.cwnd); // W_max = 10
    cc.onExitRecovery(0); // 7
    let now = 0;
    for (let r = 0; r < 20; r++) {
      now += 10; // 10 ms RTT: cubic barely moves per RTT
      ackRound(cc, now, 10);
      expect(cc.cwnd).toBeGreaterThanOrEqual(Math.floor(cc.state.wEst));
    }
    expect(cc.cwnd).toBeGreaterThan(7 * MSS);
  });
});
