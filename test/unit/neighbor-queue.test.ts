/**
 * The neighbour cache's frame queues as a whole: one FIFO of at most
 * `queueTotal` frames across all unresolved addresses (the oldest goes when
 * it is full), frames sent in order when their address resolves, and a full
 * cache evicting its oldest INCOMPLETE entry first. Against a fake host that
 * records what the cache hands back; a fast-check model checks the FIFO
 * (a failure prints its seed; FC_SEED replays).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_NEIGHBOR_CONFIG, NeighborCache, NeighborState, type NeighborConfig, type NeighborHost } from '../../src/stack/iface/neighbor-cache.js';
import { TimerWheel } from '../../src/time/timer-wheel.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

class FakeHost implements NeighborHost {
  readonly sent: Array<{ mac: number; slot: number; len: number }> = [];
  readonly dropped: number[] = [];
  requests = 0;
  sendArpRequest(): void {
    this.requests++;
  }
  transmitQueued(mac: number, slot: number, len: number): void {
    this.sent.push({ mac, slot, len });
  }
  dropQueued(slot: number): void {
    this.dropped.push(slot);
  }
}

function cache(cfg: Partial<NeighborConfig>): { c: NeighborCache; host: FakeHost } {
  const host = new FakeHost();
  const c = new NeighborCache(host, new TimerWheel(0), { ...DEFAULT_NEIGHBOR_CONFIG, ...cfg });
  return { c, host };
}

const IP = (n: number): number => (0x0a000000 + n) >>> 0;
const MAC = (n: number): number => 0x020000000000 + n;

describe('neighbour queues share one bounded FIFO', () => {
  it('past queueTotal the oldest frame goes, whichever address it waits for', () => {
    const { c, host } = cache({ queueTotal: 3 });
    expect(c.enqueue(IP(1), 10, 100, 0)).toBe(true);
    expect(c.enqueue(IP(2), 20, 200, 0)).toBe(true);
    expect(c.enqueue(IP(1), 11, 101, 0)).toBe(true);
    expect(c.enqueue(IP(2), 21, 201, 0)).toBe(true); // drops slot 10 (IP 1's first)
    expect(host.dropped).toEqual([10]);
    expect(c.stats.arp_queue_cap_drops).toBe(1);
    expect(c.queued).toBe(3);
    c.learn(IP(2), MAC(2), false, 0);
    expect(host.sent).toEqual([{ mac: MAC(2), slot: 20, len: 200 }, { mac: MAC(2), slot: 21, len: 201 }]);
    expect(c.queued).toBe(1);
    c.learn(IP(1), MAC(1), false, 0);
    expect(host.sent.slice(2)).toEqual([{ mac: MAC(1), slot: 11, len: 101 }]);
    expect(c.queued).toBe(0);
  });

  it('a resolution takes its frames out of the middle and the rest keep their order', () => {
    const { c, host } = cache({ queueTotal: 5 });
    const order = [[1, 1], [2, 2], [1, 3], [3, 4], [2, 5]] as const;
    for (const [ip, slot] of order) c.enqueue(IP(ip), slot, 60, 0);
    c.learn(IP(2), MAC(2), false, 0);
    expect(host.sent.map((f) => f.slot)).toEqual([2, 5]);
    // Fill up again: the oldest left is slot 1, then 3, then 4.
    for (let s = 6; s <= 10; s++) c.enqueue(IP(4 + s), s, 60, 0);
    expect(host.dropped).toEqual([1, 3, 4]);
    expect(c.queued).toBe(5);
  });

  it('queueTotal 0 queues nothing; the caller keeps (and drops) the frame', () => {
    const { c } = cache({ queueTotal: 0 });
    expect(c.enqueue(IP(1), 1, 60, 0)).toBe(false);
    expect(c.stats.arp_queue_drops).toBe(1);
    expect(c.queued).toBe(0);
  });
});

describe('a full cache evicts the oldest INCOMPLETE entry first', () => {
  it('keeps a confirmed neighbour over addresses that have not answered', () => {
    const { c, host } = cache({ maxEntries: 3 });
    c.learn(IP(1), MAC(1), true, 0); // reachable, and the oldest entry
    c.enqueue(IP(2), 2, 60, 0);
    c.enqueue(IP(3), 3, 60, 0);
    c.enqueue(IP(4), 4, 60, 0); // full: evicts IP 2 (and drops its frame), not IP 1
    expect(c.has(IP(1))).toBe(true);
    expect(c.has(IP(2))).toBe(false);
    expect(c.state(IP(4))).toBe(NeighborState.Incomplete);
    expect(host.dropped).toEqual([2]);
    expect(c.stats).toMatchObject({ arp_evicted_incomplete: 1, arp_queue_drops: 1, arp_cache_full: 0 });
    // With nothing unresolved left, the oldest entry goes.
    c.learn(IP(3), MAC(3), false, 0);
    c.learn(IP(4), MAC(4), false, 0);
    c.enqueue(IP(5), 5, 60, 0);
    expect(c.has(IP(1))).toBe(false);
    expect(c.size).toBe(3);
    expect(c.stats.arp_evicted_incomplete).toBe(1);
  });
});

describe('model: the queues behave as one FIFO', () => {
  type Op = { kind: 'enqueue'; ip: number } | { kind: 'learn'; ip: number } | { kind: 'clear' };
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 1, max: 6 }).map((ip) => ({ kind: 'enqueue' as const, ip })) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 6 }).map((ip) => ({ kind: 'learn' as const, ip })) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );

  it('every frame is queued, sent or dropped exactly once; sends keep per-address order; cap drops take the oldest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(op, { maxLength: 200 }),
        (total, perAddress, entries, ops) => {
          const { c, host } = cache({ queueTotal: total, queueLength: perAddress, maxEntries: entries });
          // The model: a FIFO of [ip, slot]; entries resolved by learn() never queue again.
          let fifo: Array<[number, number]> = [];
          const resolved = new Set<number>();
          let refused = 0;
          let next = 0;
          for (const o of ops) {
            if (o.kind === 'clear') {
              c.clear();
              fifo = [];
              resolved.clear();
            } else if (o.kind === 'learn') {
              const had = c.has(IP(o.ip));
              const before = host.sent.length;
              const droppedBefore = host.dropped.length;
              c.learn(IP(o.ip), MAC(o.ip), true, 0);
              // A new entry in a full cache evicts another, dropping its frames.
              const dropped = host.dropped.slice(droppedBefore);
              fifo = fifo.filter(([, s]) => !dropped.includes(s));
              const mine = fifo.filter(([ip]) => ip === o.ip).map(([, s]) => s);
              expect(host.sent.slice(before).map((f) => f.slot)).toEqual(had ? mine : []);
              fifo = fifo.filter(([ip]) => ip !== o.ip);
              resolved.add(o.ip);
            } else {
              if (resolved.has(o.ip) && c.has(IP(o.ip))) continue; // the interface sends these directly
              resolved.delete(o.ip);
              const slot = next++;
              const droppedBefore = host.dropped.length;
              const capBefore = c.stats.arp_queue_cap_drops;
              const queued = c.enqueue(IP(o.ip), slot, 60, 0);
              // Dropped here: an evicted entry's frames, then (cap hit) the oldest frame left.
              const dropped = host.dropped.slice(droppedBefore);
              if (c.stats.arp_queue_cap_drops > capBefore) {
                expect(c.stats.arp_queue_cap_drops - capBefore).toBe(1);
                const evicted = dropped.slice(0, -1);
                expect(dropped.at(-1)).toBe(fifo.find(([, s]) => !evicted.includes(s))?.[1]);
              }
              fifo = fifo.filter(([, s]) => !dropped.includes(s));
              if (queued) fifo.push([o.ip, slot]);
              else refused++;
            }
            expect(c.queued).toBe(fifo.length);
            expect(c.queued).toBeLessThanOrEqual(total);
            expect(c.size).toBeLessThanOrEqual(entries);
          }
          c.clear();
          // Conservation: every slot handed over came back exactly once (or was refused).
          const back = [...host.sent.map((f) => f.slot), ...host.dropped].sort((a, b) => a - b);
          expect(new Set(back).size).toBe(back.length);
          expect(back.length + refused).toBe(next);
        },
      ),
      { numRuns: 300 },
    );
  });
});
