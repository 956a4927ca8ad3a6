/**
 * The SYN probe the owner sends a dead worker's peers. A worker's
 * connections die with it; a peer with something to send learns it on its
 * next segment (a live worker answers it with RST), but a peer that waits —
 * its request sent and acknowledged, the answer never to come — would send
 * nothing and wait forever. So for each connection the dead worker held,
 * the owner writes the peer a SYN on the connection's own 4-tuple. A
 * synchronized TCP answers a SYN with a challenge ACK (RFC 5961 §4.2) that
 * carries its exact sequence numbers; that ACK belongs to no worker's flow
 * any more, so it is steered to a live worker, whose stack answers it with a
 * RST at the peer's own expected sequence number (RFC 9293 §3.10.7.1: the
 * RST's seq is the segment's ACK), which the peer accepts. One frame out,
 * one in, one RST: the peer's socket sees ECONNRESET.
 */
import { writeMac } from '../wire/ethernet.js';
import { emitIpv4, IPPROTO_TCP, IPV4_HEADER_LEN } from '../wire/ipv4.js';
import { emitTcp, newTcpRepr, TCP_HEADER_LEN, TCP_SYN } from '../wire/tcp.js';

export interface SynProbe {
  srcMac: number;
  dstMac: number;
  /** Ours: the dead connection's local address and port. */
  src: number;
  srcPort: number;
  /** The peer's. */
  dst: number;
  dstPort: number;
  /** Any value: whatever it is, the peer answers with its own numbers. */
  seq: number;
}

const ETH_HDR = 14;
const MIN_FRAME = 60;

/** Writes the probe frame at pool[base...]; returns its length (60: the Ethernet minimum). */
export function writeSynProbe(pool: Uint8Array, base: number, p: SynProbe): number {
  writeMac(pool, base, p.dstMac);
  writeMac(pool, base + 6, p.srcMac);
  pool[base + 12] = 0x08;
  pool[base + 13] = 0x00;
  const ip = base + ETH_HDR;
  emitIpv4(
    {
      src: p.src,
      dst: p.dst,
      protocol: IPPROTO_TCP,
      ttl: 64,
      dscp: 0,
      ecn: 0,
      ident: 0,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      payloadLength: TCP_HEADER_LEN,
    },
    pool,
    ip,
  );
  const t = newTcpRepr();
  t.srcPort = p.srcPort;
  t.dstPort = p.dstPort;
  t.seq = p.seq >>> 0;
  t.flags = TCP_SYN;
  t.window = 1024;
  emitTcp(t, pool, ip + IPV4_HEADER_LEN, p.src, p.dst);
  const n = ETH_HDR + IPV4_HEADER_LEN + TCP_HEADER_LEN;
  pool.fill(0, base + n, base + MIN_FRAME);
  return MIN_FRAME;
}
