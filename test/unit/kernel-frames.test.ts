/**
 * Frames the Linux kernel put on a veth pair (see test/data/README.md): every
 * one parses, every checksum verifies with our code, and re-emitting each
 * parsed repr reproduces the kernel's header bytes, checksums included.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { readPcap } from '../../src/driver/pcap.js';
import {
  EthernetFrame,
  parseEthernet,
  emitEthernet,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  parseArp,
  emitArp,
  ARP_LEN,
  Ipv4Packet,
  parseIpv4,
  emitIpv4,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IcmpPacket,
  parseIcmp,
  emitIcmp,
  ICMP_DEST_UNREACHABLE,
  UdpDatagram,
  parseUdp,
  emitUdp,
  TcpSegmentView,
  parseTcp,
  emitTcp,
  TCP_SYN,
  ipToString,
  type TcpRepr,
} from '../../src/wire/index.js';

const frames = readPcap(new Uint8Array(readFileSync(new URL('../data/kernel-frames.pcap', import.meta.url))));

function same(a: Uint8Array, b: Uint8Array): void {
  expect(Array.from(a)).toEqual(Array.from(b));
}

describe('kernel-captured frames', () => {
  it('contains the expected mix', () => {
    expect(frames.length).toBe(21);
  });

  it('parse, verify checksums, and re-emit byte-identical headers', () => {
    const counts: Record<string, number> = { arp: 0, ipv4: 0, icmp: 0, udp: 0, tcp: 0, tcpOptions: 0, quote: 0 };
    const eth = new EthernetFrame();
    const ip = new Ipv4Packet();
    for (const { data } of frames) {
      // Re-emit into a copy so payloads (which checksums cover) are in place.
      const out = data.slice();
      const ethRepr = parseEthernet(data, 0, data.length);
      eth.wrap(data, 0, data.length);
      out.fill(0, 0, eth.headerLength);
      expect(emitEthernet(ethRepr, out, 0)).toBe(eth.headerLength);
      same(out.subarray(0, 14), data.subarray(0, 14));

      if (eth.ethertype === ETHERTYPE_ARP) {
        const arp = parseArp(data, eth.payloadOffset, eth.payloadLength);
        out.fill(0, 14, 14 + ARP_LEN);
        emitArp(arp, out, 14);
        same(out.subarray(14, 14 + ARP_LEN), data.subarray(14, 14 + ARP_LEN));
        counts.arp!++;
        continue;
      }
      expect(eth.ethertype).toBe(ETHERTYPE_IPV4);
      const ipOff = eth.payloadOffset;
      const ipRepr = parseIpv4(data, ipOff, eth.payloadLength); // verifies the header checksum
      ip.wrap(data, ipOff, eth.payloadLength);
      expect(ip.verifyChecksum()).toBe(true);
      expect(ip.hasOptions).toBe(false);
      expect(ipToString(ipRepr.src)).toMatch(/^10\.77\.0\.[12]$/);
      out.fill(0, ipOff, ipOff + 20);
      emitIpv4(ipRepr, out, ipOff);
      same(out.subarray(ipOff, ipOff + 20), data.subarray(ipOff, ipOff + 20));
      counts.ipv4!++;

      const l4 = ip.payloadOffset;
      const l4len = ip.payloadLength;
      const { src, dst } = ipRepr;
      if (ipRepr.protocol === IPPROTO_ICMP) {
        const icmp = parseIcmp(data, l4, l4len);
        expect(new IcmpPacket().wrap(data, l4, l4len).verifyChecksum()).toBe(true);
        out.fill(0, l4, l4 + 8);
        emitIcmp(icmp, out, l4);
        same(out.subarray(l4, l4 + 8), data.subarray(l4, l4 + 8));
        counts.icmp!++;
        if (icmp.type === ICMP_DEST_UNREACHABLE) {
          // The quoted datagram is our own UDP packet, complete: parse and verify it too.
          const q = l4 + 8;
          const inner = parseIpv4(data, q, icmp.payloadLength);
          expect(inner.protocol).toBe(IPPROTO_UDP);
          const qi = new Ipv4Packet().wrap(data, q, icmp.payloadLength);
          const u = parseUdp(data, qi.payloadOffset, qi.payloadLength, inner.src, inner.dst);
          expect(u.dstPort).toBe(5002);
          counts.quote!++;
        }
      } else if (ipRepr.protocol === IPPROTO_UDP) {
        const udp = parseUdp(data, l4, l4len, src, dst);
        const v = new UdpDatagram().wrap(data, l4, l4len);
        expect(v.checksum).not.toBe(0);
        expect(v.verifyChecksum(src, dst)).toBe(true);
        out.fill(0, l4, l4 + 8);
        emitUdp(udp, out, l4, src, dst);
        same(out.subarray(l4, l4 + 8), data.subarray(l4, l4 + 8));
        counts.udp!++;
      } else if (ipRepr.protocol === IPPROTO_TCP) {
        const tcp = parseTcp(data, l4, l4len, src, dst);
        const v = new TcpSegmentView().wrap(data, l4, l4len);
        expect(v.verifyChecksum(src, dst)).toBe(true);
        const fast = v.readRepr({} as TcpRepr);
        expect(fast).toStrictEqual(tcp);
        if (tcp.flags & TCP_SYN) {
          expect(tcp.mss).toBe(1460);
          expect(tcp.sackPermitted).toBe(true);
          expect(tcp.windowScale).toBeDefined();
          expect(tcp.tsVal).toBeDefined();
        }
        if (v.hasOptions) counts.tcpOptions!++;
        const hl = v.headerLength;
        out.fill(0, l4, l4 + hl);
        expect(emitTcp(tcp, out, l4, src, dst)).toBe(hl);
        same(out.subarray(l4, l4 + hl), data.subarray(l4, l4 + hl));
        counts.tcp!++;
      } else {
        throw new Error(`unexpected protocol ${ipRepr.protocol}`);
      }
    }
    expect(counts).toEqual({ arp: 2, ipv4: 19, icmp: 7, udp: 2, tcp: 10, tcpOptions: 10, quote: 1 });
  });
});
