/**
 * TCP over IPv6 in the steady state of a bulk transfer: what the IPv6 path
 * adds to TCP's (the adapter and its address table, the IPv6 layer's input
 * and output, neighbour discovery's lookup, the IPv6 codec) allocates
 * nothing per segment. Two stacks on the in-process link (virtual clock);
 * after a warm-up, 64 MB more under V8's sampling heap profiler
 * (test/helpers/alloc-profile.ts). Everything allocated with stack code on
 * the call stack is printed by site; the assertion is on the IPv6 sites.
 *
 * Found by this measurement and fixed: two views per received packet for
 * its addresses (Ipv6Layer.input), two per sent packet (emitIpv6) and a key
 * string per sent packet (Nd6Cache.writeMacFor): 487 B per segment before,
 * 38 after. Left: the 48-bit source MAC the interface hands Ipv6Layer.input
 * is a heap number per frame (~16 B; interface.ts).
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { stackAllocations, sumSites } from '../helpers/alloc-profile.js';
import { parseIpv6Address as a6 } from '../../src/wire/ipv6.js';
import type { Connection } from '../../src/stack/tcp/connection.js';

const A = a6('fd00:7::1');
const B = a6('fd00:7::2');

describe('TCP over IPv6 allocates nothing per segment on the IPv6 path', () => {
  it('64 MB after a warm-up: the adapter, address table, IPv6 layer and ND lookups allocate < 1 byte per segment', async () => {
    const s = new Sim({
      ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
      ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
    });
    s.runFor(1_500);
    const src = new Uint8Array(65536);
    const dst = new Uint8Array(65536);
    let got = 0;
    s.a.stack.tcp6Adapter.listen(9, null, 4, (c: Connection) => {
      c.events = {
        onReadable: () => {
          for (;;) {
            const n = c.read(dst, 0, dst.length);
            if (n <= 0) return;
            got += n;
          }
        },
      };
    });
    const c = s.b.stack.tcp6Adapter.connect(A, 9);
    let budget = 0;
    const pump = (): void => {
      while (budget > 0) {
        const n = c.write(src, 0, Math.min(src.length, budget));
        if (n === 0) return;
        budget -= n;
      }
    };
    c.events = { onConnected: pump, onWritable: pump };
    const move = (mb: number): void => {
      const target = got + mb * 1024 * 1024;
      budget += mb * 1024 * 1024;
      pump();
      expect(s.runUntil(() => got >= target, 600_000)).toBe(true);
    };
    move(64); // warm-up: JIT, rings, tables
    const st = (): number => s.a.stack.stats().tcp6!.segmentsReceived + s.b.stack.stats().tcp6!.segmentsReceived;
    const before = st();
    const sites = await stackAllocations(() => move(64));
    const segs = st() - before;
    const isIpv6Path = (site: string): boolean => /@stack\/(tcp6\/|iface\/ipv6-|iface\/nd-cache|iface\/path-mtu6)/.test(site);
    const ipv6Bytes = sumSites(sites, isIpv6Path);
    const allBytes = sumSites(sites);
    console.log(`tcp6 steady state: ${segs} segments; IPv6 path ${ipv6Bytes} B (${(ipv6Bytes / segs).toFixed(3)} B/segment); all stack code ${allBytes} B (${(allBytes / segs).toFixed(1)} B/segment); by site:`, [...sites].sort((x, y) => y[1] - x[1]));
    expect(segs).toBeGreaterThan(40_000);
    expect(ipv6Bytes / segs).toBeLessThan(1);
  });
});
