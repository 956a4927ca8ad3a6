/**
 * `ustack/dgram`: a drop-in for node:dgram on the default stack (see
 * default-stack.ts; loopback-only unless USTACK_NIC is set). Same exports as
 * node:dgram: `createSocket` and `Socket`. IPv4 only: 'udp6' throws
 * ERR_SOCKET_BAD_TYPE.
 */
import { DgramSocket, type RemoteInfo, type SocketOptions, type SocketType } from '../socket/dgram.js';
import { defaultStack } from './default-stack.js';

export type { RemoteInfo, SocketOptions, SocketType, BindOptions, AddressInfo } from '../socket/dgram.js';

export class Socket extends DgramSocket {
  constructor(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super(defaultStack(), type, listener);
  }
}

export function createSocket(type: SocketType | SocketOptions, listener?: (msg: Buffer, rinfo: RemoteInfo) => void): Socket {
  return new Socket(type, listener);
}

export default { createSocket, Socket };
