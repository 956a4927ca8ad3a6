/**
 * The DHCP client's state machine on a virtual clock against a tiny fake
 * DHCP server running on the other stack of a Sim link: acquisition, NAK,
 * retransmission backoff, renewal at T1, rebinding at T2, lease expiry and
 * the timeout error.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import {
  DhcpClient,
  type DhcpError,
  type DhcpLease,
  type DhcpPacket,
  BOOTREPLY,
  DHCPACK,
  DHCPDISCOVER,
  DHCPNAK,
  DHCPOFFER,
  DHCPREQUEST,
  OPT_DNS,
  OPT_LEASE_TIME,
  OPT_MESSAGE_TYPE,
  OPT_ROUTER,
  OPT_SERVER_ID,
  OPT_SUBNET_MASK,
  addrOption,
  byteOption,
  decodeDhcp,
  dhcpInfo,
  encodeDhcp,
  u32Option,
} from '../../src/stack/services/dhcp.js';
import { ipToString, parseIpv4Address } from '../../src/wire/ipv4.js';

const ip = parseIpv4Address;

interface Seen {
  at: number;
  type: number;
  dst: number;
  src: number;
  pkt: DhcpPacket;
}

interface ServerBehaviour {
  /** Return false to drop the message. */
  answer?(type: number, seen: Seen[]): 'ack' | 'nak' | 'drop' | 'offer';
  leaseTime?: number;
}

/** A fake server on sim.b (10.0.0.2) offering 10.0.0.50/24, router 10.0.0.1, DNS 10.0.0.53. */
function fakeServer(sim: Sim, behaviour: ServerBehaviour = {}): Seen[] {
  const seen: Seen[] = [];
  const udp = sim.b.stack.udp;
  const ep = udp.bind(0, 67, {
    onDatagram(src, _sp, dst, buf, off, len) {
      const pkt = decodeDhcp(buf.slice(off, off + len));
      const type = dhcpInfo(pkt).messageType!;
      const entry = { at: sim.clock.now(), type, dst, src, pkt };
      seen.push(entry);
      const def = type === DHCPDISCOVER ? 'offer' : 'ack';
      const action = behaviour.answer?.(type, seen) ?? def;
      if (action === 'drop') return;
      const reply: DhcpPacket = {
        ...pkt,
        op: BOOTREPLY,
        yiaddr: action === 'nak' ? 0 : ip('10.0.0.50'),
        siaddr: ip('10.0.0.2'),
        options: [
          byteOption(OPT_MESSAGE_TYPE, action === 'offer' ? DHCPOFFER : action === 'ack' ? DHCPACK : DHCPNAK),
          addrOption(OPT_SERVER_ID, ip('10.0.0.2')),
          ...(action === 'nak'
            ? []
            : [
                addrOption(OPT_SUBNET_MASK, ip('255.255.255.0')),
                addrOption(OPT_ROUTER, ip('10.0.0.1')),
                addrOption(OPT_DNS, ip('10.0.0.53'), ip('10.0.0.54')),
                u32Option(OPT_LEASE_TIME, behaviour.leaseTime ?? 100),
              ]),
        ],
      };
      const bytes = encodeDhcp(reply);
      // Renewals (ciaddr set) are answered by unicast; the rest by broadcast (the client sets the flag).
      const to = pkt.ciaddr !== 0 ? pkt.ciaddr : 0xffffffff;
      ep.send(to, 68, bytes, 0, bytes.length);
    },
  });
  return seen;
}

function setup(opts: { timeoutMs?: number; random?: () => number } = {}) {
  const sim = new Sim();
  sim.a.iface.setAddress(0, 0, 0);
  const events: { bound: DhcpLease[]; errors: DhcpError[] } = { bound: [], errors: [] };
  let n = 0;
  const client = new DhcpClient(sim.a.stack, sim.a.iface, {
    random: opts.random ?? (() => 0.5),
    xid: () => 0x1000 + n++,
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    onBound: (l) => events.bound.push(l),
    onError: (e) => events.errors.push(e),
  });
  return { sim, client, events };
}

describe('DHCP client on a virtual clock', () => {
  it('acquires a lease: DISCOVER -> OFFER -> REQUEST -> ACK, and applies it', () => {
    const { sim, client, events } = setup();
    const seen = fakeServer(sim);
    client.start();
    expect(sim.runUntil(() => client.state === 'bound', 10_000)).toBe(true);
    expect(seen.map((s) => s.type)).toEqual([DHCPDISCOVER, DHCPREQUEST]);
    const [disc, req] = seen as [Seen, Seen];
    expect(disc.dst).toBe(0xffffffff);
    expect(disc.src).toBe(0);
    expect(disc.pkt.flags & 0x8000).toBe(0x8000);
    expect(req.pkt.xid).toBe(disc.pkt.xid);
    const ri = dhcpInfo(req.pkt);
    expect(ri.requestedIp).toBe(ip('10.0.0.50'));
    expect(ri.serverId).toBe(ip('10.0.0.2'));
    expect(ipToString(sim.a.iface.address)).toBe('10.0.0.50');
    expect(sim.a.iface.prefixLength).toBe(24);
    expect(ipToString(sim.a.iface.gateway)).toBe('10.0.0.1');
    expect(client.dnsServers).toEqual(['10.0.0.53', '10.0.0.54']);
    expect(events.bound).toHaveLength(1);
    expect(events.bound[0]!).toMatchObject({ leaseTime: 100, renewalTime: 50, rebindingTime: 87 });
    // The stack now answers on the leased address.
    let pinged = false;
    sim.b.stack.onEchoReply(() => (pinged = true));
    sim.b.stack.ping(ip('10.0.0.50'), 1, 1);
    expect(sim.runUntil(() => pinged, 5000)).toBe(true);
  });

  it('restarts from DISCOVER with a new xid after a NAK', () => {
    const { sim, client } = setup();
    let naks = 0;
    const seen = fakeServer(sim, { answer: (t) => (t === DHCPREQUEST && naks++ === 0 ? 'nak' : t === DHCPDISCOVER ? 'offer' : 'ack') });
    client.start();
    expect(sim.runUntil(() => client.state === 'bound', 10_000)).toBe(true);
    expect(seen.map((s) => s.type)).toEqual([DHCPDISCOVER, DHCPREQUEST, DHCPDISCOVER, DHCPREQUEST]);
    expect(seen[2]!.pkt.xid).not.toBe(seen[0]!.pkt.xid);
    expect(client.stats.dhcp_rx_nak).toBe(1);
  });

  it('retransmits DISCOVER with exponential backoff (4, 8, 16, 32 s) and +-1 s jitter', () => {
    for (const [r, jitter] of [[0.5, 0], [0, -1000], [0.999999, 999.998]] as const) {
      const { sim, client } = setup({ random: () => r, timeoutMs: 300_000 });
      const seen = fakeServer(sim, { answer: (t, s) => (t === DHCPDISCOVER && s.length <= 5 ? 'drop' : t === DHCPDISCOVER ? 'offer' : 'ack') });
      client.start();
      expect(sim.runUntil(() => client.state === 'bound', 300_000)).toBe(true);
      const discovers = seen.filter((s) => s.type === DHCPDISCOVER).map((s) => s.at);
      expect(discovers).toHaveLength(6);
      const gaps = discovers.slice(1).map((t, i) => t - discovers[i]!);
      const expected = [4000, 8000, 16000, 32000, 64000].map((g) => g + jitter);
      gaps.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 3));
      // secs counts from the start of the exchange.
      expect(seen.filter((s) => s.type === DHCPDISCOVER)[5]!.pkt.secs).toBe(Math.floor((discovers[5]! - discovers[0]!) / 1000));
    }
  });

  it('renews by unicast at T1 and extends the lease', () => {
    const { sim, client } = setup();
    const seen = fakeServer(sim);
    client.start();
    sim.runUntil(() => client.state === 'bound', 10_000);
    const first = client.lease!;
    sim.runUntil(() => seen.length === 3, 60_000);
    const renew = seen[2]!;
    expect(renew.type).toBe(DHCPREQUEST);
    expect(renew.at).toBe(first.acquiredAt + 50_000);
    expect(renew.dst).toBe(ip('10.0.0.2'));
    expect(renew.pkt.ciaddr).toBe(ip('10.0.0.50'));
    expect(dhcpInfo(renew.pkt).requestedIp).toBeUndefined();
    sim.runFor(1000);
    expect(client.state).toBe('bound');
    expect(client.lease!.acquiredAt).toBe(renew.at);
    expect(ipToString(sim.a.iface.address)).toBe('10.0.0.50');
  });

  it('rebinds by broadcast at T2 when the server ignores renewals', () => {
    const { sim, client } = setup();
    const seen = fakeServer(sim, {
      answer: (t, s) => {
        const last = s[s.length - 1]!;
        if (t === DHCPDISCOVER) return 'offer';
        if (last.pkt.ciaddr !== 0 && last.dst !== 0xffffffff) return 'drop';
        return 'ack';
      },
    });
    client.start();
    sim.runUntil(() => client.state === 'bound', 10_000);
    const acquired = client.lease!.acquiredAt;
    sim.runUntil(() => seen.some((s) => s.dst === 0xffffffff && s.pkt.ciaddr !== 0), 100_000);
    const renewals = seen.filter((s) => s.pkt.ciaddr !== 0 && s.dst !== 0xffffffff);
    expect(renewals[0]!.at).toBe(acquired + 50_000);
    expect(client.state === 'bound' || client.state === 'rebinding').toBe(true);
    const rebind = seen.find((s) => s.dst === 0xffffffff && s.pkt.ciaddr !== 0)!;
    expect(rebind.at).toBe(acquired + 87_000);
    expect(rebind.src).toBe(ip('10.0.0.50'));
    sim.runFor(1000);
    expect(client.state).toBe('bound');
    expect(client.lease!.acquiredAt).toBe(rebind.at);
  });

  it('drops the address when the lease expires without renewal, then starts over', () => {
    const { sim, client } = setup({ timeoutMs: 1_000_000 });
    let bound = false;
    fakeServer(sim, { answer: (t) => (bound ? 'drop' : t === DHCPDISCOVER ? 'offer' : 'ack') });
    client.start();
    sim.runUntil(() => client.state === 'bound', 10_000);
    bound = true;
    const acquired = client.lease!.acquiredAt;
    sim.runUntil(() => client.lease === null, 200_000);
    expect(sim.clock.now()).toBe(acquired + 100_000);
    expect(sim.a.iface.address).toBe(0);
    expect(client.state).toBe('selecting');
  });

  it('reports ERR_USTACK_DHCP_TIMEOUT naming the interface when nobody answers', () => {
    const { sim, client, events } = setup({ timeoutMs: 20_000 });
    client.start();
    sim.runFor(60_000);
    expect(events.errors).toHaveLength(1);
    const e = events.errors[0]!;
    expect(e.code).toBe('ERR_USTACK_DHCP_TIMEOUT');
    expect(e.message).toContain('sim0');
    expect(e.interface).toBe('sim0');
    expect(client.state).toBe('stopped');
    expect(sim.clock.now()).toBeGreaterThanOrEqual(20_000);
    expect(client.stats.dhcp_tx_discover).toBe(3); // at 0, 4 s, 12 s
  });

  it('ignores replies for other transactions or hardware addresses', () => {
    const { sim, client } = setup();
    const seen = fakeServer(sim, { answer: () => 'drop' });
    client.start();
    sim.runFor(100);
    const ep = sim.b.stack.udp.bind(ip('10.0.0.2'), 6700, { onDatagram() {} });
    const d = seen[0]!.pkt;
    for (const bad of [{ ...d, xid: d.xid ^ 1 }, { ...d, chaddr: new Uint8Array(16).fill(9) }]) {
      const bytes = encodeDhcp({ ...bad, op: BOOTREPLY, yiaddr: ip('10.0.0.77'), options: [byteOption(OPT_MESSAGE_TYPE, DHCPOFFER)] });
      ep.send(0xffffffff, 68, bytes, 0, bytes.length);
    }
    sim.runFor(100);
    expect(client.state).toBe('selecting');
    expect(client.stats.dhcp_rx_ignored).toBe(2);
  });
});
