/**
 * UDP over IPv6 (RFC 768 with RFC 8200 §8.1): endpoints bound to a port on
 * one IPv6 address or on all of them, connected endpoints (a fixed peer,
 * preferred by the demux as Linux's compute_score does), the checksum over
 * the IPv6 pseudo-header (mandatory: a zero checksum is dropped; 0 computed
 * is sent as 0xffff), ICMPv6 port unreachable for a closed port (rate
 * limited by the IPv6 layer), and ICMPv6 destination unreachables handed to
 * the endpoint that sent the quoted datagram.
 *
 * Beside the IPv4 UdpLayer rather than inside it: that layer's demux and
 * its sockets are keyed by 32-bit addresses on the hot path. A dual-stack
 * socket (node's 'udp6' bound to `::`) is an endpoint here plus one in the
 * IPv4 layer on the same port (NetStack.udp6Bind); `portFree` lets the
 * ephemeral choice here skip ports the IPv4 side has taken.
 */
import { onesSum, internetChecksum } from '../../wire/checksum.js';
import { copyBytes } from '../../wire/bytes.js';
import { UDP_HEADER_LEN } from '../../wire/udp.js';
import { ipv6PseudoSum, ipv6Equal, ipv6ToString, isIpv6LinkLocal, isIpv6Unspecified } from '../../wire/ipv6.js';
import { IPPROTO_UDP } from '../../wire/ipv4.js';
import { ICMPV6_PORT_UNREACHABLE } from '../../wire/icmpv6.js';
import type { IcmpErrorKind } from '../iface/ip-output.js';
import type { Ipv6Layer, Ipv6TransportInput } from '../iface/ipv6-layer.js';
import { UdpBindError } from './udp-layer.js';

export interface Udp6Stats {
  udp6_rx: number;
  udp6_rx_delivered: number;
  udp6_rx_drop_malformed: number;
  udp6_rx_drop_zero_checksum: number;
  udp6_rx_drop_bad_checksum: number;
  udp6_rx_no_port: number;
  udp6_rx_icmp_errors: number;
  udp6_tx: number;
  udp6_tx_drop: number;
}

export interface Udp6Handler {
  /** `src` and buf[off, off + len) are valid only during the call; `ifname`: the interface it came in on. */
  onDatagram(src: Uint8Array, srcPort: number, buf: Uint8Array, off: number, len: number, ifname: string): void;
  /** An ICMPv6 error about a datagram this endpoint sent to [remote]:remotePort (`remote` valid during the call only). */
  onIcmpError?(kind: IcmpErrorKind, remote: Uint8Array, remotePort: number): void;
}

/** The default ephemeral port range (RFC 6335 §6), as the IPv4 layer's. */
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;

export class Udp6Endpoint {
  /** The connected peer (null: none; then remotePort is 0). */
  remoteAddress: Uint8Array | null = null;
  remotePort = 0;
  private closed = false;

  constructor(
    private readonly layer: Udp6Layer,
    /** null: every address (`::`). */
    readonly localAddress: Uint8Array | null,
    readonly localPort: number,
    readonly handler: Udp6Handler,
    readonly reuse: boolean,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends `data[off, off + len)` to [dst]:dstPort from the bound address, or
   * from the route's best source when bound to `::`. False when dropped
   * before leaving (no route, no source, no buffer).
   */
  send(dst: Uint8Array, dstPort: number, data: Uint8Array, off = 0, len = data.length - off, hopLimit?: number): boolean {
    if (this.closed) return false;
    return this.layer.sendFrom(this.localAddress, this.localPort, dst, dstPort, data, off, len, hopLimit);
  }

  /** Whether the last send (of any endpoint) was dropped for want of a route or a source address. */
  get lastSendNoRoute(): boolean {
    return this.layer.lastSendNoRoute;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.unbind(this);
  }
}

export class Udp6Layer implements Ipv6TransportInput {
  readonly stats: Udp6Stats = {
    udp6_rx: 0, udp6_rx_delivered: 0, udp6_rx_drop_malformed: 0, udp6_rx_drop_zero_checksum: 0,
    udp6_rx_drop_bad_checksum: 0, udp6_rx_no_port: 0, udp6_rx_icmp_errors: 0, udp6_tx: 0, udp6_tx_drop: 0,
  };
  /** Endpoints by local port. */
  private readonly ports = new Map<number, Udp6Endpoint[]>();
  private readonly layers: Ipv6Layer[] = [];
  private nextEphemeral = EPHEMERAL_LOW + Math.floor(Math.random() * (EPHEMERAL_HIGH - EPHEMERAL_LOW));

  /** An interface's IPv6 layer to receive from and send through. */
  attach(v6: Ipv6Layer): void {
    this.layers.push(v6);
    v6.registerTransport(IPPROTO_UDP, this);
  }

  /** Binds `port` on every IPv6 address. */
  bind(port: number, handler: Udp6Handler): Udp6Endpoint {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`Udp6Layer.bind: port ${String(port)}`);
    return this.bindTo(null, port, handler);
  }

  /**
   * Binds [address]:port (address null or `::`: every address; port 0: an
   * ephemeral one for which `portFree` also holds). Throws
   * UdpBindError('EADDRNOTAVAIL') for an address that is not ours (or not
   * usable yet), ('EADDRINUSE') when an overlapping endpoint holds the port,
   * unless it and this one both set `reuse` (SO_REUSEADDR).
   */
  bindTo(address: Uint8Array | null, port: number, handler: Udp6Handler, reuse = false, portFree?: (port: number) => boolean): Udp6Endpoint {
    if (address !== null && isIpv6Unspecified(address)) address = null;
    if (address !== null && !this.isLocalAddress(address)) throw new UdpBindError('EADDRNOTAVAIL', 'address not available');
    if (port === 0) port = this.ephemeralPort(address, portFree);
    const list = this.ports.get(port) ?? [];
    for (const e of list) {
      if (overlaps(e.localAddress, address) && !(reuse && e.reuse)) {
        throw new UdpBindError('EADDRINUSE', `bind EADDRINUSE [${address === null ? '::' : ipv6ToString(address)}]:${port}`);
      }
    }
    const ep = new Udp6Endpoint(this, address === null ? null : address.slice(), port, handler, reuse);
    list.push(ep);
    this.ports.set(port, list);
    return ep;
  }

  /** Whether an endpoint bound to `address` (null: every address) could take `port` without `reuse`. */
  portFree(address: Uint8Array | null, port: number): boolean {
    const list = this.ports.get(port);
    return list === undefined || !list.some((e) => overlaps(e.localAddress, address));
  }

  unbind(ep: Udp6Endpoint): void {
    const list = this.ports.get(ep.localPort);
    if (list === undefined) return;
    const i = list.indexOf(ep);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.ports.delete(ep.localPort);
  }

  /** Whether `a` is a usable address of one of the interfaces. */
  isLocalAddress(a: Uint8Array): boolean {
    for (const v6 of this.layers) if (v6.hasAddress(a)) return true;
    return false;
  }

  /** The name of the interface a link-local address is on: the one that has it, else the one that routes to it; null for other addresses. */
  linkZone(a: Uint8Array): string | null {
    if (!isIpv6LinkLocal(a)) return null;
    for (const v6 of this.layers) if (v6.hasAddress(a)) return v6.ifname;
    for (const v6 of this.layers) if (v6.nextHop(a) !== null) return v6.ifname;
    return null;
  }

  /** The source address toward `dst` on the first interface with a route and a usable source, or null. */
  sourceFor(dst: Uint8Array): Uint8Array | null {
    for (const v6 of this.layers) {
      if (v6.nextHop(dst) === null) continue;
      const src = v6.sourceFor(dst);
      if (src !== null) return src;
    }
    return null;
  }

  private ephemeralPort(address: Uint8Array | null, portFree: ((port: number) => boolean) | undefined): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    for (let i = 0; i < span; i++) {
      const p = EPHEMERAL_LOW + ((this.nextEphemeral - EPHEMERAL_LOW + i) % span);
      if (!this.portFree(address, p) || (portFree !== undefined && !portFree(p))) continue;
      this.nextEphemeral = p + 1 > EPHEMERAL_HIGH ? EPHEMERAL_LOW : p + 1;
      return p;
    }
    throw new UdpBindError('EADDRINUSE', 'no ephemeral UDP port free');
  }

  /** The endpoint for a datagram to [dst]:dstPort from [src]:srcPort: connected and address-bound ones first. */
  private lookup(dst: Uint8Array, dstPort: number, src: Uint8Array, srcPort: number): Udp6Endpoint | undefined {
    const list = this.ports.get(dstPort);
    if (list === undefined) return undefined;
    let best: Udp6Endpoint | undefined;
    let bestScore = -1;
    for (const e of list) {
      if (e.localAddress !== null && !ipv6Equal(dst, 0, e.localAddress)) continue;
      if (e.remotePort !== 0 && (e.remotePort !== srcPort || !ipv6Equal(src, 0, e.remoteAddress!))) continue;
      const score = (e.localAddress !== null ? 2 : 0) + (e.remotePort !== 0 ? 4 : 0);
      if (score > bestScore) {
        best = e;
        bestScore = score;
      }
    }
    return best;
  }

  input6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number, verified: boolean, layer: Ipv6Layer, now: number): void {
    const st = this.stats;
    st.udp6_rx++;
    if (len < UDP_HEADER_LEN) {
      st.udp6_rx_drop_malformed++;
      return;
    }
    const ulen = (buf[off + 4]! << 8) | buf[off + 5]!;
    if (ulen < UDP_HEADER_LEN || ulen > len) {
      st.udp6_rx_drop_malformed++;
      return;
    }
    // Unless the NIC checked it (or the sending kernel left it partial, as over a TAP with offloads).
    if (!verified) {
      if (buf[off + 6] === 0 && buf[off + 7] === 0) {
        st.udp6_rx_drop_zero_checksum++;
        return;
      }
      if (onesSum(buf, off, ulen, ipv6PseudoSum(src, dst, ulen, IPPROTO_UDP)) !== 0xffff) {
        st.udp6_rx_drop_bad_checksum++;
        return;
      }
    }
    const srcPort = (buf[off]! << 8) | buf[off + 1]!;
    const ep = this.lookup(dst, (buf[off + 2]! << 8) | buf[off + 3]!, src, srcPort);
    if (ep === undefined) {
      st.udp6_rx_no_port++;
      layer.replyUnreachable(ICMPV6_PORT_UNREACHABLE, now);
      return;
    }
    st.udp6_rx_delivered++;
    ep.handler.onDatagram(src, srcPort, buf, off + UDP_HEADER_LEN, ulen - UDP_HEADER_LEN, layer.ifname);
  }

  /** The endpoint that sent the quoted datagram (its source port, and its address unless bound to `::`) hears of it. */
  icmpError6(local: Uint8Array, remote: Uint8Array, buf: Uint8Array, off: number, len: number, kind: IcmpErrorKind): void {
    if (len < UDP_HEADER_LEN) return;
    const list = this.ports.get((buf[off]! << 8) | buf[off + 1]!);
    if (list === undefined) return;
    const remotePort = (buf[off + 2]! << 8) | buf[off + 3]!;
    for (const e of list) {
      if (e.localAddress !== null && !ipv6Equal(local, 0, e.localAddress)) continue;
      this.stats.udp6_rx_icmp_errors++;
      e.handler.onIcmpError?.(kind, remote, remotePort);
      return;
    }
  }

  /** Sends a datagram from the route's best source address and `srcPort`. */
  send(srcPort: number, dst: Uint8Array, dstPort: number, data: Uint8Array, off: number, len: number): boolean {
    return this.sendFrom(null, srcPort, dst, dstPort, data, off, len);
  }

  /** Whether the last send was dropped for want of a route or a source address (a socket's ENETUNREACH). */
  lastSendNoRoute = false;
  // The datagram being written: one writer for every send, no closure per datagram.
  private wSrcPort = 0;
  private wDstPort = 0;
  private wFrom: Uint8Array = new Uint8Array(16);
  private wDst: Uint8Array = new Uint8Array(16);
  private wData: Uint8Array = new Uint8Array(0);
  private wOff = 0;
  private wLen = 0;
  private readonly writer = (out: Uint8Array, o: number): void => {
    const length = UDP_HEADER_LEN + this.wLen;
    out[o] = this.wSrcPort >>> 8;
    out[o + 1] = this.wSrcPort & 0xff;
    out[o + 2] = this.wDstPort >>> 8;
    out[o + 3] = this.wDstPort & 0xff;
    out[o + 4] = length >>> 8;
    out[o + 5] = length & 0xff;
    out[o + 6] = 0;
    out[o + 7] = 0;
    copyBytes(out, o + UDP_HEADER_LEN, this.wData, this.wOff, this.wLen);
    let c = internetChecksum(out, o, length, ipv6PseudoSum(this.wFrom, this.wDst, length, IPPROTO_UDP));
    if (c === 0) c = 0xffff;
    out[o + 6] = c >>> 8;
    out[o + 7] = c & 0xff;
  };

  /**
   * Sends a datagram from [src]:srcPort (src null: the route's best source)
   * through the first interface with a route toward `dst`.
   */
  sendFrom(src: Uint8Array | null, srcPort: number, dst: Uint8Array, dstPort: number, data: Uint8Array, off: number, len: number, hopLimit?: number): boolean {
    this.lastSendNoRoute = false;
    const layers = this.layers;
    for (let k = 0; k < layers.length; k++) {
      const v6 = layers[k]!;
      if (v6.nextHop(dst) === null) continue;
      const from = src ?? v6.sourceFor(dst);
      if (from === null) continue;
      this.wSrcPort = srcPort;
      this.wDstPort = dstPort;
      this.wFrom = from;
      this.wDst = dst;
      this.wData = data;
      this.wOff = off;
      this.wLen = len;
      const ok = v6.send(from, dst, IPPROTO_UDP, UDP_HEADER_LEN + len, this.writer, hopLimit);
      this.wData = EMPTY;
      if (ok) this.stats.udp6_tx++;
      else this.stats.udp6_tx_drop++;
      return ok;
    }
    this.stats.udp6_tx_drop++;
    this.lastSendNoRoute = true;
    return false;
  }
}

const EMPTY = new Uint8Array(0);

/** Two bindings overlap when either is `::` or both name the same address. */
function overlaps(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null || ipv6Equal(a, 0, b);
}
