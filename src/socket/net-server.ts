/**
 * node:net's Server over the stack's TCP: listen()'s overloads and checks
 * in node's order (lib/net.js Server.prototype.listen), ephemeral ports,
 * maxConnections, close() and its callback, abort signals, and node 20's
 * event order and error codes.
 */
import { EventEmitter } from 'node:events';
import { isIP, isIPv4 } from 'node:net';
import { getDefaultHighWaterMark } from 'node:stream';
import type { Connection, Listener } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { ipv4OfMapped, ipv6ToString, parseIpv6Address } from '../wire/ipv6.js';
import { resolveIpv4, whenReady, type SocketHost } from './host.js';
import {
  blockListOption,
  isPipeName,
  NODE_BEHAVIOUR,
  normalizeArgs,
  stripZone,
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
  /** The listener (IPv6 for an IPv6 or dual-stack address). */
  private _listener: Listener | null = null;
  /** A dual-stack listener's IPv4 half (on the same port). */
  private _listener4: Listener | null = null;
  /** What address() reports, and how the listener's connections name themselves (net-socket's _af). */
  private _bound: { address: string; family: 'IPv4' | 'IPv6'; af4: 4 | 46 } | null = null;
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
      const v6only = options.ipv6Only === true;
      if (options.host) this._lookupAndListen(port, options.host, backlog, v6only);
      else this._listenWhenReady(null, port, backlog, v6only);
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
  private _lookupAndListen(port: number, host: string, backlog: number, v6only: boolean): void {
    if (isIP(host) === 6) {
      this._listenWhenReady(host, port, backlog, v6only);
      return;
    }
    const id = this._listeningId;
    whenReady(
      this._hostRef,
      () => {
        resolveIpv4(this._hostRef, host, undefined, (err, address) => {
          if (id !== this._listeningId) return;
          if (err) this.emit('error', err);
          else if (!isIPv4(address)) this.emit('error', uvSystemError('EAFNOSUPPORT', 'listen', address, port));
          else this._setupListen(address, port, backlog, v6only);
        });
      },
      (err) => this.emit('error', err),
    );
  }

  /** No host: the unspecified address, at once unless the stack still waits for its address (DHCP). */
  private _listenWhenReady(address: string | null, port: number, backlog: number, v6only: boolean): void {
    if (this._hostRef.ready === undefined) {
      this._setupListen(address, port, backlog, v6only);
      return;
    }
    const id = this._listeningId;
    whenReady(
      this._hostRef,
      () => {
        if (id === this._listeningId) this._setupListen(address, port, backlog, v6only);
      },
      (err) => this.emit('error', err),
    );
  }

  /**
   * Binds as node does: no address is `::` when the stack has IPv6 (else
   * 0.0.0.0, node's fallback); `::` is dual-stack — a listener in each
   * family on one port, IPv4 connections named ::ffff:a.b.c.d, family
   * 'IPv6' — unless ipv6Only; an IPv4-mapped address listens on that IPv4
   * address, named as IPv6; any other IPv6 address listens over IPv6 only.
   */
  private _setupListen(address: string | null, port: number, backlog: number, v6only: boolean): void {
    const ep = this._hostRef.endpoints;
    const host = address ?? (ep.hasIpv6() ? '::' : '0.0.0.0');
    const b = backlog > 0 ? backlog : 511;
    const onConn4 = (c: Connection): void => this._onConnection(c, this._bound?.af4 ?? 4);
    const onConn6 = (c: Connection): void => this._onConnection(c, 6);
    let open: (p: number) => { l: Listener; l4: Listener | null };
    let bound: NonNullable<UstackServer['_bound']>;
    let notLocal = false;
    if (isIP(host) === 6) {
      if (!ep.hasIpv6()) {
        // As on a host without IPv6.
        process.nextTick(() => this.emit('error', uvSystemError('EAFNOSUPPORT', 'listen', host, port)));
        return;
      }
      const a6 = parseIpv6Address(stripZone(host));
      const a4 = ipv4OfMapped(a6);
      const any = a6.every((x) => x === 0);
      bound = { address: ipv6ToString(a6), family: 'IPv6', af4: 46 };
      if (a4 >= 0) {
        notLocal = a4 !== 0 && !ep.isLocalAddress(a4);
        open = (p) => ({ l: ep.tcpListen(p, a4, b, onConn4), l4: null });
      } else if (any && !v6only) {
        open = (p) => {
          const l = ep.tcp6Listen(p, null, b, onConn6);
          try {
            return { l, l4: ep.tcpListen(p, 0, b, onConn4) };
          } catch (e) {
            l.close();
            throw e;
          }
        };
      } else {
        notLocal = !any && !ep.isLocalAddress6(a6);
        open = (p) => ({ l: ep.tcp6Listen(p, any ? null : a6, b, onConn6), l4: null });
      }
    } else {
      const addr = parseIpv4Address(host);
      notLocal = addr !== 0 && !ep.isLocalAddress(addr);
      bound = { address: host, family: 'IPv4', af4: 4 };
      open = (p) => ({ l: ep.tcpListen(p, addr, b, onConn4), l4: null });
    }
    if (notLocal) {
      process.nextTick(() => this.emit('error', uvSystemError('EADDRNOTAVAIL', 'listen', host, port)));
      return;
    }
    try {
      const got = port === 0 ? this._listenEphemeral(open) : open(port);
      this._listener = got.l;
      this._listener4 = got.l4;
      this._bound = bound;
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EINVAL';
      process.nextTick(() => this.emit('error', uvSystemError(code, 'listen', host, port)));
      return;
    }
    this._connectionKey = `${bound.family === 'IPv6' ? 6 : 4}:${host}:${port}`;
    if (!this._unref) this._hostRef.ref();
    process.nextTick(() => {
      // A close() before this tick means no 'listening'.
      if (this._listener !== null) this.emit('listening');
    });
  }

  private _listenEphemeral<T>(open: (port: number) => T): T {
    const span = 65535 - 49152 + 1;
    const first = 49152 + Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const p = 49152 + ((first - 49152 + i) % span);
      try {
        return open(p);
      } catch (e) {
        if ((e as { code?: string }).code !== 'EADDRINUSE') throw e;
      }
    }
    throw Object.assign(new Error('no free port'), { code: 'EADDRINUSE' });
  }

  /** One end of an accepted connection as node names it (af as net-socket's _af). */
  private _nameOf(conn: Connection, af: 4 | 6 | 46, local: boolean): string {
    const id = local ? conn.localAddr : conn.remoteAddr;
    if (af === 6) return this._hostRef.endpoints.tcp6AddressText(id);
    return af === 46 ? `::ffff:${ipToString(id)}` : ipToString(id);
  }

  private _onConnection(conn: Connection, af: 4 | 6 | 46): void {
    const max = this.maxConnections;
    if ((NODE_BEHAVIOUR.maxConnectionsZeroDrops ? max !== undefined && max !== null : max) && this._connections >= max!) {
      const family = af === 4 ? 'IPv4' : 'IPv6';
      const data = {
        localAddress: this._nameOf(conn, af, true),
        localPort: conn.localPort,
        localFamily: family,
        remoteAddress: this._nameOf(conn, af, false),
        remotePort: conn.remotePort,
        remoteFamily: family,
      };
      this.emit('drop', data);
      conn.close();
      this._hostRef.kick();
      return;
    }
    // A v4-mapped peer is checked as the IPv4 address it is (node's BlockList matches either form).
    if (this.blockList?.check(af === 6 ? this._nameOf(conn, 6, false) : ipToString(conn.remoteAddr), af === 6 ? 'ipv6' : 'ipv4')) {
      conn.close();
      this._hostRef.kick();
      return;
    }
    const socket = new this._SocketClass({
      allowHalfOpen: this.allowHalfOpen,
      readableHighWaterMark: this.highWaterMark,
      writableHighWaterMark: this.highWaterMark,
    });
    socket._accepted(conn, this, this.noDelay, this.keepAlive, this.keepAliveInitialDelay * 1000, this.pauseOnConnect, af);
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
      this._listener4?.close();
      this._listener = null;
      this._listener4 = null;
      this._bound = null;
      if (!this._unref) this._hostRef.unref();
      this._hostRef.kick();
    }
    this._emitCloseIfDrained();
    return this;
  }

  address(): { address: string; family: string; port: number } | null {
    const l = this._listener;
    if (l === null || this._bound === null) return null;
    return { address: this._bound.address, family: this._bound.family, port: l.port };
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
