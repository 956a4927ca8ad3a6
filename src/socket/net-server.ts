/**
 * node:net's Server over the stack's TCP: listen()'s overloads and checks
 * in node's order (lib/net.js Server.prototype.listen), ephemeral ports,
 * maxConnections, close() and its callback, abort signals, and node 20's
 * event order and error codes.
 */
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import type { Connection, Listener } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { resolveIpv4, whenReady, type SocketHost } from './host.js';
import {
  blockListOption,
  isPipeName,
  NODE_BEHAVIOUR,
  normalizeArgs,
  toNumber,
  type BlockListLike,
  type ListenOpts,
  type NetConnectOpts,
  type ServerOpts,
} from './net-args.js';
import type { UstackSocket } from './net-socket.js';
import {
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_SERVER_ALREADY_LISTEN,
  ERR_SERVER_NOT_RUNNING,
  ERR_USTACK_UNSUPPORTED,
  uvSystemError,
  validatePort,
} from '../errors/node-errors.js';
import { validateAbortSignal, validateNumber } from '../errors/validators.js';

/** The socket class a server makes for each connection it accepts. */
export type SocketClass = new (o: NetConnectOpts & { readableHighWaterMark?: number; writableHighWaterMark?: number }) => UstackSocket;

/** A TCP server on a ustack stack (node:net Server semantics). */
export class UstackServer extends EventEmitter {
  maxConnections: number | undefined = undefined;
  /** Open connections accepted by this server (node's _connections; sockets lower it when destroyed). */
  _connections = 0;
  /** node's "protocol:address:port" key of the listen (the port as asked, 0 for an ephemeral one). */
  _connectionKey: string | undefined = undefined;
  readonly allowHalfOpen: boolean;
  readonly pauseOnConnect: boolean;
  noDelay: boolean;
  keepAlive: boolean;
  /** Whole seconds, as node keeps it. */
  keepAliveInitialDelay: number;
  highWaterMark: number;
  /** options.blockList (node 22.13+): connections from these addresses are closed unseen. */
  blockList: BlockListLike | undefined;
  private _listener: Listener | null = null;
  private _unref = false;
  /** Bumped by listen() and close(): a lookup that finishes after either is ignored. */
  private _listeningId = 1;

  /** @internal */
  readonly _hostRef: SocketHost;
  private readonly _SocketClass: SocketClass;

  constructor(hostRef: SocketHost, SocketClass: SocketClass, options?: ServerOpts | ((s: UstackSocket) => void) | null, listener?: (s: UstackSocket) => void) {
    super();
    this._hostRef = hostRef;
    this._SocketClass = SocketClass;
    let opts: ServerOpts;
    if (typeof options === 'function') {
      this.on('connection', options);
      opts = {};
    } else if (options === undefined || options === null || typeof options === 'object') {
      opts = { ...options };
      if (typeof listener === 'function') this.on('connection', listener);
    } else {
      throw ERR_INVALID_ARG_TYPE('options', 'of type object', options);
    }
    if (opts.keepAliveInitialDelay !== undefined) {
      validateNumber(opts.keepAliveInitialDelay, 'options.keepAliveInitialDelay');
      if (opts.keepAliveInitialDelay < 0) opts.keepAliveInitialDelay = 0;
    }
    if (opts.highWaterMark !== undefined) {
      validateNumber(opts.highWaterMark, 'options.highWaterMark');
      if (opts.highWaterMark < 0) opts.highWaterMark = getDefaultHighWaterMark(false);
    }
    this.allowHalfOpen = opts.allowHalfOpen || false;
    this.pauseOnConnect = !!opts.pauseOnConnect;
    this.noDelay = Boolean(opts.noDelay);
    this.keepAlive = Boolean(opts.keepAlive);
    this.keepAliveInitialDelay = ~~((opts.keepAliveInitialDelay ?? 0) / 1000);
    this.highWaterMark = opts.highWaterMark ?? getDefaultHighWaterMark(false);
    this.blockList = blockListOption((opts as { blockList?: unknown }).blockList, 'options.blockList');
  }

  get listening(): boolean {
    return this._listener !== null;
  }

  listen(...args: unknown[]): this {
    const [normalized, cb] = normalizeArgs<ListenOpts & { handle?: unknown; _handle?: unknown }>(args);
    if (this._listener !== null) throw ERR_SERVER_ALREADY_LISTEN();
    if (cb !== null) this.once('listening', cb);
    const backlogFromArgs = toNumber(args.length > 1 && args[1]) || toNumber(args.length > 2 && args[2]) || 0;
    const handle = normalized._handle || normalized.handle;
    if (handle) throw ERR_INVALID_ARG_VALUE('options.handle', handle, 'is not supported by ustack (no libuv handles)');
    const options = normalized;
    this._listeningId++;
    this._addAbortSignal(options.signal);
    if (typeof options.fd === 'number' && options.fd >= 0) {
      // ustack cannot take over a kernel socket: the descriptor fails as one
      // that is not a listening socket fails on node's, asynchronously (EINVAL).
      process.nextTick(() => this.emit('error', uvSystemError('EINVAL', 'listen')));
      return this;
    }
    // listen(), listen(cb), listen(null...), listen({ port: undefined | null }): an ephemeral port.
    if (args.length === 0 || typeof args[0] === 'function' || (options.port === undefined && 'port' in options) || options.port === null) {
      options.port = 0;
    }
    if (typeof options.port === 'number' || typeof options.port === 'string') {
      const port = validatePort(options.port, 'options.port');
      const backlog = options.backlog || backlogFromArgs;
      if (options.host) this._lookupAndListen(port, options.host, backlog);
      else this._listenWhenReady(null, port, backlog);
      return this;
    }
    if (options.path && isPipeName(options.path)) throw ERR_USTACK_UNSUPPORTED('Listening on an IPC path (options.path)');
    if (!('port' in options || 'path' in options)) {
      throw ERR_INVALID_ARG_VALUE('options', options, 'must have the property "port" or "path"');
    }
    throw ERR_INVALID_ARG_VALUE('options', options);
  }

  private _addAbortSignal(signal: unknown): void {
    if (signal === undefined) return;
    validateAbortSignal(signal, 'options.signal');
    const onAborted = (): void => {
      this.close();
    };
    if (signal.aborted) {
      process.nextTick(onAborted);
    } else {
      signal.addEventListener('abort', onAborted, { once: true });
      this.once('close', () => signal.removeEventListener('abort', onAborted));
    }
  }

  /** A host name: node looks it up first (dns.lookup); a close() or listen() meanwhile wins. */
  private _lookupAndListen(port: number, host: string, backlog: number): void {
    const id = this._listeningId;
    whenReady(
      this._hostRef,
      () => {
        resolveIpv4(this._hostRef, host, undefined, (err, address) => {
          if (id !== this._listeningId) return;
          if (err) this.emit('error', err);
          // ustack has no IPv6: an IPv6 address fails as on a host without it.
          else if (!isIPv4(address)) this.emit('error', uvSystemError('EAFNOSUPPORT', 'listen', address, port));
          else this._setupListen(address, port, backlog);
        });
      },
      (err) => this.emit('error', err),
    );
  }

  /** No host: the unspecified address, at once unless the stack still waits for its address (DHCP). */
  private _listenWhenReady(address: string | null, port: number, backlog: number): void {
    if (this._hostRef.ready === undefined) {
      this._setupListen(address, port, backlog);
      return;
    }
    const id = this._listeningId;
    whenReady(
      this._hostRef,
      () => {
        if (id === this._listeningId) this._setupListen(address, port, backlog);
      },
      (err) => this.emit('error', err),
    );
  }

  private _setupListen(address: string | null, port: number, backlog: number): void {
    const host = address ?? '0.0.0.0';
    const addr = address === null ? 0 : parseIpv4Address(host);
    if (addr !== 0 && !this._hostRef.endpoints.isLocalAddress(addr)) {
      process.nextTick(() => this.emit('error', uvSystemError('EADDRNOTAVAIL', 'listen', host, port)));
      return;
    }
    const b = backlog > 0 ? backlog : 511;
    try {
      this._listener = port === 0 ? this._listenEphemeral(addr, b) : this._hostRef.endpoints.tcpListen(port, addr, b, (c) => this._onConnection(c));
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EINVAL';
      process.nextTick(() => this.emit('error', uvSystemError(code, 'listen', host, port)));
      return;
    }
    this._connectionKey = `4:${host}:${port}`;
    if (!this._unref) this._hostRef.ref();
    process.nextTick(() => {
      // A close() before this tick means no 'listening'.
      if (this._listener !== null) this.emit('listening');
    });
  }

  private _listenEphemeral(addr: number, backlog: number): Listener {
    const span = 65535 - 49152 + 1;
    const first = 49152 + Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const p = 49152 + ((first - 49152 + i) % span);
      try {
        return this._hostRef.endpoints.tcpListen(p, addr, backlog, (c) => this._onConnection(c));
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
    throw Object.assign(new Error('no free port'), { code: 'EADDRINUSE' });
  }

  private _onConnection(conn: Connection): void {
    const max = this.maxConnections;
    if ((NODE_BEHAVIOUR.maxConnectionsZeroDrops ? max !== undefined && max !== null : max) && this._connections >= max!) {
      const data = {
        localAddress: ipToString(conn.localAddr),
        localPort: conn.localPort,
        localFamily: 'IPv4',
        remoteAddress: ipToString(conn.remoteAddr),
        remotePort: conn.remotePort,
        remoteFamily: 'IPv4',
      };
      this.emit('drop', data);
      conn.close();
      this._hostRef.kick();
      return;
    }
    if (this.blockList?.check(ipToString(conn.remoteAddr), 'ipv4')) {
      conn.close();
      this._hostRef.kick();
      return;
    }
    const socket = new this._SocketClass({
      allowHalfOpen: this.allowHalfOpen,
      readableHighWaterMark: this.highWaterMark,
      writableHighWaterMark: this.highWaterMark,
    });
    socket._accepted(conn, this, this.noDelay, this.keepAlive, this.keepAliveInitialDelay * 1000, this.pauseOnConnect);
    this._connections++;
    this.emit('connection', socket);
  }

  /** Emits 'close' (next tick) once the server neither listens nor has connections. */
  _emitCloseIfDrained(): void {
    if (this._listener !== null || this._connections > 0) return;
    process.nextTick(() => this.emit('close'));
  }

  close(cb?: (err?: Error) => void): this {
    this._listeningId++;
    if (typeof cb === 'function') {
      if (this._listener === null) this.once('close', () => cb(ERR_SERVER_NOT_RUNNING()));
      else this.once('close', cb);
    }
    if (this._listener !== null) {
      this._listener.close();
      this._listener = null;
      if (!this._unref) this._hostRef.unref();
      this._hostRef.kick();
    }
    this._emitCloseIfDrained();
    return this;
  }

  address(): { address: string; family: string; port: number } | null {
    const l = this._listener;
    if (l === null) return null;
    return { address: ipToString(l.addr), family: 'IPv4', port: l.port };
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    process.nextTick(cb, null, this._connections);
    return this;
  }

  ref(): this {
    if (this._unref) {
      this._unref = false;
      if (this._listener !== null) this._hostRef.ref();
    }
    return this;
  }

  unref(): this {
    if (!this._unref) {
      this._unref = true;
      if (this._listener !== null) this._hostRef.unref();
    }
    return this;
  }

  /** With captureRejections: a rejected 'connection' handler destroys that socket; any other goes to 'error'. */
  override [EventEmitter.captureRejectionSymbol](err: Error, event: string, sock?: UstackSocket): void {
    if (event === 'connection' && sock !== undefined) sock.destroy(err);
    else this.emit('error', err);
  }

  [Symbol.asyncDispose](): Promise<void> {
    if (this._listener === null) return Promise.resolve();
    return new Promise((res, rej) => this.close((err) => (err ? rej(err) : res())));
  }
}
