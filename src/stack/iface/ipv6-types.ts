/**
 * What the parts of the IPv6 layer share (ipv6-layer.ts is the facade over
 * them): its configuration, the interface it runs on, its counters, the
 * link's MTU and hop limit, and the address records other modules see.
 */
import type { ExtLimits } from '../../wire/ipv6-ext.js';
import type { Nd6Config } from './nd-cache.js';
import type { SlaacLimits } from './slaac.js';
import type { Reassembly6Config } from './reassembly6.js';
import type { GsoBurst } from './gso-burst.js';

export const DEFAULT_HOP_LIMIT = 64;
/** Neighbor Discovery is sent, and must arrive, with hop limit 255 (RFC 4861 §6.1, §7.1). */
export const ND_HOP_LIMIT = 255;

/** The loopback address, ::1. */
export const IPV6_LOOPBACK = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** What the IPv6 layer needs of its interface. */
export interface Ipv6LinkHost {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  /**
   * TCP longer than the MTU may be cut into frames here (software GSO,
   * InterfaceConfig.gso: the NIC neither segments nor completes checksums).
   */
  readonly gso: boolean;
  /** The interface's GSO burst state (one per interface: IPv4 and IPv6 never segment at once). */
  readonly gsoBurst: GsoBurst;
  /**
   * The NIC completes IPv6 TCP checksums (NicOffloads.txChecksum6): TCP
   * leaves the pseudo-header sum in the field; a packet fragmented here has
   * its checksum completed first.
   */
  readonly txChecksum6: boolean;
  /** The NIC segments IPv6 TCP longer than the MTU (TSO, with txChecksum6). */
  readonly tso6: boolean;
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

/** What RAs change and output reads: the link MTU (the interface's, lowered by an RA's MTU option, never below 1280) and the hop limit. */
export interface Ipv6LinkState {
  mtu: number;
  hopLimit: number;
}

/** Receives ICMPv6 echo replies (ping tools, tests). */
export type Echo6ReplyHandler = (src: Uint8Array, ident: number, seqNo: number, buf: Uint8Array, off: number, len: number, now: number) => void;

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
  /** TCP segments cut into frames here (software GSO); their frames count in ip6_tx. */
  ip6_tx_gso: number;
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

export function newIpv6Stats(): Ipv6Stats {
  return {
    ip6_rx: 0, ip6_rx_drop_truncated: 0, ip6_rx_drop_bad_version: 0, ip6_rx_drop_bad_length: 0,
    ip6_rx_drop_not_for_us: 0, ip6_rx_drop_martian_source: 0, ip6_rx_drop_ext_malformed: 0,
    ip6_rx_drop_ext_too_long: 0, ip6_rx_drop_ext_unsupported: 0, ip6_rx_drop_fragment: 0,
    ip6_rx_drop_unknown_protocol: 0, ip6_rx_delivered: 0, ip6_tx: 0, ip6_tx_drop_no_route: 0,
    ip6_tx_drop_no_source: 0, ip6_tx_drop_too_big: 0, ip6_tx_drop_unresolved: 0, ip6_tx_fragmented: 0, ip6_tx_gso: 0, ip6_tx_fragments: 0,
    icmp6_rx: 0, icmp6_rx_drop_malformed: 0, icmp6_rx_drop_bad_checksum: 0, icmp6_rx_echo_requests: 0,
    icmp6_rx_echo_replies: 0, icmp6_rx_drop_multicast_echo: 0, icmp6_rx_errors: 0, icmp6_rx_packet_too_big: 0, icmp6_rx_pmtu_updates: 0, icmp6_rx_pmtu_ignored: 0,
    icmp6_tx_echo_replies: 0, icmp6_tx_errors: 0, icmp6_tx_rate_limited: 0,
    nd_rx_drop_invalid: 0, nd_rx_rs: 0, nd_rx_ra: 0, nd_rx_ns: 0, nd_rx_na: 0, nd_rx_redirect: 0,
    nd_rx_na_conflict: 0, nd_rx_na_router_lost: 0, nd_rx_option_malformed: 0, nd_tx_na: 0, nd_tx_rs: 0, nd_dad_ns_sent: 0, nd_dad_duplicates: 0,
    ra_mtu_ignored: 0, slaac_addresses_formed: 0, slaac_addresses_expired: 0,
  };
}

