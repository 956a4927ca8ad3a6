/**
 * Glue so node:http, node:https, ws and undici run unchanged on ustack
 * sockets. None of it patches node: http.Server (and https.Server, a
 * tls.Server) accepts any stream through its 'connection' event, http.Agent
 * lets createConnection supply the socket, and undici's Agent takes a
 * `connect` function.
 */
import * as http from 'node:http';
import type { Server as NodeServer } from 'node:net';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { NetModule } from './net.js';
import type { UstackServer } from './net-server.js';
import type { UstackSocket } from './net-socket.js';
import { mirrorTcpUnderTls } from './listen-on.js';
import { tlsConnect } from './tls.js';

/**
 * Serves a node:http or node:https server (or anything that handles
 * 'connection', such as an http.Server with a ws WebSocketServer attached)
 * on a ustack port. Resolves with the listening ustack server; close it to
 * stop listening. (listenOn() instead makes the server itself listen.)
 */
export function serveHttp(net: NetModule, server: NodeServer, port: number, host = '0.0.0.0'): Promise<UstackServer> {
  mirrorTcpUnderTls(server);
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
 * through ustack, http: and https: (node's TLS over the ustack socket;
 * `tlsOptions` such as `ca` or `rejectUnauthorized` go to tls.connect).
 */
export function undiciConnector(net: NetModule, tlsOptions: ConnectionOptions = {}) {
  return (opts: UndiciConnectOptions, callback: (err: Error | null, socket: UstackSocket | TLSSocket | null) => void): UstackSocket | TLSSocket => {
    const local = opts.localAddress ? { localAddress: opts.localAddress } : {};
    let socket: UstackSocket | TLSSocket;
    let ready: string;
    if (opts.protocol === 'https:') {
      // SNI carries a host name, never an address (RFC 6066 section 3).
      const servername = opts.servername || (isIP(opts.hostname) ? undefined : opts.hostname);
      socket = tlsConnect(net, {
        ...tlsOptions,
        host: opts.hostname,
        port: Number(opts.port || 443),
        ...(servername ? { servername } : {}),
        ALPNProtocols: ['http/1.1'],
        ...local,
      });
      ready = 'secureConnect';
    } else {
      socket = net.connect({ host: opts.hostname, port: Number(opts.port || 80), ...local });
      ready = 'connect';
    }
    socket.setNoDelay(true);
    const onError = (e: Error): void => callback(e, null);
    socket.once('error', onError);
    socket.once(ready, () => {
      socket.off('error', onError);
      callback(null, socket);
    });
    return socket;
  };
}
