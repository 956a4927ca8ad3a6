/**
 * IPv6 on the interface (virtual clock, in-process link): link-local
 * addresses and DAD, NS/NA both ways with the RFC 4861 neighbour states,
 * echo, SLAAC from router advertisements with its caps, rate-limited
 * errors, and hostile input dropped and counted.
 */
import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { ndFrame, echo6Frame, ipv6Frame, macFor, fragmentFrames, echo6Message } from '../helpers/frames6.js';
import {
  parseIpv6Address as a6,
  ipv6ToString,
  eui64FromMac,
  ipv6LinkLocal,
  IPV6_ALL_NODES,
  IPV6_UNSPECIFIED,
  solicitedNodeMulticast,
  ipv6MulticastMac,
} from '../../src/wire/ipv6.js';
import { Nd6State } from '../../src/stack/iface/nd-cache.js';
import type { Ipv6Layer } from '../../src/stack/iface/ipv6-layer.js';
import type { NdRepr } from '../../src/wire/ndp.js';
import { emitIcmpv6 } from '../../src/wire/icmpv6.js';
import { emitIpv6 } from '../../src/wire/ipv6.js';

const ROUTER_MAC = 0x02aabbccddee;
const ROUTER_LL = a6('fe80::1');

function states(v6: Ipv6Layer): string[] {
  return v6.addresses().map((a) => `${ipv6ToString(a.address)} ${a.state}`);
}

function ping6(sim: Sim, from: Ipv6Layer, dst: Uint8Array, seq: number, size = 56, limitMs = 10_000): boolean {
  let got = false;
  from.echoReplyHandler = (_src, ident, seqNo, _b, _o, len) => {
    if (ident === 0x77 && seqNo === seq && len === size) got = true;
  };
  const data = new Uint8Array(size).map((_, i) => (i + seq) & 0xff);
  from.sendEchoRequest(dst, 0x77, seq, data);
  return sim.runUntil(() => got, limitMs);
}

function ra(extra: Partial<Extract<NdRepr, { kind: 'ra' }>> = {}): NdRepr {
  return {
    kind: 'ra', curHopLimit: 64, managed: false, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
    options: {
      sourceMac: ROUTER_MAC,
      mtu: 1400,
      prefixes: [{ prefix: a6('2001:db8:1::'), prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 }],
    },
    ...extra,
  };
}

const dual = (a: string, b: string): ConstructorParameters<typeof Sim>[0] => ({
  ifaceA: { ipv6: { addresses: [{ address: a6(a), prefixLength: 64 }] } },
  ifaceB: { ipv6: { addresses: [{ address: a6(b), prefixLength: 64 }] } },
});

describe('IPv6 addresses and DAD', () => {
  it('forms fe80::/64 from the MAC (EUI-64), keeps it tentative for one RetransTimer after its DAD NS, then preferred', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    const v6 = sim.a.iface.v6!;
    const ll = ipv6LinkLocal(eui64FromMac(sim.a.iface.mac));
    expect(v6.linkLocal).toStrictEqual(ll);
    expect(states(v6)).toStrictEqual([`${ipv6ToString(ll)} tentative`, 'fd00::1 tentative']);
    sim.settle();
    expect(v6.stats.nd_dad_ns_sent).toBe(2);
    // b received both DAD NS (to our solicited-node groups it has not joined: dropped at the link)...
    sim.runFor(999);
    expect(states(v6).every((s) => s.endsWith('tentative'))).toBe(true);
    sim.runFor(2);
    expect(states(v6)).toStrictEqual([`${ipv6ToString(ll)} preferred`, 'fd00::1 preferred']);
    expect(v6.stats.nd_dad_duplicates).toBe(0);
  });

  it('RFC 7217 stable identifiers: the same secret gives the same address, another secret another', () => {
    const secret = new Uint8Array(16).fill(7);
    const s1 = new Sim({ iface: { ipv6: { stableSecret: secret } } });
    const s2 = new Sim({ iface: { ipv6: { stableSecret: secret } } });
    const s3 = new Sim({ iface: { ipv6: { stableSecret: new Uint8Array(16).fill(8) } } });
    expect(s1.a.iface.v6!.linkLocal).toStrictEqual(s2.a.iface.v6!.linkLocal);
    expect(s1.a.iface.v6!.linkLocal).not.toStrictEqual(s3.a.iface.v6!.linkLocal);
    expect(s1.a.iface.v6!.linkLocal).not.toStrictEqual(ipv6LinkLocal(eui64FromMac(s1.a.iface.mac)));
    expect(ipv6ToString(s1.a.iface.v6!.linkLocal).startsWith('fe80::')).toBe(true);
  });

  it('an NA for a tentative address, or another node\'s DAD NS for it, makes it duplicate (never used)', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    const v6 = sim.a.iface.v6!;
    const peer = sim.b.raw.mac + 1;
    sim.settle();
    // Another node already owns fd00::1.
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), peer, a6('fe80::99'), IPV6_ALL_NODES, {
      kind: 'na', router: false, solicited: false, override: true, target: a6('fd00::1'), options: { targetMac: peer },
    }));
    // Another node is doing DAD for our link-local address at the same time.
    const ll = v6.linkLocal;
    const group = solicitedNodeMulticast(ll);
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(group), peer, IPV6_UNSPECIFIED, group, { kind: 'ns', target: ll, options: {} }));
    sim.runFor(2_000);
    expect(states(v6)).toStrictEqual([`${ipv6ToString(ll)} duplicate`, 'fd00::1 duplicate']);
    expect(v6.stats.nd_dad_duplicates).toBe(2);
    // A duplicate address is not answered.
    expect(ping6(sim, sim.b.iface.v6!, a6('fd00::1'), 1, 56, 5_000)).toBe(false);
  });

  it('answers another node\'s DAD for an address it owns with an NA to all-nodes (the other side sees duplicate)', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::1'));
    sim.runFor(2_000);
    // Both ran DAD at the same time and saw each other's NS: both give the address up (RFC 4862 §5.4.3).
    expect(sim.a.iface.v6!.addresses()[1]!.state).toBe('duplicate');
    expect(sim.b.iface.v6!.addresses()[1]!.state).toBe('duplicate');
    expect(sim.a.iface.v6!.stats.nd_dad_duplicates + sim.b.iface.v6!.stats.nd_dad_duplicates).toBe(2);
  });
});

describe('IPv6 neighbour discovery and echo', () => {
  it('pings link-local and global addresses both ways; NS/NA resolve, the asked side learns STALE from the SLLA and uses it (DELAY)', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    const b = sim.b.iface.v6!;
    expect(ping6(sim, a, b.linkLocal, 1)).toBe(true);
    expect(a.neighbors.state(b.linkLocal)).toBe(Nd6State.Reachable);
    // b learnt a STALE from the NS's source link-layer option; sending the reply used it: DELAY (RFC 4861 §7.3.3).
    expect(b.neighbors.state(a.linkLocal)).toBe(Nd6State.Delay);
    expect(ping6(sim, a, a6('fd00::2'), 2, 1000)).toBe(true);
    expect(ping6(sim, b, a6('fd00::1'), 3)).toBe(true);
    expect(b.stats.icmp6_tx_echo_replies).toBe(2);
    // b learnt both of a's addresses from a's NS; after DELAY_FIRST_PROBE_TIME it probes them: a answers (NA), b confirms.
    expect(b.stats.nd_tx_na).toBeGreaterThan(0);
    expect(a.stats.nd_tx_na).toBe(0);
    sim.runFor(5_100);
    expect(b.neighbors.stats.nd_ns_unicast_sent).toBeGreaterThan(0);
    expect(a.stats.nd_tx_na).toBe(b.neighbors.stats.nd_ns_unicast_sent);
    expect(b.neighbors.state(a.linkLocal)).toBe(Nd6State.Reachable);
  });

  it('walks REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE, and an unanswered PROBE deletes the entry', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    const b = sim.b.iface.v6!;
    expect(ping6(sim, a, a6('fd00::2'), 1)).toBe(true);
    const target = a6('fd00::2');
    expect(a.neighbors.state(target)).toBe(Nd6State.Reachable);
    sim.runFor(31_000);
    // Past ReachableTime: the next use finds it stale and moves it to DELAY.
    expect(ping6(sim, a, target, 2)).toBe(true);
    expect(a.neighbors.state(target)).toBe(Nd6State.Delay);
    sim.runFor(5_000);
    // DELAY_FIRST_PROBE_TIME passed with no confirmation: a unicast NS, answered -> REACHABLE.
    expect(a.neighbors.stats.nd_ns_unicast_sent).toBe(1);
    expect(a.neighbors.state(target)).toBe(Nd6State.Reachable);
    // Now b goes silent.
    sim.runFor(31_000);
    b.shutdown();
    sim.b.iface.v6!.input = () => {};
    expect(ping6(sim, a, target, 3, 56, 1_000)).toBe(false);
    expect(a.neighbors.state(target)).toBe(Nd6State.Delay);
    sim.runFor(5_000 + 3 * 1_000 + 10);
    expect(a.neighbors.state(target)).toBeUndefined();
    expect(a.neighbors.stats.nd_failed).toBe(1);
  });

  it('gives up on an address nobody answers after 3 multicast NS, dropping its parked frames and freeing their slots', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    const free = sim.a.nic.availableSlots;
    for (let i = 0; i < 20; i++) a.sendEchoRequest(a6('fd00::99'), 1, i, new Uint8Array(8));
    expect(a.neighbors.queued).toBe(8);
    expect(a.neighbors.stats.nd_queue_drops).toBe(12);
    sim.runFor(3_100);
    expect(a.neighbors.stats.nd_ns_multicast_sent).toBe(3);
    expect(a.neighbors.stats.nd_failed).toBe(1);
    expect(a.neighbors.queued).toBe(0);
    expect(sim.a.nic.availableSlots).toBe(free);
  });

  it('bounds the cache under an NS flood from 5,000 sources; NAs nobody asked for create nothing', () => {
    const sim = new Sim({ ...dual('fd00::1', 'fd00::2'), ifaceA: { ipv6: { addresses: [{ address: a6('fd00::1'), prefixLength: 64 }], nd: { maxEntries: 64 } } } });
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    const target = a6('fd00::1');
    const group = solicitedNodeMulticast(target);
    for (let i = 0; i < 5000; i++) {
      const src = a6(`fd00::1:${(i + 1).toString(16)}`);
      inject(sim.b.raw, ndFrame(ipv6MulticastMac(group), 0x020000000000 + i, src, group, { kind: 'ns', target, options: { sourceMac: 0x020000000000 + i } }));
      if (i % 64 === 63) sim.settle();
    }
    sim.settle();
    expect(a.neighbors.size).toBeLessThanOrEqual(64);
    expect(a.stats.nd_rx_ns).toBeGreaterThanOrEqual(5000);
    for (let i = 0; i < 100; i++) {
      inject(sim.b.raw, ndFrame(sim.a.iface.mac, 0x02000000ff00 + i, a6(`fe80::${i + 1000}`), a6('fd00::1'), {
        kind: 'na', router: false, solicited: true, override: true, target: a6(`fe80::${i + 1000}`), options: { targetMac: 0x02000000ff00 + i },
      }));
    }
    sim.settle();
    expect(a.neighbors.state(a6('fe80::1000'))).toBeUndefined();
  });

  it('does not answer echo to all-nodes, drops ND with a hop limit below 255 and frames to groups it has not joined', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    inject(sim.b.raw, echo6Frame(ipv6MulticastMac(IPV6_ALL_NODES), sim.b.iface.mac, sim.b.iface.v6!.linkLocal, IPV6_ALL_NODES, 1, 1, new Uint8Array(8)));
    const group = solicitedNodeMulticast(a6('fd00::1'));
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(group), sim.b.iface.mac, a6('fd00::2'), group, { kind: 'ns', target: a6('fd00::1'), options: { sourceMac: sim.b.iface.mac } }, 64));
    const other = solicitedNodeMulticast(a6('fd00::abcd'));
    const before = sim.a.iface.stats.rx_drop_not_for_us;
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(other), sim.b.iface.mac, a6('fd00::2'), other, { kind: 'ns', target: a6('fd00::abcd'), options: {} }));
    sim.settle();
    expect(a.stats.icmp6_rx_drop_multicast_echo).toBe(1);
    expect(a.stats.icmp6_tx_echo_replies).toBe(0);
    expect(a.stats.nd_rx_drop_invalid).toBe(1);
    expect(sim.a.iface.stats.rx_drop_not_for_us).toBe(before + 1);
  });

  it('answers nothing sent from the unspecified address (RFC 4291 §2.5.2): an echo request and a UDP datagram from :: are dropped and counted', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    const before = a.stats.ip6_rx_drop_martian_source;
    inject(sim.b.raw, echo6Frame(sim.a.iface.mac, sim.b.iface.mac, IPV6_UNSPECIFIED, a6('fd00::1'), 1, 1, new Uint8Array(8)));
    // UDP 9 -> 7, 4 bytes, checksum left 0 (dropped before the transport looks at it).
    const udp = new Uint8Array([0, 9, 0, 7, 0, 12, 0, 0, 1, 2, 3, 4]);
    inject(sim.b.raw, ipv6Frame(sim.a.iface.mac, sim.b.iface.mac, IPV6_UNSPECIFIED, a6('fd00::1'), 17, udp));
    sim.settle();
    expect(a.stats.icmp6_tx_echo_replies).toBe(0);
    expect(a.stats.ip6_rx_drop_martian_source).toBe(before + 2);
    // The same echo from a real source is answered.
    inject(sim.b.raw, echo6Frame(sim.a.iface.mac, sim.b.iface.mac, a6('fd00::2'), a6('fd00::1'), 1, 2, new Uint8Array(8)));
    sim.settle();
    expect(a.stats.icmp6_tx_echo_replies).toBe(1);
  });

  it('answers an unknown next header with a parameter problem, rate limited; long extension chains are dropped and counted', () => {
    const sim = new Sim({ ...dual('fd00::1', 'fd00::2'), ifaceA: { ipv6: { addresses: [{ address: a6('fd00::1'), prefixLength: 64 }], icmpErrorRate: { perSecond: 10, burst: 5 } } } });
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    for (let i = 0; i < 100; i++) inject(sim.b.raw, ipv6Frame(sim.a.iface.mac, sim.b.iface.mac, a6('fd00::2'), a6('fd00::1'), 253, new Uint8Array(16)));
    sim.settle();
    expect(a.stats.ip6_rx_drop_unknown_protocol).toBe(100);
    expect(a.stats.icmp6_tx_errors).toBe(5);
    expect(a.stats.icmp6_tx_rate_limited).toBe(95);
    expect(sim.b.iface.v6!.stats.icmp6_rx_errors).toBe(5);
    // Twelve destination-options headers.
    const chain = new Uint8Array(12 * 8 + 8);
    for (let k = 0; k < 12; k++) {
      chain[k * 8] = k < 11 ? 60 : 59;
      chain[k * 8 + 2] = 1;
      chain[k * 8 + 3] = 4;
    }
    inject(sim.b.raw, ipv6Frame(sim.a.iface.mac, sim.b.iface.mac, a6('fd00::2'), a6('fd00::1'), 60, chain));
    sim.settle();
    expect(a.stats.ip6_rx_drop_ext_too_long).toBe(1);
  });
});

describe('SLAAC from router advertisements', () => {
  it('solicits a router, then forms prefix + EUI-64 from an RA (DAD first), takes its MTU, hop limit and default route', () => {
    const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
    const a = sim.a.iface.v6!;
    sim.runFor(1_500);
    expect(a.stats.nd_tx_rs).toBe(1);
    const ll = a.linkLocal;
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra({ curHopLimit: 40 })));
    sim.settle();
    const expected = new Uint8Array(16);
    expected.set(a6('2001:db8:1::').subarray(0, 8), 0);
    expected.set(eui64FromMac(sim.a.iface.mac), 8);
    expect(states(a)).toStrictEqual([`${ipv6ToString(ll)} preferred`, `${ipv6ToString(expected)} tentative`]);
    sim.runFor(1_100);
    expect(states(a)[1]).toBe(`${ipv6ToString(expected)} preferred`);
    expect(a.mtu).toBe(1400);
    expect(a.hopLimit).toBe(40);
    expect(a.nextHop(a6('2001:db8:99::5'))).toStrictEqual(ROUTER_LL);
    expect(a.nextHop(a6('2001:db8:1::5'))).toStrictEqual(a6('2001:db8:1::5'));
    expect(a.sourceFor(a6('2001:db8:99::5'))).toStrictEqual(expected);
    expect(a.neighbors.macOf(ROUTER_LL)).toBe(ROUTER_MAC);
    // No more solicitations once a router answered.
    sim.runFor(20_000);
    expect(a.stats.nd_tx_rs).toBe(1);
  });

  it('takes a redirect only from the router it uses for the destination (RFC 4861 §8.1); another node on the link plants nothing', () => {
    const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
    const a = sim.a.iface.v6!;
    sim.runFor(1_500);
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra()));
    sim.runFor(1_100);
    const dest = a6('2001:db8:99::5');
    expect(a.nextHop(dest)).toStrictEqual(ROUTER_LL);
    const ll = a.linkLocal;
    const target = a6('fe80::77');
    const redirect = (from: Uint8Array, fromMac: number, targetMac: number): Uint8Array =>
      ndFrame(sim.a.iface.mac, fromMac, from, ll, { kind: 'redirect', target, destination: dest, options: { targetMac } });
    // A link-local node that is not our router for that destination.
    inject(sim.b.raw, redirect(a6('fe80::66'), 0x02aabbcc0066, 0x02aabbcc0077));
    sim.settle();
    expect(a.stats.nd_rx_redirect).toBe(0);
    expect(a.neighbors.macOf(target)).toBe(-1);
    // The router itself.
    inject(sim.b.raw, redirect(ROUTER_LL, ROUTER_MAC, 0x02aabbcc0078));
    sim.settle();
    expect(a.stats.nd_rx_redirect).toBe(1);
    expect(a.neighbors.macOf(target)).toBe(0x02aabbcc0078);
  });

  it('expires the address, prefix and router with their lifetimes; the two-hour rule keeps a short RA from cutting a valid lifetime', () => {
    const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
    const a = sim.a.iface.v6!;
    sim.runFor(1_500);
    const send = (valid: number, preferred: number, routerLifetime: number): void => {
      inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra({
        routerLifetime,
        options: { prefixes: [{ prefix: a6('2001:db8:2::'), prefixLength: 64, onLink: true, autonomous: true, validLifetime: valid, preferredLifetime: preferred }] },
      })));
      sim.settle();
    };
    send(20, 10, 15);
    sim.runFor(1_100);
    expect(a.addresses()[1]!.state).toBe('preferred');
    sim.runFor(10_000);
    expect(a.addresses()[1]!.state).toBe('deprecated');
    expect(a.slaac.routers.length).toBe(1);
    sim.runFor(10_000);
    expect(a.addresses().length).toBe(1);
    expect(a.slaac.routers.length).toBe(0);
    expect(a.slaac.prefixes.length).toBe(0);
    expect(a.stats.slaac_addresses_expired).toBe(1);
    // Two-hour rule: valid 1 day, then an RA saying 10 s leaves two hours.
    send(86_400, 86_400, 0);
    sim.runFor(1_100);
    const t = sim.clock.now();
    send(10, 10, 0);
    expect(a.addresses()[1]!.validUntil).toBe(t + 2 * 3600_000);
  });

  it('caps routers, prefixes and addresses under an RA flood (1,000 RAs, random routers and prefixes)', () => {
    const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
    const a = sim.a.iface.v6!;
    sim.runFor(1_500);
    for (let i = 0; i < 1000; i++) {
      const router = a6(`fe80::${(i + 2).toString(16)}`);
      const prefixes = [0, 1, 2].map((k) => ({
        prefix: a6(`2001:db8:${(i * 3 + k).toString(16)}::`), prefixLength: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 1800,
      }));
      inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), 0x020000001000 + i, router, IPV6_ALL_NODES, ra({ options: { sourceMac: 0x020000001000 + i, prefixes } })));
      if (i % 32 === 31) sim.settle();
    }
    sim.runFor(2_000);
    expect(a.stats.nd_rx_ra).toBe(1000);
    expect(a.slaac.routers.length).toBe(4);
    expect(a.slaac.prefixes.length).toBe(16);
    expect(a.addresses().length).toBe(1 + 16);
    expect(a.slaac.stats.ra_router_cap_drops).toBe(996);
    expect(a.slaac.stats.ra_prefix_cap_drops).toBe(3000 - 16);
    expect(a.slaac.stats.ra_address_cap_drops).toBe(3000 - 16);
  });

  it('drops RAs with a zero-length option, from a non-link-local source or with hop limit < 255, learning nothing', () => {
    const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
    const a = sim.a.iface.v6!;
    sim.runFor(1_500);
    const good = ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra());
    // The MTU option is the second option: make its length 0 (checksum fixed up after).
    const zero = good.slice();
    const opt = 54 + 16 + 8;
    expect(zero[opt]).toBe(5);
    zero[opt + 1] = 0;
    const sum = (zero[54 + 2]! << 8) | zero[54 + 3]!;
    let s = sum + 1; // one's complement: -1 in the data (the byte went 1 -> 0) is +1 in the checksum
    s = (s & 0xffff) + (s >>> 16);
    zero[54 + 2] = s >>> 8;
    zero[54 + 3] = s & 0xff;
    inject(sim.b.raw, zero);
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, a6('2001:db8::1'), IPV6_ALL_NODES, ra()));
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra(), 254));
    sim.settle();
    expect(a.stats.icmp6_rx_drop_bad_checksum).toBe(0);
    expect(a.stats.nd_rx_drop_invalid).toBe(3);
    expect(a.slaac.routers.length).toBe(0);
    expect(a.addresses().length).toBe(1);
    expect(macFor(IPV6_ALL_NODES, 0)).toBe(ipv6MulticastMac(IPV6_ALL_NODES));
  });
});

describe('IPv6 fragments (RFC 8200, RFC 5722)', () => {
  const A = a6('fd00::1');
  const B = a6('fd00::2');
  function ready(opts: ConstructorParameters<typeof Sim>[0] = dual('fd00::1', 'fd00::2')): Sim {
    const sim = new Sim(opts);
    sim.runFor(1_500);
    // a knows b's MAC (b's NS for the reply would otherwise go out first).
    expect(ping6(sim, sim.b.iface.v6!, A, 0)).toBe(true);
    return sim;
  }
  function gotReply(sim: Sim, seq: number): () => boolean {
    let got = false;
    sim.b.iface.v6!.echoReplyHandler = (_s, ident, seqNo) => {
      if (ident === 9 && seqNo === seq) got = true;
    };
    return () => got;
  }

  it('a 6,000-byte echo is fragmented at the source, reassembled, answered fragmented and reassembled again', () => {
    const sim = ready();
    expect(ping6(sim, sim.a.iface.v6!, B, 1, 6000)).toBe(true);
    const a = sim.a.iface.v6!;
    const b = sim.b.iface.v6!;
    expect(a.stats.ip6_tx_fragmented).toBe(1);
    expect(a.stats.ip6_tx_fragments).toBe(Math.ceil(6008 / 1448));
    expect(b.reassembler.stats.frag6_reassembled).toBe(1);
    expect(a.reassembler.stats.frag6_reassembled).toBe(1);
    expect(a.reassembler.bufferedBytes + b.reassembler.bufferedBytes).toBe(0);
  });

  it('reassembles fragments arriving out of order and answers; an atomic fragment is processed at once', () => {
    const sim = ready();
    const msg = echo6Message(B, A, 9, 7, new Uint8Array(200).fill(3));
    const done = gotReply(sim, 7);
    const frames = fragmentFrames(sim.a.iface.mac, sim.b.iface.mac, B, A, 58, msg, 0x1234, [
      { offset: 128, length: msg.length - 128 }, { offset: 0, length: 64 }, { offset: 64, length: 64 },
    ]);
    for (const f of frames) inject(sim.b.raw, f);
    expect(sim.runUntil(done, 1_000)).toBe(true);
    const atomic = gotReply(sim, 8);
    const msg2 = echo6Message(B, A, 9, 8, new Uint8Array(20));
    for (const f of fragmentFrames(sim.a.iface.mac, sim.b.iface.mac, B, A, 58, msg2, 0x99, [{ offset: 0, length: msg2.length }])) inject(sim.b.raw, f);
    expect(sim.runUntil(atomic, 1_000)).toBe(true);
    expect(sim.a.iface.v6!.reassembler.stats.frag6_received).toBe(3);
  });

  it('overlapping fragments discard the datagram and its later fragments; exact duplicates are dropped alone', () => {
    const sim = ready();
    const a = sim.a.iface.v6!;
    const msg = echo6Message(B, A, 9, 5, new Uint8Array(200));
    const done = gotReply(sim, 5);
    for (const f of fragmentFrames(sim.a.iface.mac, sim.b.iface.mac, B, A, 58, msg, 0x55, [
      { offset: 0, length: 64 }, { offset: 56, length: 64 }, { offset: 64, length: 64 }, { offset: 128, length: msg.length - 128 },
    ])) inject(sim.b.raw, f);
    expect(sim.runUntil(done, 1_000)).toBe(false);
    expect(a.reassembler.stats.frag6_overlaps).toBe(1);
    expect(a.reassembler.stats.frag6_poisoned_drops).toBe(2);
    expect(a.reassembler.bufferedBytes).toBe(0);
    const dup = gotReply(sim, 6);
    const msg2 = echo6Message(B, A, 9, 6, new Uint8Array(100));
    const frames = fragmentFrames(sim.a.iface.mac, sim.b.iface.mac, B, A, 58, msg2, 0x56, [{ offset: 0, length: 64 }, { offset: 64, length: msg2.length - 64 }]);
    inject(sim.b.raw, frames[0]!);
    inject(sim.b.raw, frames[0]!);
    inject(sim.b.raw, frames[1]!);
    expect(sim.runUntil(dup, 1_000)).toBe(true);
    expect(a.reassembler.stats.frag6_duplicates).toBe(1);
  });

  it('refuses non-final fragments not a multiple of 8, fragments past 65,535, two ends, and more than maxFragments tiny ones', () => {
    const sim = ready({ ...dual('fd00::1', 'fd00::2'), ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }], reassembly: { maxFragments: 16 } } } });
    const a = sim.a.iface.v6!;
    const big = new Uint8Array(70_000);
    const m = sim.a.iface.mac;
    const s = sim.b.iface.mac;
    for (const f of fragmentFrames(m, s, B, A, 58, big, 1, [{ offset: 0, length: 60 }])) inject(sim.b.raw, f);
    for (const f of fragmentFrames(m, s, B, A, 58, big, 2, [{ offset: 65528, length: 16, last: true }])) inject(sim.b.raw, f);
    for (const f of fragmentFrames(m, s, B, A, 58, big, 3, [{ offset: 64, length: 64, last: true }, { offset: 128, length: 64, last: true }])) inject(sim.b.raw, f);
    const tiny = Array.from({ length: 40 }, (_, k) => ({ offset: k * 8, length: 8 }));
    for (const f of fragmentFrames(m, s, B, A, 58, big, 4, tiny)) inject(sim.b.raw, f);
    sim.settle();
    const st = a.reassembler.stats;
    expect(st.frag6_bad_length).toBe(2);
    expect(st.frag6_bad_end).toBe(1);
    expect(st.frag6_too_many).toBe(1);
    // The 17th tiny fragment poisoned its datagram; the 23 after it were dropped.
    expect(st.frag6_poisoned_drops).toBe(40 - 17);
    expect(st.frag6_reassembled).toBe(0);
  });

  it('stays under its byte and datagram caps during a flood of never-completed fragments, and times them out', () => {
    const maxBytes = 64 * 1024;
    const sim = ready({ ...dual('fd00::1', 'fd00::2'), ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }], reassembly: { maxBytes, maxDatagrams: 32 } } } });
    const a = sim.a.iface.v6!;
    const data = new Uint8Array(1400);
    let peak = 0;
    for (let i = 0; i < 3000; i++) {
      for (const f of fragmentFrames(sim.a.iface.mac, sim.b.iface.mac, a6(`fd00::${(i % 300) + 10}`), A, 17, data, i, [{ offset: (i % 40) * 1400 & ~7, length: 1400 & ~7, last: false }])) inject(sim.b.raw, f);
      if (i % 64 === 63) {
        sim.settle();
        peak = Math.max(peak, a.reassembler.bufferedBytes);
        expect(a.reassembler.pending).toBeLessThanOrEqual(32);
      }
    }
    sim.settle();
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(a.reassembler.stats.frag6_evicted + a.reassembler.stats.frag6_memory_drops).toBeGreaterThan(0);
    sim.runFor(61_000);
    expect(a.reassembler.pending).toBe(0);
    expect(a.reassembler.bufferedBytes).toBe(0);
  });
});

describe('IPv6 path MTU (RFC 8201)', () => {
  const A = a6('fd00::1');
  const B = a6('fd00::2');
  /** A Packet Too Big from `from` to A quoting a packet src -> dst. */
  function ptb(sim: Sim, from: Uint8Array, mtu: number, src: Uint8Array, dst: Uint8Array): Uint8Array {
    const quote = new Uint8Array(48);
    emitIpv6({ src, dst, nextHeader: 58, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: 1400 }, quote, 0);
    const body = new Uint8Array(8 + quote.length);
    body.set(quote, 8);
    emitIcmpv6({ type: 2, code: 0, mtu, payloadLength: quote.length }, body, 0, from, A);
    return ipv6Frame(sim.a.iface.mac, sim.b.iface.mac, from, A, 58, body);
  }

  it('a Packet Too Big for a destination makes later packets to it fragment at that MTU (never below 1280); others are ignored; the table is capped', () => {
    const sim = new Sim(dual('fd00::1', 'fd00::2'));
    sim.runFor(1_500);
    const a = sim.a.iface.v6!;
    expect(ping6(sim, a, B, 1, 1400)).toBe(true);
    expect(a.stats.ip6_tx_fragmented).toBe(0);
    inject(sim.b.raw, ptb(sim, a6('fd00::99'), 1300, A, B));
    sim.settle();
    expect(a.pathMtu(B)).toBe(1300);
    expect(ping6(sim, a, B, 2, 1400)).toBe(true);
    expect(a.stats.ip6_tx_fragmented).toBe(1);
    // Lower than 1280 counts as 1280; a quote of a packet we did not send is ignored.
    inject(sim.b.raw, ptb(sim, a6('fd00::99'), 600, A, B));
    inject(sim.b.raw, ptb(sim, a6('fd00::99'), 1280, a6('fd00::77'), a6('fd00::3')));
    sim.settle();
    expect(a.pathMtu(B)).toBe(1280);
    expect(a.pathMtu(a6('fd00::3'))).toBe(1500);
    expect(a.stats.icmp6_rx_pmtu_updates).toBe(2);
    expect(a.stats.icmp6_rx_pmtu_ignored).toBe(1);
    // A flood for 1,000 destinations keeps 256.
    for (let i = 0; i < 1000; i++) inject(sim.b.raw, ptb(sim, a6('fd00::99'), 1280, A, a6(`2001:db8::${(i + 1).toString(16)}`)));
    sim.settle();
    expect(a.pathMtuEntries).toBe(256);
    // It lasts ten minutes.
    sim.runFor(600_001);
    expect(a.pathMtu(B)).toBe(1500);
  });
});
