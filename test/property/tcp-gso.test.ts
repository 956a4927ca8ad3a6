/**
 * Software segmentation (GSO) in IP output: one TCP segment of up to 64 KiB
 * handed to Interface.send with a segmenter (the TCP layer's SegmentWrite)
 * leaves as MTU-sized frames. For arbitrary header options, sequence
 * numbers (across the 2^32 wrap), flags, payload lengths and frame sizes,
 * each frame read back off the link parses with valid IPv4 and TCP
 * checksums (the wire codecs' own verification, from the addresses), IDs
 * follow one another, sequence numbers advance by the payload before, CWR
 * rides only on the first frame and PSH and FIN only on the last, every other header field is the
 * segment's, and the payloads put together are the segment's bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { nativeByteKernels } from '../../src/driver/addon.js';
import { installByteKernels } from '../../src/wire/kernels.js';
import { VirtualClock } from '../../src/time/clock.js';
import { NetStack } from '../../src/stack/net-stack.js';
import { SegmentWrite } from '../../src/stack/tcp/output.js';
import { IPPROTO_TCP, parseIpv4 } from '../../src/wire/ipv4.js';
import { TCP_ACK, newTcpRepr, parseTcp, tcpHeaderLength } from '../../src/wire/tcp.js';
import { BufferSource, expectFrameOfSegment, segmentFields, segmentRepr } from '../helpers/gso-segments.js';

const SRC = 0x0a000001;
/** The subnet's broadcast address: no ARP, the frames go straight to the link. */
const DST = 0x0a0000ff;
const ETH = 14;
const IP = 20;

describe('software GSO: a TCP segment cut into frames by IP output', () => {
  it('property: every frame parses with valid checksums, and the frames put together are the segment', () => {
    installByteKernels(nativeByteKernels());
    const mtu = 1500;
    const [na, nb] = MemoryNic.pair({ mtu });
    const engine = new NetStack(new VirtualClock(1000), {});
    const iface = engine.addInterface(na, { name: 'gso0', address: SRC, prefixLength: 24, gateway: 0 });
    expect(iface.tsoMax).toBeGreaterThan(60_000);
    const slots = new Uint32Array(512);
    const lens = new Uint32Array(512);
    // What the interface sent on its own (its gratuitous ARP) is not the test's.
    iface.flush();
    for (let i = nb.rxBurst(slots, lens, slots.length) - 1; i >= 0; i--) nb.release(slots[i]!);
    const data = new Uint8Array(70_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 8) * 7) & 0xff;
    const w = new SegmentWrite();
    const src = new BufferSource(data);
    const prop = fc.property(
      fc.record(segmentFields(mtu, 64_000)),
      (p) => {
        const { r, sack } = segmentRepr(p, 80);
        const hl = tcpHeaderLength(r);
        r.payloadLength = Math.min(p.payload, 65515 - hl);
        const maxUnit = mtu - IP - hl;
        // At most 200 frames (the pool and the TX batch), at least 1 byte each.
        const minUnit = Math.ceil(r.payloadLength / 200);
        const unit = Math.max(minUnit, maxUnit - p.unitCut);
        src.scatter = p.scatter;
        w.source = src;
        w.repr = r;
        w.ringOffset = p.ringOffset;
        w.headerLength = hl;
        w.unit = unit;
        w.src = SRC;
        w.dst = DST;
        w.mode = 'full';
        const before = iface.stats.ip_tx_gso;
        const ident0 = iface.stats.ip_tx;
        expect(iface.send(SRC, DST, IPPROTO_TCP, hl + r.payloadLength, w.writer, undefined, w)).toBe(true);
        expect(iface.stats.ip_tx_gso).toBe(before + 1);
        expect(iface.stats.ip_tx - ident0).toBe(Math.ceil(r.payloadLength / unit));
        iface.flush();
        const n = nb.rxBurst(slots, lens, slots.length);
        try {
          expect(n).toBe(Math.ceil(r.payloadLength / unit));
          const pool = nb.pool;
          let firstId = -1;
          for (let i = 0; i < n; i++) {
            const base = slots[i]! * nb.slotSize;
            const frameLen = lens[i]!;
            expect(frameLen - ETH).toBeLessThanOrEqual(mtu);
            expect((pool[base + 12]! << 8) | pool[base + 13]!).toBe(0x0800);
            const ip = parseIpv4(pool, base + ETH, frameLen - ETH, true);
            expect(ip.src).toBe(SRC);
            expect(ip.dst).toBe(DST);
            expect(ip.protocol).toBe(IPPROTO_TCP);
            if (i === 0) firstId = ip.ident;
            expect(ip.ident).toBe((firstId + i) & 0xffff);
            const seg = parseTcp(pool, base + ETH + IP, ip.payloadLength, SRC, DST, true);
            expectFrameOfSegment(seg, i, n, r, p, sack, unit, data, pool, base + ETH + IP + hl);
          }
        } finally {
          for (let i = 0; i < n; i++) nb.release(slots[i]!);
        }
      },
    );
    const seed = Number(process.env['USTACK_PROP_SEED'] ?? Date.now() % 1_000_000);
    const out = fc.check(prop, { numRuns: Number(process.env['USTACK_PROP_RUNS'] ?? 100), seed });
    if (out.failed) console.log(`[tcp-gso.property] failing seed ${seed}: ${fc.defaultReportMessage(out)}\n${String(out.errorInstance)}`);
    expect(out.failed, `seed ${seed}: ${out.counterexample ? JSON.stringify(out.counterexample) : ''}`).toBe(false);
  });

  it('without gso (InterfaceConfig.gso false) the route answers the MTU, and a long segment is fragmented instead', () => {
    const [na] = MemoryNic.pair({ mtu: 1500 });
    const engine = new NetStack(new VirtualClock(1000), {});
    const iface = engine.addInterface(na, { name: 'nogso0', address: SRC, prefixLength: 24, gateway: 0, gso: false });
    expect(iface.tsoMax).toBe(1480);
    const w = new SegmentWrite();
    const r = newTcpRepr();
    r.flags = TCP_ACK;
    r.payloadLength = 3000;
    w.source = new BufferSource(new Uint8Array(4000));
    w.repr = r;
    w.headerLength = tcpHeaderLength(r);
    w.unit = 1460;
    w.src = SRC;
    w.dst = DST;
    expect(iface.send(SRC, DST, IPPROTO_TCP, w.headerLength + 3000, w.writer, undefined, w)).toBe(true);
    expect(iface.stats.ip_tx_gso).toBe(0);
    expect(iface.stats.ip_tx_fragmented).toBe(1);
  });
});
