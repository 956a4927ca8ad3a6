/**
 * The NIC's multicast filter follows the IPv6 groups the interface listens
 * to: all-nodes and the solicited-node group of each address (tentative ones
 * too, for DAD), a duplicate's group taken out. Run over a model of a
 * hardware filter (test/helpers/multicast-filter-nic.ts) that drops every
 * group frame not in the set the stack gave it, so neighbour discovery
 * works through it only when the set is right.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { MulticastFilterNic } from '../helpers/multicast-filter-nic.js';
import { IPV6_ALL_NODES, ipv6MulticastMac, parseIpv6Address as a6, solicitedNodeMulticast } from '../../src/wire/ipv6.js';
import type { Nic } from '../../src/driver/nic.js';
import { CaptureNic } from '../../src/driver/capture-nic.js';
import { ImpairedNic } from '../../src/driver/impair.js';
import { VirtualClock } from '../../src/time/clock.js';

const groupMac = (addr: string | Uint8Array): number => ipv6MulticastMac(solicitedNodeMulticast(typeof addr === 'string' ? a6(addr) : addr));
const hex = (macs: number[]): string[] => [...new Set(macs)].map((m) => m.toString(16)).sort();

function filtered(a: string, b: string): { sim: Sim; filter: MulticastFilterNic } {
  let filter: MulticastFilterNic | null = null;
  const sim = new Sim({
    ifaceA: { ipv6: { addresses: [{ address: a6(a), prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: a6(b), prefixLength: 64 }] } },
    wrapNic: (nic: Nic, n: number) => (n === 0 ? (filter = new MulticastFilterNic(nic)) : nic),
  });
  return { sim, filter: filter! };
}

describe('the NIC multicast filter follows the IPv6 groups', () => {
  it('holds all-nodes and the solicited-node groups of the link-local and configured addresses from the start', () => {
    const { sim, filter } = filtered('fd00::1:7', 'fd00::2:9');
    const v6 = sim.a.iface.v6!;
    expect(filter.calls).toBeGreaterThan(0);
    // Each group once (here the link-local address and fd00::1 share one: the MAC ends in 00:00:01).
    expect(filter.joined.length).toBe(new Set(filter.joined).size);
    expect(hex(filter.joined)).toStrictEqual(hex([ipv6MulticastMac(IPV6_ALL_NODES), groupMac(v6.linkLocal!), groupMac('fd00::1:7')]));
  });

  it('neighbour discovery works through the filter, and frames to groups not joined are dropped there', () => {
    const { sim, filter } = filtered('fd00::1:7', 'fd00::2:9');
    sim.runFor(2_000); // DAD on both sides
    const b6 = sim.b.iface.v6!;
    let got = false;
    b6.echoReplyHandler = (_src, ident, seq) => {
      if (ident === 7 && seq === 1) got = true;
    };
    // B resolves fd00::1:7 with an NS to A's solicited-node group: only the filter's set lets it through.
    b6.sendEchoRequest(a6('fd00::1:7'), 7, 1, new Uint8Array(32));
    expect(sim.runUntil(() => got, 10_000)).toBe(true);
    // B's own DAD solicitations went to B's groups, which A has not joined: the filter dropped them.
    expect(filter.dropped).toBeGreaterThan(0);
  });

  it("takes a duplicate address's group out of the filter", () => {
    const { sim, filter } = filtered('fd00::5', 'fd00::5');
    expect(filter.joined).toContain(groupMac('fd00::5'));
    sim.runFor(2_000);
    const mine = sim.a.iface.v6!.addresses().find((x) => x.address[15] === 5);
    expect(mine?.state).toBe('duplicate');
    expect(filter.joined).not.toContain(groupMac('fd00::5'));
    expect(filter.joined).toContain(ipv6MulticastMac(IPV6_ALL_NODES));
  });

  it('a NIC whose setMulticast throws (device error) does not take down receive: the DAD failure a received NA causes is processed and the error counted', () => {
    // A NIC like the virtio-net one when its control queue fails, or AF_XDP when setsockopt gets ENOBUFS.
    class FailingFilterNic extends MulticastFilterNic {
      failing = false;
      override setMulticast(macs: readonly number[]): void {
        if (this.failing) throw Object.assign(new Error('setMulticast: control queue: EIO'), { code: 'EIO' });
        super.setMulticast(macs);
      }
    }
    let filter: FailingFilterNic | null = null;
    const sim = new Sim({
      ifaceA: { ipv6: { addresses: [{ address: a6('fd00::5'), prefixLength: 64 }] } },
      ifaceB: { ipv6: { addresses: [{ address: a6('fd00::5'), prefixLength: 64 }] } },
      wrapNic: (nic: Nic, n: number) => (n === 0 ? (filter = new FailingFilterNic(nic)) : nic),
    });
    const before = [...filter!.joined];
    filter!.failing = true;
    sim.runFor(2_000);
    const a = sim.a.iface;
    expect(a.v6!.addresses().find((x) => x.address[15] === 5)?.state).toBe('duplicate');
    expect(a.stats.mcast_filter_errors).toBeGreaterThan(0);
    expect(sim.a.stack.stats().link!.mcast_filter_errors).toBe(a.stats.mcast_filter_errors);
    expect(a.stats.poll_exceptions).toBe(0);
    // The NIC keeps the filter it had.
    expect(filter!.joined).toStrictEqual(before);
  });

  it('reaches the NIC through the wrappers Stack.open puts around it (capture, impairment)', () => {
    const clock = new VirtualClock(0);
    const { sim, filter } = filtered('fd00::1:7', 'fd00::2:9');
    const wrapped = new CaptureNic(new ImpairedNic(filter, clock, { seed: 1 }), () => clock.now());
    wrapped.setMulticast([0x3333_0000_0001, 0x3333_ff00_0042]);
    expect(filter.joined).toStrictEqual([0x3333_0000_0001, 0x3333_ff00_0042]);
    expect(sim.a.iface.v6).not.toBeNull();
  });
});
