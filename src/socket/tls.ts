/**
 * TLS on ustack sockets, with node's own TLS: node:tls wraps any stream
 * Duplex given as `socket` (it puts a JSStreamSocket between the stream and
 * OpenSSL), so a TLS client is `tls.connect({ socket: ustackSocket })` and a
 * TLS server is node's tls.Server fed ustack connections through its
 * 'connection' event (listen-on.ts). What this file adds is what node does
 * itself for kernel sockets and cannot do for a stream it did not create:
 * opening the TCP connection from tls.connect()'s host/port options, the
 * 'connect' event and `connecting` state, and what node asks a kernel handle
 * that a stream does not have: the address getters (remoteAddress,
 * localPort...) and ref()/unref().
 */
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { NetModule } from './net.js';
import type { NetConnectOpts } from './net-args.js';
import { normalizeConnectArgs } from './net-args.js';
import { UstackSocket } from './net-socket.js';

/** The connect options of node:tls that also open the TCP connection. */
export type TlsConnectOptions = tls.ConnectionOptions &
  Pick<NetConnectOpts, 'localAddress' | 'localPort' | 'family' | 'noDelay' | 'keepAlive' | 'keepAliveInitialDelay' | 'allowHalfOpen'>;

const ADDRESS_GETTERS = ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort', 'localFamily'] as const;

/**
 * Makes a TLS socket over a ustack socket answer for the TCP connection
 * under it, where node's methods would ask a kernel handle and find none:
 * the address getters and address() report the ustack socket's, and ref()
 * and unref() reach it (undici unrefs idle keep-alive sockets so that they
 * do not hold the process open). Own properties, shadowing node's prototype.
 */
export function mirrorTcpSocket(secure: tls.TLSSocket, raw: UstackSocket): void {
  for (const name of ADDRESS_GETTERS) {
    Object.defineProperty(secure, name, { configurable: true, enumerable: true, get: () => raw[name] });
  }
  const methods: Record<string, (this: tls.TLSSocket) => unknown> = {
    address: () => raw.address(),
    ref(this: tls.TLSSocket) {
      raw.ref();
      return this;
    },
    unref(this: tls.TLSSocket) {
      raw.unref();
      return this;
    },
  };
  for (const [name, value] of Object.entries(methods)) {
    Object.defineProperty(secure, name, { configurable: true, writable: true, value });
  }
}

/**
 * The ustack socket under a server-side TLS socket that node:tls created
 * from one (its 'connection' listener does not hand the pair out). node
 * keeps the stream as `_handle._parentWrap.stream` (the TLS handle's parent,
 * a JSStreamSocket over the stream) in 20, 22 and 24; undefined when that is
 * not so (test/unit/tls-ustack.test.ts checks it on the running node).
 */
export function ustackSocketUnder(secure: tls.TLSSocket): UstackSocket | undefined {
  const handle = (secure as unknown as { _handle?: { _parentWrap?: { stream?: unknown } } | null })._handle;
  const stream = handle?._parentWrap?.stream;
  return stream instanceof UstackSocket ? stream : undefined;
}

/**
 * Gives a TLS socket made over a ustack socket that is still connecting the
 * TCP state node gives one it connects itself: `connecting` until the
 * connection is up, then 'connect' (before 'secureConnect'), and the
 * address getters.
 */
function adoptTcp(secure: tls.TLSSocket, raw: UstackSocket): void {
  mirrorTcpSocket(secure, raw);
  if (!raw.connecting) return;
  // node's own TLSSocket does the same for a net.Socket that is connecting.
  const state = secure as { connecting: boolean };
  state.connecting = true;
  raw.once('connect', () => {
    state.connecting = false;
    secure.emit('connect');
  });
}

/** The TCP half of tls.connect()'s options. */
function tcpOptions(options: TlsConnectOptions): NetConnectOpts {
  const tcp: NetConnectOpts = { host: options.host ?? 'localhost' };
  if (options.port !== undefined) tcp.port = options.port;
  if (options.localAddress !== undefined) tcp.localAddress = options.localAddress;
  if (options.localPort !== undefined) tcp.localPort = options.localPort;
  if (options.family !== undefined) tcp.family = options.family;
  if (options.lookup !== undefined) tcp.lookup = options.lookup as NetConnectOpts['lookup'];
  if (options.noDelay !== undefined) tcp.noDelay = options.noDelay;
  if (options.keepAlive !== undefined) tcp.keepAlive = options.keepAlive;
  if (options.keepAliveInitialDelay !== undefined) tcp.keepAliveInitialDelay = options.keepAliveInitialDelay;
  if (options.allowHalfOpen !== undefined) tcp.allowHalfOpen = options.allowHalfOpen;
  return tcp;
}

/**
 * tls.connect()'s overloads: ([port][, host][, options][, callback]) as node
 * normalises them (the options object's fields win over port and host).
 */
export function normalizeTlsConnectArgs(args: unknown[]): [TlsConnectOptions, (() => void) | null] {
  const [base, cb] = normalizeConnectArgs(args);
  const options: TlsConnectOptions = { ...(base as TlsConnectOptions) };
  if (args[1] !== null && typeof args[1] === 'object') Object.assign(options, args[1]);
  else if (args[2] !== null && typeof args[2] === 'object') Object.assign(options, args[2]);
  return [options, cb];
}

/**
 * The hook for tls.connect(): opens the TCP connection on a ustack stack
 * (unless the options bring a `socket`) and runs node's TLS client over it.
 * `connectTls` is node's tls.connect (passed in, because ustack/register
 * replaces tls.connect with a caller of this function).
 */
export function connectTlsWith(net: NetModule, connectTls: typeof tls.connect, args: unknown[]): tls.TLSSocket {
  const [options, cb] = normalizeTlsConnectArgs(args);
  if (options.socket) return cb ? connectTls(options, cb) : connectTls(options);
  const raw = net.connect(tcpOptions(options));
  const withSocket = { ...options, socket: raw };
  const secure = cb ? connectTls(withSocket, cb) : connectTls(withSocket);
  adoptTcp(secure, raw);
  // node applies `timeout` only to a socket it connects itself.
  if (options.timeout) secure.setTimeout(options.timeout);
  return secure;
}

/** tls.connect() over a ustack stack: same arguments and result as node's. */
export function tlsConnect(net: NetModule, options: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function tlsConnect(net: NetModule, port: number, host?: string, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function tlsConnect(net: NetModule, port: number, options?: TlsConnectOptions, secureConnectListener?: () => void): tls.TLSSocket;
export function tlsConnect(net: NetModule, ...args: unknown[]): tls.TLSSocket {
  return connectTlsWith(net, tls.connect, args);
}

/**
 * An https.Agent whose connections are TLS over ustack sockets. node's
 * https.Agent keeps its TLS session cache; only the TCP connection is ours.
 */
export class UstackHttpsAgent extends https.Agent {
  constructor(
    private readonly net: NetModule,
    options: https.AgentOptions = { keepAlive: true },
  ) {
    super(options);
  }

  // Returns the socket, so the agent does not wait for a callback (as node's https.Agent).
  override createConnection(args: https.RequestOptions): tls.TLSSocket {
    // http's ClientRequest has put the host name into `host` by now.
    const options = args as TlsConnectOptions;
    const raw = this.net.connect(tcpOptions(options));
    const agentConnect = (https.Agent.prototype as unknown as { createConnection: (o: TlsConnectOptions) => tls.TLSSocket }).createConnection;
    const secure = agentConnect.call(this, { ...options, socket: raw });
    adoptTcp(secure, raw);
    return secure;
  }
}
