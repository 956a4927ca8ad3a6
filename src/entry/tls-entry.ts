/**
 * `ustack/tls`: node:tls with its two network doors on the default stack
 * (default-stack.ts): `connect()` runs node's TLS client over a ustack
 * socket, and `createServer()` / `Server` is node's tls.Server whose
 * listen() takes ustack connections. Everything else (createSecureContext,
 * checkServerIdentity, TLSSocket over a stream you bring, ...) is node:tls
 * itself, re-exported.
 */
import * as tls from 'node:tls';
import { listenOn } from '../socket/listen-on.js';
import { connectTlsWith, type TlsConnectOptions } from '../socket/tls.js';
import type { NetModule } from '../socket/net.js';
import netEntry from './net-entry.js';

export * from 'node:tls';
export type { TlsConnectOptions } from '../socket/tls.js';

const net = netEntry as unknown as NetModule;

/** tls.connect() over a ustack socket on the default stack. */
export function connect(options: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connect(port: number, host?: string, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connect(port: number, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function connect(...args: unknown[]): tls.TLSSocket {
  return connectTlsWith(net, tls.connect, args);
}

/** node's tls.Server, listening on the default stack. */
export class Server extends tls.Server {
  override listen(...args: unknown[]): this {
    return listenOn(net, this, ...args);
  }
}

export function createServer(options: tls.TlsOptions, secureConnectionListener?: (socket: tls.TLSSocket) => void): Server;
export function createServer(secureConnectionListener?: (socket: tls.TLSSocket) => void): Server;
export function createServer(...args: unknown[]): Server {
  return new Server(...(args as [tls.TlsOptions]));
}

export default { ...tls, connect, createServer, Server };
