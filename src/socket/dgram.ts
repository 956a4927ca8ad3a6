/**
 * node:dgram on a ustack SocketHost: `createDgramModule(host)` returns
 * `{ createSocket, Socket }` with node 20's semantics (lib/dgram.js): the
 * bind/connect state machine, the queue of sends and connects issued before
 * the implicit bind completes, argument normalisation, and where each error
 * goes (thrown, callback, or 'error' event).
 *
 * 'udp6' sockets are Linux AF_INET6 ones (dgram6.ts): dual-stack on `::`
 * unless `ipv6Only`, IPv4 peers as `::ffff:a.b.c.d`.
 *
 * Differences from node, all deliberate:
 * - Multicast (addMembership, setMulticast*) throws ERR_USTACK_UNSUPPORTED.
 * - Received datagrams are copied out of the packet buffer and delivered
 *   from process.nextTick after the stack's poll; a socket's queue holds at
 *   most its receive buffer size (payload + 64 bytes accounting per
 *   datagram); beyond that datagrams are dropped and counted
 *   (`socket.ustackStats().rxDropped`). Buffer sizes behave like Linux:
 *   set(n) stores 2n (clamped), get returns the stored value.
 * - ICMP errors reach connected sockets only, as on Linux without
 *   IP_RECVERR: port unreachable -> 'error' ECONNREFUSED (syscall recvmsg).
 * - When the host has a `ready` promise (a stack still acquiring a DHCP
 *   lease), bind waits for it before completing ('listening' comes later).
 */
import { EventEmitter } from 'node:events';
import { Buffer } from 'node:buffer';
import { deprecate, types } from 'node:util';
import { isIPv4, isIPv6 } from 'node:net';
import { whenReady, type LookupFunction, type SocketHost } from './host.js';
import {
  ERR_INVALID_ARG_TYPE,
  ERR_SOCKET_ALREADY_BOUND,
  ERR_SOCKET_BAD_TYPE,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_RUNNING,
  ERR_BUFFER_OUT_OF_BOUNDS,
  ERR_IP_BLOCKED,
  ERR_SOCKET_BAD_BUFFER_SIZE,
  ERR_SOCKET_BUFFER_SIZE_CTX,
  ERR_USTACK_UNSUPPORTED,
  systemError,
  validatePort,
} from '../errors/node-errors.js';
import { UdpBindError, type IcmpErrorKind, type UdpEndpoint, type UdpHandler } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { copyBytes } from '../wire/bytes.js';
import { validateNumber, validateString, validateUint32 } from '../errors/validators.js';
import { blockListOption, stripZone, type BlockListLike } from './net-args.js';
import { Dgram6Binding, type Dgram6Sink } from './dgram6.js';
import { ipv4OfMapped, tryParseIpv6 } from '../wire/ipv6.js';

export type SocketType = 'udp4' | 'udp6';

export interface SocketOptions {
  type: SocketType;
  reuseAddr?: boolean;
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  lookup?: LookupFunction | ((hostname: string, options: unknown, cb: (...a: any[]) => void) => void);
  signal?: AbortSignal;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
  fd?: number;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

const BIND_UNBOUND = 0;
const BIND_BINDING = 1;
const BIND_BOUND = 2;
const CONN_DISCONNECTED = 0;
const CONN_CONNECTING = 1;
const CONN_CONNECTED = 2;

/** Linux: net.core.rmem_default / wmem_default, and twice rmem_max as the cap. */
const DEFAULT_BUF = 212992;
const MAX_BUF = 425984;
const MIN_RCVBUF = 2304;
const MIN_SNDBUF = 4608;
/** Bytes charged per queued datagram on top of its payload. */
const DATAGRAM_OVERHEAD = 64;
const MAX_UDP_PAYLOAD = 65507;
/** The largest UDP payload to a native IPv6 destination: the 16-bit UDP length less its header. */
const MAX_UDP6_PAYLOAD = 65527;

const kState = Symbol('ustack.dgram.state');

/**
 * node sends a datagram at once when it can (uv_udp_try_send), so nothing
 * waits in its send queue; node's --test-udp-no-try-send makes every send a
 * queued request until its completion runs. ustack's sends complete at once,
 * and with that flag are counted as node counts them.
 */
const NO_TRY_SEND = process.execArgv.includes('--test-udp-no-try-send') || (process.env.NODE_OPTIONS ?? '').includes('--test-udp-no-try-send');

/** The "handle": what a libuv UDP handle + kernel socket are in node. */
class Handle implements UdpHandler, Dgram6Sink {
  ep: UdpEndpoint | null = null;
  /** A 'udp6' socket's endpoints (then `ep` stays null). */
  six: Dgram6Binding | null = null;
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
  /** One-entry caches: the last destination string parsed, the last source address formatted. */
  lastDstText = '';
  lastDst = 0;
  lastSrc = -1;
  lastSrcText = '';
  /** No user lookup: an IPv4 literal resolves to itself, on the next tick. */
  defaultLookup = true;
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
  recvBuf = DEFAULT_BUF;
  sendBuf = DEFAULT_BUF;
  refed = true;
  holding = false;
  receiving = false;
  /**
   * Received datagrams waiting for the 'message' tick: parallel arrays read
   * from rxHead (no queue-entry object per datagram, no shift()).
   */
  rxMsgs: (Buffer | undefined)[] = [];
  rxSrcs: number[] = [];
  /** 'udp6' sockets: each datagram's source as text (rxSrcs unused). */
  rxSrcTexts: (string | undefined)[] = [];
  rxPorts: number[] = [];
  rxHead = 0;
  rxQueueBytes = 0;
  rxScheduled = false;
  rxDropped = 0;
  rxDelivered = 0;
  /**
   * Sends handed to the stack whose completion has not been reported yet
   * (libuv's send_queue_size/count: a request leaves the queue when its
   * completion runs, a turn after the send; see NO_TRY_SEND).
   */
  sendQueueSize = 0;
  sendQueueCount = 0;

  constructor(
    readonly host: SocketHost,
    readonly owner: DgramSocket,
    readonly lookup: (address: string, cb: (err: Error | null, ip?: string) => void) => void,
  ) {}

  onDatagram(src: number, srcPort: number, _dst: number, buf: Uint8Array, off: number, len: number): void {
    if (this.enqueue(srcPort, buf, off, len)) this.rxSrcs.push(src);
  }

  /** A 'udp6' socket's datagram (dgram6.ts formats the source). */
  deliver(address: string, srcPort: number, buf: Uint8Array, off: number, len: number): void {
    if (this.enqueue(srcPort, buf, off, len)) this.rxSrcTexts.push(address);
  }

  /**
   * Queues a copy of the payload for the next drain, within the receive
   * buffer (a datagram beyond it is dropped and counted, as the kernel's
   * SO_RCVBUF does); false when it was not queued. The caller then pushes
   * the datagram's source, so the queues stay in step.
   */
  private enqueue(srcPort: number, buf: Uint8Array, off: number, len: number): boolean {
    if (!this.receiving) return false;
    const charge = len + DATAGRAM_OVERHEAD;
    if (this.rxQueueBytes + charge > this.recvBuf) {
      this.rxDropped++;
      return false;
    }
    const msg = Buffer.allocUnsafe(len);
    copyBytes(msg, 0, buf, off, len);
    this.rxMsgs.push(msg);
    this.rxPorts.push(srcPort);
    this.rxQueueBytes += charge;
    if (!this.rxScheduled) {
      this.rxScheduled = true;
      process.nextTick(drain, this);
    }
    return true;
  }

  /** A 'udp6' socket's ICMP error about its connected peer. */
  icmpError(code: string): void {
    const six = this.six;
    if (six === null || !this.receiving) return;
    const at = six.ep6 ?? six.ep4;
    process.nextTick(() => {
      if (this.six === six && (six.ep6 ?? six.ep4) === at) this.owner.emit('error', systemError(code, 'recvmsg'));
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

  /** Re-binds an unhashed socket to a fresh ephemeral port. */
  rehash(reuse: boolean): void {
    if (!this.unhashed) return;
    if (this.six !== null) {
      const code = this.six.rehash(reuse);
      if (code !== null) throw systemError(code, 'bind');
    } else this.ep = this.host.endpoints.udpBind(this.boundAddress, 0, this, reuse);
    this.unhashed = false;
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
    this.rxMsgs.length = 0;
    this.rxSrcs.length = 0;
    this.rxSrcTexts.length = 0;
    this.rxPorts.length = 0;
    this.rxHead = 0;
    this.rxQueueBytes = 0;
    this.updateRef();
  }
}

/**
 * node's lookup4/lookup6: no address means the family's loopback. With the
 * default lookup a 'udp6' socket's literal (either family, as dns.lookup
 * returns a literal as it is) resolves to itself.
 */
function familyLookup(fn: LookupFunction, loopback: string, family: 4 | 6, literals: boolean): (address: string, cb: (err: Error | null, ip?: string) => void) => void {
  const call = fn as unknown as (h: string, f: number, c: (e: Error | null, a?: string) => void) => void;
  // The last literal seen: a socket mostly sends to one peer, and the checks are regular expressions.
  let lastLiteral = '';
  return (address, cb) => {
    const a = address || loopback;
    if (literals && (a === lastLiteral || isIPv6(a) || isIPv4(a) || tryParseIpv6(stripZone(a)) !== null)) {
      lastLiteral = a;
      process.nextTick(cb, null, a);
    } else call(a, family, cb);
  };
}

/** Linux's icmp_err_convert for the errors it reports to connected UDP sockets. */
const ICMP_ERRNO: Partial<Record<IcmpErrorKind, string>> = {
  'port-unreachable': 'ECONNREFUSED',
  'host-unreachable': 'EHOSTUNREACH',
  'net-unreachable': 'ENETUNREACH',
  'protocol-unreachable': 'ENOPROTOOPT',
  'admin-prohibited': 'EHOSTUNREACH',
};

function flushPendingSends(sock: DgramSocket, h: Handle): void {
  h.pendScheduled = false;
  const data = h.pendData;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    // The default lookup resolves no address to 127.0.0.1 and a literal to itself.
    const address = h.pendAddr[i];
    sock._sendResolved(h, data[i]!, address || '127.0.0.1', h.pendPort[i]!, h.pendCb[i], address);
  }
  // Sends queued while sending (none, unless a send re-enters) wait for their own tick.
  if (data.length === n) {
    data.length = 0;
    h.pendPort.length = 0;
    h.pendAddr.length = 0;
    h.pendCb.length = 0;
  } else {
    data.splice(0, n);
    h.pendPort.splice(0, n);
    h.pendAddr.splice(0, n);
    h.pendCb.splice(0, n);
  }
}

function drain(h: Handle): void {
  h.rxScheduled = false;
  const msgs = h.rxMsgs;
  while (h.rxHead < msgs.length && h.receiving) {
    const i = h.rxHead++;
    const msg = msgs[i]!;
    msgs[i] = undefined;
    h.rxQueueBytes -= msg.length + DATAGRAM_OVERHEAD;
    h.rxDelivered++;
    if (h.six !== null) {
      const text = h.rxSrcTexts[i]!;
      h.rxSrcTexts[i] = undefined;
      if (h.owner[kState].receiveBlockList?.check(text, 'ipv6')) continue;
      h.owner.emit('message', msg, { address: text, family: 'IPv6', port: h.rxPorts[i]!, size: msg.length } satisfies RemoteInfo);
      continue;
    }
    const src = h.rxSrcs[i]!;
    if (src !== h.lastSrc) {
      h.lastSrc = src;
      h.lastSrcText = ipToString(src);
    }
    const blocked = h.owner[kState].receiveBlockList;
    if (blocked !== undefined && blocked.check(h.lastSrcText, 'ipv4')) continue;
    const rinfo: RemoteInfo = { address: h.lastSrcText, family: 'IPv4', port: h.rxPorts[i]!, size: msg.length };
    h.owner.emit('message', msg, rinfo);
  }
  if (h.rxHead >= h.rxMsgs.length) {
    h.rxMsgs.length = 0;
    h.rxSrcs.length = 0;
    h.rxSrcTexts.length = 0;
    h.rxPorts.length = 0;
    h.rxHead = 0;
  }
}

interface State {
  handle: Handle | null;
  bindState: number;
  connectState: number;
  queue: Array<() => void> | undefined;
  reuseAddr: boolean;
  /** The reuseAddr option as given (node's state keeps it so: undefined when absent). */
  reuseAddrOption: boolean | undefined;
  recvBufferSize: number | undefined;
  sendBufferSize: number | undefined;
  /** node 22.13+: destinations send() and connect() refuse, and sources whose datagrams are dropped. */
  sendBlockList: BlockListLike | undefined;
  receiveBlockList: BlockListLike | undefined;
}

type SendCallback = (error: Error | null, bytes?: number) => void;

function bufferListOk(list: unknown[]): Buffer[] | null {
  const out: Buffer[] = [];
  for (const b of list) {
    if (typeof b === 'string') out.push(Buffer.from(b));
    else if (types.isArrayBufferView(b)) out.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    else return null;
  }
  return out;
}

function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Buffer {
  let b: ArrayBufferView;
  if (typeof buffer === 'string') b = Buffer.from(buffer);
  else if (types.isArrayBufferView(buffer)) b = buffer;
  else throw ERR_INVALID_ARG_TYPE('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', buffer);
  const off = (offset as number) >>> 0;
  const len = (length as number) >>> 0;
  if (off > b.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('offset');
  if (off + len > b.byteLength) throw ERR_BUFFER_OUT_OF_BOUNDS('length');
  return Buffer.from(b.buffer, b.byteOffset + off, len);
}

function onListenSuccess(this: DgramSocket): void {
  this.removeListener(EventEmitter.errorMonitor, onListenError);
  const st = this[kState];
  const queue = st.queue;
  st.queue = undefined;
  if (queue !== undefined) for (const fn of queue) fn();
}

function onListenError(this: DgramSocket): void {
  this.removeListener('listening', onListenSuccess);
  this[kState].queue = undefined;
}

function enqueue(self: DgramSocket, fn: () => void): void {
  const st = self[kState];
  if (st.queue === undefined) {
    st.queue = [];
    self.once(EventEmitter.errorMonitor, onListenError);
    self.once('listening', onListenSuccess);
  }
  st.queue.push(fn);
}

function healthCheck(self: DgramSocket): Handle {
  const h = self[kState].handle;
  if (h === null) throw ERR_SOCKET_DGRAM_NOT_RUNNING();
  return h;
}

export class DgramSocket extends EventEmitter {
  readonly type: SocketType;
  [kState]: State;

  constructor(host: SocketHost, type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    let lookup: unknown;
    let recvBufferSize: number | undefined;
    let sendBufferSize: number | undefined;
    let options: SocketOptions | undefined;
    let t: unknown = type;
    if (type !== null && typeof type === 'object') {
      options = type;
      t = options.type;
      lookup = options.lookup;
      if (options.recvBufferSize) validateUint32(options.recvBufferSize, 'options.recvBufferSize');
      if (options.sendBufferSize) validateUint32(options.sendBufferSize, 'options.sendBufferSize');
      if (options.recvBufferSize) recvBufferSize = options.recvBufferSize;
      if (options.sendBufferSize) sendBufferSize = options.sendBufferSize;
    }
    if (lookup !== undefined && typeof lookup !== 'function') throw ERR_INVALID_ARG_TYPE('lookup', 'of type function', lookup);
    if (t !== 'udp4' && t !== 'udp6') throw ERR_SOCKET_BAD_TYPE();
    const receiveBlockList = blockListOption((options as { receiveBlockList?: unknown } | undefined)?.receiveBlockList, 'options.receiveBlockList');
    const sendBlockList = blockListOption((options as { sendBlockList?: unknown } | undefined)?.sendBlockList, 'options.sendBlockList');
    this.type = t;
    const fn = (lookup as LookupFunction | undefined) ?? host.lookup;
    const handle = new Handle(host, this, t === 'udp4' ? familyLookup(fn, '127.0.0.1', 4, false) : familyLookup(fn, '::1', 6, lookup === undefined));
    handle.defaultLookup = lookup === undefined && t === 'udp4';
    if (t === 'udp6') handle.six = new Dgram6Binding(host.endpoints, handle, options?.ipv6Only === true);
    if (typeof listener === 'function') this.on('message', listener);
    this[kState] = {
      handle,
      bindState: BIND_UNBOUND,
      connectState: CONN_DISCONNECTED,
      queue: undefined,
      reuseAddr: options?.reuseAddr === true,
      reuseAddrOption: options?.reuseAddr,
      recvBufferSize,
      sendBufferSize,
      sendBlockList,
      receiveBlockList,
    };
    if (options?.signal !== undefined) {
      const signal = options.signal;
      if (signal === null || typeof signal !== 'object' || !('aborted' in signal)) {
        throw ERR_INVALID_ARG_TYPE('options.signal', 'an instance of AbortSignal', signal);
      }
      const onAborted = (): void => {
        if (this[kState].handle) this.close();
      };
      if (signal.aborted) onAborted();
      else {
        signal.addEventListener('abort', onAborted, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAborted));
      }
    }
  }

  bind(port?: number | BindOptions | null | (() => void), address?: string | (() => void), callback?: () => void): this;
  bind(...args: unknown[]): this {
    const h = healthCheck(this);
    const st = this[kState];
    if (st.bindState !== BIND_UNBOUND) throw ERR_SOCKET_ALREADY_BOUND();
    st.bindState = BIND_BINDING;
    const cb = args.length > 0 ? args[args.length - 1] : undefined;
    if (typeof cb === 'function') {
      const onListening = (): void => {
        removeListeners();
        (cb as () => void).call(this);
      };
      const removeListeners = (): void => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    let port: unknown = args[0];
    let address: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as BindOptions;
      if (o.fd !== undefined && Number.isInteger(o.fd) && o.fd > 0) {
        st.bindState = BIND_UNBOUND;
        throw ERR_USTACK_UNSUPPORTED('Binding a dgram socket to a file descriptor');
      }
      address = o.address || '';
      port = o.port;
    } else {
      address = typeof args[1] === 'function' ? '' : args[1];
    }
    if (!address) address = this.type === 'udp4' ? '0.0.0.0' : '::';
    const portNum = (Number(port ?? 0) >>> 0) & 0xffff;
    const proceed = (): void => {
      h.lookup(String(address), (err, ip) => {
        if (st.handle !== h) return; // closed meanwhile
        if (err) {
          st.bindState = BIND_UNBOUND;
          this.emit('error', err);
          return;
        }
        if (h.six !== null) {
          this.bind6(h, h.six, ip ?? '', portNum);
          return;
        }
        let addr: number;
        try {
          addr = parseIpv4Address(ip ?? '');
        } catch {
          st.bindState = BIND_UNBOUND;
          this.emit('error', systemError('EINVAL', 'bind', ip, portNum));
          return;
        }
        try {
          h.ep = h.host.endpoints.udpBind(addr, portNum, h, st.reuseAddr);
        } catch (e) {
          if (!(e instanceof UdpBindError)) throw e;
          st.bindState = BIND_UNBOUND;
          // libuv created the socket before bind(2) failed: it now has a descriptor, unbound (0.0.0.0:0).
          h.unhashed = true;
          h.boundAddress = 0;
          this.emit('error', systemError(e.code, 'bind', ip, portNum));
          return;
        }
        h.boundAddress = addr;
        h.unhashed = false;
        h.portLocked = portNum !== 0;
        this.startListening(h);
      });
    };
    whenReady(h.host, proceed, (err) => {
      if (st.handle !== h) return;
      st.bindState = BIND_UNBOUND;
      this.emit('error', err);
    });
    return this;
  }

  /** bind() of a 'udp6' socket once its address is resolved. */
  private bind6(h: Handle, six: Dgram6Binding, ip: string, portNum: number): void {
    const st = this[kState];
    const addr = tryParseIpv6(stripZone(ip));
    const code = addr === null ? 'EINVAL' : six.bind(addr, portNum, st.reuseAddr);
    if (code !== null) {
      st.bindState = BIND_UNBOUND;
      // As for udp4: the socket exists now, unbound.
      if (code !== 'EINVAL') h.unhashed = true;
      six.boundAddress = null;
      this.emit('error', systemError(code, 'bind', ip, portNum));
      return;
    }
    h.unhashed = false;
    h.portLocked = portNum !== 0;
    this.startListening(h);
  }

  private startListening(h: Handle): void {
    const st = this[kState];
    h.receiving = true;
    st.bindState = BIND_BOUND;
    h.updateRef();
    if (st.recvBufferSize) h.recvBuf = linuxBufSize(st.recvBufferSize, MIN_RCVBUF);
    if (st.sendBufferSize) h.sendBuf = linuxBufSize(st.sendBufferSize, MIN_SNDBUF);
    this.emit('listening');
  }

  connect(port: number, address?: string | (() => void), callback?: () => void): void {
    const p = validatePort(port, 'Port', false);
    let addr: unknown = address;
    let cb = callback;
    if (typeof addr === 'function') {
      cb = addr as () => void;
      addr = '';
    } else if (addr === undefined) addr = '';
    if (typeof addr !== 'string') throw ERR_INVALID_ARG_TYPE('address', 'of type string', addr);
    const st = this[kState];
    if (st.connectState !== CONN_DISCONNECTED) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
    st.connectState = CONN_CONNECTING;
    if (st.bindState === BIND_UNBOUND) this.bind({ port: 0, exclusive: true }, null as never);
    if (st.bindState !== BIND_BOUND) {
      enqueue(this, () => this.doConnect(p, addr as string, cb));
      return;
    }
    this.doConnect(p, addr, cb);
  }

  private doConnect(port: number, address: string, callback: (() => void) | undefined): void {
    const st = this[kState];
    const h = st.handle;
    if (h === null) return;
    if (callback) this.once('connect', callback);
    h.lookup(address, (lookupErr, ip) => {
      if (st.handle !== h) return;
      let ex: Error | null = lookupErr;
      if (!ex && ip && st.sendBlockList?.check(ip, this.type === 'udp4' ? 'ipv4' : 'ipv6')) ex = ERR_IP_BLOCKED(ip);
      if (!ex) {
        const code = this.handleConnect(h, ip ?? '', port);
        if (code !== null) ex = systemError(code, 'connect', address, port);
      }
      if (ex) {
        st.connectState = CONN_DISCONNECTED;
        const err = ex;
        process.nextTick(() => {
          if (callback) {
            this.removeListener('connect', callback);
            (callback as (e: Error) => void)(err);
          } else this.emit('error', err);
        });
        return;
      }
      st.connectState = CONN_CONNECTED;
      process.nextTick(() => this.emit('connect'));
    });
  }

  /** Like connect(2) on a UDP socket: fixes the peer, and the local address if it was the wildcard. */
  private handleConnect(h: Handle, ip: string, port: number): string | null {
    if (h.six !== null) {
      const dst6 = tryParseIpv6(stripZone(ip));
      if (dst6 === null) return 'EINVAL';
      try {
        h.rehash(this[kState].reuseAddr);
      } catch {
        return 'EAGAIN';
      }
      return h.six.connect(dst6, port, h.broadcast, this[kState].reuseAddr);
    }
    let dst: number;
    try {
      dst = parseIpv4Address(ip);
    } catch {
      return 'EINVAL';
    }
    if (dst === 0) dst = 0x7f000001; // Linux: connecting to INADDR_ANY means loopback
    const endpoints = h.host.endpoints;
    const src = endpoints.sourceAddressFor(dst);
    if (src < 0) return 'ENETUNREACH';
    if (endpoints.isBroadcastAddress(dst) && !h.broadcast) return 'EACCES';
    try {
      h.rehash(this[kState].reuseAddr);
    } catch {
      return 'EAGAIN';
    }
    const ep = h.ep!;
    if (ep.localAddress === 0 && src !== 0) {
      if (!this.rebind(h, src)) return 'EADDRINUSE';
    }
    h.ep!.remoteAddress = dst;
    h.ep!.remotePort = port;
    return null;
  }

  /** Moves the endpoint to another local address on the same port. */
  private rebind(h: Handle, address: number): boolean {
    const old = h.ep!;
    const endpoints = h.host.endpoints;
    old.close();
    try {
      h.ep = endpoints.udpBind(address, old.localPort, h, this[kState].reuseAddr);
      return true;
    } catch {
      h.ep = endpoints.udpBind(old.localAddress, old.localPort, h, this[kState].reuseAddr);
      return false;
    }
  }

  disconnect(): void {
    const st = this[kState];
    if (st.connectState !== CONN_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    const h = st.handle!;
    if (h.six !== null) {
      h.six.disconnect(h.portLocked, st.reuseAddr);
      if (!h.six.bound) h.unhashed = true;
      st.connectState = CONN_DISCONNECTED;
      return;
    }
    const ep = h.ep!;
    ep.remoteAddress = 0;
    ep.remotePort = 0;
    if (!h.portLocked) {
      ep.close();
      h.ep = null;
      h.unhashed = true;
    } else if (h.boundAddress === 0 && ep.localAddress !== 0) this.rebind(h, 0);
    st.connectState = CONN_DISCONNECTED;
  }

  send(msg: unknown, ...rest: unknown[]): void;
  send(
    buffer: unknown,
    offset?: unknown,
    length?: unknown,
    port?: unknown,
    address?: unknown,
    callback?: unknown,
  ): void {
    const st = this[kState];
    const connected = st.connectState === CONN_CONNECTED;
    let list: Buffer[] | null;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw ERR_SOCKET_DGRAM_IS_CONNECTED();
    }
    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') list = [Buffer.from(buffer)];
      else if (!types.isArrayBufferView(buffer)) {
        throw ERR_INVALID_ARG_TYPE('buffer', 'of type string or an instance of Buffer, TypedArray, or DataView', buffer);
      } else list = [Buffer.isBuffer(buffer) ? buffer : Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength)];
    } else if (!(list = bufferListOk(buffer))) {
      throw ERR_INVALID_ARG_TYPE('buffer list arguments', 'of type string or an instance of Buffer, TypedArray, or DataView', buffer);
    }
    let portNum = 0;
    if (!connected) portNum = validatePort(port, 'Port', false);
    if (typeof callback !== 'function') callback = undefined;
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    } else if (address !== undefined && address !== null && typeof address !== 'string') {
      throw ERR_INVALID_ARG_TYPE('address', 'of type string', address);
    }
    healthCheck(this);
    if (st.bindState === BIND_UNBOUND) this.bind({ port: 0, exclusive: true }, null as never);
    if (list.length === 0) list.push(Buffer.alloc(0));
    const cb = callback as SendCallback | undefined;
    const addr = address as string | undefined | null;
    if (st.bindState !== BIND_BOUND) {
      const l = list;
      enqueue(this, () => this.sendList(l, portNum, addr, cb, connected));
      return;
    }
    this.sendList(list, portNum, addr, cb, connected);
  }

  private sendList(list: Buffer[], port: number, address: string | undefined | null, cb: SendCallback | undefined, wasConnected: boolean): void {
    const st = this[kState];
    const h = st.handle;
    if (h === null) return;
    // Queued before bind completed: node re-runs send() then, re-reading the connected state.
    const connected = st.connectState === CONN_CONNECTED && wasConnected;
    const afterDns = (ex: Error | null, ip?: string): void => {
      if (ex) {
        if (cb) process.nextTick(cb, ex);
        else process.nextTick(() => this.emit('error', ex));
        return;
      }
      this._sendResolved(h, list, connected ? null : (ip ?? ''), port, cb, address);
    };
    if (connected) afterDns(null);
    else if (h.defaultLookup && (!address || address === h.lastDstText || isIPv4(address))) {
      h.pendData.push(list);
      h.pendPort.push(port);
      h.pendAddr.push(address);
      h.pendCb.push(cb);
      if (!h.pendScheduled) {
        h.pendScheduled = true;
        process.nextTick(flushPendingSends, this, h);
      }
    } else h.lookup(address ?? '', afterDns);
  }

  /**
   * @internal Sends one datagram once its destination is resolved (ip null:
   * the connected peer) and reports to the callback; `address` is what the
   * caller passed, for the error.
   */
  _sendResolved(h: Handle, list: Buffer[], ip: string | null, port: number, cb: SendCallback | undefined, address: string | null | undefined): void {
    if (this[kState].handle !== h || !h.open) return;
    if (ip !== null && this[kState].sendBlockList?.check(ip, this.type === 'udp4' ? 'ipv4' : 'ipv6')) {
      if (cb) process.nextTick(cb, ERR_IP_BLOCKED(ip));
      return;
    }
    const code = this.transmit(h, list, ip, port);
    const result = typeof code === 'number' ? null : systemError(code, 'send', address ?? undefined, ip === null ? undefined : port);
    if (NO_TRY_SEND) {
      // A queued request until its completion runs, which leaves the queue just before its callback.
      let bytes = 0;
      for (let i = 0; i < list.length; i++) bytes += list[i]!.length;
      h.sendQueueSize += bytes;
      h.sendQueueCount++;
      process.nextTick(() => {
        h.sendQueueSize -= bytes;
        h.sendQueueCount--;
        if (cb) cb(result, result === null ? (code as number) : undefined);
      });
      return;
    }
    if (!cb) return;
    if (result === null) process.nextTick(cb, null, code);
    else process.nextTick(cb, result);
  }

  /** Sends one datagram; returns its length, or an errno code. */
  private transmit(h: Handle, list: Buffer[], ip: string | null, port: number): number | string {
    try {
      h.rehash(this[kState].reuseAddr);
    } catch {
      return 'EAGAIN';
    }
    if (h.six !== null) return this.transmit6(h, h.six, list, ip, port);
    const ep = h.ep!;
    let dst: number;
    let dstPort: number;
    if (ip === null) {
      dst = ep.remoteAddress;
      dstPort = ep.remotePort;
    } else {
      if (ip !== h.lastDstText || ip === '') {
        try {
          dst = parseIpv4Address(ip);
        } catch {
          return 'EINVAL';
        }
        h.lastDstText = ip;
        h.lastDst = dst;
      } else dst = h.lastDst;
      if (dst === 0) dst = 0x7f000001;
      dstPort = port;
    }
    const data = list.length === 1 ? list[0]! : Buffer.concat(list);
    if (data.length > MAX_UDP_PAYLOAD) return 'EMSGSIZE';
    if (data.length > h.sendBuf) return 'EMSGSIZE';
    const endpoints = h.host.endpoints;
    if (endpoints.isBroadcastAddress(dst) && !h.broadcast) return 'EACCES';
    if (endpoints.sourceAddressFor(dst) < 0) return 'ENETUNREACH';
    const opts = h.sendOpts;
    opts.ttl = h.ttl;
    const ok = ep.send(dst, dstPort, data, 0, data.length, opts);
    h.host.kick();
    if (!ok) return 'ENOBUFS';
    return data.length;
  }

  /** transmit() of a 'udp6' socket. */
  private transmit6(h: Handle, six: Dgram6Binding, list: Buffer[], ip: string | null, port: number): number | string {
    let dst: Uint8Array | null = null;
    if (ip !== null) {
      dst = six.destination(ip);
      if (dst === null) return 'EINVAL';
    }
    const data = list.length === 1 ? list[0]! : Buffer.concat(list);
    // A native IPv6 destination takes 65,535 - 8 bytes (no IPv4 header); an IPv4-mapped one IPv4's limit, as Linux.
    const to = dst ?? six.remote;
    const max = to !== null && ipv4OfMapped(to) < 0 ? MAX_UDP6_PAYLOAD : MAX_UDP_PAYLOAD;
    if (data.length > max || data.length > h.sendBuf) return 'EMSGSIZE';
    const r = six.send(dst, port, data, h.ttl, h.broadcast, h.sendOpts);
    h.host.kick();
    if (typeof r === 'string') return r;
    return r ? data.length : 'ENOBUFS';
  }

  close(callback?: () => void): this {
    const st = this[kState];
    const queue = st.queue;
    if (typeof callback === 'function') this.on('close', callback);
    if (queue !== undefined) {
      queue.push(() => this.close());
      return this;
    }
    const h = healthCheck(this);
    h.close();
    st.handle = null;
    process.nextTick(() => this.emit('close'));
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this[kState].handle) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  address(): AddressInfo {
    const h = healthCheck(this);
    if (h.six !== null) {
      if (!h.six.bound && !h.unhashed) throw systemError('EBADF', 'getsockname');
      return { address: h.six.localText(), family: 'IPv6', port: h.six.port };
    }
    if (h.ep === null && h.unhashed) return { address: ipToString(h.boundAddress), family: 'IPv4', port: 0 };
    if (h.ep === null) throw systemError('EBADF', 'getsockname');
    return { address: ipToString(h.ep.localAddress), family: 'IPv4', port: h.ep.localPort };
  }

  remoteAddress(): AddressInfo {
    const h = healthCheck(this);
    if (this[kState].connectState !== CONN_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    if (h.six !== null) return { address: h.six.remoteText(), family: 'IPv6', port: h.six.remotePort };
    const ep = h.ep!;
    return { address: ipToString(ep.remoteAddress), family: 'IPv4', port: ep.remotePort };
  }

  setBroadcast(flag: boolean): void {
    const h = healthCheck(this);
    if (!h.open) throw systemError('EBADF', 'setBroadcast');
    h.broadcast = !!flag;
  }

  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw ERR_INVALID_ARG_TYPE('ttl', 'of type number', ttl);
    const h = healthCheck(this);
    if (!h.open) throw systemError('EBADF', 'setTTL');
    if (!(ttl >= 1 && ttl <= 255)) throw systemError('EINVAL', 'setTTL');
    h.ttl = ttl | 0;
    return ttl;
  }

  setRecvBufferSize(size: number): void {
    this.bufferSize(size, true);
  }
  setSendBufferSize(size: number): void {
    this.bufferSize(size, false);
  }
  getRecvBufferSize(): number {
    return this.bufferSize(0, true);
  }
  getSendBufferSize(): number {
    return this.bufferSize(0, false);
  }

  private bufferSize(size: number, recv: boolean): number {
    if (size >>> 0 !== size) throw ERR_SOCKET_BAD_BUFFER_SIZE();
    const h = this[kState].handle;
    const syscall = recv ? 'uv_recv_buffer_size' : 'uv_send_buffer_size';
    if (h === null || !h.open) throw ERR_SOCKET_BUFFER_SIZE_CTX(syscall, 'EBADF', 'bad file descriptor');
    if (size === 0) return recv ? h.recvBuf : h.sendBuf;
    if (recv) h.recvBuf = linuxBufSize(size, MIN_RCVBUF);
    else h.sendBuf = linuxBufSize(size, MIN_SNDBUF);
    return size;
  }

  /** Bytes of the sends whose completion has not run yet (node's, from libuv's send queue). */
  getSendQueueSize(): number {
    return healthCheck(this).sendQueueSize;
  }
  /** Number of sends whose completion has not run yet. */
  getSendQueueCount(): number {
    return healthCheck(this).sendQueueCount;
  }

  /** node's deprecated sendto(): send() with every argument required and checked. */
  sendto(buffer: unknown, offset: unknown, length: unknown, port: unknown, address: unknown, callback?: unknown): void {
    validateNumber(offset, 'offset');
    validateNumber(length, 'length');
    validateNumber(port, 'port');
    validateString(address, 'address');
    this.send(buffer, offset, length, port, address, callback);
  }

  ref(): this {
    const h = this[kState].handle;
    if (h) {
      h.refed = true;
      h.updateRef();
    }
    return this;
  }

  unref(): this {
    const h = this[kState].handle;
    if (h) {
      h.refed = false;
      h.updateRef();
    }
    return this;
  }

  /** ustack-only: receive-queue counters of this socket. */
  ustackStats(): { rxDelivered: number; rxDropped: number; rxQueued: number } {
    const h = this[kState].handle;
    return { rxDelivered: h?.rxDelivered ?? 0, rxDropped: h?.rxDropped ?? 0, rxQueued: h ? h.rxMsgs.length - h.rxHead : 0 };
  }

  addMembership(): void {
    throw ERR_USTACK_UNSUPPORTED('Multicast (addMembership)');
  }
  dropMembership(): void {
    throw ERR_USTACK_UNSUPPORTED('Multicast (dropMembership)');
  }
  addSourceSpecificMembership(): void {
    throw ERR_USTACK_UNSUPPORTED('Multicast (addSourceSpecificMembership)');
  }
  dropSourceSpecificMembership(): void {
    throw ERR_USTACK_UNSUPPORTED('Multicast (dropSourceSpecificMembership)');
  }
  setMulticastTTL(): number {
    throw ERR_USTACK_UNSUPPORTED('Multicast (setMulticastTTL)');
  }
  setMulticastLoopback(): boolean {
    throw ERR_USTACK_UNSUPPORTED('Multicast (setMulticastLoopback)');
  }
  setMulticastInterface(): void {
    throw ERR_USTACK_UNSUPPORTED('Multicast (setMulticastInterface)');
  }
}

// node's deprecated private members (DEP0112): same names, same warnings.
function deprecatedState(name: string, get: (s: DgramSocket) => unknown, set: (s: DgramSocket, v: unknown) => void): void {
  const msg = `Socket.prototype.${name} is deprecated`;
  Object.defineProperty(DgramSocket.prototype, name, {
    configurable: true,
    get: deprecate(function (this: DgramSocket) {
      return get(this);
    }, msg, 'DEP0112'),
    set: deprecate(function (this: DgramSocket, v: unknown) {
      set(this, v);
    }, msg, 'DEP0112'),
  });
}
deprecatedState('_handle', (s) => s[kState].handle, (s, v) => (s[kState].handle = v as Handle | null));
deprecatedState('_receiving', (s) => s[kState].handle?.receiving ?? false, (s, v) => {
  const h = s[kState].handle;
  if (h !== null) h.receiving = Boolean(v);
});
deprecatedState('_bindState', (s) => s[kState].bindState, (s, v) => (s[kState].bindState = v as number));
deprecatedState('_queue', (s) => s[kState].queue, (s, v) => (s[kState].queue = v as Array<() => void> | undefined));
deprecatedState('_reuseAddr', (s) => s[kState].reuseAddrOption, (s, v) => {
  s[kState].reuseAddrOption = v as boolean | undefined;
  s[kState].reuseAddr = v === true;
});
Object.defineProperty(DgramSocket.prototype, '_healthCheck', {
  configurable: true,
  writable: true,
  value: deprecate(function (this: DgramSocket) {
    healthCheck(this);
  }, 'Socket.prototype._healthCheck() is deprecated', 'DEP0112'),
});
Object.defineProperty(DgramSocket.prototype, '_stopReceiving', {
  configurable: true,
  writable: true,
  value: deprecate(function (this: DgramSocket) {
    const h = this[kState].handle;
    if (h !== null) h.receiving = false;
  }, 'Socket.prototype._stopReceiving() is deprecated', 'DEP0112'),
});

/** Linux SO_RCVBUF/SO_SNDBUF: the kernel doubles the request, capped by 2 * rmem_max, floored. */
function linuxBufSize(size: number, min: number): number {
  return Math.max(min, Math.min(size * 2, MAX_BUF));
}

export interface DgramModule {
  createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): DgramSocket;
  Socket: new (type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) => DgramSocket;
}

/** node:dgram's surface bound to one host (a Stack). */
export function createDgramModule(host: SocketHost): DgramModule {
  class Socket extends DgramSocket {
    constructor(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
      super(host, type, listener);
    }
  }
  Object.defineProperty(Socket, 'name', { value: 'Socket' });
  const createSocket = (type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): DgramSocket =>
    new Socket(type, listener);
  return { createSocket, Socket };
}
