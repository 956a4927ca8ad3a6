import { describe, it } from 'vitest';
import fc from 'fast-check';
import { Assembler } from '../../src/stack/tcp/assembler.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

const SPACE = 400;

/** Reference: a bitmap of held offsets plus the offset of the last added segment. */
class Model {
  bits = new Array<boolean>(SPACE * 2).fill(false);
  constructor(readonly maxBytes: number, readonly maxRanges: number) {}
  held(bits = this.bits): number {
    return bits.filter(Boolean).length;
  }
  runs(bits = this.bits): [number, number][] {
    const r: [number, number][] = [];
    for (let i = 0; i < bits.length; i++) {
      if (bits[i] && (i === 0 || !bits[i - 1])) r.push([i, i]);
      if (bits[i]) r[r.length - 1]![1] = i + 1;
    }
    return r;
  }
  add(off: number, len: number): boolean {
    if (len <= 0) return true;
    const next = this.bits.slice();
    for (let i = off; i < off + len; i++) next[i] = true;
    const grew = this.held(next) > this.held();
    if ((grew && this.held(next) > this.maxBytes) || this.runs(next).length > this.maxRanges) return false;
    this.bits = next;
    return true;
  }
  advance(n: number): number {
    let k = 0;
    while (this.bits[n + k]) k++;
    const shift = n + k;
    this.bits = this.bits.slice(shift).concat(new Array<boolean>(shift).fill(false));
    return k;
  }
}

type Op = { k: 'add'; off: number; len: number } | { k: 'advance'; n: number };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('add' as const), off: fc.nat(SPACE - 60), len: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('advance' as const), n: fc.nat(40) }) },
);

describe('Assembler vs bitmap model', () => {
  it('agrees on acceptance, held bytes, advance and ranges', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(opArb, { maxLength: 40 }),
        (maxBytes, maxRanges, ops) => {
          const a = new Assembler(maxBytes, maxRanges);
          const m = new Model(maxBytes, maxRanges);
          let lastAdded: [number, number] | null = null;
          for (const op of ops) {
            if (op.k === 'add') {
              const got = a.add(op.off, op.len);
              const want = m.add(op.off, op.len);
              if (got !== want) throw new Error(`add(${op.off},${op.len}) = ${got}, want ${want}`);
              if (got && op.len > 0) lastAdded = [op.off, op.off + op.len];
            } else {
              const got = a.advance(op.n);
              const want = m.advance(op.n);
              if (got !== want) throw new Error(`advance(${op.n}) = ${got}, want ${want}`);
              if (lastAdded) {
                lastAdded = [lastAdded[0] - op.n - got, lastAdded[1] - op.n - got];
                if (lastAdded[1] <= 0) lastAdded = null;
              }
            }
            if (a.heldBytes !== m.held()) throw new Error(`held ${a.heldBytes} != ${m.held()}`);
            if (a.heldBytes > maxBytes) throw new Error('maxBytes exceeded');
            const runs = m.runs();
            if (runs.length > maxRanges) throw new Error('maxRanges exceeded');
            const sorted = a.sortedRanges([]);
            if (JSON.stringify(sorted) !== JSON.stringify(runs.flat())) {
              throw new Error(`ranges ${JSON.stringify(sorted)} != ${JSON.stringify(runs.flat())}`);
            }
            // ranges(): a permutation of the runs, most recent first.
            const rec = a.ranges([]);
            const pairs: string[] = [];
            for (let i = 0; i < rec.length; i += 2) pairs.push(`${rec[i]}-${rec[i + 1]}`);
            const want = runs.map(([s, e]) => `${s}-${e}`);
            if (JSON.stringify([...pairs].sort()) !== JSON.stringify([...want].sort())) {
              throw new Error('ranges() is not a permutation of the held runs');
            }
            if (op.k === 'add' && lastAdded && rec.length > 0) {
              const [s, e] = lastAdded;
              const firstS = rec[0]!;
              const firstE = rec[1]!;
              if (!(firstS <= Math.max(s, 0) && e <= firstE)) {
                throw new Error(`first SACK block ${firstS}-${firstE} does not contain last segment ${s}-${e}`);
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
