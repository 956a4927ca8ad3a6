import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../src/stack/tcp/rtt.js';

describe('RttEstimator (RFC 6298)', () => {
  it('starts at the initial RTO with no SRTT', () => {
    const e = new RttEstimator();
    expect(e.srtt).toBe(-1);
    expect(e.rto).toBe(1000);
    expect(e.backoffCount).toBe(0);
  });

  it('first sample sets SRTT = R and RTTVAR = R/2', () => {
    const e = new RttEstimator();
    e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(100 + 4 * 50);
  });

  it('later samples use alpha 1/8 and beta 1/4 with the old SRTT', () => {
    const e = new RttEstimator({ minRto: 1 });
    e.sample(100);
    e.sample(200);
    // rttvar = 3/4*50 + 1/4*|100-200| = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
    expect(e.rttvar).toBeCloseTo(62.5, 10);
    expect(e.srtt).toBeCloseTo(112.5, 10);
    expect(e.rto).toBeCloseTo(112.5 + 250, 10);
  });

  it('uses the granularity when 4*RTTVAR is smaller', () => {
    const e = new RttEstimator({ minRto: 1, granularity: 10 });
    e.sample(50);
    for (let i = 0; i < 100; i++) e.sample(50);
    expect(e.rttvar).toBeLessThan(2.5);
    expect(e.rto).toBeCloseTo(e.srtt + 10, 10);
  });

  it('clamps to minRto and maxRto', () => {
    const e = new RttEstimator();
    e.sample(1);
    expect(e.rto).toBe(200);
    const f = new RttEstimator({ maxRto: 5000 });
    f.sample(4000);
    expect(f.rto).toBe(5000);
  });

  it('backoff doubles the RTO up to maxRto; resetBackoff restores it', () => {
    const e = new RttEstimator({ maxRto: 60_000 });
    e.sample(300); // rto = 300 + 600 = 900
    expect(e.rto).toBe(900);
    e.backoff();
    expect(e.rto).toBe(1800);
    e.backoff();
    expect(e.rto).toBe(3600);
    expect(e.backoffCount).toBe(2);
    for (let i = 0; i < 100; i++) e.backoff();
    expect(e.rto).toBe(60_000);
    e.resetBackoff();
    expect(e.backoffCount).toBe(0);
    expect(e.rto).toBe(900);
  });

  it('backs off the initial RTO before any sample', () => {
    const e = new RttEstimator();
    e.backoff();
    e.backoff();
    expect(e.rto).toBe(4000);
  });

  it('ignores non-finite samples and treats negative ones as zero', () => {
    const e = new RttEstimator();
    e.sample(Number.NaN);
    expect(e.srtt).toBe(-1);
    e.sample(-5);
    expect(e.srtt).toBe(0);
  });
});
