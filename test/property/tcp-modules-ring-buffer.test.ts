import { describe, it } from 'vitest';
import fc from 'fast-check';
import { ByteRing } from '../../src/stack/tcp/ring-buffer.js';
import { RingModel as Model } from '../helpers/ring-model.js';

// fast-check prints the seed and path of a failing run; FC_SEED replays it.
if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

type Op =
  | { k: 'write'; bytes: Uint8Array }
  | { k: 'writeAt'; off: number; bytes: Uint8Array }
  | { k: 'commit'; n: number }
  | { k: 'read'; n: number }
  | { k: 'peek'; off: number; n: number }
  | { k: 'consume'; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('write' as const), bytes: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({ k: fc.constant('writeAt' as const), off: fc.nat(150), bytes: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ k: fc.constant('commit' as const), n: fc.nat(150) }),
  fc.record({ k: fc.constant('read' as const), n: fc.nat(200) }),
  fc.record({ k: fc.constant('peek' as const), off: fc.nat(150), n: fc.nat(200) }),
  fc.record({ k: fc.constant('consume' as const), n: fc.nat(150) }),
);

describe('ByteRing vs reference model', () => {
  it('agrees over random operation sequences', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 160 }), fc.array(opArb, { maxLength: 60 }), (cap, ops) => {
        const r = new ByteRing(cap);
        const m = new Model(cap);
        // Bytes placed by writeAt are only trusted where the model knows them:
        // a commit over an unfilled gap yields unspecified bytes (-1 in the model).
        for (const op of ops) {
          switch (op.k) {
            case 'write': {
              const got = r.write(op.bytes, 0, op.bytes.length);
              const want = m.write(op.bytes);
              if (got !== want) throw new Error(`write returned ${got}, want ${want}`);
              break;
            }
            case 'writeAt': {
              if (op.off + op.bytes.length > m.free) break;
              r.writeAt(op.off, op.bytes, 0, op.bytes.length);
              m.writeAt(op.off, op.bytes);
              break;
            }
            case 'commit': {
              const n = Math.min(op.n, m.free);
              r.commit(n);
              m.commit(n);
              break;
            }
            case 'read': {
              const dst = new Uint8Array(op.n + 3);
              const got = r.read(dst, 3, op.n);
              const want = m.read(op.n);
              if (got !== want.length) throw new Error(`read returned ${got}, want ${want.length}`);
              for (let i = 0; i < got; i++) {
                if (want[i] !== -1 && dst[3 + i] !== want[i]) throw new Error(`read byte ${i} differs`);
              }
              break;
            }
            case 'peek': {
              const dst = new Uint8Array(op.n);
              const got = r.peek(op.off, dst, 0, op.n);
              const want = m.peek(op.off, op.n);
              if (got !== want.length) throw new Error(`peek returned ${got}, want ${want.length}`);
              for (let i = 0; i < got; i++) {
                if (want[i] !== -1 && dst[i] !== want[i]) throw new Error(`peek byte ${i} differs`);
              }
              break;
            }
            case 'consume': {
              const n = Math.min(op.n, m.data.length);
              r.consume(n);
              m.read(n);
              break;
            }
          }
          if (r.length !== m.data.length) throw new Error(`length ${r.length} != ${m.data.length}`);
          if (r.free !== m.free) throw new Error(`free ${r.free} != ${m.free}`);
          // Spans cover exactly the readable bytes, in order.
          const spans = [0, 0, 0, 0];
          r.readableSpans(spans);
          if (spans[1]! + spans[3]! !== r.length) throw new Error('readable spans do not cover length');
          for (let i = 0; i < r.length; i++) {
            const b = i < spans[1]! ? r.buffer[spans[0]! + i] : r.buffer[spans[2]! + i - spans[1]!];
            if (m.data[i] !== -1 && b !== m.data[i]) throw new Error(`span byte ${i} differs`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
