/**
 * The ring of frames parked for link-layer resolution (shared by the ARP and
 * the neighbour-discovery caches) against a plain array model: FIFO across
 * owners, the oldest frame dropped when full, an owner's frames taken in
 * order with the others' order kept, every slot given back exactly once.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ParkedFrames, type ParkedOwner } from '../../src/stack/iface/parked-frames.js';

// fast-check prints the seed and path of a failing run; FC_SEED replays it.
if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

type Op = { k: 'park'; o: number } | { k: 'take'; o: number; send: boolean } | { k: 'dropAll' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('park' as const), o: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('take' as const), o: fc.nat(3), send: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dropAll' as const) }) },
);

describe('ParkedFrames vs a FIFO model', () => {
  it('agrees over random park/take/dropAll sequences, and every slot comes back once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(opArb, { maxLength: 80 }), (cap, ops) => {
        const sent: Array<[number, number, number]> = [];
        const dropped: number[] = [];
        const ring = new ParkedFrames<ParkedOwner>(cap, {
          transmitQueued: (mac, slot, len) => void sent.push([mac, slot, len]),
          dropQueued: (slot) => void dropped.push(slot),
        });
        const owners: ParkedOwner[] = [0, 1, 2, 3].map(() => ({ queued: 0 }));
        let model: Array<{ o: number; slot: number }> = [];
        let nextSlot = 0;
        for (const op of ops) {
          if (op.k === 'park') {
            const slot = nextSlot++;
            const full = model.length === cap;
            const oldest = model[0];
            expect(ring.park(owners[op.o]!, slot, slot * 10)).toBe(full);
            if (full) {
              expect(dropped.pop()).toBe(oldest!.slot);
              model.shift();
            }
            model.push({ o: op.o, slot });
          } else if (op.k === 'take') {
            const mine = model.filter((f) => f.o === op.o).map((f) => f.slot);
            ring.take(owners[op.o]!, op.send ? 7 : -1);
            if (op.send) expect(sent.splice(0).map(([mac, slot, len]) => [mac, slot, len])).toEqual(mine.map((s) => [7, s, s * 10]));
            else expect(dropped.splice(0)).toEqual(mine);
            model = model.filter((f) => f.o !== op.o);
          } else {
            expect(ring.dropAll()).toBe(model.length);
            expect(dropped.splice(0)).toEqual(model.map((f) => f.slot));
            model = [];
          }
          expect(ring.size).toBe(model.length);
          for (let i = 0; i < owners.length; i++) expect(owners[i]!.queued).toBe(model.filter((f) => f.o === i).length);
        }
        expect(sent).toEqual([]);
        expect(dropped).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
