/**
 * Glue so node:http, ws and undici run unchanged on ustack sockets. None of
 * it patches node: http.Server accepts any stream through its 'connection'
 * event, http.Agent lets createConnection supply the socket, and undici's
 * Agent takes a `connect` function.
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import type { NetModule } from './net.js';
import type { UstackServer } from './net-server.js';
import type { UstackSocket } from './net-socket.js';

/**
 * Serves a node:http server (or anything that handles 'connection', such as
 * an http.Server with a ws WebSocketServer attached) on a ustack port.
 * Resolves with the listening ustack server; close it to stop listening.
 */
export function serveHttp(net: NetModule, server: http.Server, port: number, host = '0.0.0.0'): Promise<UstackServer> {
  return new Promise((resolve, reject) => {
    const tcp = net.createServer((socket) => server.emit('connection', socket));
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve(tcp);
    });
  });
}

/** An http.Agent whose connections are ustack sockets (keep-alive by default). */
export class UstackHttpAgent extends http.Agent {
  constructor(
    private readonly net: NetModule,
    options: http.AgentOptions = { keepAlive: true },
  ) {
    super(options);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, s: Duplex) => void): UstackSocket {
    const socket = this.net.connect({
      host: options.hostname ?? options.host ?? 'localhost',
      port: Number(options.port ?? 80),
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    if (callback) {
      socket.once('connect', () => callback(null, socket));
      socket.once('error', (e) => callback(e, socket));
    }
    return socket;
  }
}

/** The options undici passes to a custom `connect` function. */
export interface UndiciConnectOptions {
  hostname: string;
  host?: string;
  protocol: string;
  port: string;
  servername?: string | null;
  localAddress?: string | null;
}

/**
 * A `connect` function for undici's Agent/Client: `new Agent({ connect:
 * undiciConnector(stack.net) })`, then `fetch(url, { dispatcher })` goes
 * through ustack. Plain http only (no TLS on ustack sockets yet).
 */
export function undiciConnector(net: NetModule) {
  return (opts: UndiciConnectOptions, callback: (err: Error | null, socket: UstackSocket | null) => void): UstackSocket | undefined => {
    if (opts.protocol === 'https:') {
      const e = new Error('https is not supported over ustack sockets yet') as Error & { code: string };
      e.code = 'ERR_USTACK_UNSUPPORTED';
      callback(e, null);
      return undefined;
    }
    const port = Number(opts.port || 80);
    const socket = net.connect({ host: opts.hostname, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    socket.setNoDelay(true);
    const onError = (e: Error): void => callback(e, null);
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      callback(null, socket);
    });
    return socket;
  };
}
