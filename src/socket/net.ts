/**
 * The node:net module of one stack: `createNetModule(host)` binds the
 * Socket and Server classes to the host and adds node's module-level
 * functions (createServer, connect, isIP...).
 */
import type { DuplexOptions } from 'node:stream';
import * as nodeNet from 'node:net';
import type { SocketHost } from './host.js';
import { normalizeConnectArgs, type ConnectArgs, type NetConnectOpts, type ServerOpts } from './net-args.js';
import { UstackSocket } from './net-socket.js';
import { UstackServer } from './net-server.js';

const { isIP, isIPv4, isIPv6, BlockList, SocketAddress } = nodeNet;

/** The node:net surface ustack provides (IPv4 only; no IPC paths). */
export interface NetModule {
  Socket: new (options?: NetConnectOpts & DuplexOptions) => UstackSocket;
  Stream: new (options?: NetConnectOpts & DuplexOptions) => UstackSocket;
  Server: new (options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void) => UstackServer;
  createServer(options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void): UstackServer;
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
}

/** Builds the net module for one stack. */
export function createNetModule(host: SocketHost): NetModule {
  class Socket extends UstackSocket {
    constructor(options: NetConnectOpts & DuplexOptions = {}) {
      super(host, options);
    }
  }

  class Server extends UstackServer {
    constructor(options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void) {
      super(host, Socket, options, listener);
    }
  }

  function createServer(options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void): Server {
    return new Server(options, listener);
  }

  function connect(...args: unknown[]): UstackSocket {
    const [opts] = normalizeConnectArgs(args);
    return new Socket(opts).connect(...args);
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
    getDefaultAutoSelectFamily: () => false,
    setDefaultAutoSelectFamily: (_v: boolean) => {},
    getDefaultAutoSelectFamilyAttemptTimeout: () => 250,
    setDefaultAutoSelectFamilyAttemptTimeout: (_v: number) => {},
  };
}
