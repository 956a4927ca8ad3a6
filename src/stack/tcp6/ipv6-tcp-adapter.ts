/**
 * TCP over IPv6: one more TcpLayer (the protocol is the same), whose
 * addresses are ids into an Ipv6AddressTable. This adapter is that layer's
 * IP output (route, source address, path MTU − 40, send through the
 * interface's Ipv6Layer, which cuts segments of up to 64 KiB into frames
 * where its interface does software GSO) and its input from every Ipv6Layer (the segment's
 * addresses interned, TCP's input called, ids nobody kept freed), and the
 * application's entry: connect and listen by address bytes, ids back to
 * addresses.
 *
 * Ids live while TCP holds them (AddressIds.retain/release: a connection
 * in the table, a listener bound to an address); entries interned for a
 * call that kept nothing are swept when the adapter's outermost call
 * returns (a segment, a receive burst, connect, listen), and after the
 * stack's timers ran (NetStack.poll), so an id never dies under a call
 * that uses it.
 */
import { codedError } from '../../errors/node-errors.js';
import { IPPROTO_TCP } from '../../wire/ipv4.js';
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, ipv6Equal, ipv6ToString, isIpv6Multicast } from '../../wire/ipv6.js';
import type { IcmpErrorKind, IpOutput, IpSendOptions, L4Segmenter, L4Writer } from '../iface/ip-output.js';
import type { Ipv6Layer, Ipv6LocalRoutes, Ipv6TransportInput } from '../iface/ipv6-layer.js';
import type { Connection } from '../tcp/connection.js';
import type { Listener, TcpLayer } from '../tcp/tcp-layer.js';
import type { TcpConfig } from '../tcp/types.js';
import { Ipv6AddressTable } from './address-table.js';

export interface Tcp6AdapterStats {
  /** Segments addressed to a multicast group (TCP is unicast only; RFC 9293 §3.9.1.1). */
  tcp6_rx_drop_multicast: number;
  /** Segments TCP sent toward a destination no interface routes. */
  tcp6_tx_no_route: number;
}

export class Ipv6TcpAdapter implements IpOutput, Ipv6TransportInput {
  readonly addressIds: Ipv6AddressTable;
  readonly stats: Tcp6AdapterStats = { tcp6_rx_drop_multicast: 0, tcp6_tx_no_route: 0 };
  private readonly layers: Ipv6Layer[] = [];
  private tcpLayer: TcpLayer | null = null;
  /** Adapter calls in progress: ids are swept when the outermost returns. */
  private depth = 0;

  /**
   * `routes`: the stack's IPv6 routing (the Router: its own addresses and
   * ::1 through lo, then on-link, then a default router); without it, the
   * first attached layer with a next hop.
   */
  constructor(private readonly routes: Pick<Ipv6LocalRoutes, 'ownAddress6'> & { route6(dst: Uint8Array): Ipv6Layer | null } | null = null, secret?: Uint8Array) {
    this.addressIds = new Ipv6AddressTable(secret);
  }

  /** The TCP layer this adapter serves (constructed with the adapter as its IpOutput). */
  use(tcp: TcpLayer): void {
    this.tcpLayer = tcp;
  }

  private get tcp(): TcpLayer {
    if (this.tcpLayer === null) throw new Error('Ipv6TcpAdapter: use(tcp) first');
    return this.tcpLayer;
  }

  /** An interface's IPv6 layer to receive from and route through. */
  attach(v6: Ipv6Layer): void {
    this.layers.push(v6);
    v6.registerTransport(IPPROTO_TCP, this);
  }

  /** The layer that sends toward `dst`. */
  private route(dst: Uint8Array): Ipv6Layer | null {
    if (this.routes !== null) return this.routes.route6(dst);
    const ls = this.layers;
    for (let k = 0; k < ls.length; k++) if (ls[k]!.nextHop(dst) !== null) return ls[k]!;
    return null;
  }

  // ------------------------------------------------------------ IpOutput

  sourceFor(dst: number): number {
    const d = this.addressIds.address(dst);
    // To one of the stack's own addresses: from that address (as Linux; the packet goes through lo).
    if (this.routes !== null && this.routes.ownAddress6(d, 0) !== null) return dst;
    const v6 = this.route(d);
    const src = v6?.sourceFor(d) ?? null;
    return src === null ? -1 : this.addressIds.intern(src, 0);
  }

  /** The path MTU less the IPv6 header (TCP advertises and sends MSS = this − 20). */
  mtuFor(dst: number): number {
    const d = this.addressIds.address(dst);
    const v6 = this.route(d);
    return (v6 === null ? IPV6_MIN_MTU : v6.pathMtu(d)) - IPV6_HEADER_LEN;
  }

  /** True when the route's NIC completes IPv6 TCP checksums (NicOffloads.txChecksum6): TCP then writes the pseudo-header sum. */
  checksumOffloadFor(dst: number): boolean {
    return this.route(this.addressIds.address(dst))?.checksumOffload ?? false;
  }

  /**
   * Largest TCP segment one send toward `dst` takes: 64 KiB where the
   * route's interface segments in software or its NIC does (TSO;
   * Ipv6Layer.tsoMax), so TCP's
   * send logic runs once per burst of frames, as over IPv4; the MSS TCP
   * advertises still comes from mtuFor.
   */
  tsoMaxFor(dst: number): number {
    const d = this.addressIds.address(dst);
    const v6 = this.route(d);
    return v6 === null ? IPV6_MIN_MTU - IPV6_HEADER_LEN : v6.tsoMax(d);
  }

  send(src: number, dst: number, protocol: number, length: number, write: L4Writer, opts?: IpSendOptions, segmenter?: L4Segmenter): boolean {
    const t = this.addressIds;
    const d = t.address(dst);
    const v6 = this.route(d);
    if (v6 === null) {
      this.stats.tcp6_tx_no_route++;
      return false;
    }
    return v6.send(t.address(src), d, protocol, length, write, opts?.ttl, segmenter);
  }

  // ------------------------------------------------- Ipv6TransportInput

  input6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number, verified: boolean, _layer: Ipv6Layer, now: number): void {
    if (isIpv6Multicast(dst, 0)) {
      this.stats.tcp6_rx_drop_multicast++;
      return;
    }
    this.depth++;
    try {
      const t = this.addressIds;
      this.tcp.input(t.intern(src, 0), t.intern(dst, 0), buf, off, len, verified, now);
    } finally {
      this.leave();
    }
  }

  icmpError6(local: Uint8Array, remote: Uint8Array, buf: Uint8Array, off: number, len: number, kind: IcmpErrorKind, mtu: number, now: number): void {
    this.depth++;
    try {
      const t = this.addressIds;
      // TCP reads an ICMP MTU as IPv4's (segment = MTU − 20); the IPv6 header is 20 bytes longer.
      this.tcp.icmpError(t.intern(local, 0), t.intern(remote, 0), buf, off, len, kind, kind === 'frag-needed' ? mtu - 20 : 0, now);
    } finally {
      this.leave();
    }
  }

  /** Receive bursts (Router.addBurstAware): TCP's per-burst ACKs and segment merging, as over IPv4. */
  rxBurstStart(): void {
    this.depth++;
    this.tcp.rxBurstStart();
  }

  rxBurstEnd(now: number): void {
    try {
      this.tcp.rxBurstEnd(now);
    } finally {
      this.leave();
    }
  }

  private leave(): void {
    if (--this.depth === 0) this.addressIds.sweep();
  }

  /** Frees ids nothing holds (after timers closed connections); a no-op inside an adapter call. */
  sweep(): void {
    if (this.depth === 0) this.addressIds.sweep();
  }

  // --------------------------------------------------------- application

  /** Whether `addr` is an address of one of the interfaces (any state but duplicate; ::1 included). */
  isLocalAddress(addr: Uint8Array): boolean {
    if (this.routes !== null) return this.routes.ownAddress6(addr, 0) !== null;
    for (const v6 of this.layers) for (const a of v6.addresses()) if (a.state !== 'duplicate' && ipv6Equal(addr, 0, a.address)) return true;
    return false;
  }

  /**
   * Opens a connection to [remote]:remotePort (TcpLayer.connect). Throws
   * ENETUNREACH without a route or a source address, EADDRNOTAVAIL for a
   * local address that is not ours.
   */
  connect(remote: Uint8Array, remotePort: number, opts: { localAddr?: Uint8Array; localPort?: number; config?: Partial<TcpConfig> } = {}): Connection {
    this.depth++;
    try {
      const t = this.addressIds;
      const r = t.intern(remote, 0);
      if (r === 0 || isIpv6Multicast(remote, 0)) throw codedError('ENETUNREACH', `connect ENETUNREACH ${ipv6ToString(remote)}`);
      let localAddr: number | undefined;
      if (opts.localAddr !== undefined) {
        localAddr = t.intern(opts.localAddr, 0);
        if (localAddr !== 0 && !this.isLocalAddress(opts.localAddr)) throw codedError('EADDRNOTAVAIL', `bind EADDRNOTAVAIL ${ipv6ToString(opts.localAddr)}`);
      }
      return this.tcp.connect(r, remotePort, {
        ...(localAddr !== undefined ? { localAddr } : {}),
        ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}),
        ...(opts.config !== undefined ? { config: opts.config } : {}),
      });
    } finally {
      this.leave();
    }
  }

  /** Listens on [addr]:port (null or :: = every IPv6 address). EADDRNOTAVAIL for an address that is not ours. */
  listen(port: number, addr: Uint8Array | null, backlog: number, onConnection: ((conn: Connection) => void) | null, config?: Partial<TcpConfig>): Listener {
    this.depth++;
    try {
      const id = addr === null ? 0 : this.addressIds.intern(addr, 0);
      if (id !== 0 && addr !== null && !this.isLocalAddress(addr)) throw codedError('EADDRNOTAVAIL', `listen EADDRNOTAVAIL ${ipv6ToString(addr)}`);
      return this.tcp.listen(port, id, backlog, onConnection, config);
    } finally {
      this.leave();
    }
  }

  /** The address an id of this layer's connections and listeners names (a copy; :: for 0). */
  addressOf(id: number): Uint8Array {
    return id === 0 ? new Uint8Array(16) : this.addressIds.address(id).slice();
  }

  /** The address in text (RFC 5952), as node reports it. */
  addressText(id: number): string {
    return id === 0 ? '::' : ipv6ToString(this.addressIds.address(id));
  }
}
