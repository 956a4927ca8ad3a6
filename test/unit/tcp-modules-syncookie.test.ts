import { describe, expect, it } from 'vitest';
import { COOKIE_PERIOD_MS, MSS_TABLE, SynCookies } from '../../src/stack/tcp/syncookie.js';

const SECRET = Uint8Array.from({ length: 16 }, (_, i) => 7 * i + 3);
const L = 0x0a000002;
const R = 0xc0a80101;
const OPTS = { sackPermitted: true, windowScale: 7, timestamps: true };

describe('SynCookies', () => {
  it('round-trips MSS and options', () => {
    const sc = new SynCookies(SECRET);
    const cookie = sc.encode(L, 80, R, 40000, 0x12345678, 1460, 1000, OPTS);
    expect(sc.decode(L, 80, R, 40000, cookie, 0x12345678, 1000)).toEqual({ mss: 1460, ...OPTS });
    const c2 = sc.encode(L, 80, R, 40000, 1, 1400, 0, { sackPermitted: false, windowScale: -1, timestamps: false });
    expect(sc.decode(L, 80, R, 40000, c2, 1, 0)).toEqual({
      mss: 1380,
      sackPermitted: false,
      windowScale: -1,
      timestamps: false,
    });
  });

  it('quantises the MSS down to the table', () => {
    expect(SynCookies.mssIndex(1460)).toBe(MSS_TABLE.indexOf(1460));
    expect(MSS_TABLE[SynCookies.mssIndex(1459)]).toBe(1452);
    expect(MSS_TABLE[SynCookies.mssIndex(65535)]).toBe(8960);
    expect(MSS_TABLE[SynCookies.mssIndex(536)]).toBe(536);
    expect(MSS_TABLE[SynCookies.mssIndex(100)]).toBe(536);
  });

  it('clamps a window scale above 14', () => {
    const sc = new SynCookies(SECRET);
    const c = sc.encode(L, 80, R, 1, 9, 1460, 0, { ...OPTS, windowScale: 20 });
    expect(sc.decode(L, 80, R, 1, c, 9, 0)?.windowScale).toBe(14);
  });

  it('accepts the current and the previous period only', () => {
    const sc = new SynCookies(SECRET);
    const t = 5 * COOKIE_PERIOD_MS + 10;
    const c = sc.encode(L, 80, R, 40000, 77, 1460, t, OPTS);
    expect(sc.decode(L, 80, R, 40000, c, 77, t + COOKIE_PERIOD_MS)).not.toBeNull();
    expect(sc.decode(L, 80, R, 40000, c, 77, t + 2 * COOKIE_PERIOD_MS)).toBeNull();
    expect(sc.decode(L, 80, R, 40000, c, 77, t - COOKIE_PERIOD_MS)).toBeNull(); // from the future
  });

  it('rejects a cookie for another tuple, client ISN or secret', () => {
    const sc = new SynCookies(SECRET);
    const c = sc.encode(L, 80, R, 40000, 77, 1460, 0, OPTS);
    expect(sc.decode(L, 80, R, 40001, c, 77, 0)).toBeNull();
    expect(sc.decode(L, 81, R, 40000, c, 77, 0)).toBeNull();
    expect(sc.decode(L, 80, R + 1, 40000, c, 77, 0)).toBeNull();
    expect(sc.decode(L + 1, 80, R, 40000, c, 77, 0)).toBeNull();
    expect(sc.decode(L, 80, R, 40000, c, 78, 0)).toBeNull();
    expect(new SynCookies(new Uint8Array(16)).decode(L, 80, R, 40000, c, 77, 0)).toBeNull();
  });

  it('rejects every single-bit change of a cookie', () => {
    const sc = new SynCookies(SECRET);
    const c = sc.encode(L, 80, R, 40000, 77, 1460, 0, OPTS);
    for (let bit = 0; bit < 32; bit++) {
      expect(sc.decode(L, 80, R, 40000, (c ^ (1 << bit)) >>> 0, 77, 0), `bit ${bit}`).toBeNull();
    }
  });

  it('accepts almost no random guesses (forgery rate ~2^-22)', () => {
    // Deterministic: a fixed secret and a fixed xorshift sequence of guesses.
    const sc = new SynCookies(SECRET);
    let x = 0x9e3779b9;
    let accepted = 0;
    for (let i = 0; i < 50_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      if (sc.decode(L, 80, R, 40000, x >>> 0, 77, 0)) accepted++;
    }
    expect(accepted).toBeLessThanOrEqual(1);
  });
});
