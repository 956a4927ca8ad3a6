/**
 * Software segmentation (GSO) of TCP over IPv6: one segment of up to 64 KiB
 * handed to Ipv6Layer.send with a segmenter (the TCP layer's SegmentWrite)
 * leaves as frames within the path MTU. For arbitrary header options,
 * sequence numbers (across the 2^32 wrap), flags, payload lengths, frame
 * sizes and MTUs, each frame read back off the link parses with the wire
 * codecs (IPv6 header: version, addresses, next header, hop limit, payload
 * length; TCP: its checksum verified over the IPv6 pseudo-header built from
 * the frame's own addresses), sequence numbers advance by the payload
 * before, CWR rides only on the first frame and PSH and FIN only on the last
 * (RFC 3168 §6.1.3), every other header field is the segment's, and the
 * payloads put together are the segment's bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { nativeByteKernels } from '../../src/driver/addon.js';
import { installByteKernels } from '../../src/wire/kernels.js';
import { VirtualClock } from '../../src/time/clock.js';
import { NetStack } from '../../src/stack/net-stack.js';
import { SegmentWrite } from '../../src/stack/tcp/output.js';
import { IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { ipv6PseudoHeaderSum, ipv6PseudoSum, parseIpv6, parseIpv6Address } from '../../src/wire/ipv6.js';
import type { PathMtu6 } from '../../src/stack/iface/path-mtu6.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import { TCP_ACK, newTcpRepr, parseTcp, tcpHeaderLength } from '../../src/wire/tcp.js';
import { BufferSource, expectFrameOfSegment, segmentFields, segmentRepr } from '../helpers/gso-segments.js';

const SRC = parseIpv6Address('fd00:9::1');
/** All nodes: no neighbour discovery, the frames go straight to the link (as IPv4's test sends to the broadcast address). */
const DST = parseIpv6Address('ff02::1');
const ETH = 14;
const IP6 = 40;

/** The folded sum of an address's 16-bit words: what SegmentWrite takes as an address (AddressIds.pseudoValue). */
function pseudoValue(a: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += (a[i]! << 8) | a[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

describe('software GSO over IPv6: a TCP segment cut into frames by IPv6 output', () => {
  for (const mtu of [1280, 1500, 9000]) {
    it(`property (MTU ${mtu}): every frame parses with a valid TCP checksum over the IPv6 pseudo-header, and the frames put together are the segment`, () => {
      installByteKernels(nativeByteKernels());
      const [na, nb] = MemoryNic.pair({ mtu, slotCount: 512 });
      const engine = new NetStack(new VirtualClock(1000), {});
      const iface = engine.addInterface(na, {
        name: 'gso6', address: 0x0a000001, prefixLength: 24, gateway: 0,
        ipv6: { addresses: [{ address: SRC, prefixLength: 64 }], dadTransmits: 0 },
      });
      const v6 = iface.v6!;
      expect(v6.tsoMax(DST)).toBe(65535);
      const slots = new Uint32Array(512);
      const lens = new Uint32Array(512);
      const drain = (): void => {
        iface.flush();
        for (let i = nb.rxBurst(slots, lens, slots.length) - 1; i >= 0; i--) nb.release(slots[i]!);
      };
      // What the interface sent on its own (ARP, MLD) is not the test's.
      drain();
      const data = new Uint8Array(70_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 8) * 7) & 0xff;
      const w = new SegmentWrite();
      const src = new BufferSource(data);
      const prop = fc.property(
        fc.record({ ...segmentFields(mtu, 65_000), hopLimit: fc.integer({ min: 1, max: 255 }) }),
        (p) => {
          const { r, sack } = segmentRepr(p, 443);
          const hl = tcpHeaderLength(r);
          r.payloadLength = Math.min(p.payload, 65535 - hl);
          const maxUnit = mtu - IP6 - hl;
          // At most 200 frames (the pool and the TX batch), at least 1 byte each.
          const minUnit = Math.ceil(r.payloadLength / 200);
          const unit = Math.max(minUnit, maxUnit - p.unitCut);
          const frames = Math.ceil(r.payloadLength / unit);
          src.scatter = p.scatter;
          w.source = src;
          w.repr = r;
          w.ringOffset = p.ringOffset;
          w.headerLength = hl;
          w.unit = unit;
          w.src = pseudoValue(SRC);
          w.dst = pseudoValue(DST);
          w.mode = 'full';
          const before = v6.stats.ip6_tx_gso;
          const tx0 = v6.stats.ip6_tx;
          expect(v6.send(SRC, DST, IPPROTO_TCP, hl + r.payloadLength, w.writer, p.hopLimit, w)).toBe(true);
          expect(v6.stats.ip6_tx_gso).toBe(before + 1);
          expect(v6.stats.ip6_tx - tx0).toBe(frames);
          iface.flush();
          const n = nb.rxBurst(slots, lens, slots.length);
          try {
            expect(n).toBe(frames);
            const pool = nb.pool;
            for (let i = 0; i < n; i++) {
              const base = slots[i]! * nb.slotSize;
              const frameLen = lens[i]!;
              expect(frameLen - ETH).toBeLessThanOrEqual(mtu);
              expect((pool[base + 12]! << 8) | pool[base + 13]!).toBe(0x86dd);
              // 33:33 + the group's low 32 bits, from our MAC.
              expect(Array.from(pool.subarray(base, base + 6))).toEqual([0x33, 0x33, 0, 0, 0, 1]);
              expect(pool[base + ETH]! >>> 4).toBe(6);
              const ip = parseIpv6(pool, base + ETH, frameLen - ETH);
              expect(ip.src).toEqual(SRC);
              expect(ip.dst).toEqual(DST);
              expect(ip.nextHeader).toBe(IPPROTO_TCP);
              expect(ip.hopLimit).toBe(p.hopLimit);
              expect(ip.payloadLength).toBe(frameLen - ETH - IP6);
              const tcpAt = base + ETH + IP6;
              const tcpLen = ip.payloadLength;
              // The checksum over the pseudo-header of this frame's own addresses and length.
              const pseudo = ipv6PseudoHeaderSum(pool, base + ETH + 8, base + ETH + 24, tcpLen, IPPROTO_TCP);
              expect(internetChecksum(pool, tcpAt, tcpLen, pseudo), `frame ${i} of ${n}: TCP checksum`).toBe(0);
              const seg = parseTcp(pool, tcpAt, tcpLen, 0, 0, false);
              expectFrameOfSegment(seg, i, n, r, p, sack, unit, data, pool, tcpAt + hl);
            }
          } finally {
            for (let i = 0; i < n; i++) nb.release(slots[i]!);
          }
        },
      );
      const seed = Number(process.env['USTACK_PROP_SEED'] ?? Date.now() % 1_000_000);
      const out = fc.check(prop, { numRuns: Number(process.env['USTACK_PROP_RUNS'] ?? 60), seed });
      if (out.failed) console.log(`[tcp6-gso.property] MTU ${mtu} failing seed ${seed}: ${fc.defaultReportMessage(out)}\n${String(out.errorInstance)}`);
      expect(out.failed, `seed ${seed}: ${out.counterexample ? JSON.stringify(out.counterexample) : ''}`).toBe(false);
    });
  }

  it('without gso (InterfaceConfig.gso false) the route answers the path MTU, and a long segment is fragmented instead', () => {
    const [na] = MemoryNic.pair({ mtu: 1500 });
    const engine = new NetStack(new VirtualClock(1000), {});
    const iface = engine.addInterface(na, {
      name: 'nogso6', address: 0x0a000001, prefixLength: 24, gateway: 0, gso: false,
      ipv6: { addresses: [{ address: SRC, prefixLength: 64 }], dadTransmits: 0 },
    });
    const v6 = iface.v6!;
    expect(v6.tsoMax(DST)).toBe(1460);
    const w = new SegmentWrite();
    const r = newTcpRepr();
    r.flags = TCP_ACK;
    r.payloadLength = 3000;
    w.source = new BufferSource(new Uint8Array(4000));
    w.repr = r;
    w.headerLength = tcpHeaderLength(r);
    w.unit = 1440;
    w.src = pseudoValue(SRC);
    w.dst = pseudoValue(DST);
    expect(v6.send(SRC, DST, IPPROTO_TCP, w.headerLength + 3000, w.writer, 64, w)).toBe(true);
    expect(v6.stats.ip6_tx_gso).toBe(0);
    expect(v6.stats.ip6_tx_fragmented).toBe(1);
  });

  it('with checksum offload (the link says txChecksum6 and tso6), a TCP segment above a lowered path MTU is fragmented with its checksum completed; at the link MTU it leaves whole', () => {
    const [na, nb] = MemoryNic.pair({ mtu: 1500, offloads: true });
    const clock = new VirtualClock(1000);
    const engine = new NetStack(clock, {});
    const iface = engine.addInterface(na, {
      name: 'tso6', address: 0x0a000001, prefixLength: 24, gateway: 0,
      ipv6: { addresses: [{ address: SRC, prefixLength: 64 }], dadTransmits: 0 },
    });
    const v6 = iface.v6!;
    expect(v6.checksumOffload).toBe(true);
    const slots = new Uint32Array(64);
    const lens = new Uint32Array(64);
    iface.flush();
    for (let i = nb.rxBurst(slots, lens, slots.length) - 1; i >= 0; i--) nb.release(slots[i]!);
    const data = new Uint8Array(4000).map((_, i) => (i * 29 + 7) & 0xff);
    const w = new SegmentWrite();
    const r = newTcpRepr();
    r.flags = TCP_ACK;
    r.payloadLength = 3000;
    w.source = new BufferSource(data);
    w.repr = r;
    w.headerLength = tcpHeaderLength(r);
    w.unit = 1440;
    w.src = pseudoValue(SRC);
    w.dst = pseudoValue(DST);
    w.mode = 'pseudo';
    const length = w.headerLength + 3000;
    const tcpSum = (bytes: Uint8Array): number => internetChecksum(bytes, 0, bytes.length, ipv6PseudoSum(SRC, DST, bytes.length, IPPROTO_TCP));
    // At the link's MTU: one super-frame, its checksum field the pseudo-header sum for the NIC to complete.
    expect(v6.tsoMax(DST)).toBeGreaterThan(60_000);
    expect(v6.send(SRC, DST, IPPROTO_TCP, length, w.writer, 64, w)).toBe(true);
    iface.flush();
    let n = nb.rxBurst(slots, lens, slots.length);
    expect(n).toBe(1);
    const base0 = slots[0]! * nb.slotSize;
    expect(lens[0]).toBe(ETH + IP6 + length);
    const whole = nb.pool.slice(base0 + ETH + IP6, base0 + ETH + IP6 + length);
    nb.release(slots[0]!);
    expect((whole[16]! << 8) | whole[17]!).toBe(ipv6PseudoSum(SRC, DST, length, IPPROTO_TCP));
    // Below it (a Packet Too Big learnt): fragments, whose reassembled TCP segment verifies.
    (v6 as unknown as { pmtu: PathMtu6 }).pmtu.learn(DST, 0, 1280, 1500, clock.now());
    expect(v6.tsoMax(DST)).toBe(1240);
    expect(v6.send(SRC, DST, IPPROTO_TCP, length, w.writer, 64, w)).toBe(true);
    iface.flush();
    n = nb.rxBurst(slots, lens, slots.length);
    expect(n).toBe(3);
    const joined = new Uint8Array(length);
    for (let i = 0; i < n; i++) {
      const base = slots[i]! * nb.slotSize;
      expect(nb.pool[base + ETH + 6]).toBe(44); // a fragment header
      const f = base + ETH + IP6;
      const offset = ((nb.pool[f + 2]! << 8) | nb.pool[f + 3]!) & ~7;
      const chunk = lens[i]! - ETH - IP6 - 8;
      joined.set(nb.pool.subarray(f + 8, f + 8 + chunk), offset);
      nb.release(slots[i]!);
    }
    expect(tcpSum(joined)).toBe(0);
    expect(Buffer.compare(Buffer.from(joined.subarray(w.headerLength)), Buffer.from(data.subarray(0, 3000)))).toBe(0);
  });
});
