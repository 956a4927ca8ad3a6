/**
 * Bounded resources: every cap given to Stack.open({ limits }) reaches the
 * layer it bounds, holds under hostile input, and its overflow is counted in
 * stats() under the per-layer names.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { RawPeer, injectFrom, tcpFrame, udpFrame } from '../helpers/hostile.js';
import { ipv4Frame } from '../helpers/frames.js';
import { Stack, type StackLimits } from '../../src/index.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';

const LIMITS: StackLimits = {
  arpQueue: 2,
  arpQueueTotal: 12,
  arpEntries: 16,
  rxReserve: 8,
  reassemblyBytes: 8192,
  reassemblyDatagrams: 4,
  maxBacklog: 4,
  tcpOutOfOrderRanges: 2,
  sendBuffer: 4096,
  recvBuffer: 4096,
};
const PEER = parseIpv4Address('10.0.0.77');

describe('Stack.open({ limits }) threads every cap to its layer', () => {
  it('ARP, reassembly, backlog and TCP caps are in effect on a Stack', async () => {
    const [a, b] = await Stack.pair(undefined, { limits: LIMITS });
    try {
      expect(a.iface.neighbors.config.queueLength).toBe(2);
      expect(a.iface.neighbors.config.maxEntries).toBe(16);
      expect(a.iface.neighbors.config.queueTotal).toBe(12);
      expect(a.iface.rxReserve).toBe(8);
      expect(a.iface.reassembler.config).toMatchObject({ maxBytes: 8192, maxDatagrams: 4 });
      const l = a.engine.tcp.listen(9, 0, 1000);
      expect(l.backlog).toBe(4);
      expect(l.synBacklog).toBe(4);
      l.close();
      const c = a.engine.tcp.connect(b.engine.interfaces[1]!.address, 9);
      expect(c.config).toMatchObject({ maxOooRanges: 2, sendBufferSize: 4096, recvBufferSize: 4096 });
      c.abort();
      const st = a.stats();
      for (const layer of ['link', 'arp', 'ipv4', 'icmp', 'udp', 'tcp', 'poll']) expect(st[layer], layer).toBeDefined();
      for (const k of ['activeOpens', 'passiveOpens', 'resetsSent', 'retransmits', 'sackRecoveries', 'challengeAcks', 'synCookiesSent', 'synCookiesValidated', 'outOfOrderBytesHeld']) {
        expect(st.tcp![k], k).toBeTypeOf('number');
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('each cap holds and its overflow is counted', () => {
  it('ARP pending queue, all queues together, and neighbour cache', () => {
    const sim = new Sim({ limits: LIMITS });
    const a = sim.a;
    const u = a.stack.udp.bind(0, 5000, { onDatagram: () => {} });
    const payload = new Uint8Array(32);
    // 10 packets to one silent on-link address: 2 wait for ARP, 8 overflow.
    for (let i = 0; i < 10; i++) u.send(parseIpv4Address('10.0.0.50'), 9, payload, 0, 32);
    expect(a.stack.stats().arp!.queue_drops).toBe(8);
    // 40 silent addresses: the cache holds 16 entries (the oldest unresolved
    // ones are evicted for new ones) and all queues together 12 packets (the
    // oldest queued packet goes).
    for (let i = 0; i < 40; i++) u.send(parseIpv4Address(`10.0.0.${100 + i}`), 9, payload, 0, 32);
    const st = a.stack.stats();
    console.log(`[limits] arp: ${JSON.stringify(st.arp)}`);
    expect(st.arp!.entries).toBe(16);
    expect(st.arp!.evicted_incomplete).toBe(41 - 16);
    expect(st.arp!.cache_full).toBe(0);
    expect(st.arp!.queued).toBeLessThanOrEqual(12);
    expect(st.arp!.queue_cap_drops).toBeGreaterThan(0);
    // Every packet sent is queued or dropped exactly once, under one reason.
    expect(st.arp!.queued + st.arp!.queue_drops! + st.arp!.queue_cap_drops!).toBe(50);
    expect(st.link!.tx_drop_unresolved).toBe(st.arp!.queue_drops! + st.arp!.queue_cap_drops!);
    a.iface.flush(); // the ARP requests
    // Slots held: the queued packets, and B's announcement waiting in A's RX ring.
    expect(a.raw.freeSlots + a.raw.rxPending).toBe(a.raw.slotCount - st.arp!.queued!);
    sim.runFor(10_000);
    expect(a.stack.stats().arp!.failed).toBeGreaterThan(0);
    expect(a.stack.stats().arp!.queued).toBe(0);
    expect(a.raw.freeSlots).toBe(a.raw.slotCount);
  });

  it('IPv4 reassembly bytes and datagrams', () => {
    const sim = new Sim({ limits: LIMITS });
    const a = sim.a;
    // 20 first fragments of 1,000 bytes from different idents: never completed.
    for (let i = 0; i < 20; i++) {
      injectFrom(sim.b.raw, ipv4Frame(a.iface.mac, sim.b.iface.mac, { src: sim.b.address, dst: a.address, protocol: 17, ident: 100 + i, moreFragments: true }, new Uint8Array(1000)));
    }
    sim.settle();
    const st = a.stack.stats().ipv4!;
    console.log(`[limits] ipv4 fragments: ${JSON.stringify(st)}`);
    expect(st.frag_bytes_held).toBeLessThanOrEqual(8192);
    expect(st.frag_datagrams_pending).toBeLessThanOrEqual(4);
    expect(st.frag_evicted + st.frag_memory_drops).toBeGreaterThan(0);
    sim.runFor(60_000);
    expect(a.stack.stats().ipv4!.frag_bytes_held).toBe(0);
  });

  it('SYN queue: beyond maxBacklog embryonic connections, SYNs are answered with cookies (no state)', () => {
    const sim = new Sim({ limits: LIMITS });
    const a = sim.a;
    a.stack.tcp.listen(80, 0, 511, () => {});
    for (let i = 0; i < 20; i++) {
      a.iface.neighbors.learn(PEER + i, sim.b.iface.mac, true, 0);
      injectFrom(sim.b.raw, tcpFrame(a.iface.mac, sim.b.iface.mac, PEER + i, a.address, { srcPort: 1000 + i, dstPort: 80, seq: i * 1000, flags: TCP_SYN }));
    }
    sim.settle();
    const st = a.stack.stats().tcp!;
    console.log(`[limits] syn queue: ${a.stack.tcp.connections().length} embryonic, ${st.synCookiesSent} cookies`);
    expect(a.stack.tcp.connections().length).toBe(4);
    expect(st.synCookiesSent).toBe(16);
  });

  function acceptFlood(): { queued: number; overflows: number; conns: number } {
    const sim = new Sim({ limits: LIMITS });
    const l = sim.a.stack.tcp.listen(80, 0, 1000, null);
    for (let i = 0; i < 10; i++) sim.b.stack.tcp.connect(sim.a.address, 80);
    sim.runFor(5_000);
    const st = sim.a.stack.stats().tcp!;
    return { queued: l.acceptQueue.length, overflows: st.listenOverflows, conns: sim.a.stack.tcp.connections().length };
  }

  it('accept queue: a listener nobody accepts from holds maxBacklog connections; the rest overflow, counted', () => {
    const r = acceptFlood();
    console.log(`[limits] accept queue (maxBacklog 4, 10 clients): ${r.queued} queued, ${r.overflows} overflows counted, ${r.conns} connections held`);
    expect(r.queued).toBe(4);
    expect(r.overflows).toBeGreaterThan(0);
    expect(r.conns).toBeLessThanOrEqual(2 * 4);
  });

  it('TCP out-of-order ranges, receive buffer and send buffer', () => {
    const sim = new Sim({ limits: LIMITS });
    const peer = new RawPeer(sim, PEER);
    let server: Connection | null = null;
    let written = 0;
    sim.a.stack.tcp.listen(80, 0, 8, (c) => {
      server = c;
      written = c.write(new Uint8Array(10_000), 0, 10_000); // send buffer 4096
    });
    peer.send({ srcPort: 4000, dstPort: 80, seq: 0, flags: TCP_SYN, window: 0 });
    sim.settle();
    const sa = peer.take().find((s) => s.flags === (TCP_SYN | TCP_ACK))!;
    expect(sa.window).toBeLessThanOrEqual(4096);
    const ack = sa.seq + 1;
    peer.send({ srcPort: 4000, dstPort: 80, seq: 1, ack, flags: TCP_ACK, window: 0 });
    sim.settle();
    expect(written).toBe(4096);
    // Five separate out-of-order ranges of 100 bytes: only 2 are kept.
    for (let i = 0; i < 5; i++) peer.send({ srcPort: 4000, dstPort: 80, seq: 1 + 200 * (i + 1), ack, flags: TCP_ACK, window: 0 }, new Uint8Array(100));
    sim.settle();
    let st = sim.a.stack.stats().tcp!;
    expect(st.outOfOrderBytesHeld).toBe(200);
    expect(st.outOfOrderDropped).toBe(300);
    // Data beyond the 4096-byte receive window is not kept.
    const ow0 = st.outOfWindow;
    peer.send({ srcPort: 4000, dstPort: 80, seq: 1 + 5000, ack, flags: TCP_ACK, window: 0 }, new Uint8Array(100));
    sim.settle();
    st = sim.a.stack.stats().tcp!;
    console.log(`[limits] tcp: held ${st.outOfOrderBytesHeld} B out of order, dropped ${st.outOfOrderDropped} B (range cap), out of window ${st.outOfWindow}, send buffer took ${written}/10000`);
    expect(st.outOfWindow).toBeGreaterThan(ow0);
    expect(st.outOfOrderBytesHeld).toBe(200);
    expect(server).not.toBeNull();
  });
});

void udpFrame;
