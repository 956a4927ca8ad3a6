/**
 * The node:net module of one stack: `createNetModule(host)` binds the
 * Socket and Server classes to the host and adds node's module-level
 * functions (createServer, connect, isIP...).
 *
 * node's Socket and Server are plain functions that construct themselves
 * when called without `new` (`net.Server(listener)` is common in old code);
 * the classes here are wrapped so that calling them does the same.
 */
import type { DuplexOptions } from 'node:stream';
import * as nodeNet from 'node:net';
import type { SocketHost } from './host.js';
import { normalizeArgs, type ConnectArgs, type NetConnectOpts, type ServerOpts } from './net-args.js';
import { UstackSocket } from './net-socket.js';
import { UstackServer } from './net-server.js';

const { isIP, isIPv4, isIPv6, BlockList, SocketAddress } = nodeNet;

type SocketOptions = NetConnectOpts & DuplexOptions;
type ConnectionListener = (s: UstackSocket) => void;

/** The node:net surface ustack provides (IPv4 only; no IPC paths). */
export interface NetModule {
  Socket: new (options?: SocketOptions) => UstackSocket;
  Stream: new (options?: SocketOptions) => UstackSocket;
  Server: new (options?: ServerOpts | ConnectionListener, listener?: ConnectionListener) => UstackServer;
  createServer(options?: ServerOpts | ConnectionListener, listener?: ConnectionListener): UstackServer;
  connect(...args: ConnectArgs): UstackSocket;
  createConnection(...args: ConnectArgs): UstackSocket;
  isIP: typeof nodeNet.isIP;
  isIPv4: typeof nodeNet.isIPv4;
  isIPv6: typeof nodeNet.isIPv6;
  BlockList: typeof nodeNet.BlockList;
  SocketAddress: typeof nodeNet.SocketAddress;
  getDefaultAutoSelectFamily(): boolean;
  setDefaultAutoSelectFamily(value: boolean): void;
  getDefaultAutoSelectFamilyAttemptTimeout(): number;
  setDefaultAutoSelectFamilyAttemptTimeout(value: number): void;
  /** node's (undocumented) argument normaliser of connect() and listen(). */
  _normalizeArgs(args: unknown[]): [object, ((...a: unknown[]) => void) | null];
  /** Deprecated in node (DEP0121); a no-op there too outside Windows. */
  _setSimultaneousAccepts(handle?: unknown): void;
}

/**
 * A class that also constructs itself when called as a function, like
 * node's function constructors; `instanceof`, `extends` and
 * `x.constructor === C` behave as for the class itself. `new C()` runs the
 * class with itself as `new.target`: V8 caches the instance layout per
 * constructor function, and any other `new.target` here (the Proxy, a
 * wrapper function) gave every socket a layout of its own (36 hidden
 * classes per socket, 3 KB of heap each).
 */
export function callableClass<C extends abstract new (...args: never[]) => object>(cls: C): C {
  const target = cls as unknown as new (...args: unknown[]) => object;
  const wrapped: C = new Proxy(cls, {
    apply: (_cls, _this, args: unknown[]) => new target(...args),
    construct: (_cls, args: unknown[], newTarget) => (newTarget === wrapped ? new target(...args) : Reflect.construct(target, args, newTarget)),
  });
  Object.defineProperty(cls.prototype, 'constructor', { value: wrapped, writable: true, configurable: true });
  return wrapped;
}

let warnSimultaneousAccepts = true;

function setSimultaneousAccepts(): void {
  if (warnSimultaneousAccepts) {
    process.emitWarning('net._setSimultaneousAccepts() is deprecated and will be removed.', 'DeprecationWarning', 'DEP0121');
    warnSimultaneousAccepts = false;
  }
}

/**
 * Builds the net module for one stack, or for the stack a function returns
 * when the first socket or server is made (the default stack opens lazily).
 */
export function createNetModule(hostOrGetter: SocketHost | (() => SocketHost)): NetModule {
  const host = typeof hostOrGetter === 'function' ? hostOrGetter : (): SocketHost => hostOrGetter;

  const Socket = callableClass(
    class Socket extends UstackSocket {
      constructor(options?: SocketOptions) {
        super(host(), options);
      }
    },
  );

  const Server = callableClass(
    class Server extends UstackServer {
      constructor(options?: ServerOpts | ConnectionListener, listener?: ConnectionListener) {
        super(host(), Socket, options, listener);
      }
    },
  );

  function createServer(options?: ServerOpts | ConnectionListener, listener?: ConnectionListener): UstackServer {
    return new Server(options, listener);
  }

  function connect(...args: unknown[]): UstackSocket {
    const normalized = normalizeArgs<NetConnectOpts>(args);
    const options = normalized[0];
    const socket = new Socket(options);
    if (options.timeout) socket.setTimeout(options.timeout);
    return socket.connect(normalized);
  }

  return {
    Socket,
    Stream: Socket,
    Server,
    createServer,
    connect: connect as NetModule['connect'],
    createConnection: connect as NetModule['connect'],
    isIP,
    isIPv4,
    isIPv6,
    BlockList,
    SocketAddress,
    // One setting per process, node's own: it reads --network-family-autoselection* and validates.
    getDefaultAutoSelectFamily: nodeNet.getDefaultAutoSelectFamily,
    setDefaultAutoSelectFamily: nodeNet.setDefaultAutoSelectFamily,
    getDefaultAutoSelectFamilyAttemptTimeout: nodeNet.getDefaultAutoSelectFamilyAttemptTimeout,
    setDefaultAutoSelectFamilyAttemptTimeout: nodeNet.setDefaultAutoSelectFamilyAttemptTimeout,
    _normalizeArgs: (args: unknown[]) => normalizeArgs(args),
    _setSimultaneousAccepts: setSimultaneousAccepts,
  };
}
