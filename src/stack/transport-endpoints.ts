/**
 * What the socket layer may ask of the stack: the control calls that create
 * transport endpoints (connect, listen, bind) and the address and route
 * questions a socket answers before it sends. NetStack implements it; the
 * sockets hold this surface, never the engine, so the layers, the router
 * and the interfaces stay the stack's own business.
 *
 * Data does not pass through here: once a socket has its Connection,
 * Listener or UdpEndpoint it reads, writes and sends on that object
 * directly.
 *
 * The endpoint types are re-exported so that the socket layer names one
 * module of the stack, this one.
 */
import type { Connection } from './tcp/connection.js';
import type { Listener } from './tcp/tcp-layer.js';
import type { UdpEndpoint, UdpHandler } from './udp/udp-layer.js';
import type { Udp6Endpoint, Udp6Handler } from './udp/udp6-layer.js';

export type { Connection, TcpErrorCode, TcpEvents } from './tcp/connection.js';
export type { Listener } from './tcp/tcp-layer.js';
export { UdpBindError, type UdpEndpoint, type UdpHandler } from './udp/udp-layer.js';
export type { Udp6Endpoint, Udp6Handler } from './udp/udp6-layer.js';
export type { IcmpErrorKind } from './iface/ip-output.js';

export interface TransportEndpoints {
  /**
   * Opens a TCP connection to remoteAddr:remotePort (the SYN leaves on the
   * next poll). Without a local address the route to the peer picks it;
   * without a local port an ephemeral one is chosen. Throws a coded error
   * (ENETUNREACH, EADDRINUSE, ERR_SOCKET_BAD_PORT).
   */
  tcpConnect(remoteAddr: number, remotePort: number, opts?: { localAddr?: number; localPort?: number }): Connection;
  /**
   * Listens on addr:port (addr 0: every address); `onConnection` gets each
   * established connection. The backlog is clamped to limits.maxBacklog.
   * Throws a coded error (EADDRINUSE, ERR_SOCKET_BAD_PORT).
   */
  tcpListen(port: number, addr: number, backlog: number, onConnection: (conn: Connection) => void): Listener;
  /**
   * Opens a TCP connection over IPv6 to [remote]:remotePort (tcpConnect's
   * rules; localAddr must be one of the stack's IPv6 addresses:
   * EADDRNOTAVAIL). The connection's addresses are ids: tcp6AddressText.
   */
  tcp6Connect(remote: Uint8Array, remotePort: number, opts?: { localAddr?: Uint8Array; localPort?: number }): Connection;
  /** Listens on [addr]:port over IPv6 (null: every IPv6 address); tcpListen's rules. */
  tcp6Listen(port: number, addr: Uint8Array | null, backlog: number, onConnection: (conn: Connection) => void): Listener;
  /** The text (RFC 5952; a link-local one with its zone) of an address of a tcp6 connection or listener, while it holds it. */
  tcp6AddressText(id: number): string;
  /** Whether the stack has IPv6 on any interface (listen() without an address binds :: then, as node). */
  hasIpv6(): boolean;
  /**
   * Binds a UDP endpoint on addr:port (addr 0: every address, port 0: an
   * ephemeral port); `reuse` is SO_REUSEADDR. Throws UdpBindError.
   */
  udpBind(addr: number, port: number, handler: UdpHandler, reuse: boolean): UdpEndpoint;
  /**
   * Binds a UDP endpoint on [addr]:port over IPv6 (addr null: every IPv6
   * address, port 0: an ephemeral port). With `v4` and addr null the
   * binding is dual-stack: an IPv4 endpoint on 0.0.0.0 and the same port,
   * whose datagrams go to `v4` (node's 'udp6' without ipv6Only). Throws
   * UdpBindError (EADDRINUSE on either side, EADDRNOTAVAIL).
   */
  udp6Bind(addr: Uint8Array | null, port: number, handler: Udp6Handler, reuse: boolean, v4: UdpHandler | null): { v6: Udp6Endpoint; v4: UdpEndpoint | null };
  /** Whether `addr` is one of the stack's usable IPv6 addresses. */
  isLocalAddress6(addr: Uint8Array): boolean;
  /** The interface a link-local address is on (one of ours, or a peer's by the route), as its zone in text; null for other addresses. */
  linkZone6(addr: Uint8Array): string | null;
  /** The IPv6 source address a packet to `dst` leaves from, or null when no route or no usable source reaches it. */
  sourceAddress6For(dst: Uint8Array): Uint8Array | null;
  /** Whether `addr` is one of the stack's own addresses (127.0.0.0/8 included). */
  isLocalAddress(addr: number): boolean;
  /** The source address a packet to `dst` leaves from, or -1 when no route reaches it. */
  sourceAddressFor(dst: number): number;
  /**
   * Whether `dst` is a broadcast address: 255.255.255.255, or the directed
   * broadcast of a configured subnet wider than /31 on a non-loopback
   * interface.
   */
  isBroadcastAddress(dst: number): boolean;
}
