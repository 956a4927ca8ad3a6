/**
 * node:net's Server over the stack's TCP: listen()'s overloads, ephemeral
 * ports, maxConnections, and node 20's event order and error codes.
 */
import { EventEmitter } from 'node:events';
import type { Connection, Listener } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { resolveIpv4, whenReady, type SocketHost } from './host.js';
import { normalizeListenArgs, type NetConnectOpts, type ServerOpts } from './net-args.js';
import type { UstackSocket } from './net-socket.js';
import {
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_SERVER_ALREADY_LISTEN,
  ERR_SERVER_NOT_RUNNING,
  uvSystemError,
  validatePort,
} from '../errors/node-errors.js';

/** A TCP server on a ustack stack (node:net Server semantics). */
export class UstackServer extends EventEmitter {
  maxConnections: number | undefined = undefined;
  private _listener: Listener | null = null;
  private _connections = 0;
  private _refd = true;
  private _closeCbs: Array<(err?: Error) => void> = [];
  private readonly _opts: ServerOpts;

  /** @internal */
  readonly _hostRef: SocketHost;
  private readonly _SocketClass: new (o: NetConnectOpts) => UstackSocket;

  constructor(
    hostRef: SocketHost,
    SocketClass: new (o: NetConnectOpts) => UstackSocket,
    options?: ServerOpts | ((s: UstackSocket) => void),
    listener?: (s: UstackSocket) => void,
  ) {
    super();
    this._hostRef = hostRef;
    this._SocketClass = SocketClass;
    if (typeof options === 'function') {
      listener = options;
      options = {};
    } else if (options === undefined || options === null) {
      options = {};
    } else if (typeof options !== 'object') {
      throw ERR_INVALID_ARG_TYPE('options', 'of type object', options);
    }
    this._opts = options;
    if (listener) this.on('connection', listener);
  }

  get listening(): boolean {
    return this._listener !== null;
  }

  listen(...args: unknown[]): this {
    const [opts, cb] = normalizeListenArgs(args);
    if (this._listener !== null) throw ERR_SERVER_ALREADY_LISTEN();
    if (opts.path !== undefined) throw ERR_INVALID_ARG_VALUE('options.path', opts.path, 'is not supported: ustack has no IPC sockets');
    if (cb) this.once('listening', cb);
    let port = 0;
    if (opts.port !== undefined && opts.port !== null) port = validatePort(opts.port, 'options.port');
    const backlog = typeof opts.backlog === 'number' && opts.backlog > 0 ? opts.backlog : 511;
    const hostname = opts.host ?? '0.0.0.0';
    const start = (address: string): void => {
      const addr = address === '0.0.0.0' ? 0 : parseIpv4Address(address);
      if (addr !== 0 && !this._hostRef.endpoints.isLocalAddress(addr)) {
        this.emit('error', uvSystemError('EADDRNOTAVAIL', 'listen', address, port));
        return;
      }
      try {
        this._listener = port === 0 ? this._listenEphemeral(addr, backlog) : this._hostRef.endpoints.tcpListen(port, addr, backlog, (c) => this._onConnection(c));
      } catch (e) {
        const code = (e as { code?: string }).code ?? 'EINVAL';
        process.nextTick(() => this.emit('error', uvSystemError(code, 'listen', address, port)));
        return;
      }
      if (this._refd) this._hostRef.ref();
      process.nextTick(() => this.emit('listening'));
    };
    const go = (): void => {
      if (hostname === '::' || hostname === '0.0.0.0' || hostname === '') {
        start('0.0.0.0');
      } else {
        resolveIpv4(this._hostRef, hostname, undefined, (err, address) => {
          if (err) {
            this.emit('error', err);
            return;
          }
          start(address);
        });
      }
    };
    whenReady(this._hostRef, go, (err) => this.emit('error', err));
    if (opts.signal) {
      const onAbort = (): void => {
        this.close();
      };
      if (opts.signal.aborted) process.nextTick(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    return this;
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
    if (this.maxConnections !== undefined && this._connections >= this.maxConnections) {
      const data = {
        localAddress: ipToString(conn.localAddr),
        localPort: conn.localPort,
        localFamily: 'IPv4',
        remoteAddress: ipToString(conn.remoteAddr),
        remotePort: conn.remotePort,
        remoteFamily: 'IPv4',
      };
      conn.close();
      this._hostRef.kick();
      this.emit('drop', data);
      return;
    }
    const socket = new this._SocketClass({ allowHalfOpen: this._opts.allowHalfOpen ?? false, ...(this._opts.highWaterMark !== undefined ? { readableHighWaterMark: this._opts.highWaterMark, writableHighWaterMark: this._opts.highWaterMark } : {}) });
    this._connections++;
    socket._accepted(conn, this);
    if (this._opts.noDelay) socket.setNoDelay(true);
    if (this._opts.keepAlive) socket.setKeepAlive(true, this._opts.keepAliveInitialDelay ?? 0);
    if (this._opts.pauseOnConnect) socket.pause();
    this.emit('connection', socket);
  }

  /** @internal */
  _connectionClosed(): void {
    this._connections--;
    this._maybeEmitClose();
  }

  private _maybeEmitClose(): void {
    if (this._listener !== null || this._connections > 0 || this._closeCbs.length === 0) return;
    const cbs = this._closeCbs;
    this._closeCbs = [];
    for (const cb of cbs) cb();
    this.emit('close');
  }

  close(cb?: (err?: Error) => void): this {
    if (typeof cb === 'function') {
      if (this._listener === null) {
        this.once('close', () => cb(ERR_SERVER_NOT_RUNNING()));
      } else {
        this._closeCbs.push(() => cb());
      }
    }
    if (this._listener !== null) {
      this._listener.close();
      this._listener = null;
      if (this._refd) this._hostRef.unref();
      if (!cb) this._closeCbs.push(() => {});
      process.nextTick(() => this._maybeEmitClose());
    } else if (typeof cb === 'function') {
      process.nextTick(() => this.emit('close'));
    }
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
    if (!this._refd) {
      this._refd = true;
      if (this._listener !== null) this._hostRef.ref();
    }
    return this;
  }

  unref(): this {
    if (this._refd) {
      this._refd = false;
      if (this._listener !== null) this._hostRef.unref();
    }
    return this;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return new Promise((res) => this.close(() => res()));
  }
}
