/**
 * IPv6 output on one interface: which destinations are on the link, the
 * next hop (on-link, a configured gateway or a default router from an RA),
 * the source address (RFC 6724, simplified), building Ethernet + IPv6
 * headers in the interface's NIC slots, fragmentation at the source above
 * the path MTU (RFC 8200 §4.5, path-mtu6.ts), and the destination MAC from
 * the neighbour cache (a frame waits there while ND resolves its hop). A
 * packet to one of the stack's own addresses goes through the loopback
 * interface's layer, whichever layer was asked (`LocalDelivery`). A TCP
 * segment longer than the path MTU is cut into frames here where the
 * interface says so (software GSO, as IPv4's Interface.sendSegmented).
 */
import { ETH_HEADER_LEN, ETHERTYPE_IPV6, macHigh16, macLow32, writeMac, writeMacHalves } from '../../wire/ethernet.js';
import {
  IPV6_HEADER_LEN,
  IPPROTO_FRAGMENT,
  IPV6_UNSPECIFIED,
  emitIpv6,
  ipv6MulticastMac,
  ipv6PrefixMatch,
  ipv6CommonPrefixLength,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  type Ipv6Repr,
} from '../../wire/ipv6.js';
import { FRAGMENT_HEADER_LEN } from '../../wire/ipv6-ext.js';
import { IPPROTO_TCP } from '../../wire/ipv4.js';
import { onesSum } from '../../wire/checksum.js';
import { GsoBurst } from './gso-burst.js';
import type { L4Segmenter } from './ip-output.js';
import type { Nd6Cache } from './nd-cache.js';
import type { SlaacState } from './slaac.js';
import type { Addr6, Ipv6Addresses } from './ipv6-addresses.js';
import type { PathMtu6 } from './path-mtu6.js';
import type { Ipv6LinkHost, Ipv6LinkState, Ipv6Stats } from './ipv6-types.js';

/** Largest TCP segment (header + payload) cut into frames in software: what one IPv6 packet's payload length can say. */
const GSO6_MAX = 65535;
/** Where a frame's upper-layer bytes start in its slot. */
const L4_AT = ETH_HEADER_LEN + IPV6_HEADER_LEN;

/** Writes `length` upper-layer bytes at buf[off]. */
export type Ipv6Writer = (buf: Uint8Array, off: number) => void;

/** What output needs of the stack's other layers (the Router, through the facade's `local`). */
export interface LocalDelivery {
  /** The stored address when buf[off, off + 16) is one of the stack's own IPv6 addresses (::1 included), else null. */
  ownAddress6(buf: Uint8Array, off: number): Uint8Array | null;
  /** The loopback interface's layer, null without one. */
  readonly loopback6: { send(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, write: Ipv6Writer, hopLimit?: number): boolean } | null;
}

export class Ipv6Output {
  /** The stack's other layers (set by the Router); null: this layer alone. */
  local: LocalDelivery | null = null;
  private readonly repr: Ipv6Repr = {
    src: IPV6_UNSPECIFIED, dst: IPV6_UNSPECIFIED, nextHeader: 0, hopLimit: 0, trafficClass: 0, flowLabel: 0, payloadLength: 0,
  };
  /**
   * The interface's MAC in two small integers: the 48-bit number is a heap
   * number in V8, and passing it to writeMac where V8 does not inline the
   * call boxes it anew per frame (16 B per packet, tcp6-alloc measured it).
   */
  private readonly macHi: number;
  private readonly macLo: number;
  private fragScratch: Uint8Array | null = null;
  private nextFragId = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(
    private readonly host: Ipv6LinkHost,
    private readonly link: Ipv6LinkState,
    private readonly addrs: Ipv6Addresses,
    private readonly neighbors: Nd6Cache,
    private readonly slaac: SlaacState,
    private readonly pmtu: PathMtu6,
    private readonly stats: Ipv6Stats,
    private readonly now: () => number,
    private readonly loopback: boolean,
    private readonly gateway: Uint8Array | null,
  ) {
    this.macHi = macHigh16(host.mac);
    this.macLo = macLow32(host.mac);
  }

  /** True when `dst` is on this link: link-local, inside a configured or advertised prefix. */
  onLink(dst: Uint8Array, off = 0): boolean {
    if (isIpv6LinkLocal(dst, off) || isIpv6Multicast(dst, off)) return true;
    for (const a of this.addrs.list) if (a.origin !== 'slaac' && a.origin !== 'link-local' && ipv6PrefixMatch(dst, off, a.address, 0, a.prefixLength)) return true;
    return this.slaac.isOnLink(dst, off);
  }

  /**
   * The first hop toward `dst`, or null when there is no route. The
   * loopback layer reaches exactly the stack's own addresses; the others
   * never ::1 (RFC 4291 §2.5.3).
   */
  nextHop(dst: Uint8Array): Uint8Array | null {
    if (this.loopback) return this.localAddress(dst) !== null ? dst : null;
    if (isIpv6Loopback(dst)) return null;
    if (this.onLink(dst)) return dst;
    if (this.gateway !== null) return this.gateway;
    return this.slaac.defaultRouter()?.address ?? null;
  }

  /**
   * The source address toward `dst` (RFC 6724, simplified): link-local for
   * link-local and link-scope multicast destinations; else the usable
   * global address sharing the longest prefix (preferred before
   * deprecated); else the link-local one. Null when nothing is usable yet.
   */
  sourceFor(dst: Uint8Array): Uint8Array | null {
    // To one of the stack's own addresses, that address is the source (as Linux does over lo).
    if (this.loopback) return this.localAddress(dst);
    const addrs = this.addrs.list;
    const ll = addrs[0]!;
    const linkScope = isIpv6LinkLocal(dst) || (isIpv6Multicast(dst) && (dst[1]! & 0x0f) <= 2);
    if (linkScope) return ll.usable ? ll.address : null;
    let best: Addr6 | null = null;
    let bestScore = -1;
    for (let k = 1; k < addrs.length; k++) {
      const a = addrs[k]!;
      if (!a.usable) continue;
      const score = (a.state === 'preferred' ? 1000 : 0) + ipv6CommonPrefixLength(a.address, 0, dst, 0);
      if (score > bestScore) {
        best = a;
        bestScore = score;
      }
    }
    if (best !== null) return best.address;
    return ll.usable ? ll.address : null;
  }

  /** The MTU toward `dst`: a learnt path MTU while it lasts, else the link's. */
  pathMtu(dst: Uint8Array, now = this.now()): number {
    return this.pmtu.get(dst, this.link.mtu, now);
  }

  /**
   * Largest TCP segment (header + payload) sent toward `dst` in one send:
   * 64 KiB where this layer segments in software (the host's gso), up to a
   * slot where the NIC does (TSO, when the path MTU is the link's), else
   * what one packet of the path MTU carries.
   */
  tsoMax(dst: Uint8Array): number {
    if (this.loopback) return this.pathMtu(dst) - IPV6_HEADER_LEN;
    if (this.host.gso) return GSO6_MAX;
    const mtu = this.pathMtu(dst);
    // A TSO NIC cuts by the link's MTU: only toward destinations whose path takes it.
    if (this.host.tso6 && mtu === this.link.mtu) return Math.min(GSO6_MAX, this.host.slotSize - L4_AT);
    return mtu - IPV6_HEADER_LEN;
  }

  /** TCP leaves its checksum to the NIC (NicOffloads.txChecksum6): the transport writes the pseudo-header sum. */
  get checksumOffload(): boolean {
    return this.host.txChecksum6 && !this.loopback;
  }

  /**
   * Builds Ethernet + IPv6 headers in a fresh slot; returns the frame's
   * absolute start in the pool, or -1. The destination MAC is left to the caller.
   */
  buildFrame(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, hopLimit: number): number {
    const slot = this.host.allocTxSlot();
    if (slot < 0) return -1;
    const base = slot * this.host.slotSize;
    this.writeHeaders(base, src, dst, nextHeader, length, hopLimit);
    return base;
  }

  /** Writes the source MAC, ethertype and IPv6 header of the frame at pool[base...]; counts a packet sent. */
  private writeHeaders(base: number, src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, hopLimit: number): void {
    const pool = this.host.pool;
    writeMacHalves(pool, base + 6, this.macHi, this.macLo);
    pool[base + 12] = ETHERTYPE_IPV6 >>> 8;
    pool[base + 13] = ETHERTYPE_IPV6 & 0xff;
    const r = this.repr;
    r.src = src;
    r.dst = dst;
    r.nextHeader = nextHeader;
    r.hopLimit = hopLimit;
    r.payloadLength = length;
    emitIpv6(r, pool, base + ETH_HEADER_LEN);
    this.stats.ip6_tx++;
  }

  /**
   * Sends one IPv6 packet of `length` upper-layer bytes written by `write`
   * (no extension headers). Returns false when dropped (counted).
   * `segmenter`: how a TCP packet above the path MTU may be cut into frames
   * here (ip-output.ts L4Segmenter); without it, or where the host does no
   * GSO, such a packet is fragmented. A burst that fails part-way returns
   * false with its first frames sent.
   */
  send(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, write: Ipv6Writer, hopLimit = this.link.hopLimit, segmenter?: L4Segmenter): boolean {
    // To one of the stack's own addresses: through the loopback interface, whichever layer was asked.
    const lo = this.local?.loopback6 ?? null;
    if (lo !== null && !this.loopback && this.local!.ownAddress6(dst, 0) !== null) return lo.send(src, dst, nextHeader, length, write, hopLimit);
    const hop = this.nextHop(dst);
    if (hop === null) {
      this.stats.ip6_tx_drop_no_route++;
      return false;
    }
    const mtu = this.pathMtu(dst);
    // TCP larger than the MTU goes whole to a TSO NIC (which cuts by the link's MTU), or is segmented here.
    const tso = nextHeader === IPPROTO_TCP && this.host.tso6 && !this.loopback && mtu === this.link.mtu && length <= GSO6_MAX && L4_AT + length <= this.host.slotSize;
    if (IPV6_HEADER_LEN + length > mtu && !tso) {
      if (segmenter !== undefined && nextHeader === IPPROTO_TCP && this.host.gso && !this.loopback && GsoBurst.fits(length, segmenter, mtu, IPV6_HEADER_LEN, GSO6_MAX)) {
        return this.sendSegmented(src, dst, hop, length, segmenter, hopLimit);
      }
      // The fragment header is not part of the reassembled packet: its payload may be 65,535 bytes (RFC 8200 §4.5, as Linux).
      if (length > 65535) {
        this.stats.ip6_tx_drop_too_big++;
        return false;
      }
      return this.sendFragmented(src, dst, hop, nextHeader, length, write, hopLimit, mtu);
    }
    const base = this.buildFrame(src, dst, nextHeader, length, hopLimit);
    if (base < 0) return false;
    write(this.host.pool, base + ETH_HEADER_LEN + IPV6_HEADER_LEN);
    return this.resolveAndQueue(base, ETH_HEADER_LEN + IPV6_HEADER_LEN + length, dst, hop);
  }

  /**
   * Software GSO: one TCP segment of `length` bytes cut into frames of
   * `seg.unit` payload bytes. The burst's slots are taken and all their
   * payloads copied and summed at once (GsoBurst.take); the first frame's
   * Ethernet + IPv6 header is built, its next hop's MAC asked for once, and
   * the other frames copy that header and patch its payload length (IPv6
   * has no header checksum); the segmenter writes each frame's TCP header
   * (its checksum from the first frame's, RFC 1624). When slots run out
   * part-way, the frames that got one are sent and false is returned.
   */
  private sendSegmented(src: Uint8Array, dst: Uint8Array, hop: Uint8Array, length: number, seg: L4Segmenter, hopLimit: number): boolean {
    const hl = seg.headerLength;
    const unit = seg.unit;
    const payload = length - hl;
    const b = this.host.gsoBurst;
    const count = b.take(seg, payload, L4_AT + hl);
    if (count === 0) return false;
    const pool = this.host.pool;
    const v = b.poolView;
    this.stats.ip6_tx_gso++;
    let ok = b.complete;
    // Whether the first frame's next hop's MAC was known: then the others,
    // which copy its Ethernet header, are queued without asking again.
    let direct = false;
    for (let k = 0; k < count; k++) {
      const len = b.lengthOf(k);
      const base = b.baseOf(k);
      if (k === 0) {
        this.writeHeaders(base, src, dst, IPPROTO_TCP, hl + len, hopLimit);
        direct = this.writeDestination(base, dst, hop);
        b.keepHeader(base, L4_AT);
      } else {
        b.copyHeader(base, L4_AT);
        v.setUint16(base + ETH_HEADER_LEN + 4, hl + len);
        this.stats.ip6_tx++;
      }
      seg.writeHeader(pool, base + L4_AT, k * unit, len, b.sums[k]!);
      if (direct ? !this.host.queueTxSlot(b.slots[k]!, L4_AT + hl + len) : !this.park(base, L4_AT + hl + len, hop)) ok = false;
    }
    return ok;
  }

  /**
   * Fragments at the source (RFC 8200 §4.5): the whole packet is written
   * into a scratch buffer, then cut into pieces of a multiple of 8 bytes
   * that fit the MTU with a fragment header each.
   */
  private sendFragmented(src: Uint8Array, dst: Uint8Array, hop: Uint8Array, nextHeader: number, length: number, write: Ipv6Writer, hopLimit: number, mtu: number): boolean {
    if (this.fragScratch === null) this.fragScratch = new Uint8Array(65535);
    const scratch = this.fragScratch;
    write(scratch, 0);
    // TCP left the checksum to the NIC (the pseudo-header sum in the field), which no NIC completes across fragments: do it here.
    if (nextHeader === IPPROTO_TCP && this.checksumOffload && length >= 18) {
      const c = ~onesSum(scratch, 0, length) & 0xffff;
      scratch[16] = c >>> 8;
      scratch[17] = c & 0xff;
    }
    const maxData = (mtu - IPV6_HEADER_LEN - FRAGMENT_HEADER_LEN) & ~7;
    const id = this.nextFragId;
    this.nextFragId = (this.nextFragId + 1) >>> 0;
    this.stats.ip6_tx_fragmented++;
    const pool = this.host.pool;
    for (let offset = 0; offset < length; offset += maxData) {
      const chunk = Math.min(maxData, length - offset);
      const more = offset + chunk < length;
      const base = this.buildFrame(src, dst, IPPROTO_FRAGMENT, FRAGMENT_HEADER_LEN + chunk, hopLimit);
      if (base < 0) return false;
      const f = base + ETH_HEADER_LEN + IPV6_HEADER_LEN;
      pool[f] = nextHeader;
      pool[f + 1] = 0;
      const fo = offset | (more ? 1 : 0);
      pool[f + 2] = fo >>> 8;
      pool[f + 3] = fo & 0xff;
      pool[f + 4] = id >>> 24;
      pool[f + 5] = (id >>> 16) & 0xff;
      pool[f + 6] = (id >>> 8) & 0xff;
      pool[f + 7] = id & 0xff;
      pool.set(scratch.subarray(offset, offset + chunk), f + FRAGMENT_HEADER_LEN);
      this.stats.ip6_tx_fragments++;
      if (!this.resolveAndQueue(base, ETH_HEADER_LEN + IPV6_HEADER_LEN + FRAGMENT_HEADER_LEN + chunk, dst, hop)) return false;
    }
    return true;
  }

  /** Fills the destination MAC of the frame at pool[base] and queues it, or parks it until ND resolves `hop`. */
  private resolveAndQueue(base: number, frameLen: number, dst: Uint8Array, hop: Uint8Array): boolean {
    if (this.writeDestination(base, dst, hop)) return this.host.queueTxSlot(base / this.host.slotSize, frameLen);
    return this.park(base, frameLen, hop);
  }

  /** Writes the destination MAC of the frame at pool[base...] toward `hop`; false when ND has not resolved it (yet). */
  private writeDestination(base: number, dst: Uint8Array, hop: Uint8Array): boolean {
    const pool = this.host.pool;
    if (this.loopback) {
      writeMacHalves(pool, base, this.macHi, this.macLo);
      return true;
    }
    if (isIpv6Multicast(dst)) {
      writeMac(pool, base, ipv6MulticastMac(dst));
      return true;
    }
    return this.neighbors.writeMacFor(hop, this.now(), pool, base);
  }

  /** Parks the frame at pool[base] in the neighbour cache until ND resolves `hop` (or drops it, counted). */
  private park(base: number, frameLen: number, hop: Uint8Array): boolean {
    const slot = base / this.host.slotSize;
    if (this.neighbors.enqueue(hop, slot, frameLen, this.now())) return true;
    this.stats.ip6_tx_drop_unresolved++;
    this.host.releaseSlot(slot);
    return false;
  }

  /** The stored local address `dst` names (any layer's, through `local`), or null. */
  private localAddress(dst: Uint8Array): Uint8Array | null {
    return this.local !== null ? this.local.ownAddress6(dst, 0) : this.addrs.ownAddress(dst);
  }
}
