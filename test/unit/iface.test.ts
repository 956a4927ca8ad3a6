import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { arpFrame, echoRequest, ipv4Frame, udpPayload } from '../helpers/frames.js';
import { MAC_BROADCAST } from '../../src/wire/ethernet.js';
import { ARP_REPLY, ARP_REQUEST } from '../../src/wire/arp.js';
import { IPPROTO_ICMP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { NeighborState } from '../../src/stack/iface/neighbor-cache.js';
import type { EchoReply } from '../../src/stack/net-stack.js';

const IP_A = 0x0a000001;
const IP_B = 0x0a000002;

/** Sends echo `seq` from a to b until answered; returns attempts used (or -1). */
function pingUntilAnswered(sim: Sim, replies: Set<number>, seq: number, size = 56, maxAttempts = 50): number {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    sim.a.stack.ping(IP_B, 7, seq, size);
    if (sim.runUntil(() => replies.has(seq), 1000)) return attempt;
  }
  return -1;
}

describe('Interface on a MemoryNic pair (virtual clock)', () => {
  it('announces itself, resolves by ARP and answers pings', () => {
    const sim = new Sim();
    const replies: EchoReply[] = [];
    sim.a.stack.onEchoReply((r) => replies.push(r));
    sim.settle();
    // Gratuitous ARP does not create entries on the peer (nobody asked).
    expect(sim.b.iface.neighbors.has(IP_A)).toBe(false);
    expect(sim.a.iface.stats.arp_tx_gratuitous).toBe(1);
    sim.a.stack.ping(IP_B, 1, 1);
    expect(sim.runUntil(() => replies.length === 1)).toBe(true);
    expect(replies[0]).toMatchObject({ from: IP_B, ident: 1, seqNo: 1, length: 56 });
    expect(sim.a.iface.neighbors.state(IP_B)).toBe(NeighborState.Reachable);
    // b learned a from a's request addressed to it (RFC 826 merge).
    expect(sim.b.iface.neighbors.state(IP_A)).toBe(NeighborState.Reachable);
    expect(sim.b.iface.stats.icmp_tx_echo_replies).toBe(1);
  });

  it('completes 1,000 echoes under 20% loss, 20% reordering and 10% duplication', () => {
    const seed = 20261123;
    const sim = new Sim({ impair: { loss: 0.2, reorder: 0.2, duplicate: 0.1, seed } });
    const replies = new Set<number>();
    sim.a.stack.onEchoReply((r) => {
      if (r.from === IP_B && r.ident === 7) replies.add(r.seqNo);
    });
    let attempts = 0;
    for (let seq = 0; seq < 1000; seq++) {
      const used = pingUntilAnswered(sim, replies, seq);
      expect(used, `seed ${seed}: echo ${seq} never answered`).toBeGreaterThan(0);
      attempts += used;
    }
    expect(replies.size).toBe(1000);
    console.log(`1000 echoes under loss/reorder/dup: ${attempts} requests sent, nic stats ${JSON.stringify(sim.a.nic.stats())}`);
    // The impairments really happened: retries were needed and frames were duplicated.
    expect(attempts).toBeGreaterThan(1000);
    const nicStats = sim.a.nic.stats();
    const dup = Object.entries(nicStats).filter(([k]) => k.includes('duplicated')).reduce((s, [, v]) => s + v, 0);
    const lost = Object.entries(nicStats).filter(([k]) => k.includes('lost')).reduce((s, [, v]) => s + v, 0);
    expect(dup, `seed ${seed}`).toBeGreaterThan(0);
    expect(lost, `seed ${seed}`).toBeGreaterThan(0);
    expect(sim.a.iface.neighbors.state(IP_B)).not.toBeUndefined();
  });

  it('fragments an 8,000-byte echo at MTU 1500 and reassembles it on both sides', () => {
    const sim = new Sim();
    const replies: EchoReply[] = [];
    sim.a.stack.onEchoReply((r) => replies.push(r));
    sim.a.stack.ping(IP_B, 3, 9, 8000);
    expect(sim.runUntil(() => replies.length === 1)).toBe(true);
    expect(replies[0]!.length).toBe(8000);
    expect(sim.a.iface.stats.ip_tx_fragmented).toBe(1);
    expect(sim.a.iface.stats.ip_tx_fragments).toBe(6); // ceil(8008 / 1480)
    expect(sim.b.iface.reassembler.stats.frag_reassembled).toBe(1);
    expect(sim.b.iface.stats.ip_tx_fragmented).toBe(1);
    expect(sim.a.iface.reassembler.stats.frag_reassembled).toBe(1);
    expect(sim.a.iface.reassembler.bufferedBytes).toBe(0);
  });

  it('reassembles under duplication and reordering', () => {
    const seed = 99;
    const sim = new Sim({ impair: { reorder: 0.3, duplicate: 0.2, seed } });
    const replies = new Set<number>();
    sim.a.stack.onEchoReply((r) => replies.add(r.seqNo));
    for (let seq = 0; seq < 50; seq++) {
      expect(pingUntilAnswered(sim, replies, seq, 5000, 20), `seed ${seed} seq ${seq}`).toBeGreaterThan(0);
    }
    expect(sim.b.iface.reassembler.stats.frag_duplicates, `seed ${seed}`).toBeGreaterThan(0);
  });

  it('keeps reassembly memory under its cap during a flood of never-completed fragments', () => {
    const maxBytes = 64 * 1024;
    const sim = new Sim({ iface: { reassembly: { maxBytes, maxDatagrams: 32, timeoutMs: 30_000 } } });
    sim.settle();
    const data = new Uint8Array(1480).fill(0xab);
    let peak = 0;
    for (let i = 0; i < 5000; i++) {
      const frame = ipv4Frame(sim.b.raw.mac, sim.a.raw.mac, {
        src: 0x0a000000 | (3 + (i % 200)),
        dst: IP_B,
        protocol: IPPROTO_UDP,
        ident: i & 0xffff,
        moreFragments: true,
        fragmentOffset: (i % 40) * 1480,
      }, data);
      inject(sim.a.raw, frame);
      if (i % 64 === 63) {
        sim.settle();
        peak = Math.max(peak, sim.b.iface.reassembler.bufferedBytes);
      }
    }
    sim.settle();
    const st = sim.b.iface.reassembler.stats;
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(sim.b.iface.reassembler.pending).toBeLessThanOrEqual(32);
    expect(st.frag_received).toBe(5000);
    expect(st.frag_evicted + st.frag_memory_drops).toBeGreaterThan(0);
    expect(st.frag_reassembled).toBe(0);
    sim.runFor(31_000);
    expect(sim.b.iface.reassembler.bufferedBytes).toBe(0);
    expect(st.frag_timeouts).toBeGreaterThan(0);
  });

  it('drops overlapping fragments and ping-of-death fragments', () => {
    const sim = new Sim();
    sim.settle();
    const mk = (ident: number, off: number, more: boolean, len: number) =>
      ipv4Frame(sim.b.raw.mac, sim.a.raw.mac, { src: IP_A, dst: IP_B, protocol: IPPROTO_ICMP, ident, moreFragments: more, fragmentOffset: off }, new Uint8Array(len));
    inject(sim.a.raw, mk(1, 0, true, 1480));
    inject(sim.a.raw, mk(1, 800, false, 1000)); // overlaps [0,1480)
    // Offset 65528 + 100 bytes runs past 65535.
    inject(sim.a.raw, mk(2, 65528, false, 100));
    sim.settle();
    const st = sim.b.iface.reassembler.stats;
    expect(st.frag_overlaps).toBe(1);
    expect(sim.b.iface.stats.ip_rx_drop_fragment + st.frag_too_big).toBe(1);
    expect(sim.b.iface.reassembler.bufferedBytes).toBe(0);
  });

  it('counts every malformed frame by reason and never throws', () => {
    const sim = new Sim();
    sim.settle();
    const b = sim.b.iface.stats;
    const good = ipv4Frame(sim.b.raw.mac, sim.a.raw.mac, { src: IP_A, dst: IP_B, protocol: IPPROTO_ICMP }, echoRequest(1, 1, new Uint8Array(8)));
    // Shorter than the Ethernet header.
    inject(sim.a.raw, good.subarray(0, 10));
    // Shorter than the IPv4 header.
    inject(sim.a.raw, good.subarray(0, 14 + 12));
    // IHL < 5.
    const ihl = good.slice();
    ihl[14] = 0x44;
    inject(sim.a.raw, ihl);
    // Total length lying (larger than the frame).
    const lying = good.slice();
    lying[16] = 0x05;
    lying[17] = 0xdc;
    inject(sim.a.raw, lying);
    // Bad header checksum.
    const badsum = good.slice();
    badsum[24] ^= 0xff;
    inject(sim.a.raw, badsum);
    // Version 6 in an IPv4 ethertype.
    const v6 = good.slice();
    v6[14] = 0x65;
    inject(sim.a.raw, v6);
    // Bad ICMP checksum.
    const icmpBad = good.slice();
    icmpBad[14 + 20 + 8] ^= 1;
    inject(sim.a.raw, icmpBad);
    // Truncated ARP.
    inject(sim.a.raw, arpFrame(MAC_BROADCAST, sim.a.raw.mac, { op: 1, senderMac: sim.a.raw.mac, senderIp: IP_A, targetMac: 0, targetIp: IP_B }).subarray(0, 30));
    // Not our MAC.
    inject(sim.a.raw, ipv4Frame(0x020000000099, sim.a.raw.mac, { src: IP_A, dst: IP_B, protocol: IPPROTO_ICMP }, new Uint8Array(8)));
    // Not our IP.
    const other = ipv4Frame(sim.b.raw.mac, sim.a.raw.mac, { src: IP_A, dst: 0x0a000063, protocol: IPPROTO_ICMP }, new Uint8Array(8));
    inject(sim.a.raw, other);
    // Unknown ethertype.
    const unk = good.slice();
    unk[12] = 0x86;
    unk[13] = 0xdd;
    inject(sim.a.raw, unk);
    expect(() => sim.settle()).not.toThrow();
    expect(b.rx_drop_truncated).toBe(1);
    expect(b.ip_rx_drop_truncated).toBe(1);
    expect(b.ip_rx_drop_bad_header_length).toBe(1);
    expect(b.ip_rx_drop_bad_length).toBe(1);
    expect(b.ip_rx_drop_bad_checksum).toBe(1);
    expect(b.ip_rx_drop_bad_version).toBe(1);
    expect(b.icmp_rx_drop_bad_checksum).toBe(1);
    expect(b.arp_rx_malformed).toBe(1);
    expect(b.rx_drop_not_for_us).toBe(1);
    expect(b.ip_rx_drop_not_for_us).toBe(1);
    expect(b.rx_drop_unknown_ethertype).toBe(1);
    expect(b.icmp_tx_echo_replies).toBe(0);
    // Every slot came back: nothing leaked.
    expect(countFree(sim.b.raw)).toBe(sim.b.raw.slotCount);
  });

  it('answers a closed UDP port with ICMP port unreachable, rate limited', () => {
    const sim = new Sim({ iface: { icmpErrorRate: { perSecond: 10, burst: 5 } } });
    sim.settle();
    const errors: string[] = [];
    const ep = sim.a.stack.udp.bind(0, 5555, {
      onDatagram: () => {},
      onIcmpError: (kind, addr, port) => errors.push(`${kind} ${addr} ${port}`),
    });
    ep.send(IP_B, 9, new Uint8Array([1, 2, 3]), 0, 3);
    sim.runFor(10);
    expect(errors).toEqual([`port-unreachable ${IP_B} 9`]);
    // A burst of 20 to closed ports: only the bucket's 5 (minus the one spent) get answers.
    for (let i = 0; i < 20; i++) {
      inject(sim.a.raw, ipv4Frame(sim.b.raw.mac, sim.a.raw.mac, { src: IP_A, dst: IP_B, protocol: IPPROTO_UDP }, udpPayload(IP_A, IP_B, 5555, 10 + i, new Uint8Array(4))));
    }
    sim.settle();
    expect(sim.b.iface.stats.icmp_tx_errors).toBe(5);
    expect(sim.b.iface.stats.icmp_tx_rate_limited).toBe(16);
    expect(sim.b.stack.udp.stats.udp_rx_no_port).toBe(21);
  });

  it('delivers UDP datagrams to a bound endpoint', () => {
    const sim = new Sim();
    const got: string[] = [];
    sim.b.stack.udp.bind(0, 7, {
      onDatagram: (src, sport, _dst, buf, off, len) => got.push(`${src}:${sport} ${Buffer.from(buf.subarray(off, off + len)).toString()}`),
    });
    const ep = sim.a.stack.udp.bind(0, 0, { onDatagram: () => {} });
    const msg = new TextEncoder().encode('hello');
    ep.send(IP_B, 7, msg, 0, msg.length);
    sim.runFor(10);
    expect(got).toEqual([`${IP_A}:${ep.localPort} hello`]);
  });

  it('never creates ARP entries from unsolicited replies, and learns from requests for us', () => {
    const sim = new Sim();
    sim.settle();
    const stranger = 0x020000000042;
    inject(sim.a.raw, arpFrame(sim.b.raw.mac, stranger, { op: ARP_REPLY, senderMac: stranger, senderIp: 0x0a000042, targetMac: sim.b.raw.mac, targetIp: IP_B }));
    sim.settle();
    expect(sim.b.iface.neighbors.has(0x0a000042)).toBe(false);
    expect(sim.b.iface.stats.arp_rx_unsolicited).toBe(1);
    inject(sim.a.raw, arpFrame(MAC_BROADCAST, stranger, { op: ARP_REQUEST, senderMac: stranger, senderIp: 0x0a000042, targetMac: 0, targetIp: IP_B }));
    sim.settle();
    expect(sim.b.iface.neighbors.state(0x0a000042)).toBe(NeighborState.Reachable);
    expect(sim.b.iface.stats.arp_tx_replies).toBe(1);
    // A claim on b's own address is a conflict, never learned.
    inject(sim.a.raw, arpFrame(MAC_BROADCAST, stranger, { op: ARP_REQUEST, senderMac: stranger, senderIp: IP_B, targetMac: 0, targetIp: IP_B }));
    sim.settle();
    expect(sim.b.iface.stats.arp_rx_conflict).toBe(1);
  });

  it('retries ARP a bounded number of times, then drops the queued packets', () => {
    const sim = new Sim({ iface: { neighbor: { maxProbes: 3, retransMs: 1000, queueLength: 4 } } });
    sim.settle();
    const ghost = 0x0a000063;
    for (let i = 0; i < 10; i++) sim.a.stack.ping(ghost, 1, i);
    const st = sim.a.iface.neighbors.stats;
    expect(st.arp_queue_drops).toBe(6); // queue holds 4
    sim.runFor(10_000);
    expect(st.arp_requests_sent).toBe(3);
    expect(st.arp_failed).toBe(1);
    expect(st.arp_queue_drops).toBe(10);
    expect(sim.a.iface.neighbors.has(ghost)).toBe(false);
    expect(countFree(sim.a.raw)).toBe(sim.a.raw.slotCount);
  });

  it('re-probes a stale entry with unicast ARP and forgets a silent neighbour', () => {
    const sim = new Sim();
    const replies: EchoReply[] = [];
    sim.a.stack.onEchoReply((r) => replies.push(r));
    sim.a.stack.ping(IP_B, 1, 1);
    sim.runUntil(() => replies.length === 1);
    sim.runFor(31_000);
    sim.a.stack.ping(IP_B, 1, 2);
    expect(sim.a.iface.neighbors.stats.arp_probes_sent).toBe(1);
    sim.runUntil(() => replies.length === 2);
    expect(sim.a.iface.neighbors.state(IP_B)).toBe(NeighborState.Reachable);
  });
});

function countFree(nic: { alloc(): number; release(s: number): void }): number {
  const taken: number[] = [];
  for (let s = nic.alloc(); s >= 0; s = nic.alloc()) taken.push(s);
  for (const s of taken) nic.release(s);
  return taken.length;
}
