import { describe, it } from 'vitest';
import fc from 'fast-check';
import { IsnGenerator } from '../../src/stack/tcp/isn.js';
import { seqDiff } from '../../src/wire/seq.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

const tupleArb = fc.tuple(fc.nat(0xffffffff), fc.nat(0xffff), fc.nat(0xffffffff), fc.nat(0xffff));
const secretArb = fc.uint8Array({ minLength: 16, maxLength: 16 });

describe('IsnGenerator properties', () => {
  it('increases with time for one tuple (by 250 per ms, as a sequence number)', () => {
    fc.assert(
      fc.property(secretArb, tupleArb, fc.nat(1e12), fc.integer({ min: 1, max: 8_000_000 }), (secret, [la, lp, ra, rp], t, dt) => {
        const g = new IsnGenerator(secret);
        const a = g.next(la, lp, ra, rp, t);
        const b = g.next(la, lp, ra, rp, t + dt);
        const d = seqDiff(b, a);
        if (d <= 0) throw new Error(`ISN went back: ${a} -> ${b} over ${dt} ms`);
        if (d !== (250 * dt) % 2 ** 32) throw new Error(`ISN advanced ${d}, want ${250 * dt}`);
      }),
    );
  });

  it('differs between tuples at the same time', () => {
    // A fixed seed by default: distinct tuples collide with probability 2^-32, so
    // a random run could (astronomically rarely) fail; FC_SEED still overrides.
    fc.assert(
      fc.property(secretArb, tupleArb, tupleArb, fc.nat(1e12), (secret, x, y, t) => {
        fc.pre(x.join() !== y.join());
        const g = new IsnGenerator(secret);
        if (g.next(...x, t) === g.next(...y, t)) throw new Error('same ISN for different tuples');
      }),
      { numRuns: 500, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : 6528 },
    );
  });
});
