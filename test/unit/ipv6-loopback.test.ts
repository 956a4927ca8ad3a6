/**
 * ::1 on the loopback interface and local delivery of IPv6 (virtual clock,
 * in-process link): UDP over IPv6 to ::1 and to the stack's own global
 * address goes through lo and never onto the link, as Linux routes local
 * addresses; ::1 never comes from or goes to a link; echo to ::1; a
 * loopback-only Stack answers udp6 and ping on ::1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { echo6Frame, ipv6Frame } from '../helpers/frames6.js';
import { parseIpv6Address as a6, ipv6ToString } from '../../src/wire/ipv6.js';
import { IPV6_LOOPBACK } from '../../src/stack/iface/ipv6-layer.js';
import type { Echo6Reply } from '../../src/stack/net-stack.js';
import { Stack } from '../../src/ustack.js';

const A = a6('fd00::1');
const B = a6('fd00::2');

function sim(): Sim {
  const s = new Sim({
    loopback: true,
    ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
  });
  s.runFor(1_500); // DAD done on the link
  return s;
}

interface Got {
  src: string;
  srcPort: number;
  data: Uint8Array;
}

describe('::1 on the loopback interface', () => {
  it('has ::1/128 at once (no DAD, no link-local address) and nothing else', () => {
    const s = new Sim({ loopback: true });
    const lo = s.a.lo!.v6!;
    expect(lo.loopback).toBe(true);
    expect(lo.addresses().map((a) => `${ipv6ToString(a.address)}/${a.prefixLength} ${a.state} ${a.origin}`)).toStrictEqual(['::1/128 preferred loopback']);
    expect(lo.stats.nd_dad_ns_sent).toBe(0);
    // An IPv4-only NIC interface stays IPv4-only.
    expect(s.a.iface.v6).toBeNull();
  });

  it('UDP to ::1 and to the stack\'s own global address is delivered locally through lo, from that address, never onto the link', () => {
    const s = sim();
    const a = s.a.stack;
    const got: Got[] = [];
    const server = a.udp6.bind(7, {
      onDatagram: (src, srcPort, buf, off, len) => {
        got.push({ src: ipv6ToString(src), srcPort, data: buf.slice(off, off + len) });
        server.send(src.slice(), srcPort, buf, off, len);
      },
    });
    const echoed: Got[] = [];
    const client = a.udp6.bind(40000, { onDatagram: (src, srcPort, buf, off, len) => echoed.push({ src: ipv6ToString(src), srcPort, data: buf.slice(off, off + len) }) });
    const linkBefore = { aTx: s.a.iface.stats.tx_frames, bRx: s.b.iface.stats.rx_frames };
    const sizes = [1, 1000, 9000];
    for (const dst of [IPV6_LOOPBACK, A]) {
      for (const n of sizes) {
        const data = new Uint8Array(n).map((_, i) => (i * 13 + n) & 0xff);
        expect(client.send(dst, 7, data), `send ${n} bytes to ${ipv6ToString(dst)}`).toBe(true);
        s.settle();
        const last = echoed[echoed.length - 1];
        expect(last?.data, `echo of ${n} bytes from ${ipv6ToString(dst)}`).toStrictEqual(data);
        expect(last!.src).toBe(ipv6ToString(dst));
        expect(got[got.length - 1]!.src).toBe(ipv6ToString(dst));
      }
    }
    expect(echoed).toHaveLength(2 * sizes.length);
    expect(echoed.every((e) => e.srcPort === 7)).toBe(true);
    // All of it went through lo: nothing left A's NIC, nothing reached B.
    expect(s.a.iface.stats.tx_frames).toBe(linkBefore.aTx);
    expect(s.b.iface.stats.rx_frames).toBe(linkBefore.bRx);
    expect(s.a.lo!.v6!.stats.ip6_rx_delivered).toBe(4 * sizes.length);
    expect(a.stats()['ip6.lo']!.ip6_rx_delivered).toBe(4 * sizes.length);
    // The stack-level route: lo for its own addresses and ::1, the NIC for the link.
    expect(a.router.route6(IPV6_LOOPBACK)).toBe(s.a.lo!.v6);
    expect(a.router.route6(A)).toBe(s.a.lo!.v6);
    expect(a.router.route6(B)).toBe(s.a.iface.v6);
    // The link still works: B reaches A's server over the wire.
    const fromB: Got[] = [];
    s.b.stack.udp6.bind(40001, { onDatagram: (src, srcPort, buf, off, len) => fromB.push({ src: ipv6ToString(src), srcPort, data: buf.slice(off, off + len) }) });
    expect(s.b.stack.udp6.send(40001, A, 7, Uint8Array.of(1, 2, 3), 0, 3)).toBe(true);
    expect(s.runUntil(() => fromB.length === 1, 5_000)).toBe(true);
    expect(fromB[0]!.src).toBe('fd00::1');
  });

  it('a closed port on ::1 is answered with ICMPv6 port unreachable over lo', () => {
    const s = sim();
    const lo = s.a.lo!.v6!;
    expect(s.a.stack.udp6.bind(5555, { onDatagram: () => {} }).send(IPV6_LOOPBACK, 4444, new Uint8Array(3))).toBe(true);
    s.settle();
    expect(s.a.stack.udp6.stats.udp6_rx_no_port).toBe(1);
    expect(lo.stats.icmp6_tx_errors).toBe(1);
    expect(lo.stats.icmp6_rx_errors).toBe(1);
  });

  it('echo to ::1 and to its own global address is answered through lo; replies reach every waiter by ident and sequence', () => {
    const s = sim();
    const a = s.a.stack;
    const replies: Echo6Reply[] = [];
    a.onEchoReply6((r) => replies.push(r));
    expect(a.ping6(IPV6_LOOPBACK, 9, 1, 100)).toBe(true);
    expect(a.ping6(A, 9, 2, 100)).toBe(true);
    expect(a.ping6(B, 9, 3, 100)).toBe(true);
    s.runUntil(() => replies.length === 3, 5_000);
    expect(replies.map((r) => `${ipv6ToString(r.from)} ${r.seqNo} ${r.length}`)).toStrictEqual(['::1 1 100', 'fd00::1 2 100', 'fd00::2 3 100']);
    expect(s.a.lo!.v6!.stats.icmp6_tx_echo_replies).toBe(2);
    expect(s.b.iface.v6!.stats.icmp6_tx_echo_replies).toBe(1);
  });

  it('::1 never comes from the link and is never sent onto it (RFC 4291 §2.5.3)', () => {
    const s = sim();
    const v6 = s.a.iface.v6!;
    const m = s.a.iface.mac;
    const bm = s.b.iface.mac;
    const before = { martian: v6.stats.ip6_rx_drop_martian_source, notForUs: v6.stats.ip6_rx_drop_not_for_us, replies: v6.stats.icmp6_tx_echo_replies };
    inject(s.b.raw, echo6Frame(m, bm, IPV6_LOOPBACK, A, 1, 1, new Uint8Array(8)));
    inject(s.b.raw, echo6Frame(m, bm, B, IPV6_LOOPBACK, 1, 2, new Uint8Array(8)));
    inject(s.b.raw, ipv6Frame(m, bm, IPV6_LOOPBACK, A, 59, new Uint8Array(0)));
    s.settle();
    expect(v6.stats.ip6_rx_drop_martian_source).toBe(before.martian + 2);
    expect(v6.stats.ip6_rx_drop_not_for_us).toBe(before.notForUs + 1);
    expect(v6.stats.icmp6_tx_echo_replies).toBe(before.replies);
    // The NIC's layer has no route to ::1; a stack without a loopback interface has none at all.
    expect(v6.nextHop(IPV6_LOOPBACK)).toBeNull();
    const bare = new Sim({ ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } } });
    bare.runFor(1_500);
    const txBefore = bare.a.iface.stats.tx_frames;
    expect(bare.a.stack.udp6.send(1, IPV6_LOOPBACK, 7, new Uint8Array(1), 0, 1)).toBe(false);
    expect(bare.a.stack.ping6(IPV6_LOOPBACK, 1, 1)).toBe(false);
    bare.settle();
    expect(bare.a.iface.stats.tx_frames).toBe(txBefore);
  });
});

describe('::1 on a loopback-only Stack (real clock)', () => {
  let stack: Stack | null = null;
  afterEach(async () => {
    await stack?.close();
    stack = null;
  });

  it('echoes UDP over ::1 and answers concurrent pings to ::1, each with its own reply', async () => {
    stack = await Stack.open();
    expect(stack.iface.loopback).toBe(true);
    expect(stack.addresses).toStrictEqual([]);
    const server = stack.engine.udp6.bind(7, { onDatagram: (src, srcPort, buf, off, len) => server.send(src.slice(), srcPort, buf, off, len) });
    const reply = new Promise<string>((resolve) => {
      stack!.engine.udp6.bind(40000, { onDatagram: (src, _p, buf, off, len) => resolve(`${ipv6ToString(src)} ${Buffer.from(buf.subarray(off, off + len)).toString()}`) });
    });
    stack.engine.udp6.send(40000, IPV6_LOOPBACK, 7, Buffer.from('hello ::1'), 0, 9);
    stack.kick();
    expect(await reply).toBe('::1 hello ::1');
    // Several pings in flight at once: each waits for its own sequence number.
    const rtts = await Promise.all([stack.ping('::1'), stack.ping('::1'), stack.ping('::1', { size: 2000 }), stack.ping('127.0.0.1')]);
    expect(rtts).toHaveLength(4);
    for (const rtt of rtts) expect(rtt).toBeGreaterThanOrEqual(0);
    expect(stack.stats()['ip6.lo']!.icmp6_tx_echo_replies).toBe(3);
  });
});
