/**
 * The IPv6 receive path (Interface -> IPv6 layer -> extension-header walk /
 * reassembly / ICMPv6 / ND / SLAAC) fed a million seeded mutations of a
 * corpus of valid IPv6 frames (NS, NA, RS, RA with prefixes, redirects,
 * echoes to unicast, link-local and group addresses, fragments, extension
 * chains, unknown next headers, MLD queries and reports), their ICMPv6 checksums fixed most of the
 * time so the mutation reaches the layer it targets, plus fast-check
 * structured ND messages.
 *
 * Checked: no exception escapes Interface.input(); heap after GC within a
 * small bound of the post-warm-up heap; the neighbour cache, SLAAC lists,
 * addresses and reassembly under their caps; every NIC slot free once the
 * timers drained. The seed is printed; FC_SEED=<seed> replays.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim } from '../helpers/sim.js';
import { Mutator, heapAfterGc, mib, seedFromEnv } from '../helpers/hostile.js';
import { ndFrame, echo6Frame, ipv6Frame, fragmentFrames, echo6Message } from '../helpers/frames6.js';
import {
  parseIpv6Address as a6,
  IPV6_ALL_NODES,
  IPV6_UNSPECIFIED,
  ipv6MulticastMac,
  solicitedNodeMulticast,
  ipv6PseudoSum,
  IPPROTO_ICMPV6,
} from '../../src/wire/ipv6.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import type { NdRepr } from '../../src/wire/ndp.js';
import { emitMldQuery, emitMld2Report, type MldQuery } from '../../src/wire/mld.js';

const MUTATED_FRAMES = Number(process.env.USTACK_FUZZ_FRAMES ?? 1_000_000);
const BURST = 512;
const LIMITS = { maxRouters: 4, maxPrefixes: 16, maxAddresses: 16 };

/** Recomputes the ICMPv6 checksum of an Ethernet/IPv6 frame whose next header is ICMPv6 (no extension headers). */
function fixIcmpv6(buf: Uint8Array, len: number): void {
  if (len < 54 + 8 || buf[12] !== 0x86 || buf[13] !== 0xdd || buf[20] !== IPPROTO_ICMPV6) return;
  const plen = Math.min((buf[18]! << 8) | buf[19]!, len - 54);
  if (plen < 8) return;
  buf[56] = 0;
  buf[57] = 0;
  const c = internetChecksum(buf, 54, plen, ipv6PseudoSum(buf.subarray(22, 38), buf.subarray(38, 54), plen, IPPROTO_ICMPV6));
  buf[56] = c >>> 8;
  buf[57] = c & 0xff;
}

describe('IPv6 interface fuzzing (mutated and structured frames through the IPv6 layer)', () => {
  const seed = seedFromEnv();
  console.log(`[iface6-fuzz] seed ${seed} (replay with FC_SEED=${seed})`);

  it(`survives ${MUTATED_FRAMES.toLocaleString()} mutated IPv6 frames plus fast-check ND messages, memory flat, all slots back`, () => {
    const A = a6('fd00::1');
    const B = a6('fd00::2');
    const sim = new Sim({
      ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }], slaac: true, slaacLimits: LIMITS, nd: { maxEntries: 256 }, reassembly: { maxBytes: 256 * 1024, maxDatagrams: 32 } } },
      ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
    });
    sim.runFor(1_500);
    const iface = sim.a.iface;
    const v6 = iface.v6!;
    const am = iface.mac;
    const bm = sim.b.iface.mac;
    const ll = v6.linkLocal;
    const router = a6('fe80::1');
    const group = solicitedNodeMulticast(A);
    const allNodes = ipv6MulticastMac(IPV6_ALL_NODES);
    const ra = (p: string): NdRepr => ({
      kind: 'ra', curHopLimit: 64, managed: false, other: false, routerLifetime: 600, reachableTime: 0, retransTimer: 0,
      options: { sourceMac: 0x02aa00000001, mtu: 1400, prefixes: [{ prefix: a6(p), prefixLength: 64, onLink: true, autonomous: true, validLifetime: 100, preferredLifetime: 50 }] },
    });
    const msg = echo6Message(B, A, 1, 1, new Uint8Array(300).fill(5));
    const chain = new Uint8Array(40);
    chain[0] = 60; chain[1] = 0; chain[2] = 1; chain[3] = 4;
    chain[8] = 58; chain[9] = 0; chain[10] = 1; chain[11] = 4;
    chain.set(echo6Message(B, A, 2, 2, new Uint8Array(8)), 16);
    const mldQuery = (q: Partial<MldQuery>, dst: Uint8Array, hopByHop: boolean): Uint8Array => {
      const full: MldQuery = { version: 2, maxResponseCode: 1000, group: IPV6_UNSPECIFIED, suppress: false, qrv: 2, qqic: 125, sources: [], ...q };
      const body = new Uint8Array(8 + 28 + 16 * full.sources.length);
      body.set([58, 0, 5, 2, 0, 0, 1, 0]);
      const len = emitMldQuery(full, body, 8, router, dst);
      return ipv6Frame(ipv6MulticastMac(dst), 0x02aa00000001, router, dst, hopByHop ? 0 : 58, hopByHop ? body.subarray(0, 8 + len) : body.subarray(8, 8 + len), 1);
    };
    const report = new Uint8Array(8 + 20 + 32);
    emitMld2Report({ records: [{ type: 4, group, sources: [A, B], auxData: new Uint8Array(0) }] }, report, 0, router, IPV6_ALL_NODES);
    const corpus: Uint8Array[] = [
      mldQuery({}, IPV6_ALL_NODES, true),
      mldQuery({}, IPV6_ALL_NODES, false),
      mldQuery({ group, sources: [B, a6('2001:db8::5')] }, group, false),
      mldQuery({ version: 1, group }, group, false),
      ipv6Frame(allNodes, bm, router, IPV6_ALL_NODES, 58, report, 1),
      ndFrame(ipv6MulticastMac(group), bm, B, group, { kind: 'ns', target: A, options: { sourceMac: bm } }),
      ndFrame(ipv6MulticastMac(group), bm, IPV6_UNSPECIFIED, group, { kind: 'ns', target: A, options: {} }),
      ndFrame(am, bm, B, A, { kind: 'na', router: false, solicited: true, override: true, target: B, options: { targetMac: bm } }),
      ndFrame(allNodes, bm, router, IPV6_ALL_NODES, { kind: 'rs', options: { sourceMac: bm } }),
      ndFrame(allNodes, 0x02aa00000001, router, IPV6_ALL_NODES, ra('2001:db8:1::')),
      ndFrame(allNodes, 0x02aa00000001, router, IPV6_ALL_NODES, ra('2001:db8:2::')),
      ndFrame(am, 0x02aa00000001, router, ll, { kind: 'redirect', target: a6('fe80::7'), destination: a6('2001:db8:9::1'), options: { targetMac: 0x02bb00000001, redirected: new Uint8Array(48) } }),
      echo6Frame(am, bm, B, A, 1, 1, new Uint8Array(56)),
      echo6Frame(am, bm, a6('fe80::2'), ll, 1, 2, new Uint8Array(56)),
      echo6Frame(allNodes, bm, B, IPV6_ALL_NODES, 1, 3, new Uint8Array(8)),
      ...fragmentFrames(am, bm, B, A, 58, msg, 7, [{ offset: 0, length: 128 }, { offset: 128, length: 128 }, { offset: 256, length: msg.length - 256 }]),
      ipv6Frame(am, bm, B, A, 60, chain),
      ipv6Frame(am, bm, B, A, 253, new Uint8Array(32)),
      ipv6Frame(am, bm, B, A, 43, new Uint8Array([58, 0, 0, 1, 0, 0, 0, 0, 128, 0, 0, 0, 0, 0, 0, 0])),
    ];
    const mut = new Mutator(seed, corpus);
    const scratch = new Uint8Array(sim.a.raw.slotSize);
    const pump = (ms: number): void => {
      sim.clock.advance(ms);
      sim.a.stack.poll();
      sim.b.stack.poll();
      sim.a.stack.poll();
    };
    const checkBounded = (): void => {
      expect(v6.neighbors.size).toBeLessThanOrEqual(256);
      expect(v6.slaac.routers.length).toBeLessThanOrEqual(LIMITS.maxRouters);
      expect(v6.slaac.prefixes.length).toBeLessThanOrEqual(LIMITS.maxPrefixes);
      expect(v6.addresses().filter((x) => x.origin === 'slaac').length).toBeLessThanOrEqual(LIMITS.maxAddresses);
      expect(v6.reassembler.bufferedBytes).toBeLessThanOrEqual(256 * 1024);
      expect(v6.reassembler.pending).toBeLessThanOrEqual(32);
      expect(v6.mld.joined().length).toBeLessThanOrEqual(v6.addresses().length);
    };
    let fed = 0;
    const feed = (n: number): void => {
      for (let i = 0; i < n; i++) {
        let len = mut.mutate(scratch);
        if (mut.rng.next() < 0.8) fixIcmpv6(scratch, len);
        if (len > scratch.length) len = scratch.length;
        iface.input(scratch, 0, len, sim.clock.now());
        fed++;
        if (fed % BURST === 0) pump(1);
      }
    };
    feed(Math.min(100_000, MUTATED_FRAMES));
    const before = heapAfterGc();
    feed(Math.max(0, MUTATED_FRAMES - 100_000));
    checkBounded();

    // fast-check: ND messages with arbitrary fields and options, to A's groups and addresses.
    let fcFrames = 0;
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    const nd = fc.oneof(
      fc.record({ target: fc.oneof(addr, fc.constant(A), fc.constant(ll)), sourceMac: fc.option(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { nil: undefined }) })
        .map((r): NdRepr => ({ kind: 'ns', target: r.target, options: r.sourceMac === undefined ? {} : { sourceMac: r.sourceMac } })),
      fc.record({ target: fc.oneof(addr, fc.constant(B)), s: fc.boolean(), o: fc.boolean(), r: fc.boolean(), mac: fc.integer({ min: 0, max: 2 ** 48 - 1 }) })
        .map((r): NdRepr => ({ kind: 'na', router: r.r, solicited: r.s, override: r.o, target: r.target, options: { targetMac: r.mac } })),
      fc.record({
        lifetime: fc.integer({ min: 0, max: 0xffff }),
        mtu: fc.integer({ min: 0, max: 0xffffffff }),
        prefixes: fc.array(fc.record({ prefix: addr, prefixLength: fc.integer({ min: 0, max: 128 }), onLink: fc.boolean(), autonomous: fc.boolean(), validLifetime: fc.integer({ min: 0, max: 0xffffffff }), preferredLifetime: fc.integer({ min: 0, max: 0xffffffff }) }).map((p) => ({ ...p })), { maxLength: 6 }),
      }).map((r): NdRepr => ({ kind: 'ra', curHopLimit: 64, managed: false, other: false, routerLifetime: r.lifetime, reachableTime: 0, retransTimer: 0, options: { mtu: r.mtu, prefixes: r.prefixes } })),
    );
    const src = fc.oneof(fc.constant(a6('fe80::1')), fc.constant(B), fc.constant(IPV6_UNSPECIFIED), addr);
    const dst = fc.constantFrom(A, ll, IPV6_ALL_NODES, group);
    fc.assert(
      fc.property(fc.array(fc.tuple(nd, src, dst), { maxLength: 50 }), (items) => {
        for (const [m, s, d] of items) {
          const f = ndFrame(d[0] === 0xff ? ipv6MulticastMac(d) : am, bm, s, d, m);
          iface.input(f, 0, f.length, sim.clock.now());
          fcFrames++;
        }
        pump(5);
      }),
      { numRuns: 2_000, seed },
    );
    checkBounded();

    // Drain: ND entries, reassembly, SLAAC lifetimes and parked frames time out.
    sim.runFor(200_000);
    const after = heapAfterGc();
    const st = sim.a.stack.stats();
    console.log(
      `[iface6-fuzz] frames fuzzed: ${(fed + fcFrames).toLocaleString()} (${fed.toLocaleString()} mutated of ${corpus.length}, ${fcFrames.toLocaleString()} fast-check ND); ` +
        `heap after GC: before ${mib(before)}, after ${mib(after)} (delta ${mib(after - before)}); neighbours ${v6.neighbors.size}, ` +
        `addresses ${v6.addresses().length}, nic free slots ${sim.a.raw.freeSlots}/${sim.a.raw.slotCount}`,
    );
    console.log(`[iface6-fuzz] A's ip6: ${JSON.stringify(st[`ip6.${iface.name}`])}`);
    console.log(`[iface6-fuzz] A's frag6: ${JSON.stringify(st[`frag6.${iface.name}`])}`);
    expect(fed).toBe(MUTATED_FRAMES);
    expect(st[`iface.${iface.name}`]!.poll_exceptions).toBe(0);
    expect(st[`ip6.${iface.name}`]!.ip6_rx).toBeGreaterThan(fed / 2);
    expect(after - before).toBeLessThan(8 * 1048576);
    expect(sim.a.raw.freeSlots).toBe(sim.a.raw.slotCount);
    expect(sim.b.raw.freeSlots).toBe(sim.b.raw.slotCount);
    checkBounded();
  });
});
