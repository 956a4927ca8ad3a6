/**
 * One IPv4 interface over one NIC: Ethernet demultiplexing, ARP, IPv4 input
 * validation, fragmentation and reassembly, ICMP (echo, errors), and handing
 * transport payloads to TCP/UDP through the Router.
 *
 * Receive path: poll() takes a burst of frames from the NIC, processes each
 * in place in the NIC's slot pool and releases the slot. Nothing received is
 * kept by reference past the call: reassembly copies, transports copy.
 *
 * Transmit path: send() builds the frame directly in a NIC slot (Ethernet +
 * IPv4 header, then the transport's writer fills the rest), resolves the next
 * hop's MAC and appends the slot to a bounded TX batch, flushed to the NIC in
 * one burst at the end of the poll (or when the batch fills).
 *
 * Slot budget: receive needs free slots to keep working (the NIC fills them
 * with arriving frames), so transmit never takes the last `rxReserve` of
 * them, and frames parked for ARP hold at most `neighbor.queueTotal` (both
 * derived from the pool size unless configured). Whatever a peer makes us
 * send, the stack can still receive.
 *
 * Every dropped frame increments exactly one counter naming the reason.
 */
import { RX_FLAG_CSUM_VERIFIED, type Nic } from '../../driver/nic.js';
import { onesSum } from '../../wire/checksum.js';
import type { Clock } from '../../time/clock.js';
import type { TimerWheel } from '../../time/timer-wheel.js';
import { wrapOrReason } from '../../wire/errors.js';
import {
  EthernetFrame,
  ETH_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  MAC_BROADCAST,
  isMulticastMac,
  macHigh16,
  macLow32,
  writeMac,
  writeMacHalves,
} from '../../wire/ethernet.js';
import { ArpPacket, ARP_LEN, ARP_REPLY, ARP_REQUEST, emitArp, type ArpRepr } from '../../wire/arp.js';
import {
  Ipv4Packet,
  IPV4_HEADER_LEN,
  IPV4_BROADCAST,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  emitIpv4,
  type Ipv4Repr,
} from '../../wire/ipv4.js';
import {
  IcmpPacket,
  ICMP_HEADER_LEN,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_DEST_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
  ICMP_PORT_UNREACHABLE,
  ICMP_PROTOCOL_UNREACHABLE,
  ICMP_FRAG_NEEDED,
  ICMP_NET_UNREACHABLE,
  ICMP_ADMIN_PROHIBITED,
  emitIcmp,
} from '../../wire/icmp.js';
import { NeighborCache, DEFAULT_NEIGHBOR_CONFIG, type NeighborConfig, type NeighborHost } from './neighbor-cache.js';
import { Reassembler, DEFAULT_REASSEMBLY_CONFIG, type ReassemblyConfig } from './reassembly.js';
import type { IcmpErrorKind, IpSendOptions, L4Segmenter, L4Writer, TransportInput } from './ip-output.js';
import { TokenBucket } from './token-bucket.js';
import { GsoBurst } from './gso-burst.js';
import { Ipv6Layer, type Ipv6Config } from './ipv6-layer.js';
import { IPV6_ALL_NODES, ipv6MulticastMac, solicitedNodeMulticast } from '../../wire/ipv6.js';
import { DEBUG, debug, ipStr, macStr } from './debug.js';

export const DEFAULT_TTL = 64;
const RX_BURST = 64;
const TX_BATCH = 256;
/** Largest TCP segment (header + payload) segmented in software: what one IPv4 packet could carry, as Linux's GSO limit. */
const GSO_MAX = 65535 - IPV4_HEADER_LEN;

export interface InterfaceConfig {
  name: string;
  /** Our IPv4 address. */
  address: number;
  prefixLength: number;
  /** Default gateway, 0 for none. */
  gateway: number;
  /** IP MTU; defaults to the NIC's. */
  mtu?: number;
  /** A loopback interface: no ARP, every destination is local. */
  loopback?: boolean;
  neighbor?: Partial<NeighborConfig>;
  reassembly?: Partial<ReassemblyConfig>;
  /** ICMP errors we send: tokens per second and burst (RFC 1812 §4.3.2.8 rate limiting). */
  icmpErrorRate?: { perSecond: number; burst: number };
  /** Free NIC slots transmit never takes (kept for receive); default rxReserveFor(pool). */
  rxReserve?: number;
  /** IPv6 on this interface (link-local always, configured addresses, SLAAC); absent: IPv4 only. */
  ipv6?: Ipv6Config;
  /**
   * Software segmentation of TCP (GSO) where the NIC neither segments nor
   * computes checksums: TCP hands IP output up to 64 KiB at once and it is
   * cut into MTU-sized frames here (send's `segmenter`). Default true.
   */
  gso?: boolean;
}

/**
 * The default receive reserve: a sixteenth of the pool, at least 16 slots,
 * at most a quarter of the pool. 64 of the default 1,024 — one full receive
 * burst, which a TAP read or an e1000 ring refill takes at once.
 */
export function rxReserveFor(slotCount: number): number {
  return Math.min(slotCount >>> 2, Math.max(16, slotCount >>> 4));
}

/**
 * The default cap on frames parked for ARP, all addresses together: an
 * eighth of the pool (128 of 1,024), at least one address's queue.
 */
export function neighborQueueTotalFor(slotCount: number, queueLength: number): number {
  return Math.max(queueLength, slotCount >>> 3);
}

/** Receives echo replies (for ping-style tools and tests). */
export type EchoReplyHandler = (src: number, ident: number, seqNo: number, buf: Uint8Array, off: number, len: number, now: number) => void;

/** Per-interface counters; names say what was counted. */
export interface InterfaceStats {
  rx_frames: number;
  rx_bytes: number;
  tx_frames: number;
  tx_bytes: number;
  rx_drop_truncated: number;
  rx_drop_not_for_us: number;
  rx_drop_vlan: number;
  rx_drop_unknown_ethertype: number;
  /** Frames of a burst released without (complete) handling because handling one threw (see poll_exceptions). */
  rx_drop_burst_aborted: number;
  /** Exceptions thrown while handling a receive burst (a bug; rethrown after the burst's slots are released). */
  poll_exceptions: number;
  /**
   * The NIC refused a new receive filter (setMulticast threw: a device or
   * socket error). It runs while a packet is handled (DAD, SLAAC), so the
   * error is counted here and the NIC keeps its previous filter.
   */
  mcast_filter_errors: number;
  tx_drop_no_buffer: number;
  /** Transmit refused: the NIC's free slots were down to the receive reserve. */
  tx_drop_rx_reserve: number;
  tx_drop_nic_full: number;
  tx_drop_no_route: number;
  tx_drop_unresolved: number;
  tx_drop_too_big: number;
  arp_rx: number;
  arp_rx_malformed: number;
  arp_rx_requests: number;
  arp_rx_replies: number;
  arp_rx_unsolicited: number;
  arp_rx_conflict: number;
  arp_tx_replies: number;
  arp_tx_gratuitous: number;
  ip_rx: number;
  ip_rx_drop_truncated: number;
  ip_rx_drop_bad_version: number;
  ip_rx_drop_bad_header_length: number;
  ip_rx_drop_bad_length: number;
  ip_rx_drop_bad_checksum: number;
  ip_rx_drop_not_for_us: number;
  ip_rx_drop_martian_source: number;
  ip_rx_drop_unknown_protocol: number;
  ip_rx_drop_fragment: number;
  ip_rx_delivered: number;
  ip_tx: number;
  ip_tx_fragments: number;
  ip_tx_fragmented: number;
  /** TCP segments cut into frames here (software GSO); their frames count in ip_tx. */
  ip_tx_gso: number;
  icmp_rx: number;
  icmp_rx_drop_malformed: number;
  icmp_rx_drop_bad_checksum: number;
  icmp_rx_echo_requests: number;
  icmp_rx_echo_replies: number;
  icmp_rx_errors: number;
  icmp_rx_drop_broadcast_echo: number;
  icmp_tx_echo_replies: number;
  icmp_tx_errors: number;
  icmp_tx_rate_limited: number;
}

function newStats(): InterfaceStats {
  return {
    rx_frames: 0, rx_bytes: 0, tx_frames: 0, tx_bytes: 0,
    rx_drop_truncated: 0, rx_drop_not_for_us: 0, rx_drop_vlan: 0, rx_drop_unknown_ethertype: 0,
    rx_drop_burst_aborted: 0, poll_exceptions: 0, mcast_filter_errors: 0,
    tx_drop_no_buffer: 0, tx_drop_rx_reserve: 0, tx_drop_nic_full: 0, tx_drop_no_route: 0, tx_drop_unresolved: 0, tx_drop_too_big: 0,
    arp_rx: 0, arp_rx_malformed: 0, arp_rx_requests: 0, arp_rx_replies: 0, arp_rx_unsolicited: 0,
    arp_rx_conflict: 0, arp_tx_replies: 0, arp_tx_gratuitous: 0,
    ip_rx: 0, ip_rx_drop_truncated: 0, ip_rx_drop_bad_version: 0, ip_rx_drop_bad_header_length: 0,
    ip_rx_drop_bad_length: 0, ip_rx_drop_bad_checksum: 0, ip_rx_drop_not_for_us: 0,
    ip_rx_drop_martian_source: 0, ip_rx_drop_unknown_protocol: 0, ip_rx_drop_fragment: 0, ip_rx_delivered: 0,
    ip_tx: 0, ip_tx_fragments: 0, ip_tx_fragmented: 0, ip_tx_gso: 0,
    icmp_rx: 0, icmp_rx_drop_malformed: 0, icmp_rx_drop_bad_checksum: 0, icmp_rx_echo_requests: 0,
    icmp_rx_echo_replies: 0, icmp_rx_errors: 0, icmp_rx_drop_broadcast_echo: 0,
    icmp_tx_echo_replies: 0, icmp_tx_errors: 0, icmp_tx_rate_limited: 0,
  };
}

/** Where the Interface finds transports: the Router implements it. */
export interface TransportTable {
  transport(protocol: number): TransportInput | undefined;
  /** Brackets the frames of one receive burst (TransportInput.rxBurstStart/End). */
  rxBurstStart(): void;
  rxBurstEnd(now: number): void;
}

export class Interface implements NeighborHost {
  readonly name: string;
  readonly mac: number;
  /** Our address; 0 while unconfigured (e.g. before a DHCP lease). */
  address: number;
  prefixLength: number;
  netmask: number;
  gateway: number;
  readonly mtu: number;
  readonly loopback: boolean;
  /** Free NIC slots transmit leaves for receive. */
  readonly rxReserve: number;
  readonly stats: InterfaceStats = newStats();
  readonly neighbors: NeighborCache;
  readonly reassembler: Reassembler;
  echoReplyHandler: EchoReplyHandler | null = null;
  /** The IPv6 layer, when the interface was configured with `ipv6`; the loopback interface always has one (::1). */
  readonly v6: Ipv6Layer | null;
  /** Called when the TX batch goes from empty to non-empty (lets the poll loop schedule a flush). */
  onTxPending: (() => void) | null = null;

  private readonly pool: Uint8Array;
  private readonly slotSize: number;
  /** Our MAC's top 16 bits and low 32 bits (as int32), for the receive check. */
  private readonly macHi: number;
  private readonly macLo: number;
  private readonly rxSlots = new Uint32Array(RX_BURST);
  private readonly rxLens = new Uint32Array(RX_BURST);
  /** Per-frame RX flags, when the NIC reports them (rxPerFrameFlags). */
  private readonly rxFlags: Uint8Array | undefined;
  /** "Transport checksum verified" for the frame being processed. */
  private rxVerified: boolean;
  /** The NIC segments TCP packets larger than the MTU (TSO/GSO). */
  private readonly tso: boolean;
  /** TCP longer than the MTU is cut into frames here (InterfaceConfig.gso). */
  private readonly gso: boolean;
  /** IPv6: the NIC completes TCP checksums / segments TCP (NicOffloads.txChecksum6, tso6); else IPv6 output segments in software. */
  private readonly txChecksum6: boolean;
  private readonly tso6: boolean;
  private readonly gso6: boolean;
  /** A segmented burst's slots, payload sums and first header (software GSO, IPv4 and IPv6). */
  private readonly gsoBurst: GsoBurst;
  private readonly txSlots = new Uint32Array(TX_BATCH);
  private readonly txLens = new Uint32Array(TX_BATCH);
  private txCount = 0;
  private nextIdent = 1;
  private readonly icmpErrors: TokenBucket;
  private readonly eth = new EthernetFrame();
  private readonly arp = new ArpPacket();
  private readonly ip = new Ipv4Packet();
  private readonly icmp = new IcmpPacket();
  private readonly ipRepr: Ipv4Repr = {
    src: 0, dst: 0, protocol: 0, ttl: DEFAULT_TTL, dscp: 0, ecn: 0, ident: 0,
    dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLength: 0,
  };
  private readonly arpRepr: ArpRepr = { op: 0, senderMac: 0, senderIp: 0, targetMac: 0, targetIp: 0 };
  /** Scratch for fragmenting: the whole transport payload is built here first. */
  private fragScratch: Uint8Array | null = null;
  private deliveringBuf: Uint8Array = new Uint8Array(0);
  private deliveringOff = -1;
  private deliveringLen = 0;

  constructor(
    readonly nic: Nic,
    config: InterfaceConfig,
    private readonly clock: Clock,
    private readonly wheel: TimerWheel,
    private readonly transports: TransportTable,
  ) {
    this.name = config.name;
    this.mac = nic.mac;
    this.macHi = macHigh16(nic.mac);
    this.macLo = macLow32(nic.mac);
    this.address = 0;
    this.prefixLength = 0;
    this.netmask = 0;
    this.gateway = 0;
    this.setAddress(config.address, config.prefixLength, config.gateway);
    this.mtu = Math.min(config.mtu ?? nic.mtu, nic.mtu);
    this.loopback = config.loopback ?? false;
    this.pool = nic.pool;
    this.gsoBurst = new GsoBurst({ pool: this.pool, slotSize: nic.slotSize, allocTxSlot: (): number => this.allocTx() });
    this.slotSize = nic.slotSize;
    this.rxFlags = nic.rxPerFrameFlags === true ? new Uint8Array(RX_BURST) : undefined;
    this.rxVerified = nic.offloads.rxChecksumVerified;
    // The NIC cuts by its own MTU: TSO only when ours is the same.
    this.tso = nic.offloads.tso && nic.offloads.txChecksum && !this.loopback && this.mtu === nic.mtu;
    // Only where TCP computes every checksum itself: a NIC that completes
    // checksums either segments too (TSO) or gets MTU-sized segments.
    this.gso = (config.gso ?? true) && !this.tso && !nic.offloads.txChecksum && !this.loopback;
    // IPv6 by the NIC's own IPv6 flags: checksum offload and TSO where it
    // says so, else software GSO (a NIC that offloads IPv4 only, as the
    // e1000 and virtio-net here, still gets IPv6 TCP summed and cut by the stack).
    this.txChecksum6 = nic.offloads.txChecksum6 === true && !this.loopback;
    this.tso6 = this.txChecksum6 && nic.offloads.tso6 === true && this.mtu === nic.mtu;
    this.gso6 = (config.gso ?? true) && !this.txChecksum6 && !this.loopback;
    // On loopback a transmitted frame is the received one: nothing to reserve.
    this.rxReserve = this.loopback ? 0 : Math.max(0, config.rxReserve ?? rxReserveFor(nic.slotCount));
    const neighbor = { ...DEFAULT_NEIGHBOR_CONFIG, ...config.neighbor };
    if (config.neighbor?.queueTotal === undefined) neighbor.queueTotal = neighborQueueTotalFor(nic.slotCount, neighbor.queueLength);
    this.neighbors = new NeighborCache(this, wheel, neighbor);
    this.reassembler = new Reassembler(wheel, { ...DEFAULT_REASSEMBLY_CONFIG, ...config.reassembly });
    const rate = config.icmpErrorRate ?? { perSecond: 100, burst: 50 };
    this.icmpErrors = new TokenBucket(rate.perSecond, rate.burst);
    // The loopback interface always has ::1, as Linux's lo does.
    this.v6 = this.loopback ? this.newIpv6Layer({ loopback: true }) : config.ipv6 === undefined ? null : this.newIpv6Layer(config.ipv6);
  }

  private newIpv6Layer(config: Ipv6Config): Ipv6Layer {
    const host = {
      name: this.name,
      mac: this.mac,
      mtu: this.mtu,
      pool: this.pool,
      slotSize: this.slotSize,
      gso: this.gso6,
      gsoBurst: this.gsoBurst,
      txChecksum6: this.txChecksum6,
      tso6: this.tso6,
      allocTxSlot: (): number => this.allocTx(),
      queueTxSlot: (slot: number, len: number): boolean => this.queueTx(slot, len),
      releaseSlot: (slot: number): void => this.nic.release(slot),
    };
    const v6 = new Ipv6Layer(host, this.wheel, () => this.clock.now(), config);
    if (this.nic.setMulticast !== undefined) {
      const previous = v6.onAddressChange;
      v6.onAddressChange = (a) => {
        previous?.(a);
        this.syncMulticastFilter(v6);
      };
    }
    return v6;
  }

  /**
   * Puts the IPv6 groups the layer listens to (all-nodes, and the
   * solicited-node group of every address that is not a duplicate,
   * tentative ones included: DAD hears other nodes' solicitations there) in
   * the NIC's multicast filter, when it has one. Frames are still checked by
   * their full address on receive (acceptsMulticastMac).
   */
  private syncMulticastFilter(v6: Ipv6Layer): void {
    if (this.nic.setMulticast === undefined) return;
    const macs = [ipv6MulticastMac(IPV6_ALL_NODES)];
    for (const a of v6.addresses()) {
      if (a.state === 'duplicate') continue;
      const mac = ipv6MulticastMac(solicitedNodeMulticast(a.address));
      if (!macs.includes(mac)) macs.push(mac);
    }
    try {
      this.nic.setMulticast(macs);
    } catch (err) {
      // Called from Ipv6Layer.input (a DAD failure, a SLAAC address), whose
      // contract is never to throw: the NIC keeps the filter it had, and the
      // next address change tries again.
      this.stats.mcast_filter_errors++;
      if (DEBUG) debug('iface %s: setMulticast failed: %s', this.name, String(err));
    }
  }

  /**
   * (Re)configures the address, e.g. from a DHCP lease. Address 0 means
   * unconfigured: only broadcasts are accepted, and ARP requests for us are not answered.
   */
  setAddress(address: number, prefixLength: number, gateway: number): void {
    this.address = address >>> 0;
    this.prefixLength = prefixLength;
    this.netmask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
    this.gateway = gateway >>> 0;
  }

  /** The subnet's directed broadcast address. */
  get broadcast(): number {
    return (this.address | ~this.netmask) >>> 0;
  }

  /** True when `ip` is on this interface's subnet. */
  onLink(ip: number): boolean {
    return ((ip ^ this.address) & this.netmask) === 0;
  }

  /** Addresses this interface accepts as a destination. */
  isLocalDestination(dst: number): boolean {
    if (this.loopback) return true;
    if (this.address === 0) return dst === IPV4_BROADCAST;
    return dst === this.address || dst === IPV4_BROADCAST || (this.prefixLength < 31 && dst === this.broadcast);
  }

  /** Announces our address (gratuitous ARP request, RFC 5227 §3) when the interface comes up. */
  announce(): void {
    if (DEBUG) debug('iface %s up: %s/%d mac %s mtu %d%s', this.name, ipStr(this.address), this.prefixLength, macStr(this.mac), this.mtu, this.gateway ? ` gw ${ipStr(this.gateway)}` : '');
    if (this.v6 !== null) {
      this.syncMulticastFilter(this.v6);
      this.v6.start(this.clock.now());
    }
    if (this.loopback || this.address === 0) return;
    this.stats.arp_tx_gratuitous++;
    this.sendArp(ARP_REQUEST, MAC_BROADCAST, 0, this.address);
  }

  // ---------------------------------------------------------------- receive

  /**
   * Processes one burst of received frames. Returns how many frames were
   * taken. `at`: the caller's clock reading, or -1 to read the clock if
   * frames arrived.
   */
  poll(at = -1): number {
    const nic = this.nic;
    const flags = this.rxFlags;
    const n = flags === undefined ? nic.rxBurst(this.rxSlots, this.rxLens, RX_BURST) : nic.rxBurst(this.rxSlots, this.rxLens, RX_BURST, flags);
    if (n > 0) {
      const now = at >= 0 ? at : this.clock.now();
      // Slots rxSlots[next, n) are still ours: a throw anywhere below must not leak them.
      let next = 0;
      let threw = true;
      try {
        this.transports.rxBurstStart();
        while (next < n) {
          const slot = this.rxSlots[next]!;
          if (flags !== undefined) this.rxVerified = (flags[next]! & RX_FLAG_CSUM_VERIFIED) !== 0;
          this.input(this.pool, slot * this.slotSize, this.rxLens[next]!, now);
          next++;
          nic.release(slot);
        }
        threw = false;
      } finally {
        // A throw is a bug (input() never throws on bad input) or an
        // exception from a callback run inside the poll: it propagates to the
        // caller as any callback's would, after the rest of the burst is
        // given back and the burst is closed, so the stack keeps its slots
        // and keeps working if the caller carries on.
        if (threw) this.abandonBurst(next, n);
        this.rxVerified = nic.offloads.rxChecksumVerified;
        this.endBurst(now);
      }
    }
    this.flush();
    return n;
  }

  /** Closes the burst for the transports (which service coalesced connections there); a throw is counted too. */
  private endBurst(now: number): void {
    let threw = true;
    try {
      this.transports.rxBurstEnd(now);
      threw = false;
    } finally {
      if (threw) this.stats.poll_exceptions++;
    }
  }

  /**
   * After a throw in the receive loop: counts it, and releases the slots of
   * the frames not handled yet (rxSlots[from, n), the first being the frame
   * whose handling threw).
   */
  private abandonBurst(from: number, n: number): void {
    this.stats.poll_exceptions++;
    this.stats.rx_drop_burst_aborted += n - from;
    for (let i = from; i < n; i++) this.nic.release(this.rxSlots[i]!);
  }

  /** Handles one Ethernet frame at buf[off, off + len). Never throws on bad input. */
  input(buf: Uint8Array, off: number, len: number, now: number): void {
    const st = this.stats;
    st.rx_frames++;
    st.rx_bytes += len;
    if (len < ETH_HEADER_LEN) {
      st.rx_drop_truncated++;
      return;
    }
    const eth = this.eth;
    if (wrapOrReason(eth, buf, off, len) !== null) {
      st.rx_drop_truncated++;
      return;
    }
    // Destination MAC compared as 16 + 32 bits: eth.dst is a 48-bit number,
    // which V8 boxes (one heap number per frame).
    const dHi = (buf[off]! << 8) | buf[off + 1]!;
    const dLo = (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
    let forUs = (dHi === this.macHi && dLo === this.macLo) || (dHi === 0xffff && dLo === -1);
    // IPv6 multicast (33:33 + the group's low 32 bits): the groups the IPv6 layer has joined.
    if (!forUs && dHi === 0x3333 && this.v6 !== null) forUs = this.v6.acceptsMulticastMac(dLo);
    if (!forUs && !this.loopback) {
      st.rx_drop_not_for_us++;
      return;
    }
    if (eth.vlanId >= 0) {
      st.rx_drop_vlan++;
      return;
    }
    const type = eth.ethertype;
    const poff = eth.payloadOffset;
    const plen = eth.payloadLength;
    if (type === ETHERTYPE_IPV4) this.ipInput(buf, poff, plen, now);
    else if (type === ETHERTYPE_ARP && !this.loopback) this.arpInput(buf, poff, plen, eth.src, now);
    else if (type === ETHERTYPE_IPV6 && this.v6 !== null) this.v6.input(buf, poff, plen, eth.src, now, this.loopback || this.rxVerified);
    else st.rx_drop_unknown_ethertype++;
  }

  private arpInput(buf: Uint8Array, off: number, len: number, frameSrc: number, now: number): void {
    const st = this.stats;
    st.arp_rx++;
    const p = this.arp;
    if (wrapOrReason(p, buf, off, len) !== null) {
      st.arp_rx_malformed++;
      return;
    }
    const op = p.op;
    const senderIp = p.senderIp;
    const senderMac = p.senderMac;
    const targetIp = p.targetIp;
    if (isMulticastMac(senderMac) || senderMac !== frameSrc && senderMac === MAC_BROADCAST) {
      st.arp_rx_malformed++;
      return;
    }
    if (senderIp === this.address && senderMac !== this.mac) {
      // Someone else claims our address (RFC 5227 conflict): never learn it.
      st.arp_rx_conflict++;
      return;
    }
    if (op === ARP_REQUEST) {
      st.arp_rx_requests++;
      const forUs = targetIp === this.address && this.address !== 0 && senderIp !== 0;
      // RFC 826: update an existing entry from any request; create one only if the request is for us.
      if (senderIp !== 0) this.neighbors.learn(senderIp, senderMac, forUs, now);
      if (targetIp === this.address && this.address !== 0) {
        st.arp_tx_replies++;
        this.sendArp(ARP_REPLY, senderMac, senderMac, senderIp);
      }
    } else if (op === ARP_REPLY) {
      st.arp_rx_replies++;
      if (!this.neighbors.learn(senderIp, senderMac, false, now)) st.arp_rx_unsolicited++;
    } else {
      st.arp_rx_malformed++;
    }
  }

  private ipInput(buf: Uint8Array, off: number, len: number, now: number): void {
    const st = this.stats;
    st.ip_rx++;
    const ip = this.ip;
    const why = wrapOrReason(ip, buf, off, len);
    if (why !== null) {
      switch (why) {
        case 'bad-version': st.ip_rx_drop_bad_version++; break;
        case 'bad-header-length': st.ip_rx_drop_bad_header_length++; break;
        case 'bad-length': st.ip_rx_drop_bad_length++; break;
        default: st.ip_rx_drop_truncated++;
      }
      return;
    }
    if (!ip.verifyChecksum()) {
      st.ip_rx_drop_bad_checksum++;
      return;
    }
    const dst = ip.dst;
    const src = ip.src;
    if (!this.isLocalDestination(dst)) {
      st.ip_rx_drop_not_for_us++;
      return;
    }
    if (src === IPV4_BROADCAST || (src >>> 28) === 0xe || (src === 0 && ip.protocol !== 17)) {
      st.ip_rx_drop_martian_source++;
      return;
    }
    const protocol = ip.protocol;
    let pbuf = buf;
    let poff = ip.payloadOffset;
    let plen = ip.payloadLength;
    if (ip.isFragment) {
      if (ip.fragmentOffset + plen > 65535 - IPV4_HEADER_LEN) {
        st.ip_rx_drop_fragment++;
        return;
      }
      const whole = this.reassembler.add(
        src, dst, protocol, ip.ident, ip.fragmentOffset, ip.moreFragments, buf, poff, plen, now,
      );
      if (whole === null) return;
      pbuf = whole.buf;
      poff = 0;
      plen = whole.length;
    }
    const isBroadcast = dst === IPV4_BROADCAST || (!this.loopback && dst === this.broadcast);
    if (protocol === IPPROTO_ICMP) {
      st.ip_rx_delivered++;
      this.icmpInput(src, dst, isBroadcast, pbuf, poff, plen, now);
      return;
    }
    const t = this.transports.transport(protocol);
    if (t === undefined) {
      st.ip_rx_drop_unknown_protocol++;
      // The quoted header is only meaningful for the first fragment; reassembled data has lost it.
      if (!isBroadcast && pbuf === buf) {
        this.sendIcmpError(ICMP_DEST_UNREACHABLE, ICMP_PROTOCOL_UNREACHABLE, src, dst, buf, off, ip.headerLength + plen);
      }
      return;
    }
    st.ip_rx_delivered++;
    // Lets the transport answer with an ICMP error while it handles this packet.
    this.deliveringOff = pbuf === buf ? off : -1;
    this.deliveringLen = ip.headerLength + plen;
    this.deliveringBuf = buf;
    // A reassembled datagram gets only the NIC-wide guarantee, not the last fragment's flag.
    const verified = this.loopback || (pbuf === buf ? this.rxVerified : this.nic.offloads.rxChecksumVerified);
    t.input(src, dst, pbuf, poff, plen, verified, now);
    this.deliveringOff = -1;
  }

  /**
   * Called by a transport from inside TransportInput.input: answers the packet
   * being delivered with ICMP destination unreachable (e.g. port unreachable
   * for a closed UDP port). Reassembled datagrams are not answered (their
   * original header is gone).
   */
  replyUnreachable(code: number): void {
    const off = this.deliveringOff;
    if (off < 0) return;
    const buf = this.deliveringBuf;
    const src = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
    const dst = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
    if (!this.isUnicastTo(dst)) return;
    this.sendIcmpError(ICMP_DEST_UNREACHABLE, code, src, dst, buf, off, this.deliveringLen);
  }

  private isUnicastTo(dst: number): boolean {
    return dst !== IPV4_BROADCAST && (this.loopback || this.prefixLength >= 31 || dst !== this.broadcast);
  }

  private icmpInput(src: number, dst: number, isBroadcast: boolean, buf: Uint8Array, off: number, len: number, now: number): void {
    const st = this.stats;
    st.icmp_rx++;
    const p = this.icmp;
    if (wrapOrReason(p, buf, off, len) !== null) {
      st.icmp_rx_drop_malformed++;
      return;
    }
    if (!p.verifyChecksum()) {
      st.icmp_rx_drop_bad_checksum++;
      return;
    }
    const type = p.type;
    if (type === ICMP_ECHO_REQUEST) {
      st.icmp_rx_echo_requests++;
      if (isBroadcast) {
        // Smurf amplification defence, as Linux's icmp_echo_ignore_broadcasts.
        st.icmp_rx_drop_broadcast_echo++;
        return;
      }
      this.sendEchoReply(src, dst, buf, off, len);
      return;
    }
    if (type === ICMP_ECHO_REPLY) {
      st.icmp_rx_echo_replies++;
      this.echoReplyHandler?.(src, p.ident, p.seqNo, buf, p.payloadOffset, p.payloadLength, now);
      return;
    }
    if (type === ICMP_DEST_UNREACHABLE || type === ICMP_TIME_EXCEEDED) {
      st.icmp_rx_errors++;
      this.icmpErrorInput(type, p.code, p.nextHopMtu, buf, p.payloadOffset, p.payloadLength, now);
    }
  }

  /** Hands an ICMP error to the transport that sent the quoted packet. */
  private icmpErrorInput(type: number, code: number, mtu: number, buf: Uint8Array, off: number, len: number, now: number): void {
    // The quote is the original IP header plus at least 8 bytes of its payload (RFC 792).
    if (len < IPV4_HEADER_LEN + 8) {
      this.stats.icmp_rx_drop_malformed++;
      return;
    }
    const vihl = buf[off]!;
    const hl = (vihl & 0x0f) * 4;
    if (vihl >>> 4 !== 4 || hl < IPV4_HEADER_LEN || len < hl + 8) {
      this.stats.icmp_rx_drop_malformed++;
      return;
    }
    const protocol = buf[off + 9]!;
    const origSrc = ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
    const origDst = ((buf[off + 16]! << 24) | (buf[off + 17]! << 16) | (buf[off + 18]! << 8) | buf[off + 19]!) >>> 0;
    let kind: IcmpErrorKind;
    if (type === ICMP_TIME_EXCEEDED) kind = 'ttl-exceeded';
    else if (code === ICMP_PORT_UNREACHABLE) kind = 'port-unreachable';
    else if (code === ICMP_FRAG_NEEDED) kind = 'frag-needed';
    else if (code === ICMP_PROTOCOL_UNREACHABLE) kind = 'protocol-unreachable';
    else if (code === ICMP_NET_UNREACHABLE) kind = 'net-unreachable';
    else if (code === ICMP_ADMIN_PROHIBITED) kind = 'admin-prohibited';
    else kind = 'host-unreachable';
    const t = this.transports.transport(protocol);
    t?.icmpError?.(origSrc, origDst, buf, off + hl, len - hl, kind, kind === 'frag-needed' ? mtu : 0, now);
  }

  private sendEchoReply(requester: number, localDst: number, buf: Uint8Array, off: number, len: number): void {
    this.stats.icmp_tx_echo_replies++;
    this.send(localDst, requester, IPPROTO_ICMP, len, (out, o) => {
      out.set(buf.subarray(off, off + len), o);
      out[o] = ICMP_ECHO_REPLY;
      out[o + 1] = 0;
      out[o + 2] = 0;
      out[o + 3] = 0;
      emitIcmp({ type: ICMP_ECHO_REPLY, code: 0, ident: (buf[off + 4]! << 8) | buf[off + 5]!, seqNo: (buf[off + 6]! << 8) | buf[off + 7]!, payloadLength: len - ICMP_HEADER_LEN }, out, o);
    });
  }

  /**
   * Sends an ICMP error quoting the offending packet at buf[off, off + len)
   * (its IP header and up to 8 bytes of payload, RFC 792), rate limited.
   * Never in reply to ICMP errors, broadcasts or non-initial fragments (RFC 1122 §3.2.2).
   */
  sendIcmpError(type: number, code: number, to: number, from: number, buf: Uint8Array, off: number, len: number, mtu = 0): void {
    if (to === 0 || to === IPV4_BROADCAST || (to >>> 28) === 0xe) return;
    if (!this.icmpErrors.take(this.clock.now())) {
      this.stats.icmp_tx_rate_limited++;
      return;
    }
    const hl = (buf[off]! & 0x0f) * 4;
    const quote = Math.min(len, hl + 8);
    this.stats.icmp_tx_errors++;
    this.send(from, to, IPPROTO_ICMP, ICMP_HEADER_LEN + quote, (out, o) => {
      out.set(buf.subarray(off, off + quote), o + ICMP_HEADER_LEN);
      emitIcmp({ type, code, nextHopMtu: mtu, payloadLength: quote }, out, o);
    });
  }

  // --------------------------------------------------------------- transmit

  /** The next hop toward dst on this interface, or -1 when it is not reachable here. */
  nextHop(dst: number): number {
    if (this.loopback) return dst;
    if (dst === IPV4_BROADCAST || this.onLink(dst)) return dst;
    if (this.gateway !== 0) return this.gateway;
    return -1;
  }

  /**
   * Sends one IPv4 packet whose `length` transport bytes are written by
   * `write`. Fragments when it does not fit the MTU (unless dontFragment).
   */
  send(src: number, dst: number, protocol: number, length: number, write: L4Writer, opts?: IpSendOptions, segmenter?: L4Segmenter): boolean {
    const hop = this.nextHop(dst);
    if (hop < 0) {
      this.stats.tx_drop_no_route++;
      return false;
    }
    // TCP larger than the MTU goes whole to a TSO NIC, which segments it,
    // or is segmented here.
    if (IPV4_HEADER_LEN + length > this.mtu && !(protocol === IPPROTO_TCP && this.tso && this.fitsSlot(length))) {
      if (segmenter !== undefined && protocol === IPPROTO_TCP && this.gso && this.segmentable(length, segmenter)) {
        return this.sendSegmented(src, dst, hop, length, segmenter, opts);
      }
      if (opts?.dontFragment || IPV4_HEADER_LEN + length > 65535) {
        this.stats.tx_drop_too_big++;
        return false;
      }
      return this.sendFragmented(src, dst, hop, protocol, length, write, opts);
    }
    const slot = this.allocTx();
    if (slot < 0) return false;
    const base = slot * this.slotSize;
    const r = this.fillIpRepr(src, dst, protocol, length, opts);
    r.ident = this.nextIdent;
    this.nextIdent = (this.nextIdent + 1) & 0xffff;
    emitIpv4(r, this.pool, base + ETH_HEADER_LEN);
    write(this.pool, base + ETH_HEADER_LEN + IPV4_HEADER_LEN);
    if (IPV4_HEADER_LEN + length > this.mtu) {
      // A TSO super-frame: the NIC gives its k segments IDs ident..ident+k-1
      // (as the e1000 and Linux GSO do); the next frame must not reuse them.
      const tcpHeader = (this.pool[base + ETH_HEADER_LEN + IPV4_HEADER_LEN + 12]! >>> 4) * 4;
      const mss = this.mtu - IPV4_HEADER_LEN - tcpHeader;
      const segments = Math.ceil((length - tcpHeader) / mss);
      this.nextIdent = (this.nextIdent + segments - 1) & 0xffff;
    }
    this.stats.ip_tx++;
    return this.resolveAndQueue(slot, ETH_HEADER_LEN + IPV4_HEADER_LEN + length, hop);
  }

  /** The reused IPv4 repr for an unfragmented packet of `length` transport bytes (ident left to the caller). */
  private fillIpRepr(src: number, dst: number, protocol: number, length: number, opts: IpSendOptions | undefined): Ipv4Repr {
    const r = this.ipRepr;
    r.src = src;
    r.dst = dst;
    r.protocol = protocol;
    r.ttl = opts?.ttl ?? DEFAULT_TTL;
    r.dscp = (opts?.tos ?? 0) >>> 2;
    r.ecn = (opts?.tos ?? 0) & 3;
    r.dontFragment = opts?.dontFragment ?? false;
    r.moreFragments = false;
    r.fragmentOffset = 0;
    r.payloadLength = length;
    return r;
  }

  /** Whether a TCP packet of `length` bytes can be cut into frames by `seg` here. */
  private segmentable(length: number, seg: L4Segmenter): boolean {
    return GsoBurst.fits(length, seg, this.mtu, IPV4_HEADER_LEN, GSO_MAX);
  }

  /**
   * Software GSO: one TCP segment of `length` bytes cut into frames of
   * `seg.unit` payload bytes. The frames' slots are taken first and the
   * segmenter copies all their payloads at once; then each frame gets the
   * segment's header (written by the segmenter) and its own IPv4 header:
   * the first frame's is built, the others copy it and patch total length,
   * ID and checksum (RFC 1624 incremental update). IDs follow one another,
   * as a TSO NIC gives them. When slots run out part-way, the frames that
   * got one are sent and false is returned.
   */
  private sendSegmented(src: number, dst: number, hop: number, length: number, seg: L4Segmenter, opts?: IpSendOptions): boolean {
    const hl = seg.headerLength;
    const unit = seg.unit;
    const payload = length - hl;
    const b = this.gsoBurst;
    const count = b.take(seg, payload, ETH_HEADER_LEN + IPV4_HEADER_LEN + hl);
    if (count === 0) return false;
    const pool = this.pool;
    const ident = this.nextIdent;
    this.nextIdent = (ident + count) & 0xffff;
    this.stats.ip_tx_gso++;
    // The first frame's header sum less its length and ID, kept unfolded
    // in one's complement: each frame adds its own.
    let partial = 0;
    let ok = b.complete;
    // Whether the first frame's next hop's MAC was known (then the others,
    // which copy its Ethernet + IPv4 header, are queued without asking the
    // neighbour cache).
    const v = b.poolView;
    let direct = false;
    for (let k = 0; k < count; k++) {
      const len = b.lengthOf(k);
      const base = b.baseOf(k);
      const slot = b.slots[k]!;
      const ipOff = base + ETH_HEADER_LEN;
      const total = IPV4_HEADER_LEN + hl + len;
      const id = (ident + k) & 0xffff;
      if (k === 0) {
        this.fillIpRepr(src, dst, IPPROTO_TCP, hl + len, opts);
        this.ipRepr.ident = id;
        emitIpv4(this.ipRepr, pool, ipOff);
        direct = this.writeEthernet(base, hop);
        b.keepHeader(base, ETH_HEADER_LEN + IPV4_HEADER_LEN);
        const c0 = v.getUint16(ipOff + 10);
        partial = (~c0 & 0xffff) + (~total & 0xffff) + (~id & 0xffff);
      } else {
        b.copyHeader(base, ETH_HEADER_LEN + IPV4_HEADER_LEN);
        v.setUint16(ipOff + 2, total);
        v.setUint16(ipOff + 4, id);
        let sum = partial + total + id;
        sum = (sum & 0xffff) + (sum >>> 16);
        sum = (sum & 0xffff) + (sum >>> 16);
        v.setUint16(ipOff + 10, ~sum & 0xffff);
      }
      seg.writeHeader(pool, ipOff + IPV4_HEADER_LEN, k * unit, len, b.sums[k]!);
      this.stats.ip_tx++;
      if (direct ? !this.queueTx(slot, ETH_HEADER_LEN + total) : !this.resolveAndQueue(slot, ETH_HEADER_LEN + total, hop)) ok = false;
    }
    return ok;
  }

  private sendFragmented(src: number, dst: number, hop: number, protocol: number, length: number, write: L4Writer, opts?: IpSendOptions): boolean {
    if (this.fragScratch === null) this.fragScratch = new Uint8Array(65535);
    const scratch = this.fragScratch;
    write(scratch, 0);
    // With checksum offload the transport left the pseudo-header sum in its
    // checksum field, which no NIC completes across fragments: do it here.
    if ((this.loopback || this.nic.offloads.txChecksum) && (protocol === IPPROTO_TCP || protocol === IPPROTO_UDP)) {
      const at = protocol === IPPROTO_TCP ? 16 : 6;
      if (length >= at + 2) {
        let c = ~onesSum(scratch, 0, length) & 0xffff;
        if (c === 0 && protocol === IPPROTO_UDP) c = 0xffff;
        scratch[at] = c >>> 8;
        scratch[at + 1] = c & 0xff;
      }
    }
    const maxData = (this.mtu - IPV4_HEADER_LEN) & ~7;
    const ident = this.nextIdent;
    this.nextIdent = (this.nextIdent + 1) & 0xffff;
    this.stats.ip_tx_fragmented++;
    const r = this.ipRepr;
    for (let offset = 0; offset < length; offset += maxData) {
      const chunk = Math.min(maxData, length - offset);
      const slot = this.allocTx();
      if (slot < 0) return false;
      const base = slot * this.slotSize;
      r.src = src;
      r.dst = dst;
      r.protocol = protocol;
      r.ttl = opts?.ttl ?? DEFAULT_TTL;
      r.dscp = (opts?.tos ?? 0) >>> 2;
      r.ecn = (opts?.tos ?? 0) & 3;
      r.ident = ident;
      r.dontFragment = false;
      r.moreFragments = offset + chunk < length;
      r.fragmentOffset = offset;
      r.payloadLength = chunk;
      emitIpv4(r, this.pool, base + ETH_HEADER_LEN);
      this.pool.set(scratch.subarray(offset, offset + chunk), base + ETH_HEADER_LEN + IPV4_HEADER_LEN);
      this.stats.ip_tx_fragments++;
      if (!this.resolveAndQueue(slot, ETH_HEADER_LEN + IPV4_HEADER_LEN + chunk, hop)) return false;
    }
    return true;
  }

  /** True when a packet of `length` transport bytes fits one slot (for TSO) and one IPv4 packet. */
  private fitsSlot(length: number): boolean {
    return IPV4_HEADER_LEN + length <= 65535 && ETH_HEADER_LEN + IPV4_HEADER_LEN + length <= this.slotSize;
  }

  /** Largest TCP segment (header + payload) this interface sends in one packet: above the MTU with TSO. */
  get tsoMax(): number {
    if (this.gso) return GSO_MAX;
    return this.tso ? Math.min(65535, this.slotSize - ETH_HEADER_LEN) - IPV4_HEADER_LEN : this.mtu - IPV4_HEADER_LEN;
  }

  /** Writes the Ethernet header of the IPv4 frame at pool[base...] for `hop`; false when hop's MAC is not known (yet). */
  private writeEthernet(base: number, hop: number): boolean {
    const pool = this.pool;
    writeMacHalves(pool, base + 6, this.macHi, this.macLo);
    pool[base + 12] = ETHERTYPE_IPV4 >>> 8;
    pool[base + 13] = ETHERTYPE_IPV4 & 0xff;
    if (this.loopback) {
      writeMacHalves(pool, base, this.macHi, this.macLo);
      return true;
    }
    if (hop === IPV4_BROADCAST || (this.prefixLength < 31 && hop === this.broadcast)) {
      writeMac(pool, base, MAC_BROADCAST);
      return true;
    }
    // The wheel's tick, not a clock reading, for the entry's age (reachable
    // for 30 s; at most one poll stale): one reading fewer per packet sent.
    return this.neighbors.writeMacFor(hop, this.wheel.tick, pool, base);
  }

  /** Fills the Ethernet header for `hop` and queues the frame, or parks it until ARP resolves. */
  private resolveAndQueue(slot: number, frameLen: number, hop: number): boolean {
    if (this.writeEthernet(slot * this.slotSize, hop)) return this.queueTx(slot, frameLen);
    if (this.neighbors.enqueue(hop, slot, frameLen, this.clock.now())) return true;
    this.stats.tx_drop_unresolved++;
    this.nic.release(slot);
    return false;
  }

  /**
   * A slot to build an outgoing frame in, or -1 (counted). Never one of the
   * last `rxReserve` free slots: those keep receive working, whatever a peer
   * makes us send.
   */
  private allocTx(): number {
    const reserve = this.rxReserve;
    if (reserve > 0 && this.nic.availableSlots <= reserve) {
      this.stats.tx_drop_rx_reserve++;
      return -1;
    }
    const slot = this.nic.alloc();
    if (slot < 0) this.stats.tx_drop_no_buffer++;
    return slot;
  }

  private sendArp(op: number, dstMac: number, targetMac: number, targetIp: number): void {
    const slot = this.allocTx();
    if (slot < 0) return;
    const base = slot * this.slotSize;
    const pool = this.pool;
    writeMac(pool, base, dstMac);
    writeMac(pool, base + 6, this.mac);
    pool[base + 12] = ETHERTYPE_ARP >>> 8;
    pool[base + 13] = ETHERTYPE_ARP & 0xff;
    const a = this.arpRepr;
    a.op = op;
    a.senderMac = this.mac;
    a.senderIp = this.address;
    a.targetMac = targetMac;
    a.targetIp = targetIp;
    emitArp(a, pool, base + ETH_HEADER_LEN);
    // Pad to the 60-byte Ethernet minimum as the kernel does (the NIC adds the FCS).
    pool.fill(0, base + ETH_HEADER_LEN + ARP_LEN, base + 60);
    this.queueTx(slot, 60);
  }

  // NeighborHost
  sendArpRequest(ip: number, unicastMac: number): void {
    this.sendArp(ARP_REQUEST, unicastMac < 0 ? MAC_BROADCAST : unicastMac, 0, ip);
  }

  transmitQueued(mac: number, slot: number, len: number): void {
    writeMac(this.pool, slot * this.slotSize, mac);
    this.queueTx(slot, len);
  }

  dropQueued(slot: number): void {
    this.stats.tx_drop_unresolved++;
    this.nic.release(slot);
  }

  private queueTx(slot: number, len: number): boolean {
    if (this.txCount === TX_BATCH) this.flush();
    if (this.txCount === TX_BATCH) {
      this.stats.tx_drop_nic_full++;
      this.nic.release(slot);
      return false;
    }
    this.txSlots[this.txCount] = slot;
    this.txLens[this.txCount] = len;
    if (this.txCount++ === 0) this.onTxPending?.();
    return true;
  }

  /** True when frames are waiting to be handed to the NIC. */
  get hasPendingTx(): boolean {
    return this.txCount > 0;
  }

  /** Hands the TX batch to the NIC in one burst; what it does not take waits for the next flush. */
  flush(): void {
    const n = this.txCount;
    if (n === 0) return;
    const sent = this.nic.txBurst(this.txSlots, this.txLens, n);
    for (let i = 0; i < sent; i++) {
      this.stats.tx_frames++;
      this.stats.tx_bytes += this.txLens[i]!;
    }
    if (sent < n) {
      this.txSlots.copyWithin(0, sent, n);
      this.txLens.copyWithin(0, sent, n);
    }
    this.txCount = n - sent;
  }

  /** Releases everything this interface holds in NIC slots. */
  shutdown(): void {
    for (let i = 0; i < this.txCount; i++) this.nic.release(this.txSlots[i]!);
    this.txCount = 0;
    this.neighbors.clear();
    this.reassembler.clear();
    this.v6?.shutdown();
  }
}
