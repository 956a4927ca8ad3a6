/**
 * Lazy ByteRings (allocated on demand, grown by doubling, storage released
 * when empty, shared RingPool) against a reference model, over random
 * operation sequences sized to cross the 4 KiB first allocation, the
 * doublings, the wrap-around and the limit.
 */
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { ByteRing, RingPool } from '../../src/stack/tcp/ring-buffer.js';
import { RingModel as Model } from '../helpers/ring-model.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

type Op =
  | { k: 'write'; len: number; seed: number }
  | { k: 'writeAt'; off: number; len: number; seed: number }
  | { k: 'commit'; n: number }
  | { k: 'read'; n: number }
  | { k: 'release' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('write' as const), len: fc.nat(6000), seed: fc.nat(255) }),
  fc.record({ k: fc.constant('writeAt' as const), off: fc.nat(12000), len: fc.nat(3000), seed: fc.nat(255) }),
  fc.record({ k: fc.constant('commit' as const), n: fc.nat(6000) }),
  fc.record({ k: fc.constant('read' as const), n: fc.nat(8000) }),
  fc.record({ k: fc.constant('release' as const) }),
);

function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed + i * 13) & 0xff;
  return b;
}

describe('lazy ByteRing vs reference model', () => {
  it('agrees over random operation sequences (growth, wrap, release, reuse from the pool)', () => {
    const pool = new RingPool(1 << 20); // shared across runs: storage is reused dirty
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40_000 }), fc.array(opArb, { maxLength: 60 }), (limit, ops) => {
        const r = new ByteRing(limit, { lazy: true, pool });
        const m = new Model(limit);
        for (const op of ops) {
          switch (op.k) {
            case 'write': {
              const src = bytes(op.len, op.seed);
              const got = r.write(src, 0, src.length);
              const want = m.write(src);
              if (got !== want) throw new Error(`write returned ${got}, want ${want}`);
              break;
            }
            case 'writeAt': {
              if (op.off + op.len > m.free) break;
              const src = bytes(op.len, op.seed);
              r.writeAt(op.off, src, 0, src.length);
              m.writeAt(op.off, src);
              break;
            }
            case 'commit': {
              const n = Math.min(op.n, m.free);
              r.commit(n);
              m.commit(n);
              break;
            }
            case 'read': {
              const dst = new Uint8Array(op.n);
              const got = r.read(dst, 0, op.n);
              const want = m.read(op.n);
              if (got !== want.length) throw new Error(`read returned ${got}, want ${want.length}`);
              for (let i = 0; i < got; i++) {
                if (want[i] !== -1 && dst[i] !== want[i]) throw new Error(`read byte ${i}: ${dst[i]} != ${want[i]}`);
              }
              break;
            }
            case 'release': {
              // release() succeeds exactly when nothing is readable and storage is held.
              const expected = m.data.length === 0 && r.capacity > 0;
              const released = r.release();
              if (released !== expected) throw new Error(`release() returned ${released}, want ${expected}`);
              if (released) {
                if (r.capacity !== 0) throw new Error('storage kept after release');
                m.pending.clear(); // placed bytes go with the storage
              }
              break;
            }
          }
          if (r.length !== m.data.length) throw new Error(`length ${r.length} != ${m.data.length}`);
          if (r.free !== m.free) throw new Error(`free ${r.free} != ${m.free}`);
          if (r.capacity > limit) throw new Error(`capacity ${r.capacity} above limit ${limit}`);
          if (r.capacity < r.length) throw new Error(`capacity ${r.capacity} below length ${r.length}`);
        }
      }),
      { numRuns: 300 },
    );
  });
});
