/**
 * `ustack/net`: a drop-in for node:net on the default stack (see
 * default-stack.ts: loopback-only unless USTACK_NIC is set). Change
 * `import net from 'node:net'` to `import net from 'ustack/net'` and the
 * same program runs on ustack. IPv4 only; no IPC paths.
 */
import { createNetModule } from '../socket/net.js';
import type { UstackSocket } from '../socket/net-socket.js';
import type { UstackServer } from '../socket/net-server.js';
import { defaultStack } from './default-stack.js';

export type { NetConnectOpts, ServerOpts, ListenOpts } from '../socket/net-args.js';

// The default stack opens when the first socket or server is made.
const net = createNetModule(defaultStack);

export type Socket = UstackSocket;
export type Server = UstackServer;
export type Stream = UstackSocket;

export const {
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
  _normalizeArgs,
  _setSimultaneousAccepts,
} = net;

export default net;
