/**
 * A dgram socket's handle: what a libuv UDP handle and its kernel socket are
 * in node. It holds the socket's endpoint (a 'udp4' socket's `UdpEndpoint`,
 * a 'udp6' socket's `Dgram6Binding`) and does to it what bind(2),
 * connect(2) and the kernel's disconnect do, with Linux's errno for each
 * failure; the node-level state machine (bind/connect states, events, the
 * queue of calls made before bind completes) is the socket's (dgram.ts).
 * It receives through the queue it extends (dgram-receive.ts) and keeps the
 * send path's per-socket state (dgram-send.ts).
 */
import type { Buffer } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import { systemError } from '../errors/node-errors.js';
import { UdpBindError, type IcmpErrorKind, type UdpEndpoint, type UdpHandler } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { tryParseIpv6 } from '../wire/ipv6.js';
import { Dgram6Binding, type Dgram6Sink } from './dgram6.js';
import { DEFAULT_BUF } from './dgram-buffer-size.js';
import type { FamilyLookup } from './dgram-lookup.js';
import { DatagramQueue } from './dgram-receive.js';
import type { AddressInfo, SendCallback } from './dgram-types.js';
import type { SocketHost } from './host.js';
import { stripZone, type BlockListLike } from './net-args.js';

/** Linux's icmp_err_convert for the errors it reports to connected UDP sockets. */
const ICMP_ERRNO: Partial<Record<IcmpErrorKind, string>> = {
  'port-unreachable': 'ECONNREFUSED',
  'host-unreachable': 'EHOSTUNREACH',
  'net-unreachable': 'ENETUNREACH',
  'protocol-unreachable': 'ENOPROTOOPT',
  'admin-prohibited': 'EHOSTUNREACH',
};

export class Handle extends DatagramQueue implements UdpHandler, Dgram6Sink {
  ep: UdpEndpoint | null = null;
  /** A 'udp6' socket's endpoints (then `ep` stays null). */
  readonly six: Dgram6Binding | null;
  /** Bound explicitly to a specific address (connect then does not change it). */
  boundAddress = 0;
  /** Bound to an explicit port (Linux SOCK_BINDPORT_LOCK): disconnect keeps it. */
  portLocked = false;
  /**
   * Linux unhashes a socket whose port the kernel chose when it is
   * disconnected: it has no port (address() reports port 0) until the next
   * send or connect picks a new one.
   */
  unhashed = false;
  ttl = 64;
  /** Reused for every send, so a datagram allocates no options object. */
  readonly sendOpts = { ttl: 64 };
  /** One-entry cache: the last destination string parsed. */
  lastDstText = '';
  lastDst = 0;
  /** No user lookup: an IPv4 literal resolves to itself, on the next tick. */
  readonly defaultLookup: boolean;
  /**
   * Unconnected sends to IPv4 literals waiting for the next tick, where node
   * would deliver each one's lookup callback. Parallel arrays, one nextTick
   * for the batch: no closure and tick object per datagram.
   */
  pendData: Buffer[][] = [];
  pendPort: number[] = [];
  /** The address each send was given (undefined: none, so 127.0.0.1). */
  pendAddr: (string | null | undefined)[] = [];
  pendCb: (SendCallback | undefined)[] = [];
  pendScheduled = false;
  broadcast = false;
  sendBuf = DEFAULT_BUF;
  refed = true;
  holding = false;
  /**
   * Sends handed to the stack whose completion has not been reported yet
   * (libuv's send_queue_size/count: a request leaves the queue when its
   * completion runs, a turn after the send; see NO_TRY_SEND in dgram-send.ts).
   */
  sendQueueSize = 0;
  sendQueueCount = 0;

  constructor(
    readonly host: SocketHost,
    owner: EventEmitter,
    readonly lookup: FamilyLookup,
    options: { family6: boolean; ipv6Only: boolean; defaultLookup: boolean; receiveBlockList: BlockListLike | undefined },
  ) {
    super(owner, options.family6, options.receiveBlockList);
    this.defaultLookup = options.defaultLookup;
    this.six = options.family6 ? new Dgram6Binding(host.endpoints, this, options.ipv6Only) : null;
  }

  /** A 'udp6' socket's ICMP error about its connected peer. */
  icmpError(code: string): void {
    const six = this.six;
    if (six === null || !this.receiving) return;
    const at = six.ep6 ?? six.ep4;
    process.nextTick(() => {
      if ((six.ep6 ?? six.ep4) === at) this.owner.emit('error', systemError(code, 'recvmsg'));
    });
  }

  onIcmpError(kind: IcmpErrorKind, remoteAddress: number, remotePort: number): void {
    const ep = this.ep;
    if (ep === null || !this.receiving || ep.remotePort === 0) return;
    if (ep.remoteAddress !== remoteAddress || ep.remotePort !== remotePort) return;
    const code = ICMP_ERRNO[kind];
    if (code === undefined) return;
    process.nextTick(() => {
      if (this.ep === ep) this.owner.emit('error', systemError(code, 'recvmsg'));
    });
  }

  /** Has a "file descriptor": bound, or unhashed after disconnect. */
  get open(): boolean {
    return this.bound || this.unhashed;
  }

  /** Holds an endpoint. */
  get bound(): boolean {
    return this.ep !== null || (this.six !== null && this.six.bound);
  }

  /**
   * bind(2) to a resolved address: null when bound, else the errno. A socket
   * whose bind failed in the kernel exists, unbound (libuv created it
   * first): it is left unhashed, as 0.0.0.0:0 / `::`:0.
   */
  bindTo(ip: string, port: number, reuse: boolean): string | null {
    const six = this.six;
    if (six !== null) {
      const addr = tryParseIpv6(stripZone(ip));
      const code = addr === null ? 'EINVAL' : six.bind(addr, port, reuse);
      if (code !== null) {
        if (code !== 'EINVAL') this.unhashed = true;
        six.boundAddress = null;
        return code;
      }
    } else {
      let addr: number;
      try {
        addr = parseIpv4Address(ip);
      } catch {
        return 'EINVAL';
      }
      try {
        this.ep = this.host.endpoints.udpBind(addr, port, this, reuse);
      } catch (e) {
        if (!(e instanceof UdpBindError)) throw e;
        this.unhashed = true;
        this.boundAddress = 0;
        return e.code;
      }
      this.boundAddress = addr;
    }
    this.unhashed = false;
    this.portLocked = port !== 0;
    return null;
  }

  /** Re-binds an unhashed socket to a fresh ephemeral port. */
  rehash(reuse: boolean): void {
    if (!this.unhashed) return;
    if (this.six !== null) {
      const code = this.six.rehash(reuse);
      if (code !== null) throw systemError(code, 'bind');
    } else this.ep = this.host.endpoints.udpBind(this.boundAddress, 0, this, reuse);
    this.unhashed = false;
  }

  /** Like connect(2) on a UDP socket: fixes the peer, and the local address if it was the wildcard; null or the errno. */
  connectTo(ip: string, port: number, reuse: boolean): string | null {
    if (this.six !== null) {
      const dst6 = tryParseIpv6(stripZone(ip));
      if (dst6 === null) return 'EINVAL';
      try {
        this.rehash(reuse);
      } catch {
        return 'EAGAIN';
      }
      return this.six.connect(dst6, port, this.broadcast, reuse);
    }
    let dst: number;
    try {
      dst = parseIpv4Address(ip);
    } catch {
      return 'EINVAL';
    }
    if (dst === 0) dst = 0x7f000001; // Linux: connecting to INADDR_ANY means loopback
    const endpoints = this.host.endpoints;
    const src = endpoints.sourceAddressFor(dst);
    if (src < 0) return 'ENETUNREACH';
    if (endpoints.isBroadcastAddress(dst) && !this.broadcast) return 'EACCES';
    try {
      this.rehash(reuse);
    } catch {
      return 'EAGAIN';
    }
    const ep = this.ep!;
    if (ep.localAddress === 0 && src !== 0) {
      if (!this.rebind(src, reuse)) return 'EADDRINUSE';
    }
    this.ep!.remoteAddress = dst;
    this.ep!.remotePort = port;
    return null;
  }

  /**
   * The kernel's disconnect (connect to AF_UNSPEC): the peer is forgotten; a
   * port the kernel chose is given up (unhashed), a wildcard address fixed
   * by connect becomes the wildcard again.
   */
  disconnect(reuse: boolean): void {
    if (this.six !== null) {
      this.six.disconnect(this.portLocked, reuse);
      if (!this.six.bound) this.unhashed = true;
      return;
    }
    const ep = this.ep!;
    ep.remoteAddress = 0;
    ep.remotePort = 0;
    if (!this.portLocked) {
      ep.close();
      this.ep = null;
      this.unhashed = true;
    } else if (this.boundAddress === 0 && ep.localAddress !== 0) this.rebind(0, reuse);
  }

  /** Moves the endpoint to another local address on the same port. */
  private rebind(address: number, reuse: boolean): boolean {
    const old = this.ep!;
    const endpoints = this.host.endpoints;
    old.close();
    try {
      this.ep = endpoints.udpBind(address, old.localPort, this, reuse);
      return true;
    } catch {
      this.ep = endpoints.udpBind(old.localAddress, old.localPort, this, reuse);
      return false;
    }
  }

  /** getsockname(2): EBADF without a descriptor. */
  localInfo(): AddressInfo {
    if (this.six !== null) {
      if (!this.six.bound && !this.unhashed) throw systemError('EBADF', 'getsockname');
      return { address: this.six.localText(), family: 'IPv6', port: this.six.port };
    }
    if (this.ep === null && this.unhashed) return { address: ipToString(this.boundAddress), family: 'IPv4', port: 0 };
    if (this.ep === null) throw systemError('EBADF', 'getsockname');
    return { address: ipToString(this.ep.localAddress), family: 'IPv4', port: this.ep.localPort };
  }

  /** getpeername(2) of a connected socket. */
  peerInfo(): AddressInfo {
    if (this.six !== null) return { address: this.six.remoteText(), family: 'IPv6', port: this.six.remotePort };
    const ep = this.ep!;
    return { address: ipToString(ep.remoteAddress), family: 'IPv4', port: ep.remotePort };
  }

  updateRef(): void {
    const want = (this.bound || (this.unhashed && this.receiving)) && this.refed;
    if (want && !this.holding) {
      this.holding = true;
      this.host.ref();
    } else if (!want && this.holding) {
      this.holding = false;
      this.host.unref();
    }
  }

  close(): void {
    this.receiving = false;
    this.unhashed = false;
    this.ep?.close();
    this.ep = null;
    this.six?.close();
    this.clearQueue();
    this.updateRef();
  }
}
