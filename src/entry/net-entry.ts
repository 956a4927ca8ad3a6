/**
 * `ustack/net`: a drop-in for node:net on the default stack (see
 * default-stack.ts: loopback-only unless USTACK_NIC is set). Change
 * `import net from 'node:net'` to `import net from 'ustack/net'` and the
 * same program runs on ustack. IPv4 only; no IPC paths.
 */
import type { DuplexOptions } from 'node:stream';
import * as nodeNet from 'node:net';
import { UstackSocket } from '../socket/net-socket.js';
import { UstackServer } from '../socket/net-server.js';
import type { NetConnectOpts, ServerOpts } from '../socket/net-args.js';
import { defaultStack } from './default-stack.js';

export type { NetConnectOpts, ServerOpts, ListenOpts } from '../socket/net-args.js';

export class Socket extends UstackSocket {
  constructor(options: NetConnectOpts & DuplexOptions = {}) {
    super(defaultStack(), options);
  }
}

export class Server extends UstackServer {
  constructor(options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void) {
    super(defaultStack(), Socket, options, listener);
  }
}

export const Stream = Socket;

export function createServer(options?: ServerOpts | ((s: UstackSocket) => void), listener?: (s: UstackSocket) => void): Server {
  return new Server(options, listener);
}

type ConnectArgs =
  | [options: NetConnectOpts, connectListener?: () => void]
  | [port: number | string, host?: string, connectListener?: () => void]
  | [port: number | string, connectListener?: () => void];

export function connect(...args: ConnectArgs): Socket {
  const first = args[0];
  const opts = first !== null && typeof first === 'object' ? first : {};
  return new Socket(opts).connect(...(args as unknown[]));
}

export const createConnection = connect;
export const { isIP, isIPv4, isIPv6, BlockList, SocketAddress } = nodeNet;
export const getDefaultAutoSelectFamily = (): boolean => false;
export const setDefaultAutoSelectFamily = (_value: boolean): void => {};
export const getDefaultAutoSelectFamilyAttemptTimeout = (): number => 250;
export const setDefaultAutoSelectFamilyAttemptTimeout = (_value: number): void => {};

export default {
  Socket,
  Stream,
  Server,
  createServer,
  connect,
  createConnection,
  isIP,
  isIPv4,
  isIPv6,
  BlockList,
  SocketAddress,
  getDefaultAutoSelectFamily,
  setDefaultAutoSelectFamily,
  getDefaultAutoSelectFamilyAttemptTimeout,
  setDefaultAutoSelectFamilyAttemptTimeout,
};
