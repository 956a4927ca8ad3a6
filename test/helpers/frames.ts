/** Builds raw frames for tests with the project's own emitters. */
import { emitEthernet, ETHERTYPE_IPV4, ETHERTYPE_ARP, ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import { emitIpv4, IPV4_HEADER_LEN, type Ipv4Repr } from '../../src/wire/ipv4.js';
import { emitArp, ARP_LEN, type ArpRepr } from '../../src/wire/arp.js';
import { emitUdp, UDP_HEADER_LEN } from '../../src/wire/udp.js';
import { emitIcmp, ICMP_HEADER_LEN, ICMP_ECHO_REQUEST } from '../../src/wire/icmp.js';

export function ipv4Frame(
  dstMac: number,
  srcMac: number,
  ip: Partial<Ipv4Repr> & { src: number; dst: number; protocol: number },
  payload: Uint8Array,
): Uint8Array {
  const f = new Uint8Array(ETH_HEADER_LEN + IPV4_HEADER_LEN + payload.length);
  emitEthernet({ dst: dstMac, src: srcMac, ethertype: ETHERTYPE_IPV4 }, f, 0);
  f.set(payload, ETH_HEADER_LEN + IPV4_HEADER_LEN);
  emitIpv4(
    {
      ttl: 64, dscp: 0, ecn: 0, ident: 1, dontFragment: false, moreFragments: false, fragmentOffset: 0,
      payloadLength: payload.length,
      ...ip,
    },
    f,
    ETH_HEADER_LEN,
  );
  return f;
}

export function arpFrame(dstMac: number, srcMac: number, arp: ArpRepr): Uint8Array {
  const f = new Uint8Array(60);
  emitEthernet({ dst: dstMac, src: srcMac, ethertype: ETHERTYPE_ARP }, f, 0);
  emitArp(arp, f, ETH_HEADER_LEN);
  return f.subarray(0, Math.max(60, ETH_HEADER_LEN + ARP_LEN));
}

export function udpPayload(src: number, dst: number, srcPort: number, dstPort: number, data: Uint8Array): Uint8Array {
  const u = new Uint8Array(UDP_HEADER_LEN + data.length);
  u.set(data, UDP_HEADER_LEN);
  emitUdp({ srcPort, dstPort, payloadLength: data.length }, u, 0, src, dst);
  return u;
}

export function echoRequest(ident: number, seqNo: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(ICMP_HEADER_LEN + data.length);
  m.set(data, ICMP_HEADER_LEN);
  emitIcmp({ type: ICMP_ECHO_REQUEST, code: 0, ident, seqNo, payloadLength: data.length }, m, 0);
  return m;
}
