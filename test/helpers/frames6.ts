/** IPv6 frames for tests: Ethernet + IPv6 + an ICMPv6/ND message, checksummed. */
import { emitEthernet, ETHERTYPE_IPV6 } from '../../src/wire/ethernet.js';
import { emitIpv6, IPPROTO_ICMPV6, ipv6MulticastMac, isIpv6Multicast } from '../../src/wire/ipv6.js';
import { emitIcmpv6, fillIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { emitNdp, ndpLength, type NdRepr } from '../../src/wire/ndp.js';

export function ipv6Frame(dstMac: number, srcMac: number, src: Uint8Array, dst: Uint8Array, nextHeader: number, payload: Uint8Array, hopLimit = 64): Uint8Array {
  const f = new Uint8Array(14 + 40 + payload.length);
  emitEthernet({ dst: dstMac, src: srcMac, ethertype: ETHERTYPE_IPV6 }, f, 0);
  emitIpv6({ src, dst, nextHeader, hopLimit, trafficClass: 0, flowLabel: 0, payloadLength: payload.length }, f, 14);
  f.set(payload, 54);
  return f;
}

/** The Ethernet destination for an IPv6 destination: its group MAC when multicast, else `unicastMac`. */
export function macFor(dst: Uint8Array, unicastMac: number): number {
  return isIpv6Multicast(dst) ? ipv6MulticastMac(dst) : unicastMac;
}

export function ndFrame(dstMac: number, srcMac: number, src: Uint8Array, dst: Uint8Array, m: NdRepr, hopLimit = 255): Uint8Array {
  const body = new Uint8Array(ndpLength(m));
  emitNdp(m, body, 0, src, dst);
  return ipv6Frame(dstMac, srcMac, src, dst, IPPROTO_ICMPV6, body, hopLimit);
}

export function echo6Frame(dstMac: number, srcMac: number, src: Uint8Array, dst: Uint8Array, ident: number, seqNo: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + data.length);
  body.set(data, 8);
  emitIcmpv6({ type: 128, code: 0, ident, seqNo, payloadLength: data.length }, body, 0, src, dst);
  return ipv6Frame(dstMac, srcMac, src, dst, IPPROTO_ICMPV6, body);
}

/** Re-checksums an ICMPv6 body after a test edited it. */
export function rechecksum(body: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
  fillIcmpv6Checksum(body, 0, body.length, src, dst);
  return body;
}

/**
 * Fragments of one IPv6 packet carrying `upper` (protocol `nextHeader`):
 * pieces [offset, length] of the upper-layer bytes, each in a frame with a
 * fragment header (M set unless the piece is marked last).
 */
export function fragmentFrames(dstMac: number, srcMac: number, src: Uint8Array, dst: Uint8Array, nextHeader: number, upper: Uint8Array, id: number, pieces: Array<{ offset: number; length: number; last?: boolean }>): Uint8Array[] {
  return pieces.map(({ offset, length, last }) => {
    const more = last === undefined ? offset + length < upper.length : !last;
    const body = new Uint8Array(8 + length);
    body[0] = nextHeader;
    const fo = offset | (more ? 1 : 0);
    body[2] = fo >>> 8;
    body[3] = fo & 0xff;
    body[4] = id >>> 24;
    body[5] = (id >>> 16) & 0xff;
    body[6] = (id >>> 8) & 0xff;
    body[7] = id & 0xff;
    body.set(upper.subarray(offset, offset + length), 8);
    return ipv6Frame(dstMac, srcMac, src, dst, 44, body);
  });
}

/** An ICMPv6 echo request message (header + data), checksummed for src -> dst. */
export function echo6Message(src: Uint8Array, dst: Uint8Array, ident: number, seqNo: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array(8 + data.length);
  body.set(data, 8);
  emitIcmpv6({ type: 128, code: 0, ident, seqNo, payloadLength: data.length }, body, 0, src, dst);
  return body;
}
