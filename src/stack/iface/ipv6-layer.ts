/**
 * IPv6 on one Ethernet interface (RFC 8200, 4861, 4862, 4443): its
 * addresses (a link-local one from EUI-64 or RFC 7217, configured ones, SLAAC
 * ones) with duplicate address detection, the neighbour cache (nd-cache.ts),
 * Neighbor Discovery in both directions, router advertisements (slaac.ts),
 * ICMPv6 echo and rate-limited errors, and the multicast groups a host must
 * receive (all-nodes, the solicited-node group of each address).
 *
 * The Interface hands it every frame of ethertype 0x86dd and asks it which
 * 33:33:xx:xx:xx:xx destinations to accept; it builds its frames in the
 * interface's NIC slots through `Ipv6LinkHost`. Every malformed or hostile
 * packet is dropped and counted (`stats`), never thrown. The IPv4 path does
 * not pass through here. On the loopback interface (`loopback`) it holds
 * ::1 only and delivers to every local address; the Router's
 * Ipv6LocalRoutes send local destinations there from any layer.
 *
 * Fragments are reassembled by RFC 8200/5722 rules (reassembly6.ts) and
 * packets above the path MTU (the link's, or one a Packet Too Big taught,
 * RFC 8201) fragmented at the source. Not yet: MLD reports, TCP over IPv6 (UDP registers
 * through registerTransport).
 */
import { createHash } from 'node:crypto';
import type { TimerWheel } from '../../time/timer-wheel.js';
import { Timer } from '../../time/timer-wheel.js';
import { wrapOrReason } from '../../wire/errors.js';
import { ETH_HEADER_LEN, ETHERTYPE_IPV6, writeMac } from '../../wire/ethernet.js';
import {
  Ipv6Packet,
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_FRAGMENT,
  IPV6_ALL_NODES,
  IPV6_ALL_ROUTERS,
  IPV6_UNSPECIFIED,
  emitIpv6,
  eui64FromMac,
  ipv6Equal,
  ipv6LinkLocal,
  ipv6MulticastMac,
  ipv6PrefixMatch,
  ipv6PseudoHeaderSum,
  ipv6ToString,
  ipv6WithInterfaceId,
  isIpv6LinkLocal,
  isIpv6Loopback,
  isIpv6Multicast,
  isIpv6Unspecified,
  isSolicitedNodeMulticast,
  solicitedNodeMulticast,
  type Ipv6Repr,
} from '../../wire/ipv6.js';
import { ExtWalk, walkExtensionHeaders, DEFAULT_EXT_LIMITS, type ExtLimits } from '../../wire/ipv6-ext.js';
import {
  Icmpv6Packet,
  ICMPV6_HEADER_LEN,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_DEST_UNREACHABLE,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  ICMPV6_UNRECOGNIZED_NEXT_HEADER,
  ICMPV6_ROUTER_SOLICIT,
  ICMPV6_ROUTER_ADVERT,
  ICMPV6_NEIGHBOR_SOLICIT,
  ICMPV6_NEIGHBOR_ADVERT,
  ICMPV6_REDIRECT,
  emitIcmpv6,
  fillIcmpv6Checksum,
  isIcmpv6Error,
} from '../../wire/icmpv6.js';
import { parseNdp, emitNdp, ndpLength, type NdRepr } from '../../wire/ndp.js';
import { WireError } from '../../wire/errors.js';
import { Nd6Cache, DEFAULT_ND6_CONFIG, ipv6Key, type Nd6Config, type Nd6Host } from './nd-cache.js';
import { SlaacState, DEFAULT_SLAAC_LIMITS, type SlaacLimits } from './slaac.js';
import { TokenBucket } from './token-bucket.js';
import { Reassembler6, DEFAULT_REASSEMBLY6_CONFIG, type Reassembly6Config } from './reassembly6.js';
import { FRAGMENT_HEADER_LEN } from '../../wire/ipv6-ext.js';
import type { IcmpErrorKind } from './ip-output.js';

export const DEFAULT_HOP_LIMIT = 64;
const ND_HOP_LIMIT = 255;
/** RFC 4861 §10 host constants. */
const MAX_RTR_SOLICITATIONS = 3;
const RTR_SOLICITATION_INTERVAL_MS = 4_000;
/** Destinations with a learnt path MTU (the oldest is forgotten past it), and how long one is kept (RFC 8201 §4: at least 5 minutes). */
const PMTU_MAX = 256;
const PMTU_TTL_MS = 10 * 60_000;

/** What the IPv6 layer needs of its interface. */
export interface Ipv6LinkHost {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  /** A NIC slot to build a frame in (never one of the receive reserve), or -1 (counted by the interface). */
  allocTxSlot(): number;
  /** Queues a built frame for transmission; the slot is the interface's again. */
  queueTxSlot(slot: number, len: number): boolean;
  releaseSlot(slot: number): void;
}

export interface Ipv6AddressConfig {
  address: Uint8Array;
  prefixLength: number;
}

export interface Ipv6Config {
  /**
   * The loopback interface: `::1/128` only (no link-local address, no DAD,
   * no ND, as Linux's lo), and every destination that is one of the stack's
   * own addresses is on it (see Ipv6LocalRoutes).
   */
  loopback?: boolean;
  /** Configured addresses (each gets DAD); the link-local address is always added. */
  addresses?: Ipv6AddressConfig[];
  /** A configured default router (a link-local or on-link address). */
  gateway?: Uint8Array;
  /** Solicit and accept router advertisements, form addresses from their prefixes. */
  slaac?: boolean;
  /** Interface identifiers: modified EUI-64 from the MAC (default), or RFC 7217 stable with this secret. */
  stableSecret?: Uint8Array;
  /** DupAddrDetectTransmits (RFC 4862; default 1; 0 turns DAD off). */
  dadTransmits?: number;
  nd?: Partial<Nd6Config>;
  slaacLimits?: Partial<SlaacLimits>;
  extLimits?: Partial<ExtLimits>;
  reassembly?: Partial<Reassembly6Config>;
  /** ICMPv6 errors we send: tokens per second and burst (RFC 4443 §2.4 f). */
  icmpErrorRate?: { perSecond: number; burst: number };
}

export type Ipv6AddressState = 'tentative' | 'preferred' | 'deprecated' | 'duplicate';
export type Ipv6AddressOrigin = 'link-local' | 'loopback' | 'manual' | 'slaac';

export interface Ipv6Address {
  address: Uint8Array;
  prefixLength: number;
  state: Ipv6AddressState;
  origin: Ipv6AddressOrigin;
  validUntil: number;
  preferredUntil: number;
}

class Addr6 implements Ipv6Address {
  state: Ipv6AddressState = 'tentative';
  dadSent = 0;
  readonly key: string;
  /** The low 32 bits of the solicited-node group's MAC (as int32), for the receive filter. */
  readonly groupMacLo: number;
  readonly timer: Timer;
  constructor(
    readonly address: Uint8Array,
    readonly prefixLength: number,
    readonly origin: Ipv6AddressOrigin,
    public validUntil: number,
    public preferredUntil: number,
    onTimer: (a: Addr6, now: number) => void,
  ) {
    this.key = ipv6Key(address);
    this.groupMacLo = (0xff << 24) | (address[13]! << 16) | (address[14]! << 8) | address[15]!;
    this.timer = new Timer((now) => onTimer(this, now));
  }
  get usable(): boolean {
    return this.state === 'preferred' || this.state === 'deprecated';
  }
}

export interface Ipv6Stats {
  ip6_rx: number;
  ip6_rx_drop_truncated: number;
  ip6_rx_drop_bad_version: number;
  ip6_rx_drop_bad_length: number;
  ip6_rx_drop_not_for_us: number;
  ip6_rx_drop_martian_source: number;
  ip6_rx_drop_ext_malformed: number;
  ip6_rx_drop_ext_too_long: number;
  ip6_rx_drop_ext_unsupported: number;
  ip6_rx_drop_fragment: number;
  ip6_rx_drop_unknown_protocol: number;
  ip6_rx_delivered: number;
  ip6_tx: number;
  ip6_tx_drop_no_route: number;
  ip6_tx_drop_no_source: number;
  ip6_tx_drop_too_big: number;
  ip6_tx_drop_unresolved: number;
  ip6_tx_fragmented: number;
  ip6_tx_fragments: number;
  icmp6_rx: number;
  icmp6_rx_drop_malformed: number;
  icmp6_rx_drop_bad_checksum: number;
  icmp6_rx_echo_requests: number;
  icmp6_rx_echo_replies: number;
  icmp6_rx_drop_multicast_echo: number;
  icmp6_rx_errors: number;
  icmp6_rx_packet_too_big: number;
  /** Packet Too Big that lowered a destination's path MTU (RFC 8201). */
  icmp6_rx_pmtu_updates: number;
  /** Packet Too Big quoting a packet we did not send (ignored). */
  icmp6_rx_pmtu_ignored: number;
  icmp6_tx_echo_replies: number;
  icmp6_tx_errors: number;
  icmp6_tx_rate_limited: number;
  nd_rx_drop_invalid: number;
  nd_rx_rs: number;
  nd_rx_ra: number;
  nd_rx_ns: number;
  nd_rx_na: number;
  nd_rx_redirect: number;
  nd_rx_na_conflict: number;
  /** NAs that cleared the Router flag of a default router, which was removed (RFC 4861 §7.2.5). */
  nd_rx_na_router_lost: number;
  /** ND options skipped as malformed, the rest of their message processed. */
  nd_rx_option_malformed: number;
  nd_tx_na: number;
  nd_tx_rs: number;
  nd_dad_ns_sent: number;
  nd_dad_duplicates: number;
  ra_mtu_ignored: number;
  slaac_addresses_formed: number;
  slaac_addresses_expired: number;
}

function newStats(): Ipv6Stats {
  return {
    ip6_rx: 0, ip6_rx_drop_truncated: 0, ip6_rx_drop_bad_version: 0, ip6_rx_drop_bad_length: 0,
    ip6_rx_drop_not_for_us: 0, ip6_rx_drop_martian_source: 0, ip6_rx_drop_ext_malformed: 0,
    ip6_rx_drop_ext_too_long: 0, ip6_rx_drop_ext_unsupported: 0, ip6_rx_drop_fragment: 0,
    ip6_rx_drop_unknown_protocol: 0, ip6_rx_delivered: 0, ip6_tx: 0, ip6_tx_drop_no_route: 0,
    ip6_tx_drop_no_source: 0, ip6_tx_drop_too_big: 0, ip6_tx_drop_unresolved: 0, ip6_tx_fragmented: 0, ip6_tx_fragments: 0,
    icmp6_rx: 0, icmp6_rx_drop_malformed: 0, icmp6_rx_drop_bad_checksum: 0, icmp6_rx_echo_requests: 0,
    icmp6_rx_echo_replies: 0, icmp6_rx_drop_multicast_echo: 0, icmp6_rx_errors: 0, icmp6_rx_packet_too_big: 0, icmp6_rx_pmtu_updates: 0, icmp6_rx_pmtu_ignored: 0,
    icmp6_tx_echo_replies: 0, icmp6_tx_errors: 0, icmp6_tx_rate_limited: 0,
    nd_rx_drop_invalid: 0, nd_rx_rs: 0, nd_rx_ra: 0, nd_rx_ns: 0, nd_rx_na: 0, nd_rx_redirect: 0,
    nd_rx_na_conflict: 0, nd_rx_na_router_lost: 0, nd_rx_option_malformed: 0, nd_tx_na: 0, nd_tx_rs: 0, nd_dad_ns_sent: 0, nd_dad_duplicates: 0,
    ra_mtu_ignored: 0, slaac_addresses_formed: 0, slaac_addresses_expired: 0,
  };
}

/** An upper layer over IPv6 (UDP, TCP): `src` and `dst` are views valid during the call only. */
export interface Ipv6TransportInput {
  /** `verified`: the NIC vouched for the transport checksum (a TAP's partial checksum: the field holds only the pseudo-header sum). */
  input6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number, verified: boolean, layer: Ipv6Layer, now: number): void;
  /**
   * An ICMPv6 error quoting a packet this transport sent from `local` to
   * `remote` (views valid during the call): buf[off, off + len) is the
   * quoted transport header, at least 8 bytes. `kind` as for ICMPv4
   * (Packet Too Big is 'frag-needed'); `mtu` is the reported path MTU for
   * it (already applied to the path), else 0.
   */
  icmpError6?(local: Uint8Array, remote: Uint8Array, buf: Uint8Array, off: number, len: number, kind: IcmpErrorKind, mtu: number, now: number): void;
}

/** ICMPv6 destination unreachable codes as the kinds transports know (RFC 4443 §3.1; Linux icmpv6_err_convert). */
function unreachableKind(code: number): IcmpErrorKind | null {
  switch (code) {
    case 0: return 'net-unreachable'; // no route
    case 2: // beyond the scope of the source address
    case 3: return 'host-unreachable'; // address unreachable
    case 4: return 'port-unreachable';
    case 1: // administratively prohibited
    case 5: // source address failed ingress/egress policy
    case 6: return 'admin-prohibited'; // reject route
    default: return null;
  }
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

/** The loopback address, ::1. */
export const IPV6_LOOPBACK = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** Receives ICMPv6 echo replies (ping tools, tests). */
export type Echo6ReplyHandler = (src: Uint8Array, ident: number, seqNo: number, buf: Uint8Array, off: number, len: number, now: number) => void;

/** RFC 7217: the first 64 bits of SHA-256(prefix | interface name | DAD counter | secret). */
export function stableInterfaceId(prefix: Uint8Array, ifaceName: string, dadCounter: number, secret: Uint8Array): Uint8Array {
  const h = createHash('sha256');
  h.update(prefix.subarray(0, 8));
  h.update(ifaceName);
  h.update(Uint8Array.of(dadCounter & 0xff));
  h.update(secret);
  const id = new Uint8Array(h.digest().subarray(0, 8));
  // RFC 7136: the u/g bits carry no meaning; RFC 5453's reserved identifiers are practically never hit.
  return id;
}

export class Ipv6Layer implements Nd6Host {
  readonly stats: Ipv6Stats = newStats();
  readonly neighbors: Nd6Cache;
  readonly slaac: SlaacState;
  readonly reassembler: Reassembler6;
  /** The link MTU for IPv6: the interface's, lowered by an RA's MTU option (never below 1280). */
  mtu: number;
  hopLimit = DEFAULT_HOP_LIMIT;
  echoReplyHandler: Echo6ReplyHandler | null = null;
  /** Called when an address changes state (tentative: DAD starts; DAD done or failed; SLAAC address expired). */
  onAddressChange: ((a: Ipv6Address) => void) | null = null;
  /** The loopback interface's layer (::1, every local destination). */
  readonly loopback: boolean;
  /** The stack's other layers (set by the Router); null: this layer alone. */
  local: Ipv6LocalRoutes | null = null;

  private readonly addrs: Addr6[] = [];
  private readonly gateway: Uint8Array | null;
  private readonly slaacEnabled: boolean;
  private readonly dadTransmits: number;
  private readonly stableSecret: Uint8Array | null;
  private readonly extLimits: ExtLimits;
  private readonly icmpErrors: TokenBucket;
  private readonly ip = new Ipv6Packet();
  private readonly icmp = new Icmpv6Packet();
  private readonly walk = new ExtWalk();
  private readonly repr: Ipv6Repr = {
    src: IPV6_UNSPECIFIED, dst: IPV6_UNSPECIFIED, nextHeader: 0, hopLimit: 0, trafficClass: 0, flowLabel: 0, payloadLength: 0,
  };
  private readonly rsTimer: Timer;
  private rsSent = 0;
  private raSeen = false;
  private readonly lifetimeTimer: Timer;
  private started = false;
  /** Processing a packet the reassembler rebuilt (a fragment inside it is not reassembled again). */
  private reassembling = false;
  private fragScratch: Uint8Array | null = null;
  /** Path MTUs below the link MTU learnt from Packet Too Big, by destination; at most PMTU_MAX, each for PMTU_TTL_MS. */
  private readonly pmtu = new Map<string, { mtu: number; expiresAt: number }>();
  private readonly transports6: Array<Ipv6TransportInput | undefined> = new Array<Ipv6TransportInput | undefined>(256).fill(undefined);
  /** The packet being handed to a transport (for replyUnreachable), or -1. */
  private deliveringOff = -1;
  private deliveringBuf: Uint8Array = new Uint8Array(0);
  private deliveringLen = 0;
  private nextFragId = (Math.random() * 0x1_0000_0000) >>> 0;

  constructor(
    private readonly host: Ipv6LinkHost,
    private readonly wheel: TimerWheel,
    private readonly now: () => number,
    config: Ipv6Config = {},
  ) {
    this.mtu = Math.max(IPV6_MIN_MTU, host.mtu);
    this.loopback = config.loopback ?? false;
    this.gateway = this.loopback ? null : config.gateway ?? null;
    this.slaacEnabled = !this.loopback && (config.slaac ?? false);
    // Nothing else is on a loopback link: no address there can be a duplicate.
    this.dadTransmits = this.loopback ? 0 : config.dadTransmits ?? 1;
    this.stableSecret = config.stableSecret ?? null;
    this.extLimits = { ...DEFAULT_EXT_LIMITS, ...config.extLimits };
    this.neighbors = new Nd6Cache(this, wheel, { ...DEFAULT_ND6_CONFIG, ...config.nd });
    this.slaac = new SlaacState({ ...DEFAULT_SLAAC_LIMITS, ...config.slaacLimits });
    this.reassembler = new Reassembler6(wheel, { ...DEFAULT_REASSEMBLY6_CONFIG, ...config.reassembly });
    const rate = config.icmpErrorRate ?? { perSecond: 100, burst: 50 };
    this.icmpErrors = new TokenBucket(rate.perSecond, rate.burst);
    this.rsTimer = new Timer((now) => this.sendRouterSolicit(now));
    this.lifetimeTimer = new Timer((now) => this.expire(now));
    if (this.loopback) {
      this.addrs.push(new Addr6(IPV6_LOOPBACK.slice(), 128, 'loopback', Infinity, Infinity, this.onAddrTimer));
      return;
    }
    const prefixLL = ipv6LinkLocal(new Uint8Array(8));
    const ll = ipv6LinkLocal(this.interfaceId(prefixLL, 0));
    this.addrs.push(new Addr6(ll, 64, 'link-local', Infinity, Infinity, this.onAddrTimer));
    for (const a of config.addresses ?? []) {
      this.addrs.push(new Addr6(a.address.slice(0, 16), a.prefixLength, 'manual', Infinity, Infinity, this.onAddrTimer));
    }
  }

  private readonly onAddrTimer = (a: Addr6, now: number): void => this.addrTimer(a, now);

  private interfaceId(prefix: Uint8Array, dadCounter: number): Uint8Array {
    return this.stableSecret !== null ? stableInterfaceId(prefix, this.host.name, dadCounter, this.stableSecret) : eui64FromMac(this.host.mac);
  }

  /** Every address with its state. */
  addresses(): Ipv6Address[] {
    return this.addrs.map((a) => ({
      address: a.address, prefixLength: a.prefixLength, state: a.state, origin: a.origin, validUntil: a.validUntil, preferredUntil: a.preferredUntil,
    }));
  }

  /** The link-local address (fe80::/64); ::1 on the loopback interface. */
  get linkLocal(): Uint8Array {
    return this.addrs[0]!.address;
  }

  /** Starts DAD on every address (the interface came up). */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    for (const a of this.addrs) this.startDad(a, now);
  }

  // ---------------------------------------------------------------- receive

  /** Whether to accept a frame sent to 33:33 + `lo32` (an int32): all-nodes and our solicited-node groups. */
  acceptsMulticastMac(lo32: number): boolean {
    if (lo32 === 1) return true;
    const addrs = this.addrs;
    for (let k = 0; k < addrs.length; k++) if (addrs[k]!.groupMacLo === lo32 && addrs[k]!.state !== 'duplicate') return true;
    return false;
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
      if (!this.inGroup(buf, dstOff)) {
        st.ip6_rx_drop_not_for_us++;
        return;
      }
    } else {
      target = this.findAddr(buf, dstOff);
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
        this.sendIcmpError(ICMPV6_PARAMETER_PROBLEM, w.problemCode, w.problemAt - off, buf, off, IPV6_HEADER_LEN + ip.payloadLength, now, w.problemToMulticast);
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
      this.icmpInput(buf, off, w.offset, w.length, multicast, target, frameSrc, now);
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
      try {
        t.input6(buf.subarray(off + 8, off + 24), buf.subarray(off + 24, off + 40), buf, w.offset, w.length, verified, this, now);
      } finally {
        this.deliveringOff = -1;
      }
      return;
    }
    st.ip6_rx_drop_unknown_protocol++;
    if (!multicast) {
      // Parameter problem, unrecognized next header, pointing at the byte that named it (RFC 8200 §4).
      const nhAt = this.lastNextHeaderAt(buf, off, w);
      this.sendIcmpError(ICMPV6_PARAMETER_PROBLEM, ICMPV6_UNRECOGNIZED_NEXT_HEADER, nhAt - off, buf, off, IPV6_HEADER_LEN + ip.payloadLength, now);
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

  private inGroup(buf: Uint8Array, off: number): boolean {
    if (ipv6Equal(buf, off, IPV6_ALL_NODES)) return true;
    if (!isSolicitedNodeMulticast(buf, off)) return false;
    for (const a of this.addrs) {
      if (a.state !== 'duplicate' && a.address[13] === buf[off + 13] && a.address[14] === buf[off + 14] && a.address[15] === buf[off + 15]) return true;
    }
    return false;
  }

  private findAddr(buf: Uint8Array, off: number): Addr6 | null {
    for (const a of this.addrs) if (ipv6Equal(buf, off, a.address)) return a;
    return null;
  }

  /** Whether `a` is one of this layer's addresses and usable (past DAD, not duplicate): what a socket may bind. */
  hasAddress(a: Uint8Array): boolean {
    const x = this.findAddr(a, 0);
    return x !== null && x.usable;
  }

  /** The stored address when buf[off, off + 16) is one of this layer's addresses (tentative too, duplicates not), else null. */
  ownAddress(buf: Uint8Array, off = 0): Uint8Array | null {
    const a = this.findAddr(buf, off);
    return a === null || a.state === 'duplicate' ? null : a.address;
  }

  private icmpInput(buf: Uint8Array, ipOff: number, off: number, len: number, multicast: boolean, target: Addr6 | null, frameSrc: number, now: number): void {
    const st = this.stats;
    st.icmp6_rx++;
    const p = this.icmp;
    if (wrapOrReason(p, buf, off, len) !== null) {
      st.icmp6_rx_drop_malformed++;
      return;
    }
    if (!p.verifyChecksum(ipv6PseudoHeaderSum(buf, ipOff + 8, ipOff + 24, len, IPPROTO_ICMPV6))) {
      st.icmp6_rx_drop_bad_checksum++;
      return;
    }
    const type = p.type;
    if (type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_REDIRECT) {
      this.ndInput(type, buf, ipOff, off, len, target, frameSrc, now);
      return;
    }
    if (target !== null && target.state === 'tentative') {
      st.ip6_rx_drop_not_for_us++;
      return;
    }
    if (type === ICMPV6_ECHO_REQUEST) {
      st.icmp6_rx_echo_requests++;
      if (multicast) {
        // No answers to group echoes: an amplifier for anyone on the link.
        st.icmp6_rx_drop_multicast_echo++;
        return;
      }
      // The unspecified source is for DAD's solicitations only (RFC 4291 §2.5.2): nothing answers to it.
      if (isIpv6Unspecified(buf, ipOff + 8)) {
        st.ip6_rx_drop_martian_source++;
        return;
      }
      this.sendEchoReply(buf, ipOff, off, len);
      return;
    }
    if (type === ICMPV6_ECHO_REPLY) {
      st.icmp6_rx_echo_replies++;
      this.echoReplyHandler?.(buf.slice(ipOff + 8, ipOff + 24), p.ident, p.seqNo, buf, p.payloadOffset, p.payloadLength, now);
      return;
    }
    if (isIcmpv6Error(type)) {
      st.icmp6_rx_errors++;
      if (type === ICMPV6_PACKET_TOO_BIG) {
        st.icmp6_rx_packet_too_big++;
        this.packetTooBig(p.word, buf, p.payloadOffset, p.payloadLength, now);
      }
      this.transportError(type, p.code, p.word, buf, p.payloadOffset, p.payloadLength, now);
    }
  }

  /**
   * Hands an ICMPv6 error to the transport that sent the quoted packet: it
   * must come from one of our addresses, its upper-layer header (after a
   * first fragment's header, if any) quoted for 8 bytes at least.
   */
  private transportError(type: number, code: number, word: number, buf: Uint8Array, off: number, len: number, now: number): void {
    let kind: IcmpErrorKind | null = null;
    let mtu = 0;
    if (type === ICMPV6_DEST_UNREACHABLE) kind = unreachableKind(code);
    else if (type === ICMPV6_PACKET_TOO_BIG) {
      kind = 'frag-needed';
      mtu = Math.max(IPV6_MIN_MTU, Math.min(word, this.mtu));
    } else if (type === ICMPV6_TIME_EXCEEDED) kind = 'ttl-exceeded';
    else if (type === ICMPV6_PARAMETER_PROBLEM && code === ICMPV6_UNRECOGNIZED_NEXT_HEADER) kind = 'protocol-unreachable';
    if (kind === null || len < IPV6_HEADER_LEN + 8 || buf[off]! >>> 4 !== 6 || this.findAddr(buf, off + 8) === null) return;
    const end = off + len;
    let nh = buf[off + 6]!;
    let at = off + IPV6_HEADER_LEN;
    if (nh === IPPROTO_FRAGMENT) {
      // Only a first fragment quotes the transport header.
      if (at + FRAGMENT_HEADER_LEN + 8 > end || (((buf[at + 2]! << 8) | buf[at + 3]!) & 0xfff8) !== 0) return;
      nh = buf[at]!;
      at += FRAGMENT_HEADER_LEN;
    }
    const t = this.transports6[nh];
    if (t?.icmpError6 === undefined) return;
    t.icmpError6(buf.subarray(off + 8, off + 24), buf.subarray(off + 24, off + 40), buf, at, end - at, kind, mtu, now);
  }

  /**
   * RFC 8201: the quoted packet (an IPv6 header at least) must be one we
   * sent; its destination's path MTU becomes the reported one, never below
   * 1280 (RFC 8200 §5: no atomic fragments for a smaller one) nor above the link's.
   */
  private packetTooBig(mtu: number, buf: Uint8Array, off: number, len: number, now: number): void {
    if (len < IPV6_HEADER_LEN || buf[off]! >>> 4 !== 6 || this.findAddr(buf, off + 8) === null) {
      this.stats.icmp6_rx_pmtu_ignored++;
      return;
    }
    const value = Math.max(IPV6_MIN_MTU, Math.min(mtu, this.mtu));
    const key = ipv6Key(buf, off + 24);
    const cur = this.pmtu.get(key);
    if (cur !== undefined && cur.expiresAt > now && cur.mtu <= value) return;
    if (value >= this.mtu) return;
    this.pmtu.delete(key);
    if (this.pmtu.size >= PMTU_MAX) this.pmtu.delete(this.pmtu.keys().next().value!);
    this.pmtu.set(key, { mtu: value, expiresAt: now + PMTU_TTL_MS });
    this.stats.icmp6_rx_pmtu_updates++;
  }

  /** The MTU toward `dst`: a learnt path MTU while it lasts, else the link's. */
  pathMtu(dst: Uint8Array, now = this.now()): number {
    if (this.pmtu.size === 0) return this.mtu;
    const key = ipv6Key(dst);
    const e = this.pmtu.get(key);
    if (e === undefined) return this.mtu;
    if (e.expiresAt <= now) {
      this.pmtu.delete(key);
      return this.mtu;
    }
    return Math.min(e.mtu, this.mtu);
  }

  /** Destinations with a learnt path MTU. */
  get pathMtuEntries(): number {
    return this.pmtu.size;
  }

  // ------------------------------------------------------ neighbor discovery

  private ndInput(type: number, buf: Uint8Array, ipOff: number, off: number, len: number, target: Addr6 | null, frameSrc: number, now: number): void {
    const st = this.stats;
    // RFC 4861 §6.1, §7.1: hop limit 255 (not forwarded), code 0.
    if (buf[ipOff + 7] !== ND_HOP_LIMIT || buf[off + 1] !== 0) {
      st.nd_rx_drop_invalid++;
      return;
    }
    let m: NdRepr;
    try {
      m = parseNdp(buf, off, len);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      st.nd_rx_drop_invalid++;
      return;
    }
    if (m.options.malformed !== undefined) st.nd_rx_option_malformed += m.options.malformed;
    const src = buf.subarray(ipOff + 8, ipOff + 24);
    const srcUnspecified = isIpv6Unspecified(src);
    switch (m.kind) {
      case 'rs':
        // A host ignores solicitations (§6.2.6 is for routers).
        st.nd_rx_rs++;
        return;
      case 'ra':
        if (!isIpv6LinkLocal(src)) {
          st.nd_rx_drop_invalid++;
          return;
        }
        st.nd_rx_ra++;
        this.routerAdvert(m, src, now);
        return;
      case 'ns': {
        if (isIpv6Multicast(m.target) || (srcUnspecified && (!isSolicitedNodeMulticast(buf, ipOff + 24) || m.options.sourceMac !== undefined))) {
          st.nd_rx_drop_invalid++;
          return;
        }
        st.nd_rx_ns++;
        const mine = this.findAddr(m.target, 0);
        if (mine === null || mine.state === 'duplicate') return;
        if (mine.state === 'tentative') {
          // Another node is doing DAD for the same address (§5.4.3); a solicitation from a specified source is ignored.
          if (srcUnspecified) this.duplicate(mine, now);
          return;
        }
        if (srcUnspecified) {
          this.sendNeighborAdvert(mine.address, IPV6_ALL_NODES, -1, false);
          return;
        }
        const mac = m.options.sourceMac;
        if (mac !== undefined) this.neighbors.learnSource(src, mac, true, now);
        this.sendNeighborAdvert(mine.address, src, mac ?? frameSrc, true);
        return;
      }
      case 'na': {
        if (isIpv6Multicast(m.target) || (isIpv6Multicast(buf, ipOff + 24) && m.solicited)) {
          st.nd_rx_drop_invalid++;
          return;
        }
        st.nd_rx_na++;
        const mine = this.findAddr(m.target, 0);
        if (mine !== null) {
          if (mine.state === 'tentative') this.duplicate(mine, now);
          else st.nd_rx_na_conflict++;
          return;
        }
        this.neighbors.learnAdvert(m.target, m.options.targetMac ?? -1, m.solicited, m.override, m.router, now);
        return;
      }
      case 'redirect': {
        if (!isIpv6LinkLocal(src) || isIpv6Multicast(m.destination) || (!isIpv6LinkLocal(m.target) && !ipv6Equal(m.target, 0, m.destination))) {
          st.nd_rx_drop_invalid++;
          return;
        }
        // Only the router we use for the destination may redirect (§8.1): anyone else on the link
        // could otherwise plant neighbour entries. No per-destination routes are kept, so a valid
        // redirect teaches only the target's link-layer address.
        const hop = this.nextHop(m.destination);
        if (hop === null || !ipv6Equal(hop, 0, src)) {
          st.nd_rx_drop_invalid++;
          return;
        }
        st.nd_rx_redirect++;
        if (m.options.targetMac !== undefined) this.neighbors.learnSource(m.target, m.options.targetMac, true, now);
        return;
      }
    }
  }

  private routerAdvert(m: Extract<NdRepr, { kind: 'ra' }>, src: Uint8Array, now: number): void {
    if (!this.slaacEnabled) return;
    this.raSeen = true;
    this.wheel.disarm(this.rsTimer);
    const s = this.slaac;
    s.router(src, m.routerLifetime, now);
    if (m.curHopLimit !== 0) this.hopLimit = m.curHopLimit;
    const nd = this.neighbors.config;
    if (m.reachableTime !== 0 && m.reachableTime <= 3_600_000) nd.reachableMs = m.reachableTime;
    if (m.retransTimer !== 0 && m.retransTimer <= 60_000) nd.retransMs = m.retransTimer;
    if (m.options.sourceMac !== undefined) this.neighbors.learnSource(src, m.options.sourceMac, true, now, true);
    const mtu = m.options.mtu;
    if (mtu !== undefined) {
      if (mtu >= IPV6_MIN_MTU && mtu <= this.host.mtu) this.mtu = mtu;
      else this.stats.ra_mtu_ignored++;
    }
    for (const p of m.options.prefixes ?? []) {
      if (p.onLink) s.onLink(p, now);
      if (!p.autonomous) continue;
      const prefix = p.prefix;
      let existing: Addr6 | null = null;
      let count = 0;
      for (const a of this.addrs) {
        if (a.origin !== 'slaac') continue;
        count++;
        if (ipv6PrefixMatch(a.address, 0, prefix, 0, 64)) existing = a;
      }
      const u = s.autonomous(p, existing === null ? -1 : existing.validUntil, count, now);
      if (u === null) continue;
      if (existing !== null) {
        existing.validUntil = u.validUntil;
        existing.preferredUntil = u.preferredUntil;
        if (existing.state === 'deprecated' && u.preferredUntil > now) existing.state = 'preferred';
        continue;
      }
      const addr = ipv6WithInterfaceId(u.prefix, this.interfaceId(u.prefix, 0));
      if (this.findAddr(addr, 0) !== null) continue;
      const a = new Addr6(addr, 64, 'slaac', u.validUntil, u.preferredUntil, this.onAddrTimer);
      this.addrs.push(a);
      this.stats.slaac_addresses_formed++;
      this.startDad(a, now);
    }
    this.armLifetimes(now);
  }

  private armLifetimes(now: number): void {
    let next = this.slaac.expire(now);
    for (const a of this.addrs) {
      if (a.validUntil > now) next = Math.min(next, a.validUntil);
      if (a.preferredUntil > now) next = Math.min(next, a.preferredUntil);
    }
    if (next === Infinity) this.wheel.disarm(this.lifetimeTimer);
    else this.wheel.arm(this.lifetimeTimer, next);
  }

  private expire(now: number): void {
    for (let i = this.addrs.length - 1; i >= 1; i--) {
      const a = this.addrs[i]!;
      if (a.validUntil <= now) {
        this.wheel.disarm(a.timer);
        this.addrs.splice(i, 1);
        this.stats.slaac_addresses_expired++;
        a.state = 'duplicate';
        this.onAddressChange?.(a);
      } else if (a.preferredUntil <= now && a.state === 'preferred') {
        a.state = 'deprecated';
        this.onAddressChange?.(a);
      }
    }
    this.armLifetimes(now);
  }

  private startDad(a: Addr6, now: number): void {
    if (this.dadTransmits <= 0) {
      this.dadDone(a, now);
      return;
    }
    a.state = 'tentative';
    a.dadSent = 0;
    this.onAddressChange?.(a);
    this.addrTimer(a, now);
  }

  private addrTimer(a: Addr6, now: number): void {
    if (a.state !== 'tentative') return;
    if (a.dadSent >= this.dadTransmits) {
      this.dadDone(a, now);
      return;
    }
    a.dadSent++;
    this.stats.nd_dad_ns_sent++;
    this.sendNs(a.address, IPV6_UNSPECIFIED, solicitedNodeMulticast(a.address), -1);
    this.wheel.arm(a.timer, now + this.neighbors.config.retransMs);
  }

  private dadDone(a: Addr6, now: number): void {
    a.state = a.preferredUntil > now ? 'preferred' : 'deprecated';
    this.onAddressChange?.(a);
    if (a.origin === 'link-local' && this.slaacEnabled && !this.raSeen) {
      this.rsSent = 0;
      this.sendRouterSolicit(now);
    }
  }

  private duplicate(a: Addr6, _now: number): void {
    this.stats.nd_dad_duplicates++;
    a.state = 'duplicate';
    this.wheel.disarm(a.timer);
    this.onAddressChange?.(a);
  }

  private sendRouterSolicit(now: number): void {
    if (this.raSeen || this.rsSent >= MAX_RTR_SOLICITATIONS) return;
    this.rsSent++;
    this.stats.nd_tx_rs++;
    const ll = this.addrs[0]!;
    const src = ll.usable ? ll.address : IPV6_UNSPECIFIED;
    const m: NdRepr = { kind: 'rs', options: ll.usable ? { sourceMac: this.host.mac } : {} };
    this.sendNd(m, src, IPV6_ALL_ROUTERS, ipv6MulticastMac(IPV6_ALL_ROUTERS));
    this.wheel.arm(this.rsTimer, now + RTR_SOLICITATION_INTERVAL_MS);
  }

  // Nd6Host
  sendNeighborSolicit(target: Uint8Array, unicastMac: number): void {
    const src = this.sourceFor(target);
    if (src === null) {
      this.stats.ip6_tx_drop_no_source++;
      return;
    }
    this.sendNs(target, src, unicastMac < 0 ? solicitedNodeMulticast(target) : target, unicastMac);
  }

  transmitQueued(mac: number, slot: number, len: number): void {
    writeMac(this.host.pool, slot * this.host.slotSize, mac);
    this.host.queueTxSlot(slot, len);
  }

  dropQueued(slot: number): void {
    this.stats.ip6_tx_drop_unresolved++;
    this.host.releaseSlot(slot);
  }

  routerLost(addr: Uint8Array, _now: number): void {
    if (this.slaac.removeRouter(addr)) this.stats.nd_rx_na_router_lost++;
  }

  private sendNs(target: Uint8Array, src: Uint8Array, dst: Uint8Array, unicastMac: number): void {
    const m: NdRepr = { kind: 'ns', target, options: isIpv6Unspecified(src) ? {} : { sourceMac: this.host.mac } };
    this.sendNd(m, src, dst, unicastMac >= 0 ? unicastMac : ipv6MulticastMac(dst));
  }

  private sendNeighborAdvert(target: Uint8Array, dst: Uint8Array, dstMac: number, solicited: boolean): void {
    this.stats.nd_tx_na++;
    const m: NdRepr = { kind: 'na', router: false, solicited, override: true, target, options: { targetMac: this.host.mac } };
    this.sendNd(m, target, dst, dstMac >= 0 ? dstMac : ipv6MulticastMac(dst));
  }

  private sendNd(m: NdRepr, src: Uint8Array, dst: Uint8Array, dstMac: number): void {
    const len = ndpLength(m);
    const at = this.buildFrame(src, dst, IPPROTO_ICMPV6, len, ND_HOP_LIMIT);
    if (at < 0) return;
    const pool = this.host.pool;
    emitNdp(m, pool, at + ETH_HEADER_LEN + IPV6_HEADER_LEN, src, dst);
    writeMac(pool, at, dstMac);
    this.host.queueTxSlot(at / this.host.slotSize, ETH_HEADER_LEN + IPV6_HEADER_LEN + len);
  }

  // ------------------------------------------------------------------ ICMPv6

  private sendEchoReply(buf: Uint8Array, ipOff: number, off: number, len: number): void {
    const src = buf.slice(ipOff + 24, ipOff + 40);
    const dst = buf.slice(ipOff + 8, ipOff + 24);
    this.stats.icmp6_tx_echo_replies++;
    this.send(src, dst, IPPROTO_ICMPV6, len, (out, o) => {
      out.set(buf.subarray(off, off + len), o);
      out[o] = ICMPV6_ECHO_REPLY;
      out[o + 1] = 0;
      fillIcmpv6Checksum(out, o, len, src, dst);
    });
  }

  /**
   * Sends an ICMPv6 error quoting the packet at buf[off, off + len) (as
   * much as fits the minimum MTU, RFC 4443 §2.4 c), rate limited (§2.4 f).
   * Never about an error message, a packet from an unspecified or multicast
   * source, or a multicast-destined one unless `toMulticast` (§2.4 e.3: a
   * Parameter Problem for an option type that asks for it).
   */
  sendIcmpError(type: number, code: number, word: number, buf: Uint8Array, off: number, len: number, now: number, toMulticast = false): void {
    if (isIpv6Unspecified(buf, off + 8) || isIpv6Multicast(buf, off + 8) || (!toMulticast && isIpv6Multicast(buf, off + 24))) return;
    if (buf[off + 6] === IPPROTO_ICMPV6 && len >= IPV6_HEADER_LEN + 1 && isIcmpv6Error(buf[off + IPV6_HEADER_LEN]!)) return;
    if (!this.icmpErrors.take(now)) {
      this.stats.icmp6_tx_rate_limited++;
      return;
    }
    const to = buf.slice(off + 8, off + 24);
    const local = this.findAddr(buf, off + 24);
    const from = local !== null && local.usable ? local.address : this.sourceFor(to);
    if (from === null) return;
    const quote = Math.min(len, IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
    this.stats.icmp6_tx_errors++;
    this.send(from, to, IPPROTO_ICMPV6, ICMPV6_HEADER_LEN + quote, (out, o) => {
      out.set(buf.subarray(off, off + quote), o + ICMPV6_HEADER_LEN);
      emitIcmpv6({ type, code, pointer: word, mtu: word, payloadLength: quote }, out, o, from, to);
    });
  }

  /** Registers the upper layer for `protocol` (UDP: 17). */
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
    this.sendIcmpError(ICMPV6_DEST_UNREACHABLE, code, 0, this.deliveringBuf, this.deliveringOff, this.deliveringLen, now);
  }

  /** Sends an ICMPv6 echo request (ping). */
  sendEchoRequest(dst: Uint8Array, ident: number, seqNo: number, data: Uint8Array): boolean {
    const src = this.sourceFor(dst);
    if (src === null) {
      this.stats.ip6_tx_drop_no_source++;
      return false;
    }
    const len = ICMPV6_HEADER_LEN + data.length;
    return this.send(src, dst, IPPROTO_ICMPV6, len, (out, o) => {
      out.set(data, o + ICMPV6_HEADER_LEN);
      emitIcmpv6({ type: ICMPV6_ECHO_REQUEST, code: 0, ident, seqNo, payloadLength: data.length }, out, o, src, dst);
    });
  }

  // --------------------------------------------------------------- transmit

  /** True when `dst` is on this link: link-local, inside a configured or advertised prefix. */
  onLink(dst: Uint8Array, off = 0): boolean {
    if (isIpv6LinkLocal(dst, off) || isIpv6Multicast(dst, off)) return true;
    for (const a of this.addrs) if (a.origin !== 'slaac' && a.origin !== 'link-local' && ipv6PrefixMatch(dst, off, a.address, 0, a.prefixLength)) return true;
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
    const ll = this.addrs[0]!;
    const linkScope = isIpv6LinkLocal(dst) || (isIpv6Multicast(dst) && (dst[1]! & 0x0f) <= 2);
    if (linkScope) return ll.usable ? ll.address : null;
    let best: Addr6 | null = null;
    let bestScore = -1;
    for (let k = 1; k < this.addrs.length; k++) {
      const a = this.addrs[k]!;
      if (!a.usable) continue;
      let common = 0;
      while (common < 128 && ipv6PrefixMatch(a.address, 0, dst, 0, common + 1)) common++;
      const score = (a.state === 'preferred' ? 1000 : 0) + common;
      if (score > bestScore) {
        best = a;
        bestScore = score;
      }
    }
    if (best !== null) return best.address;
    return ll.usable ? ll.address : null;
  }

  /**
   * Builds Ethernet + IPv6 headers in a fresh slot; returns the frame's
   * absolute start in the pool, or -1. The destination MAC is left to the caller.
   */
  private buildFrame(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, hopLimit: number): number {
    const slot = this.host.allocTxSlot();
    if (slot < 0) return -1;
    const base = slot * this.host.slotSize;
    const pool = this.host.pool;
    writeMac(pool, base + 6, this.host.mac);
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
    return base;
  }

  /**
   * Sends one IPv6 packet of `length` upper-layer bytes written by `write`
   * (no extension headers). Returns false when dropped (counted).
   */
  send(src: Uint8Array, dst: Uint8Array, nextHeader: number, length: number, write: (buf: Uint8Array, off: number) => void, hopLimit = this.hopLimit): boolean {
    // To one of the stack's own addresses: through the loopback interface, whichever layer was asked.
    const lo = this.local?.loopback6 ?? null;
    if (lo !== null && lo !== this && this.local!.ownAddress6(dst, 0) !== null) return lo.send(src, dst, nextHeader, length, write, hopLimit);
    const hop = this.nextHop(dst);
    if (hop === null) {
      this.stats.ip6_tx_drop_no_route++;
      return false;
    }
    const mtu = this.pathMtu(dst);
    if (IPV6_HEADER_LEN + length > mtu) {
      if (length > 65535 - FRAGMENT_HEADER_LEN) {
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
   * Fragments at the source (RFC 8200 §4.5): the whole packet is written
   * into a scratch buffer, then cut into pieces of a multiple of 8 bytes
   * that fit the MTU with a fragment header each.
   */
  private sendFragmented(src: Uint8Array, dst: Uint8Array, hop: Uint8Array, nextHeader: number, length: number, write: (buf: Uint8Array, off: number) => void, hopLimit: number, mtu: number): boolean {
    if (this.fragScratch === null) this.fragScratch = new Uint8Array(65535);
    const scratch = this.fragScratch;
    write(scratch, 0);
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
    const pool = this.host.pool;
    const slot = base / this.host.slotSize;
    if (this.loopback) {
      writeMac(pool, base, this.host.mac);
      return this.host.queueTxSlot(slot, frameLen);
    }
    if (isIpv6Multicast(dst)) {
      writeMac(pool, base, ipv6MulticastMac(dst));
      return this.host.queueTxSlot(slot, frameLen);
    }
    const now = this.now();
    if (this.neighbors.writeMacFor(hop, now, pool, base)) return this.host.queueTxSlot(slot, frameLen);
    if (this.neighbors.enqueue(hop, slot, frameLen, now)) return true;
    this.stats.ip6_tx_drop_unresolved++;
    this.host.releaseSlot(slot);
    return false;
  }

  /** The stored local address `dst` names (any layer's, through `local`), or null. */
  private localAddress(dst: Uint8Array): Uint8Array | null {
    return this.local !== null ? this.local.ownAddress6(dst, 0) : this.ownAddress(dst);
  }

  /** Releases the timers and parked frames. */
  shutdown(): void {
    this.wheel.disarm(this.rsTimer);
    this.wheel.disarm(this.lifetimeTimer);
    for (const a of this.addrs) this.wheel.disarm(a.timer);
    this.neighbors.clear();
    this.reassembler.clear();
  }

  /** For debugging: the addresses as text. */
  describe(): string {
    return this.addrs.map((a) => `${ipv6ToString(a.address)}/${a.prefixLength} ${a.state}`).join(', ');
  }
}
