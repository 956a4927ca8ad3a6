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
 *
 * The parts, a file per mechanism: dgram-args.ts (send()'s data arguments),
 * dgram-lookup.ts (lookup4/lookup6), dgram-state.ts (the bind/connect state
 * and the queue of calls waiting for bind), dgram-handle.ts (the endpoint:
 * bind(2), connect(2), disconnect), dgram-receive.ts (the bounded receive
 * queue, 'message' delivery), dgram-send.ts (lookup, batching, the kernel's
 * checks, completion), dgram-buffer-size.ts, dgram-deprecated.ts (DEP0112).
 */
import { EventEmitter } from 'node:events';
import { Buffer } from 'node:buffer';
import { whenReady, type LookupFunction, type SocketHost } from './host.js';
import {
  ERR_INVALID_ARG_TYPE,
  ERR_SOCKET_ALREADY_BOUND,
  ERR_SOCKET_BAD_TYPE,
  ERR_SOCKET_DGRAM_IS_CONNECTED,
  ERR_SOCKET_DGRAM_NOT_CONNECTED,
  ERR_IP_BLOCKED,
  ERR_SOCKET_BAD_BUFFER_SIZE,
  ERR_SOCKET_BUFFER_SIZE_CTX,
  ERR_USTACK_UNSUPPORTED,
  systemError,
  validatePort,
} from '../errors/node-errors.js';
import { validateNumber, validateString, validateUint32 } from '../errors/validators.js';
import { blockListOption } from './net-args.js';
import { sliceBuffer, toBufferList } from './dgram-args.js';
import { linuxBufSize, MIN_RCVBUF, MIN_SNDBUF } from './dgram-buffer-size.js';
import { defineDeprecatedMembers } from './dgram-deprecated.js';
import { Handle } from './dgram-handle.js';
import { familyLookup } from './dgram-lookup.js';
import { sendList } from './dgram-send.js';
import {
  BIND_BINDING,
  BIND_BOUND,
  BIND_UNBOUND,
  CONN_CONNECTED,
  CONN_CONNECTING,
  CONN_DISCONNECTED,
  enqueue,
  healthCheck,
  kState,
  type State,
} from './dgram-state.js';
import type { AddressInfo, BindOptions, RemoteInfo, SendCallback, SocketOptions, SocketType } from './dgram-types.js';

export type { AddressInfo, BindOptions, RemoteInfo, SocketOptions, SocketType } from './dgram-types.js';

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
    const handle = new Handle(host, this, t === 'udp4' ? familyLookup(fn, '127.0.0.1', 4, false) : familyLookup(fn, '::1', 6, lookup === undefined), {
      family6: t === 'udp6',
      ipv6Only: options?.ipv6Only === true,
      defaultLookup: lookup === undefined && t === 'udp4',
      receiveBlockList,
    });
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
        const code = h.bindTo(ip ?? '', portNum, st.reuseAddr);
        if (code !== null) {
          st.bindState = BIND_UNBOUND;
          this.emit('error', systemError(code, 'bind', ip, portNum));
          return;
        }
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
        const code = h.connectTo(ip ?? '', port, st.reuseAddr);
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

  disconnect(): void {
    const st = this[kState];
    if (st.connectState !== CONN_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    st.handle!.disconnect(st.reuseAddr);
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
    const list = toBufferList(buffer);
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
      enqueue(this, () => sendList(this, list, portNum, addr, cb, connected));
      return;
    }
    sendList(this, list, portNum, addr, cb, connected);
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
    return healthCheck(this).localInfo();
  }

  remoteAddress(): AddressInfo {
    const h = healthCheck(this);
    if (this[kState].connectState !== CONN_CONNECTED) throw ERR_SOCKET_DGRAM_NOT_CONNECTED();
    return h.peerInfo();
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
    return { rxDelivered: h?.rxDelivered ?? 0, rxDropped: h?.rxDropped ?? 0, rxQueued: h ? h.queued : 0 };
  }

  // Multicast is not supported (the header): each member says so.
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

defineDeprecatedMembers(DgramSocket.prototype);

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
