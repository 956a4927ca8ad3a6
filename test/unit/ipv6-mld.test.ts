/**
 * MLDv2 as a host (RFC 3810) on the virtual clock and in-process link: the
 * reports A puts on the wire are read off it (A runs alone; B's end is
 * drained by the test) — joining the solicited-node groups of its addresses
 * (State-Change Reports, twice each), answers to general, group-specific
 * and source-specific queries within the Maximum Response Delay, leaving a
 * group when its address turns out duplicate, queries dropped unless from a
 * link-local source with hop limit 1, nothing from the loopback interface.
 */
import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { ipv6Frame, ndFrame } from '../helpers/frames6.js';
import {
  parseIpv6Address as a6,
  ipv6ToString,
  solicitedNodeMulticast,
  ipv6MulticastMac,
  IPV6_ALL_NODES,
  IPV6_UNSPECIFIED,
  parseIpv6,
} from '../../src/wire/ipv6.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { emitMldQuery, parseMld2Report, type MldQuery } from '../../src/wire/mld.js';
import { ExtWalk, walkExtensionHeaders } from '../../src/wire/ipv6-ext.js';

// Not fd00::1: the link-local address from MAC 02:00:00:00:00:01 ends in 00:00:01 too, and would share its group.
const A = a6('fd00::a');
const ROUTER_LL = a6('fe80::99');

interface Report {
  at: number;
  src: string;
  records: string[];
}

/** A alone, its frames to the link read off B's end: runs A until `ms` later, returns the MLD reports it sent. */
function runA(s: Sim, ms: number): Report[] {
  const raw = s.b.raw;
  const slots = new Uint32Array(64);
  const lens = new Uint32Array(64);
  const out: Report[] = [];
  const end = s.clock.now() + ms;
  const w = new ExtWalk();
  for (;;) {
    s.a.stack.poll();
    for (let n = raw.rxBurst(slots, lens, 64); n > 0; n = raw.rxBurst(slots, lens, 64)) {
      for (let i = 0; i < n; i++) {
        const base = slots[i]! * raw.slotSize;
        const f = raw.pool.slice(base, base + lens[i]!);
        raw.release(slots[i]!);
        if (((f[12]! << 8) | f[13]!) !== 0x86dd) continue;
        const ip = parseIpv6(f, 14, f.length - 14);
        expect(walkExtensionHeaders(f, 54, ip.payloadLength, ip.nextHeader, w, undefined, 20)).toBeNull();
        if (w.protocol !== 58) continue;
        const type = f[w.offset]!;
        if (type === 131 || type === 132) {
          // MLDv1 (compatibility mode): 24 bytes, hop limit 1, a Router Alert, a valid checksum; a Report to its group, a Done to ff02::2.
          expect(w.length).toBe(24);
          expect(ip.hopLimit).toBe(1);
          expect(w.routerAlert).toBe(true);
          expect(() => parseIcmpv6(f, w.offset, w.length, ip.src, ip.dst)).not.toThrow();
          const group = ipv6ToString(f, w.offset + 8);
          expect(ipv6ToString(ip.dst)).toBe(type === 131 ? group : 'ff02::2');
          out.push({ at: s.clock.now(), src: ipv6ToString(ip.src), records: [`v1-${type === 131 ? 'report' : 'done'} ${group}`] });
          continue;
        }
        if (type !== 143) continue;
        // What every report must be (RFC 3810 §5.2.13-15): to ff02::16 and its MAC, hop limit 1, a Router Alert, a valid checksum.
        expect(ipv6ToString(ip.dst)).toBe('ff02::16');
        const dstMac = ((f[0]! << 8) | f[1]!) * 2 ** 32 + (((f[2]! << 24) | (f[3]! << 16) | (f[4]! << 8) | f[5]!) >>> 0);
        expect(dstMac).toBe(ipv6MulticastMac(ip.dst));
        expect(ip.hopLimit).toBe(1);
        // Never above the minimum MTU: reports are never fragmented.
        expect(40 + ip.payloadLength).toBeLessThanOrEqual(1280);
        expect(w.routerAlert).toBe(true);
        expect(() => parseIcmpv6(f, w.offset, w.length, ip.src, ip.dst)).not.toThrow();
        const r = parseMld2Report(f, w.offset, w.length);
        out.push({ at: s.clock.now(), src: ipv6ToString(ip.src), records: r.records.map((x) => `${x.type} ${ipv6ToString(x.group)}${x.sources.length > 0 ? ` [${x.sources.map((y) => ipv6ToString(y)).join(' ')}]` : ''}`) });
      }
    }
    const next = s.a.stack.pollAt();
    if (next === Infinity || next > end) break;
    s.clock.advanceTo(Math.max(next, s.clock.now()));
  }
  s.clock.advanceTo(end);
  s.a.stack.poll();
  return out;
}

function query(q: Partial<MldQuery> & { group: Uint8Array }, dst: Uint8Array, opts: { src?: Uint8Array; hopLimit?: number } = {}): Uint8Array {
  const full: MldQuery = { version: 2, maxResponseCode: 1000, suppress: false, qrv: 2, qqic: 125, sources: [], ...q };
  const src = opts.src ?? ROUTER_LL;
  const body = new Uint8Array(8 + 28 + 16 * full.sources.length);
  body.set([58, 0, 5, 2, 0, 0, 1, 0]);
  const len = emitMldQuery(full, body, 8, src, dst);
  return ipv6Frame(ipv6MulticastMac(dst), 0x02aabbccddee, src, dst, 0, body.subarray(0, 8 + len), opts.hopLimit ?? 1);
}

function sim(): Sim {
  return new Sim({ ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } }, loopback: true });
}

describe('MLDv2 reports (RFC 3810)', () => {
  it('joins the solicited-node group of each address with two State-Change Reports (CHANGE_TO_EXCLUDE {}), from :: while the link-local address is tentative', () => {
    const s = sim();
    const ll = s.a.iface.v6!.linkLocal;
    const gLl = ipv6ToString(solicitedNodeMulticast(ll));
    const gA = ipv6ToString(solicitedNodeMulticast(A));
    const reports = runA(s, 3_000);
    const records = reports.flatMap((r) => r.records);
    expect(records.filter((x) => x === `4 ${gLl}`)).toHaveLength(2);
    expect(records.filter((x) => x === `4 ${gA}`)).toHaveLength(2);
    expect(records).toHaveLength(4);
    // The first at once, before DAD's solicitations end; the last within the Unsolicited Report Interval.
    expect(reports[0]!.at).toBe(0);
    expect(reports[0]!.src).toBe('::');
    expect(reports[reports.length - 1]!.at).toBeLessThanOrEqual(1_001);
    expect(s.a.iface.v6!.mld.joined().map((g) => ipv6ToString(g)).sort()).toStrictEqual([gA, gLl].sort());
    expect(s.a.stack.stats()[`ip6.${s.a.iface.name}`]!.mld_tx_records).toBe(4);
    // Nothing from the loopback interface.
    expect(s.a.lo!.v6!.mld.stats.mld_tx_reports).toBe(0);
    // Quiet afterwards.
    expect(runA(s, 60_000)).toStrictEqual([]);
  });

  it('answers a general query with every group (MODE_IS_EXCLUDE {}) within the Maximum Response Delay, from the link-local address', () => {
    const s = sim();
    runA(s, 3_000);
    const t0 = s.clock.now();
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED, maxResponseCode: 2_000 }, IPV6_ALL_NODES));
    const reports = runA(s, 3_000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.at - t0).toBeLessThanOrEqual(2_000);
    expect(reports[0]!.src).toBe(ipv6ToString(s.a.iface.v6!.linkLocal));
    expect(reports[0]!.records.sort()).toStrictEqual([`2 ${ipv6ToString(solicitedNodeMulticast(A))}`, `2 ${ipv6ToString(solicitedNodeMulticast(s.a.iface.v6!.linkLocal))}`].sort());
    expect(s.a.iface.v6!.mld.stats.mld_rx_queries).toBe(1);
  });

  it('answers a group-specific query with that group only, a source-specific one with MODE_IS_INCLUDE of its sources', () => {
    const s = sim();
    runA(s, 3_000);
    const g = solicitedNodeMulticast(A);
    inject(s.b.raw, query({ group: g }, g));
    expect(runA(s, 2_000).map((r) => r.records)).toStrictEqual([[`2 ${ipv6ToString(g)}`]]);
    inject(s.b.raw, query({ group: g, sources: [a6('2001:db8::7'), a6('2001:db8::8')] }, g));
    expect(runA(s, 2_000).map((r) => r.records)).toStrictEqual([[`1 ${ipv6ToString(g)} [2001:db8::7 2001:db8::8]`]]);
  });

  it('MLDv1 compatibility (RFC 3810 §8.2): after a v1 query it answers with v1 Reports to each group and leaves with a Done to ff02::2; 260 s later it speaks v2 again', () => {
    const s = sim();
    runA(s, 3_000);
    const gLl = ipv6ToString(solicitedNodeMulticast(s.a.iface.v6!.linkLocal));
    const gA = ipv6ToString(solicitedNodeMulticast(A));
    const q1 = new Uint8Array(8 + 24);
    q1.set([58, 0, 5, 2, 0, 0, 1, 0]);
    emitMldQuery({ version: 1, maxResponseCode: 500, group: IPV6_UNSPECIFIED, suppress: false, qrv: 0, qqic: 0, sources: [] }, q1, 8, ROUTER_LL, IPV6_ALL_NODES);
    inject(s.b.raw, ipv6Frame(ipv6MulticastMac(IPV6_ALL_NODES), 0x02aabbccddee, ROUTER_LL, IPV6_ALL_NODES, 0, q1, 1));
    expect(runA(s, 1_000).flatMap((r) => r.records).sort()).toStrictEqual([`v1-report ${gA}`, `v1-report ${gLl}`].sort());
    expect(s.a.iface.v6!.mld.stats.mld_rx_v1_queries).toBe(1);
    // Still in v1 mode: a v2 query is answered in v1 too.
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED, maxResponseCode: 500 }, IPV6_ALL_NODES));
    expect(runA(s, 1_000).flatMap((r) => r.records).sort()).toStrictEqual([`v1-report ${gA}`, `v1-report ${gLl}`].sort());
    // 260 s after the v1 query: v2 again.
    runA(s, 260_000);
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED, maxResponseCode: 500 }, IPV6_ALL_NODES));
    expect(runA(s, 1_000).flatMap((r) => r.records).sort()).toStrictEqual([`2 ${gA}`, `2 ${gLl}`].sort());
  });

  it('in MLDv1 compatibility mode a group left is announced with a Done to ff02::2 (twice)', () => {
    const s = sim();
    runA(s, 100);
    const q1 = new Uint8Array(8 + 24);
    q1.set([58, 0, 5, 2, 0, 0, 1, 0]);
    emitMldQuery({ version: 1, maxResponseCode: 10, group: IPV6_UNSPECIFIED, suppress: false, qrv: 0, qqic: 0, sources: [] }, q1, 8, ROUTER_LL, IPV6_ALL_NODES);
    inject(s.b.raw, ipv6Frame(ipv6MulticastMac(IPV6_ALL_NODES), 0x02aabbccddee, ROUTER_LL, IPV6_ALL_NODES, 0, q1, 1));
    runA(s, 50);
    // fd00::a is still tentative: another node's NA makes it duplicate, and its group is left.
    inject(s.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), 0x02aabbccddee, a6('fe80::99'), IPV6_ALL_NODES, {
      kind: 'na', router: false, solicited: false, override: true, target: A, options: { targetMac: 0x02aabbccddee },
    }));
    const records = runA(s, 3_000).flatMap((r) => r.records);
    expect(records.filter((x) => x === `v1-done ${ipv6ToString(solicitedNodeMulticast(A))}`)).toHaveLength(2);
    expect(records.filter((x) => !x.startsWith('v1-'))).toStrictEqual([]);
  });

  it('answers source-specific queries for two groups with 70 sources each in two reports, each within 1,280 bytes', () => {
    const s = sim();
    runA(s, 3_000);
    const groups = [solicitedNodeMulticast(A), solicitedNodeMulticast(s.a.iface.v6!.linkLocal)];
    const sources = Array.from({ length: 70 }, (_, i) => a6(`2001:db8::${(i + 1).toString(16)}`));
    for (const g of groups) inject(s.b.raw, query({ group: g, sources, maxResponseCode: 100 }, g));
    const reports = runA(s, 1_000);
    expect(reports).toHaveLength(2);
    const records = reports.flatMap((r) => r.records);
    for (const g of groups) expect(records.filter((x) => x.startsWith(`1 ${ipv6ToString(g)} [`) && x.split(' ').length === 2 + 70)).toHaveLength(1);
  });

  it('keeps at most 75 sources of source-specific queries for a group (what one record names), counting the rest, and answers with those', () => {
    const s = sim();
    runA(s, 3_000);
    const g = solicitedNodeMulticast(A);
    const src = (i: number): Uint8Array => a6(`2001:db8::${(i + 1).toString(16)}`);
    // 89 sources fill a 1,500-byte frame: 14 past the cap are not copied out.
    inject(s.b.raw, query({ group: g, sources: Array.from({ length: 89 }, (_, i) => src(i)), maxResponseCode: 5_000 }, g));
    // A second query before the answer: its 40 new sources meet the cap at once; its 10 known ones merge.
    inject(s.b.raw, query({ group: g, sources: Array.from({ length: 50 }, (_, i) => src(65 + i)), maxResponseCode: 5_000 }, g));
    const reports = runA(s, 6_000);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.records).toHaveLength(1);
    const named = reports[0]!.records[0]!.split(' ').slice(2);
    named[0] = named[0]!.slice(1);
    named[named.length - 1] = named[named.length - 1]!.slice(0, -1);
    expect(named).toStrictEqual(Array.from({ length: 75 }, (_, i) => ipv6ToString(src(i))));
    expect(s.a.iface.v6!.mld.stats.mld_rx_sources_ignored).toBe(14 + 50);
    expect(s.a.iface.v6!.mld.stats.mld_rx_queries).toBe(2);
  });

  it('drops queries from a global source or with a hop limit other than 1 (counted), and answers nothing', () => {
    const s = sim();
    runA(s, 3_000);
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED }, IPV6_ALL_NODES, { src: a6('2001:db8::1') }));
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED }, IPV6_ALL_NODES, { hopLimit: 64 }));
    expect(runA(s, 5_000)).toStrictEqual([]);
    expect(s.a.iface.v6!.mld.stats.mld_rx_drop_invalid).toBe(2);
    expect(s.a.iface.v6!.mld.stats.mld_rx_queries).toBe(0);
  });

  it('leaves the group of an address found duplicate (CHANGE_TO_INCLUDE {}, twice), and answers no query for it', () => {
    const s = sim();
    runA(s, 200);
    // Another node defends fd00::1 while it is tentative.
    inject(s.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), 0x02aabbccddee, a6('fe80::99'), IPV6_ALL_NODES, {
      kind: 'na', router: false, solicited: false, override: true, target: A, options: { targetMac: 0x02aabbccddee },
    }));
    const reports = runA(s, 3_000);
    const g = ipv6ToString(solicitedNodeMulticast(A));
    expect(reports.flatMap((r) => r.records).filter((x) => x === `3 ${g}`)).toHaveLength(2);
    expect(s.a.iface.v6!.mld.joined().map((x) => ipv6ToString(x))).toStrictEqual([ipv6ToString(solicitedNodeMulticast(s.a.iface.v6!.linkLocal))]);
    inject(s.b.raw, query({ group: IPV6_UNSPECIFIED }, IPV6_ALL_NODES));
    const answer = runA(s, 2_000);
    expect(answer.flatMap((r) => r.records)).toStrictEqual([`2 ${ipv6ToString(solicitedNodeMulticast(s.a.iface.v6!.linkLocal))}`]);
  });

  it('keeps a group two addresses share when one of them goes (fd00::1 and the link-local address end alike)', () => {
    const shared = a6('fd00::1');
    const s = new Sim({ ifaceA: { ipv6: { addresses: [{ address: shared, prefixLength: 64 }] } } });
    const g = ipv6ToString(solicitedNodeMulticast(shared));
    expect(g).toBe(ipv6ToString(solicitedNodeMulticast(s.a.iface.v6!.linkLocal)));
    // The join's retransmission comes at a random time below a second: before or after the NA.
    const early = runA(s, 200).flatMap((r) => r.records);
    inject(s.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), 0x02aabbccddee, a6('fe80::99'), IPV6_ALL_NODES, {
      kind: 'na', router: false, solicited: false, override: true, target: shared, options: { targetMac: 0x02aabbccddee },
    }));
    const records = [...early, ...runA(s, 3_000).flatMap((r) => r.records)];
    expect(s.a.iface.v6!.addresses().map((a) => a.state)).toStrictEqual(['preferred', 'duplicate']);
    // The join and its retransmission, and no leave.
    expect(records).toStrictEqual([`4 ${g}`, `4 ${g}`]);
    expect(s.a.iface.v6!.mld.joined().map((x) => ipv6ToString(x))).toStrictEqual([g]);
  });
});
