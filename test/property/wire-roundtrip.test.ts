/**
 * parse(emit(repr)) === repr for every codec, with canonical reprs generated
 * by fast-check, packets emitted at random offsets inside a larger buffer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  EthernetFrame,
  parseEthernet,
  emitEthernet,
  ethernetHeaderLength,
  readMac,
  writeMac,
  macToString,
  parseMac,
} from '../../src/wire/ethernet.js';
import { ArpPacket, parseArp, emitArp, ARP_LEN } from '../../src/wire/arp.js';
import { Ipv4Packet, parseIpv4, emitIpv4, ipToString, parseIpv4Address, IPV4_HEADER_LEN } from '../../src/wire/ipv4.js';
import { IcmpPacket, parseIcmp, emitIcmp, ICMP_HEADER_LEN } from '../../src/wire/icmp.js';
import { UdpDatagram, parseUdp, emitUdp, UDP_HEADER_LEN } from '../../src/wire/udp.js';
import { TcpSegmentView, parseTcp, emitTcp, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.js';
import { foldChecksum, onesSum } from '../../src/wire/checksum.js';
import {
  fcParams,
  ethernetRepr,
  arpRepr,
  ipv4Repr,
  icmpCase,
  udpCase,
  tcpCase,
  mac,
  ipAddr,
} from './wire-arbitraries.js';

// One big buffer reused by every run (like the NIC's slot pool).
const pool = new Uint8Array(70_000);
const offset = fc.integer({ min: 0, max: 255 });

describe('round trips', () => {
  it('MAC text and bytes', () => {
    fc.assert(
      fc.property(mac, offset, (m, off) => {
        writeMac(pool, off, m);
        expect(readMac(pool, off)).toBe(m);
        expect(parseMac(macToString(m))).toBe(m);
        expect(macToString(m)).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      }),
      fcParams(),
    );
  });

  it('IPv4 address text', () => {
    fc.assert(
      fc.property(ipAddr, (a) => {
        expect(parseIpv4Address(ipToString(a))).toBe(a);
      }),
      fcParams(),
    );
  });

  it('Ethernet', () => {
    const view = new EthernetFrame();
    fc.assert(
      fc.property(ethernetRepr, offset, fc.integer({ min: 0, max: 100 }), (repr, off, extra) => {
        const hl = emitEthernet(repr, pool, off);
        expect(hl).toBe(ethernetHeaderLength(repr));
        expect(parseEthernet(pool, off, hl + extra)).toStrictEqual(repr);
        view.wrap(pool, off, hl + extra);
        expect(view.payloadOffset).toBe(off + hl);
        expect(view.payloadLength).toBe(extra);
        expect(view.vlanId).toBe(repr.vlan ? repr.vlan.vid : -1);
        expect(view.ethertype).toBe(repr.ethertype);
      }),
      fcParams(),
    );
  });

  it('ARP', () => {
    const view = new ArpPacket();
    fc.assert(
      fc.property(arpRepr, offset, (repr, off) => {
        expect(emitArp(repr, pool, off)).toBe(ARP_LEN);
        expect(parseArp(pool, off, ARP_LEN)).toStrictEqual(repr);
        view.wrap(pool, off, ARP_LEN + 18); // Ethernet padding after the packet is fine
        expect(view.targetIp).toBe(repr.targetIp);
      }),
      fcParams(),
    );
  });

  it('IPv4', () => {
    const view = new Ipv4Packet();
    fc.assert(
      fc.property(ipv4Repr, offset, (repr, off) => {
        expect(emitIpv4(repr, pool, off)).toBe(IPV4_HEADER_LEN);
        const len = IPV4_HEADER_LEN + repr.payloadLength;
        expect(parseIpv4(pool, off, len)).toStrictEqual(repr);
        view.wrap(pool, off, len + 7); // trailing bytes (Ethernet padding) beyond totalLength
        expect(view.verifyChecksum()).toBe(true);
        expect(view.payloadOffset).toBe(off + IPV4_HEADER_LEN);
        expect(view.payloadLength).toBe(repr.payloadLength);
        expect(view.hasOptions).toBe(false);
        // checksum=false leaves 0 in the field; parse without verification still round-trips.
        emitIpv4(repr, pool, off, false);
        expect(view.wrap(pool, off, len).checksum).toBe(0);
        expect(parseIpv4(pool, off, len, false)).toStrictEqual(repr);
      }),
      fcParams(),
    );
  });

  it('ICMP', () => {
    const view = new IcmpPacket();
    fc.assert(
      fc.property(icmpCase, offset, ({ repr, payload }, off) => {
        pool.set(payload, off + ICMP_HEADER_LEN);
        expect(emitIcmp(repr, pool, off)).toBe(ICMP_HEADER_LEN);
        const len = ICMP_HEADER_LEN + repr.payloadLength;
        expect(parseIcmp(pool, off, len)).toStrictEqual(repr);
        expect(view.wrap(pool, off, len).verifyChecksum()).toBe(true);
        expect(view.payloadOffset).toBe(off + ICMP_HEADER_LEN);
        emitIcmp(repr, pool, off, 'none');
        expect(view.checksum).toBe(0);
        expect(parseIcmp(pool, off, len, false)).toStrictEqual(repr);
      }),
      fcParams(),
    );
  });

  it('UDP (full, none, and pseudo completed like a NIC)', () => {
    const view = new UdpDatagram();
    fc.assert(
      fc.property(udpCase, offset, ({ repr, payload, src, dst }, off) => {
        pool.set(payload, off + UDP_HEADER_LEN);
        const len = UDP_HEADER_LEN + repr.payloadLength;
        expect(emitUdp(repr, pool, off, src, dst)).toBe(UDP_HEADER_LEN);
        expect(parseUdp(pool, off, len, src, dst)).toStrictEqual(repr);
        view.wrap(pool, off, len + 3);
        expect(view.payloadLength).toBe(repr.payloadLength);
        expect(view.verifyChecksum(src, dst)).toBe(true);
        const full = view.checksum;
        expect(full).not.toBe(0);
        // 'pseudo': a NIC completes it by summing the datagram (with the pseudo sum in place).
        emitUdp(repr, pool, off, src, dst, 'pseudo');
        let c = foldChecksum(onesSum(pool, off, len));
        if (c === 0) c = 0xffff;
        expect(c).toBe(full);
        emitUdp(repr, pool, off, src, dst, 'none');
        expect(view.checksum).toBe(0);
        expect(parseUdp(pool, off, len, src, dst)).toStrictEqual(repr); // 0 = no checksum
      }),
      fcParams(),
    );
  });

  it('TCP (parse, view fast path, idempotent emit, pseudo completed like a NIC)', () => {
    const view = new TcpSegmentView();
    const dirty: TcpRepr = {
      srcPort: 1,
      dstPort: 2,
      seq: 3,
      ack: 4,
      flags: 5,
      window: 6,
      urgent: 7,
      payloadLength: 8,
      mss: 9,
      windowScale: 10,
      sackPermitted: true,
      sack: [1, 2, 3, 4, 5, 6, 7, 8],
      tsVal: 11,
      tsEcr: 12,
    };
    const copy = new Uint8Array(100);
    fc.assert(
      fc.property(tcpCase, offset, ({ repr, payload, src, dst }, off) => {
        const hl = tcpHeaderLength(repr);
        pool.set(payload, off + hl);
        expect(emitTcp(repr, pool, off, src, dst)).toBe(hl);
        const len = hl + repr.payloadLength;
        const parsed = parseTcp(pool, off, len, src, dst);
        expect(parsed).toStrictEqual(repr);
        view.wrap(pool, off, len);
        expect(view.verifyChecksum(src, dst)).toBe(true);
        expect(view.headerLength).toBe(hl);
        expect(view.dataOffset).toBe(hl / 4);
        expect(view.payloadOffset).toBe(off + hl);
        expect(view.payloadLength).toBe(repr.payloadLength);
        const into = view.readRepr({ ...dirty, sack: [...dirty.sack!] });
        expect(into).toStrictEqual(repr);
        // Emitting the parsed repr reproduces the header bytes exactly.
        copy.set(pool.subarray(off, off + hl));
        const full = view.checksum;
        emitTcp(parsed, pool, off, src, dst);
        expect(pool.subarray(off, off + hl)).toEqual(copy.subarray(0, hl));
        emitTcp(repr, pool, off, src, dst, 'pseudo');
        expect(foldChecksum(onesSum(pool, off, len))).toBe(full);
        emitTcp(repr, pool, off, src, dst, 'none');
        expect(view.checksum).toBe(0);
        expect(parseTcp(pool, off, len, src, dst, false)).toStrictEqual(repr);
      }),
      fcParams(),
    );
  });
});
