/**
 * Neighbor Discovery rules (virtual clock, in-process link): an NA that
 * clears the Router flag of a default router removes it from the default
 * router list (RFC 4861 §7.2.5); a malformed option inside an RA is ignored
 * and the rest of the RA processed, while a zero-length option still
 * invalidates the whole message (§6.1.2).
 */
import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { ndFrame } from '../helpers/frames6.js';
import { parseIpv6Address as a6, ipv6ToString, IPV6_ALL_NODES, ipv6MulticastMac, eui64FromMac, ipv6WithInterfaceId } from '../../src/wire/ipv6.js';
import { parseNdOptions, type NdRepr, type NdPrefixInfo } from '../../src/wire/ndp.js';
import { fillIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import type { Ipv6Layer } from '../../src/stack/iface/ipv6-layer.js';

const ROUTER_MAC = 0x02aabbccddee;
const ROUTER_LL = a6('fe80::1');
const OFF_LINK = a6('2001:db8:99::5');

const prefix = (p: string, extra: Partial<NdPrefixInfo> = {}): NdPrefixInfo => ({
  prefix: a6(p), prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400, ...extra,
});

function ra(options: Extract<NdRepr, { kind: 'ra' }>['options']): NdRepr {
  return { kind: 'ra', curHopLimit: 64, managed: false, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0, options };
}

function slaacSim(): { sim: Sim; v6: Ipv6Layer } {
  const sim = new Sim({ ifaceA: { ipv6: { slaac: true } }, ifaceB: { ipv6: {} } });
  sim.runFor(1_500);
  return { sim, v6: sim.a.iface.v6! };
}

function sendRa(sim: Sim, m: NdRepr): void {
  inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, m));
}

function slaacAddresses(v6: Ipv6Layer): string[] {
  return v6.addresses().filter((a) => a.origin === 'slaac').map((a) => ipv6ToString(a.address));
}

function formed(mac: number, p: string): string {
  return ipv6ToString(ipv6WithInterfaceId(a6(p), eui64FromMac(mac)));
}

describe('RFC 4861 §7.2.5: an NA clearing the Router flag', () => {
  it('removes that router from the default router list (no default route is left); an NA keeping the flag changes nothing', () => {
    const { sim, v6 } = slaacSim();
    sendRa(sim, ra({ sourceMac: ROUTER_MAC }));
    sim.settle();
    expect(v6.slaac.routers.map((r) => ipv6ToString(r.address))).toStrictEqual(['fe80::1']);
    expect(v6.nextHop(OFF_LINK)).toStrictEqual(ROUTER_LL);
    const na = (router: boolean): NdRepr => ({ kind: 'na', router, solicited: false, override: true, target: ROUTER_LL, options: { targetMac: ROUTER_MAC } });
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, na(true)));
    sim.settle();
    expect(v6.slaac.routers).toHaveLength(1);
    expect(v6.stats.nd_rx_na_router_lost).toBe(0);
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, na(false)));
    sim.settle();
    expect(v6.stats.nd_rx_na).toBe(2);
    expect(v6.slaac.routers).toHaveLength(0);
    expect(v6.stats.nd_rx_na_router_lost).toBe(1);
    expect(v6.nextHop(OFF_LINK)).toBeNull();
    // The neighbour itself stays known (it is only no router any more).
    expect(v6.neighbors.macOf(ROUTER_LL)).toBe(ROUTER_MAC);
    expect(v6.neighbors.dump().find((e) => ipv6ToString(e.addr) === 'fe80::1')?.router).toBe(false);
  });

  it('an NA with a different address and no Override flag changes neither the entry nor the router list (§7.2.5 I)', () => {
    const { sim, v6 } = slaacSim();
    sendRa(sim, ra({ sourceMac: ROUTER_MAC }));
    sim.settle();
    inject(sim.b.raw, ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, {
      kind: 'na', router: false, solicited: false, override: false, target: ROUTER_LL, options: { targetMac: ROUTER_MAC + 1 },
    }));
    sim.settle();
    expect(v6.slaac.routers).toHaveLength(1);
    expect(v6.neighbors.macOf(ROUTER_LL)).toBe(ROUTER_MAC);
  });
});

describe('RFC 4861 §6.1.2 / §4.6: malformed options inside an RA', () => {
  it('a prefix information option with a prefix length above 128 is ignored; the other prefix and the MTU are taken', () => {
    const { sim, v6 } = slaacSim();
    sendRa(sim, ra({ sourceMac: ROUTER_MAC, mtu: 1400, prefixes: [prefix('2001:db8:1::', { prefixLength: 200 }), prefix('2001:db8:2::')] }));
    sim.runFor(1_100);
    expect(v6.stats.nd_rx_drop_invalid).toBe(0);
    expect(v6.stats.nd_rx_option_malformed).toBe(1);
    expect(slaacAddresses(v6)).toStrictEqual([formed(sim.a.iface.mac, '2001:db8:2::')]);
    expect(v6.mtu).toBe(1400);
    expect(v6.slaac.routers).toHaveLength(1);
  });

  it('an MTU option below 1280 (or of the wrong size) is ignored; the prefixes and the router are taken', () => {
    const { sim, v6 } = slaacSim();
    sendRa(sim, ra({ sourceMac: ROUTER_MAC, mtu: 1000, prefixes: [prefix('2001:db8:3::')] }));
    sim.runFor(1_100);
    expect(v6.stats.ra_mtu_ignored).toBe(1);
    expect(v6.mtu).toBe(1500);
    expect(slaacAddresses(v6)).toStrictEqual([formed(sim.a.iface.mac, '2001:db8:3::')]);
    expect(v6.slaac.routers).toHaveLength(1);
    // An MTU option 16 bytes long (length 2) in front of a prefix option: skipped, counted, the prefix taken.
    const good = ndFrame(ipv6MulticastMac(IPV6_ALL_NODES), ROUTER_MAC, ROUTER_LL, IPV6_ALL_NODES, ra({ prefixes: [prefix('2001:db8:4::')] }));
    const mtu16 = Uint8Array.of(5, 2, 0, 0, 0, 0, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0);
    const frame = new Uint8Array(good.length + 16);
    frame.set(good.subarray(0, 54 + 16), 0);
    frame.set(mtu16, 54 + 16);
    frame.set(good.subarray(54 + 16), 54 + 32);
    const plen = frame.length - 54;
    frame[14 + 4] = plen >>> 8;
    frame[14 + 5] = plen & 0xff;
    frame[54 + 2] = 0;
    frame[54 + 3] = 0;
    fillIcmpv6Checksum(frame, 54, plen, ROUTER_LL, IPV6_ALL_NODES);
    inject(sim.b.raw, frame);
    sim.runFor(1_100);
    expect(v6.stats.nd_rx_drop_invalid).toBe(0);
    expect(v6.stats.nd_rx_option_malformed).toBe(1);
    expect(v6.mtu).toBe(1500);
    expect(slaacAddresses(v6)).toContain(formed(sim.a.iface.mac, '2001:db8:4::'));
  });

  it('parseNdOptions: a zero-length option throws (the message is invalid), malformed known options are skipped and counted', () => {
    const pio200 = new Uint8Array(32);
    pio200.set([3, 4, 200, 0xc0]);
    const mtu = Uint8Array.of(5, 1, 0, 0, 0, 0, 0x05, 0xdc);
    const buf = new Uint8Array([...pio200, ...mtu]);
    expect(parseNdOptions(buf, 0, buf.length)).toStrictEqual({ malformed: 1, mtu: 1500 });
    const pio24 = new Uint8Array(24);
    pio24.set([3, 3, 64, 0xc0]);
    expect(parseNdOptions(pio24, 0, 24)).toStrictEqual({ malformed: 1 });
    expect(() => parseNdOptions(Uint8Array.of(5, 0, 0, 0, 0, 0, 0, 0, ...mtu), 0, 16)).toThrow(/length 0/);
  });
});
