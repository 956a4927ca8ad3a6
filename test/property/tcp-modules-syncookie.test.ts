import { describe, it } from 'vitest';
import fc from 'fast-check';
import { COOKIE_PERIOD_MS, MSS_TABLE, SynCookies } from '../../src/stack/tcp/syncookie.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

// Rejection checks can pass a forged cookie with probability ~2^-22 per try (a
// MAC guess), so those properties run on a fixed seed by default to stay
// deterministic; FC_SEED overrides it.
const FIXED = { seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 4987 };

const tupleArb = fc.tuple(fc.nat(0xffffffff), fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(0xffff));
const optsArb = fc.record({
  sackPermitted: fc.boolean(),
  windowScale: fc.integer({ min: -1, max: 14 }),
  timestamps: fc.boolean(),
});
const secretArb = fc.uint8Array({ minLength: 16, maxLength: 16 });
const timeArb = fc.nat(1e12);

describe('SynCookies properties', () => {
  it('round-trip within one period for random tuples, MSS and options', () => {
    fc.assert(
      fc.property(
        secretArb,
        tupleArb,
        fc.nat(0xffffffff),
        fc.integer({ min: 1, max: 65535 }),
        optsArb,
        timeArb,
        fc.nat(COOKIE_PERIOD_MS - 1),
        (secret, [la, lp, ra, rp], isn, mss, opts, t, dt) => {
          const sc = new SynCookies(secret);
          const cookie = sc.encode(la, lp, ra, rp, isn, mss, t, opts);
          if (!Number.isInteger(cookie) || cookie < 0 || cookie > 0xffffffff) throw new Error('not a uint32');
          const got = sc.decode(la, lp, ra, rp, cookie, isn, t + dt);
          if (!got) throw new Error('valid cookie rejected');
          const wantMss = MSS_TABLE.filter((m) => m <= mss).pop() ?? MSS_TABLE[0];
          if (got.mss !== wantMss) throw new Error(`mss ${got.mss}, want ${wantMss}`);
          if (got.sackPermitted !== opts.sackPermitted || got.timestamps !== opts.timestamps || got.windowScale !== opts.windowScale) {
            throw new Error(`options ${JSON.stringify(got)} != ${JSON.stringify(opts)}`);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects tampered cookies, wrong tuples and client ISNs', () => {
    fc.assert(
      fc.property(
        secretArb,
        tupleArb,
        fc.nat(0xffffffff),
        fc.integer({ min: 1, max: 65535 }),
        optsArb,
        timeArb,
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.nat(4),
        (secret, tuple, isn, mss, opts, t, delta, which) => {
          const sc = new SynCookies(secret);
          const [la, lp, ra, rp] = tuple;
          const cookie = sc.encode(la, lp, ra, rp, isn, mss, t, opts);
          let got;
          switch (which) {
            case 0:
              got = sc.decode(la, lp, ra, rp, (cookie ^ delta) >>> 0, isn, t);
              break;
            case 1:
              got = sc.decode(la, lp, ra, rp, cookie, (isn + delta) >>> 0, t);
              break;
            case 2:
              got = sc.decode(la, lp ^ (delta & 0xffff || 1), ra, rp, cookie, isn, t);
              break;
            case 3:
              got = sc.decode(la, lp, (ra ^ delta) >>> 0, rp, cookie, isn, t);
              break;
            default:
              got = sc.decode(la, lp, ra, rp ^ (delta & 0xffff || 1), cookie, isn, t);
          }
          if (got) throw new Error(`altered input #${which} accepted`);
        },
      ),
      { numRuns: 1000, ...FIXED },
    );
  });

  it('rejects cookies older than the previous period', () => {
    fc.assert(
      fc.property(
        secretArb,
        tupleArb,
        fc.nat(0xffffffff),
        optsArb,
        timeArb,
        fc.integer({ min: 2 * COOKIE_PERIOD_MS, max: 1e9 }),
        (secret, [la, lp, ra, rp], isn, opts, t, age) => {
          const sc = new SynCookies(secret);
          const cookie = sc.encode(la, lp, ra, rp, isn, 1460, t, opts);
          if (sc.decode(la, lp, ra, rp, cookie, isn, t + age)) throw new Error(`cookie of age ${age} ms accepted`);
        },
      ),
      { numRuns: 500, ...FIXED },
    );
  });
});
