/**
 * The measuring half of test/unit/tcp6-alloc.test.ts, run as its own node
 * process (`node --no-concurrent-recompilation --import tsx
 * test/helpers/tcp6-alloc-child.ts [warmMiB] [windows] [windowMiB]`; why:
 * test/helpers/alloc-child.ts).
 *
 * Two stacks on the in-process link (test/helpers/sim.ts, virtual clock),
 * one TCP connection over IPv6, b writing from and a reading into fixed
 * buffers. After the warm-up, each window moves windowMiB more under V8's
 * sampling heap profiler; what was allocated with stack code (src/stack/)
 * on the call stack is charged to the innermost stack function
 * (alloc-profile.ts stackAllocations). Prints one JSON line: each window's
 * segments, bytes per segment on the IPv6 path (the adapter and its address
 * table, the IPv6 layer's input and output, neighbour discovery's cache,
 * path MTU) and in all stack code, and its sites.
 */
import { Sim } from './sim.js';
import { stackAllocations, sumSites } from './alloc-profile.js';
import { childArgs, printReport, topSites } from './alloc-child.js';
import { parseIpv6Address as a6 } from '../../src/wire/ipv6.js';
import type { Connection } from '../../src/stack/tcp/connection.js';

export interface Tcp6AllocWindow {
  /** TCP segments received by both stacks in the window. */
  segments: number;
  /** Heap bytes per segment allocated with IPv6-path code innermost. */
  ipv6PerSegment: number;
  /** Heap bytes per segment allocated with any stack code innermost (TCP's own included). */
  allPerSegment: number;
  /** Every IPv6-path site, "B/segment site". */
  ipv6Sites: string[];
  /** The largest sites of all stack code, "B/segment site". */
  top: string[];
}

export interface Tcp6AllocReport {
  node: string;
  warmMiB: number;
  windowMiB: number;
  windows: Tcp6AllocWindow[];
}

const MiB = 1 << 20;
const A = a6('fd00:7::1');
const B = a6('fd00:7::2');

/** The sites the budget is on: what the IPv6 path adds to TCP's. */
const isIpv6Path = (site: string): boolean => /@stack\/(tcp6\/|iface\/ipv6-|iface\/nd-cache|iface\/path-mtu6|iface\/gso-burst)/.test(site);

async function measure(warmMiB: number, windows: number, windowMiB: number): Promise<Tcp6AllocReport> {
  const s = new Sim({
    ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
  });
  s.runFor(1_500); // duplicate address detection
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
  const move = (mib: number): void => {
    const target = got + mib * MiB;
    budget += mib * MiB;
    pump();
    if (!s.runUntil(() => got >= target, 600_000)) throw new Error(`moved ${got} of ${target} bytes in 600 s of virtual time`);
  };
  const segments = (): number => s.a.stack.stats().tcp6!.segmentsReceived + s.b.stack.stats().tcp6!.segmentsReceived;
  // The first NetStack.stats() call deoptimises the IPv6 receive and send
  // path on node 24 (--trace-deopt: Ipv6Layer.input, Ipv6Output.buildFrame,
  // "dependent prototype chain changed"; once, later calls do not): read
  // before the warm-up, so the re-optimisation happens there and not in
  // the first window (seen: 1.8-1.9 B/segment in find@ipv6-addresses.ts and
  // input@ipv6-layer.ts there, 0 in the windows after it).
  segments();
  move(warmMiB); // JIT, rings, tables
  const out: Tcp6AllocWindow[] = [];
  for (let w = 0; w < windows; w++) {
    const before = segments();
    const sites = await stackAllocations(() => move(windowMiB));
    const segs = segments() - before;
    out.push({
      segments: segs,
      ipv6PerSegment: sumSites(sites, isIpv6Path) / segs,
      allPerSegment: sumSites(sites) / segs,
      ipv6Sites: topSites([...sites].filter(([site]) => isIpv6Path(site)), segs, 'B/segment', 3, Infinity),
      top: topSites(sites, segs, 'B/segment', 3),
    });
  }
  return { node: process.version, warmMiB, windowMiB, windows: out };
}

const [warmMiB, windows, windowMiB] = childArgs(2, [1024, 3, 64]);
printReport(await measure(warmMiB!, windows!, windowMiB!));
