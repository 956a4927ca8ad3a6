/**
 * The endpoints of a node:dgram 'udp6' socket, as one Linux AF_INET6
 * datagram socket has them: bound to `::` it is dual-stack (an IPv6
 * endpoint and an IPv4 one on the same port; IPv4 peers appear as
 * `::ffff:a.b.c.d`) unless `ipv6Only`; bound to an IPv4-mapped address it
 * is an IPv4 endpoint only; bound to another IPv6 address, an IPv6 one.
 * connect() fixes the peer on the side that reaches it and shuts the other
 * side's traffic out, as the kernel's single socket does.
 *
 * The errno each operation reports is Linux's (checked against node on the
 * kernel): a native IPv6 destination from a socket bound to an IPv4-mapped
 * address is EAFNOSUPPORT; an IPv4-mapped destination from an ipv6Only
 * socket, or from one bound to a native IPv6 address (whose IPv4 source
 * would be the kernel's placeholder 127.0.0.6), is ENETUNREACH; a
 * destination that is not IPv6 text is EINVAL.
 */
import { ipv4OfMapped, ipv6Equal, ipv6ToString, isIpv6LinkLocal, isIpv6Unspecified, parseIpv6Address, tryParseIpv6 } from '../wire/ipv6.js';
import { stripZone } from './net-args.js';
import { ipToString } from '../wire/ipv4.js';
import {
  UdpBindError,
  type IcmpErrorKind,
  type TransportEndpoints,
  type Udp6Endpoint,
  type Udp6Handler,
  type UdpEndpoint,
  type UdpHandler,
} from '../stack/transport-endpoints.js';

/** Where a 'udp6' socket's datagrams and errors go (the dgram Handle). */
export interface Dgram6Sink {
  /** A datagram from `address` (text as node reports it); buf[off, off + len) valid during the call only. */
  deliver(address: string, port: number, buf: Uint8Array, off: number, len: number): void;
  /** An ICMP error about a datagram to the connected peer (`code`: the errno). */
  icmpError(code: string): void;
}

/** Linux's icmpv6_err_convert / icmp_err_convert for the errors it reports to connected sockets. */
const ICMP6_ERRNO: Partial<Record<IcmpErrorKind, string>> = {
  'port-unreachable': 'ECONNREFUSED',
  'host-unreachable': 'EHOSTUNREACH',
  'net-unreachable': 'ENETUNREACH',
  'admin-prohibited': 'EACCES',
};
const ICMP4_ERRNO: Partial<Record<IcmpErrorKind, string>> = {
  'port-unreachable': 'ECONNREFUSED',
  'host-unreachable': 'EHOSTUNREACH',
  'net-unreachable': 'ENETUNREACH',
  'protocol-unreachable': 'ENOPROTOOPT',
  'admin-prohibited': 'EHOSTUNREACH',
};

const LOOPBACK6 = parseIpv6Address('::1');

/** node's text for an IPv4 peer of an IPv6 socket. */
export function mappedText(v4: number): string {
  return `::ffff:${ipToString(v4)}`;
}

export class Dgram6Binding {
  ep6: Udp6Endpoint | null = null;
  ep4: UdpEndpoint | null = null;
  /** The address asked for at bind (null: `::`), kept for rehashing and for address() while unhashed. */
  boundAddress: Uint8Array | null = null;
  /** The peer's address when connected (IPv4-mapped for an IPv4 peer) and port; port 0: not connected. */
  remote: Uint8Array | null = null;
  remotePort = 0;
  private lastV4 = -1;
  private lastV4Text = '';
  private readonly lastV6 = new Uint8Array(16);
  private lastV6Zone = '';
  private lastV6Text = '::';
  private readonly rx6: Udp6Handler;
  private readonly rx4: UdpHandler;

  constructor(
    private readonly endpoints: TransportEndpoints,
    private readonly sink: Dgram6Sink,
    readonly ipv6Only: boolean,
  ) {
    this.rx6 = {
      onDatagram: (src, srcPort, buf, off, len, ifname) => {
        // One-entry cache, as the IPv4 side's: a peer's text is made once per run of its datagrams.
        if (!ipv6Equal(src, 0, this.lastV6) || ifname !== this.lastV6Zone) {
          this.lastV6.set(src);
          this.lastV6Zone = ifname;
          // A link-local peer carries its zone, as node reports it (fe80::1%eth0).
          this.lastV6Text = isIpv6LinkLocal(src) ? `${ipv6ToString(src)}%${ifname}` : ipv6ToString(src);
        }
        sink.deliver(this.lastV6Text, srcPort, buf, off, len);
      },
      onIcmpError: (kind, remote, remotePort) => {
        const ep = this.ep6;
        if (ep === null || ep.remotePort !== remotePort || ep.remoteAddress === null || ipv6ToString(remote) !== ipv6ToString(ep.remoteAddress)) return;
        const code = ICMP6_ERRNO[kind];
        if (code !== undefined) sink.icmpError(code);
      },
    };
    this.rx4 = {
      onDatagram: (src, srcPort, _dst, buf, off, len) => {
        if (src !== this.lastV4) {
          this.lastV4 = src;
          this.lastV4Text = mappedText(src);
        }
        sink.deliver(this.lastV4Text, srcPort, buf, off, len);
      },
      onIcmpError: (kind, remoteAddress, remotePort) => {
        const ep = this.ep4;
        if (ep === null || ep.remotePort !== remotePort || ep.remoteAddress !== remoteAddress) return;
        const code = ICMP4_ERRNO[kind];
        if (code !== undefined) sink.icmpError(code);
      },
    };
  }

  private lastDstText = '';
  private lastDst: Uint8Array | null = null;

  /** A destination's text as bytes (null: not IPv6 text), with a one-entry cache: a socket mostly sends to one peer. */
  destination(text: string): Uint8Array | null {
    if (text !== this.lastDstText || this.lastDst === null) {
      const d = tryParseIpv6(stripZone(text));
      if (d === null) return null;
      this.lastDstText = text;
      this.lastDst = d;
    }
    return this.lastDst;
  }

  get bound(): boolean {
    return this.ep6 !== null || this.ep4 !== null;
  }

  /**
   * Binds [address]:port; returns null or the errno (EINVAL: an IPv4-mapped
   * address on an ipv6Only socket; EADDRINUSE; EADDRNOTAVAIL).
   */
  bind(address: Uint8Array, port: number, reuse: boolean): string | null {
    const v4 = ipv4OfMapped(address);
    if (v4 >= 0 && this.ipv6Only) return 'EINVAL';
    try {
      if (v4 >= 0) this.ep4 = this.endpoints.udpBind(v4, port, this.rx4, reuse);
      else {
        const b = this.endpoints.udp6Bind(isIpv6Unspecified(address) ? null : address, port, this.rx6, reuse, this.ipv6Only ? null : this.rx4);
        this.ep6 = b.v6;
        this.ep4 = b.v4;
      }
    } catch (e) {
      if (e instanceof UdpBindError) return e.code;
      throw e;
    }
    this.boundAddress = isIpv6Unspecified(address) ? null : address.slice();
    return null;
  }

  /** A fresh ephemeral port on the bound address (after a disconnect unhashed the socket). */
  rehash(reuse: boolean): string | null {
    return this.bind(this.boundAddress ?? new Uint8Array(16), 0, reuse);
  }

  /** The local port (0 when unbound). */
  get port(): number {
    return this.ep6?.localPort ?? this.ep4?.localPort ?? 0;
  }

  /** connect(2): fixes the peer and, from `::`, the local address toward it. Returns the errno or null. */
  connect(dst: Uint8Array, port: number, broadcastOk: boolean, reuse: boolean): string | null {
    if (isIpv6Unspecified(dst)) dst = LOOPBACK6; // Linux: connecting to :: means loopback
    const v4 = ipv4OfMapped(dst);
    if (v4 >= 0) {
      if (this.ipv6Only || this.ep4 === null) return 'ENETUNREACH';
      const peer = v4 === 0 ? 0x7f000001 : v4;
      const src = this.endpoints.sourceAddressFor(peer);
      if (src < 0) return 'ENETUNREACH';
      if (this.endpoints.isBroadcastAddress(peer) && !broadcastOk) return 'EACCES';
      if (this.ep4.localAddress === 0 && src !== 0) {
        const moved = this.rebind4(src, reuse);
        if (moved !== null) return moved;
      }
      this.ep4.remoteAddress = peer;
      this.ep4.remotePort = port;
      // The IPv6 side hears from nobody now: its peer is one no IPv6 datagram comes from.
      if (this.ep6 !== null) {
        this.ep6.remoteAddress = dst.slice();
        this.ep6.remotePort = port;
      }
      this.remote = dst.slice();
      this.remote.set([peer >>> 24, (peer >>> 16) & 0xff, (peer >>> 8) & 0xff, peer & 0xff], 12);
      this.remotePort = port;
      return null;
    }
    if (this.ep6 === null) return 'EAFNOSUPPORT';
    const src = this.endpoints.sourceAddress6For(dst);
    if (src === null) return 'ENETUNREACH';
    if (this.ep6.localAddress === null) {
      const moved = this.rebind6(src, reuse);
      if (moved !== null) return moved;
    }
    this.ep6!.remoteAddress = dst.slice();
    this.ep6!.remotePort = port;
    // The IPv4 side likewise: only a datagram from 0.0.0.0 would match.
    if (this.ep4 !== null) {
      this.ep4.remoteAddress = 0;
      this.ep4.remotePort = port;
    }
    this.remote = dst.slice();
    this.remotePort = port;
    return null;
  }

  /** Forgets the peer; without a locked port the socket loses its port until the next send (Linux). */
  disconnect(portLocked: boolean, reuse: boolean): void {
    this.remote = null;
    this.remotePort = 0;
    if (!portLocked) {
      this.close();
      return;
    }
    for (const ep of [this.ep6, this.ep4]) {
      if (ep === null) continue;
      ep.remotePort = 0;
    }
    if (this.ep6 !== null) this.ep6.remoteAddress = null;
    if (this.ep4 !== null) this.ep4.remoteAddress = 0;
    if (this.boundAddress === null) {
      if (this.ep6 !== null && this.ep6.localAddress !== null) this.rebind6(null, reuse);
      if (this.ep4 !== null && this.ep4.localAddress !== 0) this.rebind4(0, reuse);
    }
  }

  private rebind6(address: Uint8Array | null, reuse: boolean): string | null {
    const old = this.ep6!;
    old.close();
    try {
      this.ep6 = this.endpoints.udp6Bind(address, old.localPort, this.rx6, reuse, null).v6;
      return null;
    } catch {
      this.ep6 = this.endpoints.udp6Bind(old.localAddress, old.localPort, this.rx6, reuse, null).v6;
      return 'EADDRINUSE';
    }
  }

  private rebind4(address: number, reuse: boolean): string | null {
    const old = this.ep4!;
    old.close();
    try {
      this.ep4 = this.endpoints.udpBind(address, old.localPort, this.rx4, reuse);
      return null;
    } catch {
      this.ep4 = this.endpoints.udpBind(old.localAddress, old.localPort, this.rx4, reuse);
      return 'EADDRINUSE';
    }
  }

  /**
   * Sends one datagram to [dst]:port (dst null: the connected peer).
   * Returns true when it left, false when dropped (no buffer), or the errno.
   */
  send(dst: Uint8Array | null, port: number, data: Uint8Array, ttl: number, broadcastOk: boolean, sendOpts: { ttl: number }): boolean | string {
    if (dst === null) {
      dst = this.remote!;
      port = this.remotePort;
    } else if (isIpv6Unspecified(dst)) dst = LOOPBACK6;
    const v4 = ipv4OfMapped(dst);
    if (v4 >= 0) {
      if (this.ipv6Only || this.ep4 === null) return 'ENETUNREACH';
      const peer = v4 === 0 ? 0x7f000001 : v4;
      if (this.endpoints.isBroadcastAddress(peer) && !broadcastOk) return 'EACCES';
      if (this.endpoints.sourceAddressFor(peer) < 0) return 'ENETUNREACH';
      sendOpts.ttl = ttl;
      return this.ep4.send(peer, port, data, 0, data.length, sendOpts);
    }
    if (this.ep6 === null) return 'EAFNOSUPPORT';
    const ok = this.ep6.send(dst, port, data, 0, data.length, ttl);
    return ok || !this.ep6.lastSendNoRoute ? ok : 'ENETUNREACH';
  }

  /** address() as node reports it for an AF_INET6 socket. */
  localText(): string {
    if (this.remotePort !== 0) {
      if (ipv4OfMapped(this.remote!) >= 0 && this.ep4 !== null) return mappedText(this.ep4.localAddress);
      if (this.ep6?.localAddress) return this.text(this.ep6.localAddress);
    }
    if (this.boundAddress !== null) return this.text(this.boundAddress);
    return '::';
  }

  remoteText(): string {
    return this.text(this.remote!);
  }

  /** An address as node's AddressToJS writes it: a link-local one with its zone (%interface). */
  private text(a: Uint8Array): string {
    const zone = this.endpoints.linkZone6(a);
    return zone === null ? ipv6ToString(a) : `${ipv6ToString(a)}%${zone}`;
  }

  close(): void {
    this.ep6?.close();
    this.ep4?.close();
    this.ep6 = null;
    this.ep4 = null;
  }
}
