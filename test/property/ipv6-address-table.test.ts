/**
 * The IPv6 address table TCP over IPv6 interns addresses in
 * (src/stack/tcp6/address-table.ts) against a Map model: interning an
 * address gives the same id while the entry lives and distinct ids to
 * distinct addresses; an entry lives while it is held or until the next
 * sweep; the pseudo-header share and the keyed hash depend on the bytes
 * only; the table grows past its first capacity and is empty once nothing
 * is held and a sweep ran. Addresses come from a small pool, so the same
 * ones recur and bucket chains form.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ipv6AddressTable } from '../../src/stack/tcp6/address-table.js';
import { ipv6PseudoSum } from '../../src/wire/ipv6.js';

// fast-check prints the seed and path of a failing run; FC_SEED replays it.
if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

type Op = { k: 'intern'; a: number; off: number } | { k: 'retain'; a: number } | { k: 'release'; a: number } | { k: 'sweep' };

const POOL = 200;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('intern' as const), a: fc.nat(POOL - 1), off: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('retain' as const), a: fc.nat(POOL - 1) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('release' as const), a: fc.nat(POOL - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('sweep' as const) }) },
);

/** Pool address i: a few prefixes, some sharing all but the last bytes; index 0 is :: (id 0). */
function poolAddress(i: number, seed: number): Uint8Array {
  const a = new Uint8Array(16);
  if (i === 0) return a;
  a[0] = 0xfd;
  a[1] = seed & 0xff;
  a[7] = i % 3;
  a[14] = i >>> 8;
  a[15] = i & 0xff;
  return a;
}

describe('Ipv6AddressTable vs a Map model', () => {
  it('ids stable while held, distinct per address, freed by sweep only when unheld; sums and hashes follow the bytes', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.array(opArb, { maxLength: 400 }), (seed, ops) => {
        const key = new Uint8Array(16).fill(seed);
        const t = new Ipv6AddressTable(key);
        const other = new Ipv6AddressTable(key);
        // Model: address index -> { id, holds }, for entries alive now.
        const live = new Map<number, { id: number; holds: number }>();
        const buf = new Uint8Array(32);
        for (const op of ops) {
          if (op.k === 'intern') {
            const a = poolAddress(op.a, seed);
            buf.fill(0xee);
            buf.set(a, op.off);
            const id = t.intern(buf, op.off);
            if (op.a === 0) {
              expect(id).toBe(0);
              continue;
            }
            const known = live.get(op.a);
            if (known !== undefined) expect(id).toBe(known.id);
            else {
              for (const e of live.values()) expect(id).not.toBe(e.id);
              live.set(op.a, { id, holds: 0 });
            }
            expect(t.address(id)).toStrictEqual(a);
            // The pseudo-header share: with any other address, the same sum as the byte-wise one.
            const z = new Uint8Array(16);
            const viaTable = (t.pseudoValue(id) >>> 16) + (t.pseudoValue(id) & 0xffff) + 6 + 20;
            const fold = (x: number): number => {
              while (x > 0xffff) x = (x & 0xffff) + (x >>> 16);
              return x;
            };
            expect(fold(viaTable)).toBe(ipv6PseudoSum(a, z, 20, 6));
            // The hash is the bytes' under the key, whatever the id.
            expect(t.hash(id)).toBe(other.hash(other.intern(a, 0)));
            other.sweep();
          } else if (op.k === 'retain' || op.k === 'release') {
            const e = live.get(op.a);
            if (e === undefined) {
              continue;
            }
            if (op.k === 'retain') {
              t.retain(e.id);
              e.holds++;
            } else if (e.holds > 0) {
              t.release(e.id);
              e.holds--;
            } else {
              expect(() => t.release(e.id)).toThrow(/no hold/);
            }
          } else {
            t.sweep();
            for (const [a, e] of live) if (e.holds === 0) live.delete(a);
          }
          expect(t.size).toBe(live.size);
          let holds = 0;
          for (const e of live.values()) holds += e.holds;
          expect(t.holds).toBe(holds);
        }
        for (const e of live.values()) while (e.holds-- > 0) t.release(e.id);
        t.sweep();
        expect(t.size).toBe(0);
        expect(t.holds).toBe(0);
      }),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 200) },
    );
  });

  it('grows past its first capacity with 5,000 held addresses, each found again, and is empty once released and swept', () => {
    const t = new Ipv6AddressTable(new Uint8Array(16).fill(9));
    const ids: number[] = [];
    for (let i = 1; i <= 5000; i++) {
      const id = t.intern(poolAddress(i, 0x42), 0);
      t.retain(id);
      ids.push(id);
    }
    t.sweep();
    expect(new Set(ids).size).toBe(5000);
    expect(t.size).toBe(5000);
    for (let i = 1; i <= 5000; i++) {
      expect(t.intern(poolAddress(i, 0x42), 0)).toBe(ids[i - 1]);
      expect(t.address(ids[i - 1]!)).toStrictEqual(poolAddress(i, 0x42));
    }
    for (const id of ids) t.release(id);
    expect(t.size).toBe(5000); // freed by the sweep only
    t.sweep();
    expect(t.size).toBe(0);
    expect(() => t.address(ids[0]!)).toThrow(/no entry/);
  });
});
