/**
 * TCP over IPv6 in the steady state of a bulk transfer: what the IPv6 path
 * adds to TCP's (the adapter and its address table, the IPv6 layer's input
 * and output, neighbour discovery's lookup, path MTU, the IPv6 codec)
 * allocates nothing per segment (issue 17).
 *
 * The measurement runs in a node process of its own
 * (test/helpers/tcp6-alloc-child.ts, started by alloc-child.ts
 * runAllocChild with --no-concurrent-recompilation; why: alloc-child.ts):
 * two stacks on the in-process link (virtual clock), a 256 MiB warm-up,
 * then three consecutive 64 MiB windows under V8's sampling heap profiler.
 * Everything allocated with stack code on the call stack is printed by site
 * for every window; the budget, < 1 B per segment on the IPv6 sites,
 * applies to the median window. One heap number per packet is 16 B.
 *
 * FIGURES
 */
import { describe, expect, it } from 'vitest';
import { median, runAllocChild } from '../helpers/alloc-child.js';
import type { Tcp6AllocReport } from '../helpers/tcp6-alloc-child.js';

const child = new URL('../helpers/tcp6-alloc-child.ts', import.meta.url);

describe('TCP over IPv6 allocates nothing per segment on the IPv6 path', () => {
  it('three 64 MiB windows after a warm-up, in a process of its own: the adapter, address table, IPv6 layer and ND lookups allocate < 1 byte per segment (median window)', async () => {
    const r = await runAllocChild<Tcp6AllocReport>(child, [], 110_000);
    for (const [i, w] of r.windows.entries()) {
      console.log(
        `[tcp6-alloc] ${r.node} window ${i}: ${w.segments} segments; IPv6 path ${w.ipv6PerSegment.toFixed(3)} B/segment, all stack code ${w.allPerSegment.toFixed(1)} B/segment; IPv6 sites:`,
        w.ipv6Sites,
        'top:',
        w.top,
      );
    }
    expect(r.windows.length).toBe(3);
    for (const w of r.windows) expect(w.segments).toBeGreaterThan(40_000);
    expect(median(r.windows.map((w) => w.ipv6PerSegment))).toBeLessThan(1);
  });
});
