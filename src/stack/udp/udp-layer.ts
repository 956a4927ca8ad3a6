/**
 * UDP (RFC 768) endpoints: demultiplexing by local address and port, ICMP
 * port unreachable for closed ports (rate limited by the interface), and ICMP
 * errors delivered to the endpoint that sent the offending datagram (so a
 * connected socket sees ECONNREFUSED, as on Linux).
 */
import { copyBytes } from '../../wire/bytes.js';
import type { IcmpErrorKind, IpOutput, IpSendOptions, TransportInput } from '../iface/ip-output.js';
import { IPPROTO_UDP, IPV4_BROADCAST } from '../../wire/ipv4.js';
import { UdpDatagram, emitUdp, UDP_HEADER_LEN, type UdpRepr } from '../../wire/udp.js';
import { ICMP_PORT_UNREACHABLE } from '../../wire/icmp.js';
import { wrapOrReason } from '../../wire/errors.js';

export interface UdpStats {
  udp_rx: number;
  udp_rx_delivered: number;
  udp_rx_drop_malformed: number;
  udp_rx_drop_bad_checksum: number;
  udp_rx_no_port: number;
  udp_rx_icmp_errors: number;
  udp_tx: number;
  udp_tx_drop: number;
}

export interface UdpHandler {
  /** buf[off, off + len) is valid only during the call. */
  onDatagram(src: number, srcPort: number, dst: number, buf: Uint8Array, off: number, len: number): void;
  onIcmpError?(kind: IcmpErrorKind, remoteAddress: number, remotePort: number): void;
}

/** The IP layer as UDP needs it. */
export interface UdpIp extends IpOutput {
  isLocalAddress(ip: number): boolean;
  replyUnreachable(code: number): void;
}

export class UdpBindError extends Error {
  constructor(readonly code: 'EADDRINUSE' | 'EADDRNOTAVAIL', message: string) {
    super(message);
  }
}

/** The default ephemeral port range (RFC 6335 §6). */
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;

export interface UdpLayerOptions {
  /** Ephemeral port range (default 49152-65535). */
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** Called after a bind takes a port no endpoint had, or an unbind frees one. */
  onPortsChanged?: () => void;
  /**
   * One NIC, many workers (src/shard/): whether an ephemeral port may be
   * chosen — the owner steers UDP to it back to this stack. Ports it
   * refuses are skipped.
   */
  acceptsEphemeralPort?: (port: number) => boolean;
}

export class UdpEndpoint {
  remoteAddress = 0;
  remotePort = 0;
  private closed = false;
  private readonly repr: UdpRepr = { srcPort: 0, dstPort: 0, payloadLength: 0 };
  private wsrc = 0;
  private wdst = 0;
  private wdata: Uint8Array = new Uint8Array(0);
  private woff = 0;
  private readonly writer = (buf: Uint8Array, off: number): void => {
    copyBytes(buf, off + UDP_HEADER_LEN, this.wdata, this.woff, this.repr.payloadLength);
    emitUdp(this.repr, buf, off, this.wsrc, this.wdst, this.layer.ip.checksumOffloadFor(this.wdst) ? 'pseudo' : 'full');
  };

  constructor(
    private readonly layer: UdpLayer,
    readonly localAddress: number,
    readonly localPort: number,
    readonly handler: UdpHandler,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends data[off, off + len) to dst:dstPort. Returns false when the
   * datagram was dropped before leaving (no route, no buffer); UDP does not
   * report later losses.
   */
  send(dst: number, dstPort: number, data: Uint8Array, off: number, len: number, opts?: IpSendOptions): boolean {
    if (this.closed) return false;
    const src = this.localAddress !== 0 && dst !== IPV4_BROADCAST ? this.localAddress : this.layer.ip.sourceFor(dst);
    if (src < 0) {
      this.layer.stats.udp_tx_drop++;
      return false;
    }
    this.repr.srcPort = this.localPort;
    this.repr.dstPort = dstPort;
    this.repr.payloadLength = len;
    this.wsrc = src;
    this.wdst = dst;
    this.wdata = data;
    this.woff = off;
    const ok = this.layer.ip.send(src, dst, IPPROTO_UDP, UDP_HEADER_LEN + len, this.writer, opts);
    this.wdata = EMPTY;
    if (ok) this.layer.stats.udp_tx++;
    else this.layer.stats.udp_tx_drop++;
    return ok;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
  }
}

const EMPTY = new Uint8Array(0);

export class UdpLayer implements TransportInput {
  readonly stats: UdpStats = {
    udp_rx: 0, udp_rx_delivered: 0, udp_rx_drop_malformed: 0, udp_rx_drop_bad_checksum: 0,
    udp_rx_no_port: 0, udp_rx_icmp_errors: 0, udp_tx: 0, udp_tx_drop: 0,
  };
  /** Endpoints by local port. */
  private readonly ports = new Map<number, UdpEndpoint[]>();
  private readonly view = new UdpDatagram();
  private readonly ephLow: number;
  private readonly ephHigh: number;
  private nextEphemeral: number;
  private readonly onPortsChanged: (() => void) | undefined;
  private readonly acceptsEphemeralPort: ((port: number) => boolean) | undefined;

  constructor(
    readonly ip: UdpIp,
    opts: UdpLayerOptions = {},
  ) {
    this.ephLow = opts.ephemeralLow ?? EPHEMERAL_LOW;
    this.ephHigh = opts.ephemeralHigh ?? EPHEMERAL_HIGH;
    this.nextEphemeral = this.ephLow + Math.floor(Math.random() * (this.ephHigh - this.ephLow));
    this.onPortsChanged = opts.onPortsChanged;
    this.acceptsEphemeralPort = opts.acceptsEphemeralPort;
  }

  /** The ports endpoints are bound to. */
  boundPorts(): number[] {
    return [...this.ports.keys()];
  }

  /**
   * Binds address:port (address 0 = any, port 0 = an ephemeral port).
   * Throws UdpBindError('EADDRINUSE') when the pair is taken, unless `reuse`
   * is set on every endpoint sharing it (SO_REUSEADDR semantics).
   */
  bind(address: number, port: number, handler: UdpHandler, reuse = false): UdpEndpoint {
    if (address !== 0 && !this.ip.isLocalAddress(address) && address !== IPV4_BROADCAST) {
      throw new UdpBindError('EADDRNOTAVAIL', `address not available`);
    }
    if (port === 0) port = this.ephemeralPort(address);
    const list = this.ports.get(port) ?? [];
    for (const e of list) {
      const overlap = e.localAddress === 0 || address === 0 || e.localAddress === address;
      if (overlap && !(reuse && this.reusable.has(e))) throw new UdpBindError('EADDRINUSE', `port ${port} in use`);
    }
    const ep = new UdpEndpoint(this, address, port, handler);
    if (reuse) this.reusable.add(ep);
    list.push(ep);
    this.ports.set(port, list);
    if (list.length === 1) this.onPortsChanged?.();
    return ep;
  }

  private readonly reusable = new WeakSet<UdpEndpoint>();

  unbind(ep: UdpEndpoint): void {
    const list = this.ports.get(ep.localPort);
    if (list === undefined) return;
    const i = list.indexOf(ep);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) {
      this.ports.delete(ep.localPort);
      this.onPortsChanged?.();
    }
  }

  /** Whether an endpoint bound to `address` (0: every address) could take `port` without `reuse`. */
  portFree(address: number, port: number): boolean {
    const list = this.ports.get(port);
    return list === undefined || !list.some((e) => e.localAddress === 0 || address === 0 || e.localAddress === address);
  }

  private ephemeralPort(address: number): number {
    const span = this.ephHigh - this.ephLow + 1;
    for (let i = 0; i < span; i++) {
      const p = this.ephLow + ((this.nextEphemeral - this.ephLow + i) % span);
      const list = this.ports.get(p);
      if (this.acceptsEphemeralPort !== undefined && !this.acceptsEphemeralPort(p)) continue;
      if (list === undefined || !list.some((e) => e.localAddress === 0 || address === 0 || e.localAddress === address)) {
        this.nextEphemeral = p + 1 > this.ephHigh ? this.ephLow : p + 1;
        return p;
      }
    }
    throw new UdpBindError('EADDRINUSE', 'no ephemeral UDP port free');
  }

  /** The endpoint that should receive a datagram to dst:dstPort from src:srcPort. */
  private lookup(dst: number, dstPort: number, src: number, srcPort: number): UdpEndpoint | undefined {
    const list = this.ports.get(dstPort);
    if (list === undefined) return undefined;
    let best: UdpEndpoint | undefined;
    let bestScore = -1;
    for (const e of list) {
      if (e.localAddress !== 0 && e.localAddress !== dst) continue;
      if (e.remotePort !== 0 && (e.remoteAddress !== src || e.remotePort !== srcPort)) continue;
      const score = (e.localAddress !== 0 ? 2 : 0) + (e.remotePort !== 0 ? 4 : 0);
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  }

  input(src: number, dst: number, buf: Uint8Array, off: number, len: number, verified: boolean): void {
    const st = this.stats;
    st.udp_rx++;
    const d = this.view;
    if (wrapOrReason(d, buf, off, len) !== null) {
      st.udp_rx_drop_malformed++;
      return;
    }
    if (!verified && !d.verifyChecksum(src, dst)) {
      st.udp_rx_drop_bad_checksum++;
      return;
    }
    const ep = this.lookup(dst, d.dstPort, src, d.srcPort);
    if (ep === undefined) {
      st.udp_rx_no_port++;
      this.ip.replyUnreachable(ICMP_PORT_UNREACHABLE);
      return;
    }
    st.udp_rx_delivered++;
    ep.handler.onDatagram(src, d.srcPort, dst, buf, d.payloadOffset, d.payloadLength);
  }

  icmpError(localAddr: number, remoteAddr: number, buf: Uint8Array, off: number, len: number, kind: IcmpErrorKind): void {
    if (len < 8) return;
    const srcPort = (buf[off]! << 8) | buf[off + 1]!;
    const dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
    const list = this.ports.get(srcPort);
    if (list === undefined) return;
    for (const e of list) {
      if (e.localAddress !== 0 && e.localAddress !== localAddr) continue;
      this.stats.udp_rx_icmp_errors++;
      e.handler.onIcmpError?.(kind, remoteAddr, dstPort);
      return;
    }
  }
}
