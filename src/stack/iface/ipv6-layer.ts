/**
 * IPv6 on one Ethernet interface (RFC 8200, 4861, 4862, 4443): the facade
 * the Interface, the Router and the transports see. It receives — validates
 * the header, walks the extension headers (answering what RFC 8200 §4 asks
 * with a Parameter Problem), reassembles fragments (reassembly6.ts: RFC
 * 8200/5722 rules) and hands the payload to ICMPv6 or to the transport
 * registered for it — and composes the parts, a file per mechanism:
 *
 *   ipv6-types.ts      configuration, counters, what the parts share
 *   ipv6-addresses.ts  addresses (link-local, configured, SLAAC, ::1), DAD, lifetimes, groups
 *   ipv6-nd.ts         Neighbor Discovery in and out, router advertisements
 *   ipv6-icmp.ts       ICMPv6 in, echo, errors (rate limited), errors to transports
 *   ipv6-mld.ts        MLDv2 reports for the solicited-node groups, answers to queries
 *   ipv6-output.ts     next hop, source address, frames, fragmentation, ND resolution
 *   path-mtu6.ts       path MTUs from Packet Too Big (RFC 8201)
 *   nd-cache.ts, slaac.ts, reassembly6.ts   the neighbour cache, RA state, reassembly
 *
 * The Interface hands it every frame of ethertype 0x86dd and asks it which
 * 33:33:xx:xx:xx:xx destinations to accept; it builds its frames in the
 * interface's NIC slots through `Ipv6LinkHost`. Every malformed or hostile
 * packet is dropped and counted (`stats`), never thrown. The IPv4 path does
 * not pass through here. On the loopback interface (`loopback`) it holds
 * ::1 only and delivers to every local address; the Router's
 * Ipv6LocalRoutes send local destinations there from any layer (and it
 * sends no MLD).
 */
import type { TimerWheel } from '../../time/timer-wheel.js';
import { wrapOrReason } from '../../wire/errors.js';
import {
  Ipv6Packet,
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_FRAGMENT,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
} from '../../wire/ipv6.js';
import { ExtWalk, walkExtensionHeaders, DEFAULT_EXT_LIMITS, FRAGMENT_HEADER_LEN, type ExtLimits } from '../../wire/ipv6-ext.js';
import { ICMPV6_DEST_UNREACHABLE, ICMPV6_PARAMETER_PROBLEM, ICMPV6_UNRECOGNIZED_NEXT_HEADER } from '../../wire/icmpv6.js';
import { Nd6Cache, DEFAULT_ND6_CONFIG, type Nd6Host } from './nd-cache.js';
import { SlaacState, DEFAULT_SLAAC_LIMITS } from './slaac.js';
import { Reassembler6, DEFAULT_REASSEMBLY6_CONFIG } from './reassembly6.js';
import { Ipv6Addresses, type Addr6 } from './ipv6-addresses.js';
import { Ipv6Output, type Ipv6Writer } from './ipv6-output.js';
import type { L4Segmenter } from './ip-output.js';
import { Ipv6Nd } from './ipv6-nd.js';
import { Ipv6Icmp, type Ipv6ErrorSink } from './ipv6-icmp.js';
import { Ipv6Mld } from './ipv6-mld.js';
import { PathMtu6 } from './path-mtu6.js';
import { newIpv6Stats, DEFAULT_HOP_LIMIT, type Echo6ReplyHandler, type Ipv6Address, type Ipv6Config, type Ipv6LinkHost, type Ipv6LinkState, type Ipv6Stats } from './ipv6-types.js';

export { stableInterfaceId } from './ipv6-addresses.js';
export {
  DEFAULT_HOP_LIMIT,
  IPV6_LOOPBACK,
  type Echo6ReplyHandler,
  type Ipv6Address,
  type Ipv6AddressConfig,
  type Ipv6AddressOrigin,
  type Ipv6AddressState,
  type Ipv6Config,
  type Ipv6LinkHost,
  type Ipv6Stats,
} from './ipv6-types.js';

/** An upper layer over IPv6 (UDP, TCP): `src` and `dst` are views valid during the call only. */
export interface Ipv6TransportInput extends Ipv6ErrorSink {
  /** `verified`: the NIC vouched for the transport checksum (a TAP's partial checksum: the field holds only the pseudo-header sum). */
  input6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number, verified: boolean, layer: Ipv6Layer, now: number): void;
}

/**
 * What one IPv6 layer knows of the stack's others (the Router implements
 * it): a packet to one of the stack's own addresses is delivered through the
 * loopback interface, whichever layer a transport hands it to, as Linux
 * routes local addresses through lo.
 */
export interface Ipv6LocalRoutes {
  /** The stored address when buf[off, off + 16) is one of the stack's own IPv6 addresses (::1 included, duplicates not), else null. */
  ownAddress6(buf: Uint8Array, off: number): Uint8Array | null;
  /** The loopback interface's IPv6 layer; null in a stack without one. */
  readonly loopback6: Ipv6Layer | null;
}

export class Ipv6Layer implements Nd6Host {
  readonly stats: Ipv6Stats = newIpv6Stats();
  readonly neighbors: Nd6Cache;
  readonly slaac: SlaacState;
  readonly reassembler: Reassembler6;
  /** Called when an address changes state (tentative: DAD starts; DAD done or failed; SLAAC address expired). */
  onAddressChange: ((a: Ipv6Address) => void) | null = null;
  /** The loopback interface's layer (::1, every local destination). */
  readonly loopback: boolean;

  private readonly link: Ipv6LinkState;
  private readonly addrs: Ipv6Addresses;
  private readonly output: Ipv6Output;
  private readonly nd: Ipv6Nd;
  private readonly icmp: Ipv6Icmp;
  /** MLDv2 for the interface's groups (nothing on the loopback interface). */
  readonly mld: Ipv6Mld;
  private readonly pmtu = new PathMtu6();
  private readonly extLimits: ExtLimits;
  private readonly ip = new Ipv6Packet();
  private readonly walk = new ExtWalk();
  private localRoutes: Ipv6LocalRoutes | null = null;
  /** Processing a packet the reassembler rebuilt (a fragment inside it is not reassembled again). */
  private reassembling = false;
  private readonly transports6: Array<Ipv6TransportInput | undefined> = new Array<Ipv6TransportInput | undefined>(256).fill(undefined);
  /** The packet being handed to a transport (for replyUnreachable), or -1. */
  private deliveringOff = -1;
  private deliveringBuf: Uint8Array = new Uint8Array(0);
  /** Transport deliveries in progress, and the source and destination addresses handed to the outermost. */
  private delivering = 0;
  private readonly srcCopy = new Uint8Array(16);
  private readonly dstCopy = new Uint8Array(16);
  private deliveringLen = 0;

  /** The interface's name (a link-local peer's zone, as `fe80::1%name`). */
  readonly ifname: string;

  constructor(
    host: Ipv6LinkHost,
    private readonly wheel: TimerWheel,
    now: () => number,
    config: Ipv6Config = {},
  ) {
    this.ifname = host.name;
    this.link = { mtu: Math.max(IPV6_MIN_MTU, host.mtu), hopLimit: DEFAULT_HOP_LIMIT };
    this.loopback = config.loopback ?? false;
    const gateway = this.loopback ? null : config.gateway ?? null;
    const slaacEnabled = !this.loopback && (config.slaac ?? false);
    this.extLimits = { ...DEFAULT_EXT_LIMITS, ...config.extLimits };
    this.neighbors = new Nd6Cache(this, wheel, { ...DEFAULT_ND6_CONFIG, ...config.nd });
    this.slaac = new SlaacState({ ...DEFAULT_SLAAC_LIMITS, ...config.slaacLimits });
    this.reassembler = new Reassembler6(wheel, { ...DEFAULT_REASSEMBLY6_CONFIG, ...config.reassembly });
    this.addrs = new Ipv6Addresses(host.name, host.mac, this.loopback, config, wheel, this.stats, this.slaac, {
      sendDadSolicit: (address) => this.nd.sendDadSolicit(address),
      retransMs: () => this.neighbors.config.retransMs,
      changed: (a, at) => {
        if (!this.loopback) this.mld.sync(at);
        this.onAddressChange?.(a);
      },
      linkLocalReady: (at) => this.nd.linkLocalReady(at),
    });
    this.output = new Ipv6Output(host, this.link, this.addrs, this.neighbors, this.slaac, this.pmtu, this.stats, now, this.loopback, gateway);
    this.nd = new Ipv6Nd(host, wheel, this.stats, this.link, this.addrs, this.neighbors, this.slaac, this.output, slaacEnabled);
    this.mld = new Ipv6Mld(host, wheel, this.addrs, this.output);
    this.icmp = new Ipv6Icmp(this.stats, this.link, this.addrs, this.output, this.nd, this.mld, this.pmtu, this.transports6, config.icmpErrorRate ?? { perSecond: 100, burst: 50 });
  }

  /** The link MTU for IPv6: the interface's, lowered by an RA's MTU option (never below 1280). */
  get mtu(): number {
    return this.link.mtu;
  }
  set mtu(v: number) {
    this.link.mtu = v;
  }

  /** The hop limit of the packets sent (an RA's current hop limit, else 64). */
  get hopLimit(): number {
    return this.link.hopLimit;
  }
  set hopLimit(v: number) {
    this.link.hopLimit = v;
  }

  /** Receives ICMPv6 echo replies (the stack's ping). */
  get echoReplyHandler(): Echo6ReplyHandler | null {
    return this.icmp.echoReplyHandler;
  }
  set echoReplyHandler(h: Echo6ReplyHandler | null) {
    this.icmp.echoReplyHandler = h;
  }

  /** The stack's other layers (set by the Router); null: this layer alone. */
  get local(): Ipv6LocalRoutes | null {
    return this.localRoutes;
  }
  set local(routes: Ipv6LocalRoutes | null) {
    this.localRoutes = routes;
    this.output.local = routes;
  }

  /** Every address with its state. */
  addresses(): Ipv6Address[] {
    return this.addrs.addresses();
  }

  /** The link-local address (fe80::/64); ::1 on the loopback interface. */
  get linkLocal(): Uint8Array {
    return this.addrs.linkLocal;
  }

  /** Starts DAD on every address (the interface came up). */
  start(now: number): void {
    this.addrs.start(now);
  }

  /** Whether `a` is one of this layer's addresses and usable (past DAD, not duplicate): what a socket may bind. */
  hasAddress(a: Uint8Array): boolean {
    return this.addrs.hasAddress(a);
  }

  /** The stored address when buf[off, off + 16) is one of this layer's addresses (tentative too, duplicates not), else null. */
  ownAddress(buf: Uint8Array, off = 0): Uint8Array | null {
    return this.addrs.ownAddress(buf, off);
  }

  // ---------------------------------------------------------------- receive

  /** Whether to accept a frame sent to 33:33 + `lo32` (an int32): all-nodes and our solicited-node groups. */
  acceptsMulticastMac(lo32: number): boolean {
    return this.addrs.acceptsMulticastMac(lo32);
  }

  /**
   * Handles one IPv6 packet at buf[off, off + len) from the Ethernet source
   * `frameSrc`; `verified`: the NIC verified its transport checksum. Never
   * throws on bad input.
   */
  input(buf: Uint8Array, off: number, len: number, frameSrc: number, now: number, verified = false): void {
    const st = this.stats;
    st.ip6_rx++;
    const ip = this.ip;
    const why = wrapOrReason(ip, buf, off, len);
    if (why !== null) {
      if (why === 'bad-version') st.ip6_rx_drop_bad_version++;
      else if (why === 'bad-length') st.ip6_rx_drop_bad_length++;
      else st.ip6_rx_drop_truncated++;
      return;
    }
    const srcOff = ip.srcOffset;
    const dstOff = ip.dstOffset;
    // ::1 never comes from a link (RFC 4291 §2.5.3).
    if (isIpv6Multicast(buf, srcOff) || (!this.loopback && isIpv6Loopback(buf, srcOff))) {
      st.ip6_rx_drop_martian_source++;
      return;
    }
    const multicast = isIpv6Multicast(buf, dstOff);
    let target: Addr6 | null = null;
    if (multicast) {
      if (!this.addrs.inGroup(buf, dstOff)) {
        st.ip6_rx_drop_not_for_us++;
        return;
      }
    } else {
      target = this.addrs.find(buf, dstOff);
      // On loopback every frame is one the stack sent itself, to one of its own addresses (any interface's).
      if (target === null ? !this.loopback : target.state === 'duplicate') {
        st.ip6_rx_drop_not_for_us++;
        return;
      }
    }
    const w = this.walk;
    const bad = walkExtensionHeaders(buf, ip.payloadOffset, ip.payloadLength, ip.nextHeader, w, this.extLimits, off + 6);
    if (bad !== null) {
      if (bad === 'bad-length') st.ip6_rx_drop_ext_too_long++;
      else if (bad === 'unsupported') st.ip6_rx_drop_ext_unsupported++;
      else st.ip6_rx_drop_ext_malformed++;
      // RFC 8200 §4: Parameter Problem where the walk says the sender is owed one (never to a group, but for §4.2's option type 10).
      if (w.problemCode >= 0 && (!multicast || w.problemToMulticast) && (target === null || target.state !== 'tentative')) {
        this.icmp.sendError(ICMPV6_PARAMETER_PROBLEM, w.problemCode, w.problemAt - off, buf, off, IPV6_HEADER_LEN + ip.payloadLength, now, w.problemToMulticast);
      }
      return;
    }
    if (w.fragment && (w.fragmentOffset !== 0 || w.moreFragments)) {
      // An atomic fragment (RFC 6946) is processed as it is; the others are reassembled, once.
      if (this.reassembling) {
        st.ip6_rx_drop_fragment++;
        return;
      }
      const dataOff = w.fragmentHeaderAt + FRAGMENT_HEADER_LEN;
      const dataLen = ip.payloadOffset + ip.payloadLength - dataOff;
      const n = this.reassembler.add(buf, off, w.fragmentNextHeaderAt, w.fragmentHeaderAt, w.fragmentOffset, w.moreFragments, w.fragmentId, dataOff, dataLen, now);
      if (n < 0) return;
      this.reassembling = true;
      try {
        this.input(this.reassembler.packet, 0, n, frameSrc, now, false);
      } finally {
        this.reassembling = false;
      }
      return;
    }
    // A tentative address receives only what DAD needs (RFC 4862 §5.4).
    if (target !== null && target.state === 'tentative' && w.protocol !== IPPROTO_ICMPV6) {
      st.ip6_rx_drop_not_for_us++;
      return;
    }
    if (w.protocol === IPPROTO_ICMPV6) {
      st.ip6_rx_delivered++;
      this.icmp.input(buf, off, w.offset, w.length, multicast, target, frameSrc, now);
      return;
    }
    if (w.protocol === IPPROTO_NONE) {
      st.ip6_rx_delivered++;
      return;
    }
    // Transports answer their source; the unspecified address is a source for DAD's solicitations only (RFC 4291 §2.5.2).
    if (isIpv6Unspecified(buf, srcOff)) {
      st.ip6_rx_drop_martian_source++;
      return;
    }
    const t = this.transports6[w.protocol];
    if (t !== undefined) {
      st.ip6_rx_delivered++;
      this.deliveringOff = multicast ? -1 : off;
      this.deliveringBuf = buf;
      this.deliveringLen = IPV6_HEADER_LEN + ip.payloadLength;
      // The addresses in two arrays kept for it (a view per packet would be two allocations per segment);
      // a delivery nested inside another (none is known) gets views.
      const nested = this.delivering++ > 0;
      const src = nested ? buf.subarray(off + 8, off + 24) : this.srcCopy;
      const dst = nested ? buf.subarray(off + 24, off + 40) : this.dstCopy;
      if (!nested) {
        for (let i = 0; i < 16; i++) {
          src[i] = buf[off + 8 + i]!;
          dst[i] = buf[off + 24 + i]!;
        }
      }
      try {
        t.input6(src, dst, buf, w.offset, w.length, verified, this, now);
      } finally {
        this.delivering--;
        this.deliveringOff = -1;
      }
      return;
    }
    st.ip6_rx_drop_unknown_protocol++;
    if (!multicast) {
      // Parameter problem, unrecognized next header, pointing at the byte that named it (RFC 8200 §4).
      const nhAt = this.lastNextHeaderAt(buf, off, w);
      this.icmp.sendError(ICMPV6_PARAMETER_PROBLEM, ICMPV6_UNRECOGNIZED_NEXT_HEADER, nhAt - off, buf, off, IPV6_HEADER_LEN + ip.payloadLength, now);
    }
  }

  /** The offset of the next-header byte naming the upper layer: re-walks the (already validated) chain. */
  private lastNextHeaderAt(buf: Uint8Array, off: number, w: ExtWalk): number {
    let at = off + 6;
    let nh = buf[at]!;
    let i = off + IPV6_HEADER_LEN;
    while (i < w.offset) {
      at = i;
      const hlen = nh === IPPROTO_FRAGMENT ? 8 : (buf[i + 1]! + 1) * 8;
      nh = buf[i]!;
      i += hlen;
    }
    return at;
  }

  /** The MTU toward `dst`: a learnt path MTU while it lasts, else the link's. */
  pathMtu(dst: Uint8Array, now?: number): number {
    return this.output.pathMtu(dst, now);
  }

  /** Destinations with a learnt path MTU. */
  get pathMtuEntries(): number {
    return this.pmtu.size;
  }

  // -------------------------------------------------------------- ICMPv6

  /**
   * Sends an ICMPv6 error quoting the packet at buf[off, off + len), rate
   * limited; never about an error, a group destination (unless
   * `toMulticast`) or an unspecified or multicast source (ipv6-icmp.ts).
   */
  sendIcmpError(type: number, code: number, word: number, buf: Uint8Array, off: number, len: number, now: number, toMulticast = false): void {
    this.icmp.sendError(type, code, word, buf, off, len, now, toMulticast);
  }

  /** Registers the upper layer for `protocol` (UDP: 17, TCP: 6). */
  registerTransport(protocol: number, t: Ipv6TransportInput): void {
    this.transports6[protocol] = t;
  }

  /**
   * Called by a transport from inside input6: answers the packet being
   * delivered with destination unreachable (`code`: 4, port unreachable),
   * rate limited; never for a packet to a group address.
   */
  replyUnreachable(code: number, now: number): void {
    if (this.deliveringOff < 0) return;
    this.icmp.sendError(ICMPV6_DEST_UNREACHABLE, code, 0, this.deliveringBuf, this.deliveringOff, this.deliveringLen, now);
  }

  /** Sends an ICMPv6 echo request (ping). */
  sendEchoRequest(dst: Uint8Array, ident: number, seqNo: number, data: Uint8Array): boolean {
    return this.icmp.sendEchoRequest(dst, ident, seqNo, data);
  }

  // --------------------------------------------------------------- transmit

  /** True when `dst` is on this link: link-local, inside a configured or advertised prefix. */
  onLink(dst: Uint8Array, off = 0): boolean {
    return this.output.onLink(dst, off);
  }

  /** The first hop toward `dst`, or null when there is no route (ipv6-output.ts). */
  nextHop(dst: Uint8Array): Uint8Array | null {
    return this.output.nextHop(dst);
  }

  /** The source address toward `dst` (RFC 6724, simplified; ipv6-output.ts), or null when nothing is usable yet. */
  sourceFor(dst: Uint8Array): Uint8Array | null {
    return this.output.sourceFor(dst);
  }

  /**
   * Sends one IPv6 packet of `length` upper-layer bytes written by `write`
   * (no extension headers), through lo when `dst` is one of the stack's own
   * addresses. Returns false when dropped (counted). `segmenter`: a TCP
   * packet above the path MTU may be cut into frames in software (GSO, see
   * tsoMax) instead of fragmented.
   */
  send(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, write: Ipv6Writer, hopLimit = this.link.hopLimit, segmenter?: L4Segmenter): boolean {
    return this.output.send(src, dst, nextHeader, length, write, hopLimit, segmenter);
  }

  /** Largest TCP segment (header + payload) one send toward `dst` takes: 64 KiB with software GSO or TSO, else the path MTU's. */
  tsoMax(dst: Uint8Array): number {
    return this.output.tsoMax(dst);
  }

  /** The NIC completes IPv6 TCP checksums (NicOffloads.txChecksum6): TCP writes the pseudo-header sum. */
  get checksumOffload(): boolean {
    return this.output.checksumOffload;
  }

  // Nd6Host (the neighbour cache's; ND does the work)
  sendNeighborSolicit(target: Uint8Array, unicastMac: number): void {
    this.nd.sendNeighborSolicit(target, unicastMac);
  }

  transmitQueued(mac: number, slot: number, len: number): void {
    this.nd.transmitQueued(mac, slot, len);
  }

  dropQueued(slot: number): void {
    this.nd.dropQueued(slot);
  }

  routerLost(addr: Uint8Array, now: number): void {
    this.nd.routerLost(addr, now);
  }

  /** Releases the timers and parked frames. */
  shutdown(): void {
    this.nd.shutdown();
    this.mld.shutdown();
    this.addrs.shutdown();
    this.neighbors.clear();
    this.reassembler.clear();
  }

  /** For debugging: the addresses as text. */
  describe(): string {
    return this.addrs.describe();
  }
}
