/**
 * node's own servers (net.Server and what extends it: http.Server,
 * https.Server, tls.Server) listening on a ustack port, as if they listened
 * themselves: `listening`, address(), close() and its 'close' after the
 * last connection, ref/unref, getConnections, maxConnections and 'drop'
 * keep node's behaviour, because node's Server methods run unchanged over a
 * listen handle that stands for a ustack listener.
 *
 * node's Server keeps its kernel listen handle in `_handle` and asks it for
 * close(), getsockname(), ref() and unref() — nothing more; its connection
 * count is `_connections`, drained through `_emitCloseIfDrained()` (all the
 * same in node 20, 22 and 24). listenOn() installs a UstackListenHandle there
 * and emits each connection the ustack listener accepts as the Server's
 * 'connection' with node's bookkeeping, so the Server's own listeners (http's
 * parser, tls's TLSSocket) take it as they take a kernel socket.
 */
import * as tls from 'node:tls';
import type { Server as NodeServer } from 'node:net';
import type { NetModule } from './net.js';
import type { UstackServer } from './net-server.js';
import type { UstackSocket } from './net-socket.js';
import { normalizeListenArgs, type ListenOpts } from './net-args.js';
import { mirrorTcpSocket, ustackSocketUnder } from './tls.js';
import { ERR_INVALID_ARG_VALUE, ERR_SERVER_ALREADY_LISTEN } from '../errors/node-errors.js';

/** The fields and methods of node's net.Server this relies on (see the file comment). */
interface NodeServerInternals {
  _handle: unknown;
  _connections: number;
  _unref?: boolean;
  _emitCloseIfDrained(): void;
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** seconds, as node stores it */
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
  maxConnections?: number | null;
  blockList?: { check(address: string, family: string): boolean };
}

/** What node's Server asks of its listen handle, answered by a ustack listener. */
export class UstackListenHandle {
  constructor(readonly listener: UstackServer) {}
  close(): void {
    this.listener.close();
  }
  getsockname(out: Record<string, unknown>): number {
    const a = this.listener.address();
    if (a !== null) Object.assign(out, a);
    return 0;
  }
  ref(): void {
    this.listener.ref();
  }
  unref(): void {
    this.listener.unref();
  }
}

const mirroring = new WeakSet<object>();

/**
 * Server-side TLS sockets that node:tls makes over ustack sockets get the
 * ustack socket's addresses, before any 'secureConnection' listener of the
 * application runs (installed once per server; nothing for a plain server).
 */
export function mirrorTcpUnderTls(server: NodeServer): void {
  if (!(server instanceof tls.Server) || mirroring.has(server)) return;
  mirroring.add(server);
  server.prependListener('secureConnection', (secure: tls.TLSSocket) => {
    const raw = ustackSocketUnder(secure);
    if (raw !== undefined) mirrorTcpSocket(secure, raw);
  });
}

/** Whether listen()'s arguments ask for something only the kernel has: an IPC path, a handle or an fd. */
export function listensOnKernelOnly(args: readonly unknown[]): boolean {
  const a0 = args[0];
  if (typeof a0 === 'string') return a0 !== '' && Number.isNaN(Number(a0));
  if (a0 === null || typeof a0 !== 'object') return false;
  // node's tests, in node's order: a handle, an fd, then a pipe path (all truthiness, as node).
  const o = a0 as ListenOpts & { fd?: unknown; handle?: unknown; _handle?: unknown };
  return Boolean(o.handle || o._handle || (typeof o.fd === 'number' && o.fd >= 0) || o.path);
}

/**
 * node's `server.listen(...args)`, on a ustack stack: the same arguments
 * (port, host, backlog, callback, or an options object with `signal`), the
 * same events ('listening', 'error' such as EADDRINUSE, 'connection').
 * IPC paths, handles and fds are refused (ERR_INVALID_ARG_VALUE).
 */
export function listenOn<S extends NodeServer>(net: NetModule, server: S, ...args: unknown[]): S {
  const s = server as unknown as NodeServerInternals & NodeServer;
  if (listensOnKernelOnly(args)) throw ERR_INVALID_ARG_VALUE('options', args[0], 'is not supported by ustack (IPC paths, handles and fds are kernel objects)');
  if (s._handle) throw ERR_SERVER_ALREADY_LISTEN();
  const [opts, cb] = normalizeListenArgs(args);
  const listener = net.createServer({
    allowHalfOpen: s.allowHalfOpen ?? false,
    pauseOnConnect: s.pauseOnConnect ?? false,
    noDelay: s.noDelay ?? false,
    keepAlive: s.keepAlive ?? false,
    keepAliveInitialDelay: (s.keepAliveInitialDelay ?? 0) * 1000,
    ...(s.highWaterMark !== undefined ? { highWaterMark: s.highWaterMark } : {}),
  });
  const handle = new UstackListenHandle(listener);
  const current = (): boolean => s._handle === handle;
  s._handle = handle;
  if (s._unref) listener.unref();
  mirrorTcpUnderTls(server);
  if (cb) server.once('listening', cb);
  listener.on('listening', () => {
    if (current()) server.emit('listening');
  });
  listener.on('error', (err: Error) => {
    if (!current()) return;
    s._handle = null;
    server.emit('error', err);
  });
  listener.on('connection', (socket: UstackSocket) => accept(s, socket));
  const { signal, ...rest } = opts;
  listener.listen(rest);
  if (signal) {
    const onAbort = (): void => {
      if (current()) server.close();
    };
    if (signal.aborted) process.nextTick(onAbort);
    else signal.addEventListener('abort', onAbort, { once: true });
  }
  return server;
}

/** node's onconnection for a ustack socket: maxConnections, blockList, the count, 'connection'. */
function accept(server: NodeServerInternals & NodeServer, socket: UstackSocket): void {
  if (server.maxConnections != null && server._connections >= server.maxConnections) {
    server.emit('drop', {
      localAddress: socket.localAddress,
      localPort: socket.localPort,
      localFamily: socket.localFamily,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      remoteFamily: socket.remoteFamily,
    });
    socket.destroy();
    return;
  }
  if (server.blockList && socket.remoteAddress !== undefined && server.blockList.check(socket.remoteAddress, 'ipv4')) {
    socket.destroy();
    return;
  }
  server._connections++;
  socket.once('close', () => {
    server._connections--;
    server._emitCloseIfDrained();
  });
  (socket as UstackSocket & { server?: NodeServer }).server = server;
  server.emit('connection', socket);
}
