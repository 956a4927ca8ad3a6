/**
 * Neighbor Discovery on one IPv6 interface (RFC 4861, RFC 4862): the
 * messages in — router solicitations (ignored by a host), router
 * advertisements (routers, prefixes, SLAAC through the address table, MTU,
 * hop limit, ND timers), neighbour solicitations and advertisements (answers,
 * the neighbour cache's states, DAD conflicts), redirects from the router in
 * use — and out: router solicitations after the link-local address is
 * ready, solicitations for the neighbour cache and for DAD, advertisements.
 * Every malformed message is dropped and counted.
 */
import type { TimerWheel } from '../../time/timer-wheel.js';
import { Timer } from '../../time/timer-wheel.js';
import { ETH_HEADER_LEN, writeMac } from '../../wire/ethernet.js';
import {
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPPROTO_ICMPV6,
  IPV6_ALL_NODES,
  IPV6_ALL_ROUTERS,
  IPV6_UNSPECIFIED,
  ipv6Equal,
  ipv6MulticastMac,
  isIpv6LinkLocal,
  isIpv6Multicast,
  isIpv6Unspecified,
  isSolicitedNodeMulticast,
  solicitedNodeMulticast,
} from '../../wire/ipv6.js';
import { parseNdp, emitNdp, ndpLength, type NdRepr } from '../../wire/ndp.js';
import { WireError } from '../../wire/errors.js';
import type { Nd6Cache, Nd6Host } from './nd-cache.js';
import type { SlaacState } from './slaac.js';
import type { Ipv6Addresses } from './ipv6-addresses.js';
import type { Ipv6Output } from './ipv6-output.js';
import { ND_HOP_LIMIT, type Ipv6LinkHost, type Ipv6LinkState, type Ipv6Stats } from './ipv6-types.js';

/** RFC 4861 §10 host constants. */
const MAX_RTR_SOLICITATIONS = 3;
const RTR_SOLICITATION_INTERVAL_MS = 4_000;

export class Ipv6Nd implements Nd6Host {
  private readonly rsTimer: Timer;
  private rsSent = 0;
  private raSeen = false;

  constructor(
    private readonly host: Ipv6LinkHost,
    private readonly wheel: TimerWheel,
    private readonly stats: Ipv6Stats,
    private readonly link: Ipv6LinkState,
    private readonly addrs: Ipv6Addresses,
    private readonly neighbors: Nd6Cache,
    private readonly slaac: SlaacState,
    private readonly output: Ipv6Output,
    private readonly slaacEnabled: boolean,
  ) {
    this.rsTimer = new Timer((now) => this.sendRouterSolicit(now));
  }

  /** An ND message (ICMPv6 type 133-137, checksum verified) at buf[off, off + len) of the packet at buf[ipOff], from Ethernet source `frameSrc`. */
  input(buf: Uint8Array, ipOff: number, off: number, len: number, frameSrc: number, now: number): void {
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
        const mine = this.addrs.find(m.target, 0);
        if (mine === null || mine.state === 'duplicate') return;
        if (mine.state === 'tentative') {
          // Another node is doing DAD for the same address (§5.4.3); a solicitation from a specified source is ignored.
          if (srcUnspecified) this.addrs.duplicate(mine, now);
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
        const mine = this.addrs.find(m.target, 0);
        if (mine !== null) {
          if (mine.state === 'tentative') this.addrs.duplicate(mine, now);
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
        const hop = this.output.nextHop(m.destination);
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
    if (m.curHopLimit !== 0) this.link.hopLimit = m.curHopLimit;
    const nd = this.neighbors.config;
    if (m.reachableTime !== 0 && m.reachableTime <= 3_600_000) nd.reachableMs = m.reachableTime;
    if (m.retransTimer !== 0 && m.retransTimer <= 60_000) nd.retransMs = m.retransTimer;
    if (m.options.sourceMac !== undefined) this.neighbors.learnSource(src, m.options.sourceMac, true, now, true);
    const mtu = m.options.mtu;
    if (mtu !== undefined) {
      if (mtu >= IPV6_MIN_MTU && mtu <= this.host.mtu) this.link.mtu = mtu;
      else this.stats.ra_mtu_ignored++;
    }
    for (const p of m.options.prefixes ?? []) {
      if (p.onLink) s.onLink(p, now);
      if (p.autonomous) this.addrs.autonomousPrefix(p, now);
    }
    this.addrs.armLifetimes(now);
  }

  /** The link-local address passed DAD: solicit routers when SLAAC is on and none has advertised yet. */
  linkLocalReady(now: number): void {
    if (this.slaacEnabled && !this.raSeen) {
      this.rsSent = 0;
      this.sendRouterSolicit(now);
    }
  }

  private sendRouterSolicit(now: number): void {
    if (this.raSeen || this.rsSent >= MAX_RTR_SOLICITATIONS) return;
    this.rsSent++;
    this.stats.nd_tx_rs++;
    const ll = this.addrs.list[0]!;
    const src = ll.usable ? ll.address : IPV6_UNSPECIFIED;
    const m: NdRepr = { kind: 'rs', options: ll.usable ? { sourceMac: this.host.mac } : {} };
    this.sendNd(m, src, IPV6_ALL_ROUTERS, ipv6MulticastMac(IPV6_ALL_ROUTERS));
    this.wheel.arm(this.rsTimer, now + RTR_SOLICITATION_INTERVAL_MS);
  }

  /** DAD's solicitation for `address`: from ::, to its solicited-node group (RFC 4862 §5.4.2). */
  sendDadSolicit(address: Uint8Array): void {
    this.sendNs(address, IPV6_UNSPECIFIED, solicitedNodeMulticast(address), -1);
  }

  // Nd6Host
  sendNeighborSolicit(target: Uint8Array, unicastMac: number): void {
    const src = this.output.sourceFor(target);
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
    const at = this.output.buildFrame(src, dst, IPPROTO_ICMPV6, len, ND_HOP_LIMIT);
    if (at < 0) return;
    const pool = this.host.pool;
    emitNdp(m, pool, at + ETH_HEADER_LEN + IPV6_HEADER_LEN, src, dst);
    writeMac(pool, at, dstMac);
    this.host.queueTxSlot(at / this.host.slotSize, ETH_HEADER_LEN + IPV6_HEADER_LEN + len);
  }

  /** Disarms the solicitation timer. */
  shutdown(): void {
    this.wheel.disarm(this.rsTimer);
  }
}
