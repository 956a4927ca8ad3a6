/**
 * The protocol engine: interfaces, routing, UDP and TCP on one clock and one
 * timer wheel. It does no I/O scheduling of its own: whoever drives it (the
 * real-time PollLoop, or a test's virtual-time loop) calls poll() and asks
 * pollAt() when the next call is due.
 */
import type { Nic } from '../driver/nic.js';
import type { Clock } from '../time/clock.js';
import { TimerWheel } from '../time/timer-wheel.js';
import { Interface, type InterfaceConfig } from './iface/interface.js';
import { Router } from './iface/router.js';
import { Udp6Layer, type Udp6Endpoint, type Udp6Handler } from './udp/udp6-layer.js';
import { isIpv6LinkLocal, isIpv6Unspecified } from '../wire/ipv6.js';
import { UdpLayer, type UdpEndpoint, type UdpHandler, type UdpLayerOptions } from './udp/udp-layer.js';
import { TcpLayer, type TcpLayerOptions, type Listener } from './tcp/tcp-layer.js';
import { Ipv6TcpAdapter } from './tcp6/ipv6-tcp-adapter.js';
import { STATE_NAMES, type Connection, type TcpConfig, type TcpState } from './tcp/connection.js';
import { DEBUG, debug, ipStr } from './iface/debug.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_BROADCAST } from '../wire/ipv4.js';
import { ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, emitIcmp } from '../wire/icmp.js';
import type { TransportEndpoints } from './transport-endpoints.js';

/**
 * Resource caps (Stack.open({ limits })): every one bounds memory a peer can
 * make the stack hold, and every overflow is counted in stats().
 */
export interface StackLimits {
  /** Packets queued per address awaiting ARP resolution (overflow: arp.queue_drops). */
  arpQueue?: number;
  /**
   * Packets queued awaiting ARP, all addresses of an interface together —
   * NIC slots held (default: an eighth of the pool). Past it the oldest is
   * dropped: arp.queue_cap_drops.
   */
  arpQueueTotal?: number;
  /**
   * Free NIC slots transmit leaves for receive (default: a sixteenth of the
   * pool, 16 to a quarter of it). Transmit refused: link.tx_drop_rx_reserve.
   */
  rxReserve?: number;
  /** Neighbour cache entries (overflow: arp.cache_full). */
  arpEntries?: number;
  /** Bytes held by IPv4 reassembly, all datagrams together (overflow: ipv4.frag_memory_drops). */
  reassemblyBytes?: number;
  /** Datagrams being reassembled at once (overflow: ipv4.frag_evicted). */
  reassemblyDatagrams?: number;
  /**
   * Upper bound on a listener's backlog, i.e. its SYN queue and accept queue
   * (like Linux's somaxconn). Overflow: tcp.synCookiesSent (or tcp.synQueueDrops
   * with cookies off) for the SYN queue, tcp.listenOverflows for the accept queue.
   */
  maxBacklog?: number;
  /** Separate out-of-order ranges a connection holds (overflow: tcp.outOfOrderDropped bytes). */
  tcpOutOfOrderRanges?: number;
  /** Per-socket send buffer (full: write() returns false, backpressure). */
  sendBuffer?: number;
  /** Per-socket receive buffer = largest advertised window (overflow: tcp.outOfWindow). */
  recvBuffer?: number;
}

/** A TcpLayer whose listeners' backlogs are clamped to `maxBacklog` (somaxconn). */
class BoundedTcpLayer extends TcpLayer {
  maxBacklog = Infinity;
  /** Addresses in the debug log (IPv6: ids to text). */
  addrText: (addr: number) => string = ipStr;
  override listen(
    port: number,
    addr = 0,
    backlog = 511,
    onConnection: ((conn: Connection) => void) | null = null,
    config?: Partial<TcpConfig>,
  ): Listener {
    return super.listen(port, addr, Math.min(backlog, this.maxBacklog), onConnection, config);
  }

  override stateChanged(conn: Connection, from: TcpState): void {
    super.stateChanged(conn, from);
    if (DEBUG) {
      debug('tcp %s:%d <-> %s:%d %s -> %s', this.addrText(conn.localAddr), conn.localPort, this.addrText(conn.remoteAddr), conn.remotePort, STATE_NAMES[from] ?? String(from), conn.stateName);
    }
  }
}

/** Splits StackLimits into the TCP config and interface config they feed. */
export function limitsToConfig(limits: StackLimits = {}): {
  tcp: Partial<TcpConfig>;
  neighbor: { queueLength?: number; queueTotal?: number; maxEntries?: number };
  reassembly: { maxBytes?: number; maxDatagrams?: number };
  rxReserve?: number;
} {
  const tcp: Partial<TcpConfig> = {};
  if (limits.tcpOutOfOrderRanges !== undefined) tcp.maxOooRanges = limits.tcpOutOfOrderRanges;
  if (limits.sendBuffer !== undefined) tcp.sendBufferSize = limits.sendBuffer;
  if (limits.recvBuffer !== undefined) tcp.recvBufferSize = limits.recvBuffer;
  const neighbor: { queueLength?: number; queueTotal?: number; maxEntries?: number } = {};
  if (limits.arpQueue !== undefined) neighbor.queueLength = limits.arpQueue;
  if (limits.arpQueueTotal !== undefined) neighbor.queueTotal = limits.arpQueueTotal;
  if (limits.arpEntries !== undefined) neighbor.maxEntries = limits.arpEntries;
  const reassembly: { maxBytes?: number; maxDatagrams?: number } = {};
  if (limits.reassemblyBytes !== undefined) reassembly.maxBytes = limits.reassemblyBytes;
  if (limits.reassemblyDatagrams !== undefined) reassembly.maxDatagrams = limits.reassemblyDatagrams;
  return { tcp, neighbor, reassembly, ...(limits.rxReserve !== undefined ? { rxReserve: limits.rxReserve } : {}) };
}

const sum = (rows: readonly Record<string, number>[], key: string): number => {
  let n = 0;
  for (const r of rows) n += r[key] ?? 0;
  return n;
};

export interface EchoReply {
  from: number;
  ident: number;
  seqNo: number;
  length: number;
  at: number;
}

export interface Echo6Reply {
  /** A copy of the replier's address. */
  from: Uint8Array;
  ident: number;
  seqNo: number;
  length: number;
  at: number;
}

export class NetStack implements TransportEndpoints {
  readonly wheel: TimerWheel;
  readonly router = new Router();
  readonly udp: UdpLayer;
  /** UDP over IPv6 on every interface with IPv6 (stack level; no dgram socket over it yet). */
  readonly udp6 = new Udp6Layer();
  readonly tcp: TcpLayer;
  /**
   * TCP over IPv6: the same protocol code, its addresses ids into the
   * adapter's table (tcp6Adapter: connect/listen by address bytes, ids to
   * addresses). Ports are its own: a dual-stack listener is one listener here and one in `tcp`.
   */
  readonly tcp6: TcpLayer;
  readonly tcp6Adapter: Ipv6TcpAdapter;
  private readonly echoListeners = new Set<(r: EchoReply) => void>();
  private readonly echo6Listeners = new Set<(r: Echo6Reply) => void>();
  /** Called when output is queued outside poll() (the poll loop schedules a flush). */
  onOutput: (() => void) | null = null;
  /**
   * Called when a TCP listener or a UDP endpoint takes a port nothing held,
   * or frees the last hold on one (the AF_XDP shared-address mode diverts
   * exactly these ports to the stack: boundPorts()).
   */
  onPortsChanged: (() => void) | null = null;
  private readonly notifyPorts = (): void => this.onPortsChanged?.();
  private readonly notifyOutput = (): void => this.onOutput?.();

  constructor(
    readonly clock: Clock,
    opts: {
      tcp?: TcpLayerOptions;
      udp?: Pick<UdpLayerOptions, 'acceptsEphemeralPort'>;
      limits?: StackLimits;
      ephemeralPorts?: { low: number; high: number };
    } = {},
  ) {
    this.wheel = new TimerWheel(clock.now());
    const eph = opts.ephemeralPorts;
    this.udp = new UdpLayer(this.router, {
      ...(eph ? { ephemeralLow: eph.low, ephemeralHigh: eph.high } : {}),
      ...opts.udp,
      onPortsChanged: this.notifyPorts,
    });
    this.router.register(IPPROTO_UDP, this.udp);
    this.limits = limitsToConfig(opts.limits);
    const tcpOpts = {
      ...opts.tcp,
      ...(eph ? { ephemeralLow: eph.low, ephemeralHigh: eph.high } : {}),
      onPortsChanged: this.notifyPorts,
      config: { ...this.limits.tcp, ...opts.tcp?.config },
    };
    const tcp = new BoundedTcpLayer(this.router, this.wheel, clock, tcpOpts);
    if (opts.limits?.maxBacklog !== undefined) tcp.maxBacklog = Math.max(1, opts.limits.maxBacklog);
    this.tcp = tcp;
    this.router.register(IPPROTO_TCP, this.tcp);
    // The shard hooks name IPv4 flows (IPv6 is not steered to workers).
    const { acceptsLocalPort: _a, onConnectionTable: _o, ...tcp6Opts } = tcpOpts;
    const adapter = new Ipv6TcpAdapter(this.router);
    const tcp6 = new BoundedTcpLayer(adapter, this.wheel, clock, tcp6Opts);
    tcp6.maxBacklog = tcp.maxBacklog;
    tcp6.addrText = (id) => `[${adapter.addressText(id)}]`;
    adapter.use(tcp6);
    this.router.addBurstAware(adapter);
    this.tcp6 = tcp6;
    this.tcp6Adapter = adapter;
  }

  /** Every port the stack listens on, as protocol << 16 | port (TCP listeners, bound UDP endpoints). */
  boundPorts(): number[] {
    const tcpPorts = new Set([...this.tcp.listeningPorts(), ...this.tcp6.listeningPorts()]);
    return [...[...tcpPorts].map((p) => (IPPROTO_TCP << 16) | p), ...this.udp.boundPorts().map((p) => (IPPROTO_UDP << 16) | p)];
  }

  get interfaces(): readonly Interface[] {
    return this.router.interfaces;
  }

  /** The limits given at construction, as the configs they feed. */
  readonly limits: ReturnType<typeof limitsToConfig>;

  addInterface(nic: Nic, config: InterfaceConfig): Interface {
    const lim = this.limits;
    if (Object.keys(lim.neighbor).length > 0 || Object.keys(lim.reassembly).length > 0) {
      config = {
        ...config,
        neighbor: { ...lim.neighbor, ...config.neighbor },
        reassembly: { ...lim.reassembly, ...config.reassembly },
      };
    }
    if (lim.rxReserve !== undefined && config.rxReserve === undefined) config = { ...config, rxReserve: lim.rxReserve };
    const iface = new Interface(nic, config, this.clock, this.wheel, this.router);
    iface.onTxPending = this.notifyOutput;
    iface.echoReplyHandler = (from, ident, seqNo, _buf, _off, len, now) => {
      for (const l of this.echoListeners) l({ from, ident, seqNo, length: len, at: now });
    };
    this.router.addInterface(iface);
    if (iface.v6 !== null) {
      this.udp6.attach(iface.v6);
      iface.v6.echoReplyHandler = (from, ident, seqNo, _buf, _off, len, now) => {
        for (const l of this.echo6Listeners) l({ from, ident, seqNo, length: len, at: now });
      };
      this.tcp6Adapter.attach(iface.v6);
    }
    iface.announce();
    iface.flush();
    return iface;
  }

  /**
   * One round of work: a receive burst on every interface, due timers, and a
   * transmit flush. Returns the number of frames received. `now`: the
   * caller's clock reading, when it has a fresh one (the poll loop reads the
   * clock once per step for all its polls).
   */
  poll(now = this.clock.now()): number {
    if (DEBUG) this.logDrops();
    let frames = this.pollReceive(now);
    const ifaces = this.router.interfaces;
    this.wheel.advance(now);
    // Ids of IPv6 connections the timers closed.
    this.tcp6Adapter.sweep();
    for (let i = 0; i < ifaces.length; i++) ifaces[i]!.flush();
    // Loopback traffic is answered within the same poll (as the kernel's lo
    // delivers synchronously): a handshake or request/response on 127.0.0.1
    // completes without extra trips through the event loop. Bounded, so a
    // flood on lo cannot starve the other interfaces.
    for (let round = 0; round < 4; round++) {
      let moved = 0;
      for (let i = 0; i < ifaces.length; i++) {
        const iface = ifaces[i]!;
        if (iface.loopback && iface.nic.pollAt() === -Infinity) moved += iface.poll(now);
      }
      if (moved === 0) break;
      frames += moved;
    }
    return frames;
  }

  /**
   * Receives what the NICs hold, without advancing timers: no clock read
   * unless frames arrive (or `now` is given), so nothing allocated when idle.
   * For a poll loop spinning between full polls.
   */
  pollReceive(now = -1): number {
    let frames = 0;
    const ifaces = this.router.interfaces;
    for (let i = 0; i < ifaces.length; i++) frames += ifaces[i]!.poll(now);
    return frames;
  }

  private lastDrops = new Map<string, number>();

  /** NODE_DEBUG=ustack: logs drop counters that grew since the last poll, by reason. */
  private logDrops(): void {
    for (const [section, row] of Object.entries(this.stats())) {
      if (section === 'link' || section === 'arp' || section === 'ipv4' || section === 'icmp') continue; // totals of the per-interface rows
      for (const [k, v] of Object.entries(row)) {
        if (!/drop|malformed|bad|overflow|unsolicited|conflict|rate_limited|noSocket|outOfWindow|failed|full|exception|evicted/i.test(k)) continue;
        const key = `${section}.${k}`;
        const was = this.lastDrops.get(key) ?? 0;
        if (v > was) debug('drop %s: +%d (total %d)', key, v - was, v);
        this.lastDrops.set(key, v);
      }
    }
  }

  /** When poll() next has something to do without new input (-Infinity: now). */
  pollAt(): number {
    let t = this.wheel.nextDeadline();
    const ifaces = this.router.interfaces;
    for (let i = 0; i < ifaces.length; i++) {
      const iface = ifaces[i]!;
      if (iface.hasPendingTx) return -Infinity;
      const n = iface.nic.pollAt();
      if (n < t) t = n;
    }
    return t;
  }

  // ---- TransportEndpoints: the control calls of the socket layer.

  tcpConnect(remoteAddr: number, remotePort: number, opts?: { localAddr?: number; localPort?: number }): Connection {
    return this.tcp.connect(remoteAddr, remotePort, opts);
  }

  tcpListen(port: number, addr: number, backlog: number, onConnection: (conn: Connection) => void): Listener {
    return this.tcp.listen(port, addr, backlog, onConnection);
  }

  tcp6Connect(remote: Uint8Array, remotePort: number, opts?: { localAddr?: Uint8Array; localPort?: number }): Connection {
    return this.tcp6Adapter.connect(remote, remotePort, opts);
  }

  tcp6Listen(port: number, addr: Uint8Array | null, backlog: number, onConnection: (conn: Connection) => void): Listener {
    return this.tcp6Adapter.listen(port, addr, backlog, onConnection);
  }

  /** A link-local address with its zone (fe80::1%eth0), as node's AddressToJS writes it. */
  tcp6AddressText(id: number): string {
    const text = this.tcp6Adapter.addressText(id);
    if (id === 0) return text;
    const bytes = this.tcp6Adapter.addressOf(id);
    const zone = isIpv6LinkLocal(bytes) ? this.linkZone6(bytes) : null;
    return zone === null ? text : `${text}%${zone}`;
  }

  hasIpv6(): boolean {
    return this.router.interfaces.some((i) => i.v6 !== null);
  }

  udpBind(addr: number, port: number, handler: UdpHandler, reuse: boolean): UdpEndpoint {
    return this.udp.bind(addr, port, handler, reuse);
  }

  udp6Bind(addr: Uint8Array | null, port: number, handler: Udp6Handler, reuse: boolean, v4: UdpHandler | null): { v6: Udp6Endpoint; v4: UdpEndpoint | null } {
    const dual = v4 !== null && (addr === null || isIpv6Unspecified(addr));
    const ep6 = this.udp6.bindTo(addr, port, handler, reuse, dual ? (p) => this.udp.portFree(0, p) : undefined);
    if (!dual) return { v6: ep6, v4: null };
    try {
      return { v6: ep6, v4: this.udp.bind(0, ep6.localPort, v4, reuse) };
    } catch (e) {
      ep6.close();
      throw e;
    }
  }

  /** Whether an interface other than lo has a usable IPv6 address beyond link-local (what getaddrinfo's AI_ADDRCONFIG asks). */
  hasIpv6Address(): boolean {
    for (const i of this.router.interfaces) {
      if (i.loopback || i.v6 === null) continue;
      if (i.v6.addresses().some((a) => a.origin !== 'link-local' && a.origin !== 'loopback' && (a.state === 'preferred' || a.state === 'deprecated'))) return true;
    }
    return false;
  }

  linkZone6(addr: Uint8Array): string | null {
    return this.udp6.linkZone(addr);
  }

  isLocalAddress6(addr: Uint8Array): boolean {
    return this.udp6.isLocalAddress(addr);
  }

  sourceAddress6For(dst: Uint8Array): Uint8Array | null {
    return this.udp6.sourceFor(dst);
  }

  isLocalAddress(addr: number): boolean {
    return this.router.isLocalAddress(addr);
  }

  sourceAddressFor(dst: number): number {
    return this.router.sourceFor(dst);
  }

  isBroadcastAddress(dst: number): boolean {
    if (dst === IPV4_BROADCAST) return true;
    // Indexed: a UDP send asks this for every datagram.
    const ifs = this.router.interfaces;
    for (let k = 0; k < ifs.length; k++) {
      const i = ifs[k]!;
      if (!i.loopback && i.address !== 0 && i.prefixLength < 31 && dst === i.broadcast) return true;
    }
    return false;
  }

  /** Sends one ICMP echo request with `size` bytes of data. */
  ping(dst: number, ident: number, seqNo: number, size = 56): boolean {
    const src = this.router.sourceFor(dst);
    if (src < 0) return false;
    return this.router.send(src, dst, IPPROTO_ICMP, ICMP_HEADER_LEN + size, (buf, off) => {
      for (let i = 0; i < size; i++) buf[off + ICMP_HEADER_LEN + i] = (i + seqNo) & 0xff;
      emitIcmp({ type: ICMP_ECHO_REQUEST, code: 0, ident, seqNo, payloadLength: size }, buf, off);
    });
  }

  onEchoReply(listener: (r: EchoReply) => void): () => void {
    this.echoListeners.add(listener);
    return () => this.echoListeners.delete(listener);
  }

  /**
   * Sends one ICMPv6 echo request with `size` bytes of data through the
   * interface that reaches `dst` (lo for the stack's own addresses and ::1).
   * False when there is no route or no source address yet.
   */
  ping6(dst: Uint8Array, ident: number, seqNo: number, size = 56): boolean {
    const v6 = this.router.route6(dst);
    if (v6 === null) return false;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = (i + seqNo) & 0xff;
    return v6.sendEchoRequest(dst, ident, seqNo, data);
  }

  /** Every ICMPv6 echo reply any interface receives goes to every listener (each picks its own by address, ident and sequence). */
  onEchoReply6(listener: (r: Echo6Reply) => void): () => void {
    this.echo6Listeners.add(listener);
    return () => this.echo6Listeners.delete(listener);
  }

  /** Counters per layer, copied. */
  stats(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const i of this.router.interfaces) {
      out[`iface.${i.name}`] = { ...i.stats };
      out[`arp.${i.name}`] = { ...i.neighbors.stats };
      out[`ipfrag.${i.name}`] = { ...i.reassembler.stats };
      out[`nic.${i.name}`] = { ...i.nic.stats() };
      if (i.v6 !== null) {
        out[`ip6.${i.name}`] = { ...i.v6.stats, ...i.v6.slaac.stats, ...i.v6.mld.stats };
        out[`nd6.${i.name}`] = { ...i.v6.neighbors.stats };
        out[`frag6.${i.name}`] = { ...i.v6.reassembler.stats };
      }
    }
    out.udp = { ...this.udp.stats };
    if (this.router.interfaces.some((i) => i.v6 !== null)) out.udp6 = { ...this.udp6.stats };
    const { conn, ...tcp } = this.tcp.stats;
    out.tcp = { ...tcp, ...conn };
    out.ip = { tx_drop_no_route: this.router.noRoute };
    Object.assign(out, this.layerStats());
    // Under the names stats() readers use: synCookiesValidated (the layer's
    // synCookiesAccepted) and the out-of-order gauge.
    out.tcp!.synCookiesValidated = this.tcp.stats.synCookiesAccepted;
    out.tcp!.outOfOrderBytesHeld = this.outOfOrderBytesHeld();
    if (this.router.interfaces.some((i) => i.v6 !== null)) {
      const { conn: conn6, ...tcp6 } = this.tcp6.stats;
      out.tcp6 = { ...tcp6, ...conn6, ...this.tcp6Adapter.stats, synCookiesValidated: tcp6.synCookiesAccepted, addressIds: this.tcp6Adapter.addressIds.size };
    }
    return out;
  }

  /** Bytes held out of order across all connections right now (a gauge, unlike tcp.outOfOrderBytes). */
  outOfOrderBytesHeld(): number {
    let n = 0;
    for (const c of this.tcp.connections()) {
      // The assembler is internal to the connection; read its gauge without touching src/stack/tcp.
      n += (c as unknown as { asm?: { heldBytes?: number } }).asm?.heldBytes ?? 0;
    }
    return n;
  }

  /**
   * Totals per layer over every interface (like `netstat -s`): link, arp,
   * ipv4 (with fragments), icmp. The per-interface detail stays under
   * iface.<name>, arp.<name>, ipfrag.<name>, nic.<name>.
   */
  layerStats(): Record<string, Record<string, number>> {
    const ifs = this.router.interfaces;
    const st = ifs.map((i) => i.stats as unknown as Record<string, number>);
    const nb = ifs.map((i) => i.neighbors.stats as unknown as Record<string, number>);
    const fr = ifs.map((i) => i.reassembler.stats as unknown as Record<string, number>);
    const pick = (rows: Record<string, number>[], prefix: string, strip: string): Record<string, number> => {
      const o: Record<string, number> = {};
      for (const k of Object.keys(rows[0] ?? {})) if (k.startsWith(prefix)) o[k.slice(strip.length)] = sum(rows, k);
      return o;
    };
    const link = {
      frames_in: sum(st, 'rx_frames'),
      frames_out: sum(st, 'tx_frames'),
      bytes_in: sum(st, 'rx_bytes'),
      bytes_out: sum(st, 'tx_bytes'),
      ...pick(st, 'rx_drop_', ''),
      ...pick(st, 'tx_drop_', ''),
      poll_exceptions: sum(st, 'poll_exceptions'),
      mcast_filter_errors: sum(st, 'mcast_filter_errors'),
    };
    const arp = {
      packets_in: sum(st, 'arp_rx'),
      requests_in: sum(st, 'arp_rx_requests'),
      replies_in: sum(st, 'arp_rx_replies'),
      unsolicited_replies: sum(st, 'arp_rx_unsolicited'),
      conflicts: sum(st, 'arp_rx_conflict'),
      malformed: sum(st, 'arp_rx_malformed'),
      requests_out: sum(nb, 'arp_requests_sent'),
      probes_out: sum(nb, 'arp_probes_sent'),
      replies_out: sum(st, 'arp_tx_replies'),
      gratuitous_out: sum(st, 'arp_tx_gratuitous'),
      resolved: sum(nb, 'arp_resolved'),
      failed: sum(nb, 'arp_failed'),
      queue_drops: sum(nb, 'arp_queue_drops'),
      queue_cap_drops: sum(nb, 'arp_queue_cap_drops'),
      evicted_incomplete: sum(nb, 'arp_evicted_incomplete'),
      cache_full: sum(nb, 'arp_cache_full'),
      entries: ifs.reduce((n, i) => n + i.neighbors.size, 0),
      queued: ifs.reduce((n, i) => n + i.neighbors.queued, 0),
    };
    const ipv4 = {
      packets_in: sum(st, 'ip_rx'),
      delivered: sum(st, 'ip_rx_delivered'),
      packets_out: sum(st, 'ip_tx'),
      ...pick(st, 'ip_rx_drop_', 'ip_rx_'),
      tx_drop_no_route: this.router.noRoute,
      frags_out: sum(st, 'ip_tx_fragments'),
      datagrams_fragmented: sum(st, 'ip_tx_fragmented'),
      ...pick(fr, 'frag_', ''),
      frag_bytes_held: ifs.reduce((n, i) => n + i.reassembler.bufferedBytes, 0),
      frag_datagrams_pending: ifs.reduce((n, i) => n + i.reassembler.pending, 0),
    };
    const icmp = {
      packets_in: sum(st, 'icmp_rx'),
      echo_requests_in: sum(st, 'icmp_rx_echo_requests'),
      echo_replies_in: sum(st, 'icmp_rx_echo_replies'),
      errors_in: sum(st, 'icmp_rx_errors'),
      drop_malformed: sum(st, 'icmp_rx_drop_malformed'),
      drop_bad_checksum: sum(st, 'icmp_rx_drop_bad_checksum'),
      drop_broadcast_echo: sum(st, 'icmp_rx_drop_broadcast_echo'),
      echo_replies_out: sum(st, 'icmp_tx_echo_replies'),
      errors_out: sum(st, 'icmp_tx_errors'),
      errors_rate_limited: sum(st, 'icmp_tx_rate_limited'),
    };
    return { link, arp, ipv4, icmp };
  }

  /** Releases every NIC slot the engine holds. */
  shutdown(): void {
    for (const i of this.router.interfaces) i.shutdown();
  }
}
