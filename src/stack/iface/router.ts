/**
 * Chooses the interface for each destination and is what transports see as
 * the IP layer (IpOutput). Local addresses and 127.0.0.0/8 go through the
 * loopback interface, as Linux routes them through lo; then on-link subnets;
 * then the first interface with a default gateway. The same for IPv6
 * (route6): the stack's own addresses and ::1 through the loopback
 * interface's IPv6 layer, then on-link, then a default router; every IPv6
 * layer sees the others through Ipv6LocalRoutes, so a packet handed to any
 * of them for a local address goes through lo.
 */
import type { Interface, TransportTable } from './interface.js';
import type { IpOutput, IpSendOptions, L4Segmenter, L4Writer, TransportInput } from './ip-output.js';
import type { Ipv6Layer, Ipv6LocalRoutes } from './ipv6-layer.js';
import { IPV4_HEADER_LEN } from '../../wire/ipv4.js';

const LOOPBACK_NET = 0x7f000000;

export function isLoopbackAddress(ip: number): boolean {
  return (ip & 0xff000000) >>> 0 === LOOPBACK_NET;
}

export class Router implements IpOutput, TransportTable, Ipv6LocalRoutes {
  readonly interfaces: Interface[] = [];
  private readonly protocols: Array<TransportInput | undefined> = new Array(256).fill(undefined);
  private loopbackIface: Interface | null = null;
  /** The interfaces' IPv6 layers, in the order they were added. */
  private readonly layers6: Ipv6Layer[] = [];
  loopback6: Ipv6Layer | null = null;

  addInterface(iface: Interface): void {
    if (iface.loopback) this.loopbackIface = iface;
    this.interfaces.push(iface);
    const v6 = iface.v6;
    if (v6 !== null) {
      this.layers6.push(v6);
      if (v6.loopback) this.loopback6 = v6;
      v6.local = this;
    }
  }

  /** The stored address when buf[off, off + 16) is one of the stack's IPv6 addresses (::1 included), else null. */
  ownAddress6(buf: Uint8Array, off: number): Uint8Array | null {
    const l = this.layers6;
    for (let k = 0; k < l.length; k++) {
      const a = l[k]!.ownAddress(buf, off);
      if (a !== null) return a;
    }
    return null;
  }

  /**
   * The IPv6 layer that carries packets to `dst`, or null when unreachable:
   * the loopback interface's for the stack's own addresses, else the first
   * with `dst` on link, else the first with a default router.
   */
  route6(dst: Uint8Array): Ipv6Layer | null {
    if (this.loopback6 !== null && this.ownAddress6(dst, 0) !== null) return this.loopback6;
    const l = this.layers6;
    for (let k = 0; k < l.length; k++) if (!l[k]!.loopback && l[k]!.onLink(dst)) return l[k]!;
    for (let k = 0; k < l.length; k++) if (!l[k]!.loopback && l[k]!.nextHop(dst) !== null) return l[k]!;
    return null;
  }

  /** Registered transports that bracket receive bursts. */
  private readonly burstAware: Pick<TransportInput, 'rxBurstStart' | 'rxBurstEnd'>[] = [];

  register(protocol: number, t: TransportInput): void {
    this.protocols[protocol] = t;
    if (t.rxBurstStart !== undefined && !this.burstAware.includes(t)) this.burstAware.push(t);
  }

  /** A transport that is not registered for an IPv4 protocol (TCP over IPv6) but brackets receive bursts too. */
  addBurstAware(t: Pick<TransportInput, 'rxBurstStart' | 'rxBurstEnd'>): void {
    if (t.rxBurstStart === undefined || t.rxBurstEnd === undefined) throw new Error('Router.addBurstAware: rxBurstStart and rxBurstEnd are required');
    if (!this.burstAware.includes(t)) this.burstAware.push(t);
  }

  rxBurstStart(): void {
    const b = this.burstAware;
    for (let k = 0; k < b.length; k++) b[k]!.rxBurstStart!();
  }

  rxBurstEnd(now: number): void {
    const b = this.burstAware;
    for (let k = 0; k < b.length; k++) b[k]!.rxBurstEnd!(now);
  }

  transport(protocol: number): TransportInput | undefined {
    return this.protocols[protocol];
  }

  /** True when `ip` is one of our addresses (or loopback). */
  isLocalAddress(ip: number): boolean {
    if (isLoopbackAddress(ip)) return this.loopbackIface !== null;
    // Indexed loops: for-of allocates an iterator when not optimised away (hot path).
    const ifs = this.interfaces;
    for (let k = 0; k < ifs.length; k++) if (!ifs[k]!.loopback && ifs[k]!.address === ip) return true;
    return false;
  }

  /** The interface that carries packets to `dst`, or null when unreachable. */
  route(dst: number): Interface | null {
    if (this.loopbackIface !== null && this.isLocalAddress(dst)) return this.loopbackIface;
    const ifs = this.interfaces;
    for (let k = 0; k < ifs.length; k++) {
      const i = ifs[k]!;
      if (!i.loopback && i.onLink(dst)) return i;
    }
    if (dst === 0xffffffff) {
      for (let k = 0; k < ifs.length; k++) if (!ifs[k]!.loopback) return ifs[k]!;
    }
    for (let k = 0; k < ifs.length; k++) {
      const i = ifs[k]!;
      if (!i.loopback && i.gateway !== 0) return i;
    }
    return null;
  }

  sourceFor(dst: number): number {
    if (isLoopbackAddress(dst)) return this.loopbackIface !== null ? 0x7f000001 : -1;
    if (this.isLocalAddress(dst)) return dst;
    const i = this.route(dst);
    return i === null ? -1 : i.address;
  }

  mtuFor(dst: number): number {
    const i = this.route(dst);
    return (i === null ? 576 : i.mtu) - IPV4_HEADER_LEN;
  }

  tsoMaxFor(dst: number): number {
    const i = this.route(dst);
    return i === null ? 576 - IPV4_HEADER_LEN : i.tsoMax;
  }

  checksumOffloadFor(dst: number): boolean {
    const i = this.route(dst);
    return i !== null && (i.loopback || i.nic.offloads.txChecksum);
  }

  send(src: number, dst: number, protocol: number, length: number, write: L4Writer, opts?: IpSendOptions, segmenter?: L4Segmenter): boolean {
    const i = this.route(dst);
    if (i === null) {
      this.noRoute++;
      return false;
    }
    return i.send(src, dst, protocol, length, write, opts, segmenter);
  }

  /** Packets dropped because no interface reaches their destination. */
  noRoute = 0;

  /** From inside a transport's input(): answer the packet with ICMP unreachable. */
  replyUnreachable(code: number): void {
    const ifs = this.interfaces;
    for (let k = 0; k < ifs.length; k++) ifs[k]!.replyUnreachable(code);
  }
}
