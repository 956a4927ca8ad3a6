/**
 * node's own modules, patched in place so that node's internal callers land
 * on ustack. node:http, node:https, node:tls and the undici behind global
 * fetch reach node:net and node:tls through node's internal loader, which no
 * module-resolution hook sees; but they share the builtin module objects
 * with user code and look most functions up on them at call time
 * (`net.createConnection(opts)`, `tls.connect(...)`, undici's
 * `net.connect`/`tls.connect`). So the functions on those objects are
 * replaced, never the classes: node constructs net.Socket and net.Server
 * with ReflectApply from subclasses (TLSSocket, http.Server, tls.Server),
 * which a different class would break. Instead:
 *
 *   net.connect / net.createConnection   a ustack socket (IPC paths: node's)
 *   net.Server.prototype.listen          node's Server over a ustack listener
 *                                        (listen-on.ts; paths, handles, fds: node's)
 *   http.Agent.prototype.createConnection  node assigned net.createConnection
 *                                        here when http loaded; now it calls the
 *                                        patched one
 *   tls.connect                          node's TLS over a ustack socket
 *                                        (unless a `socket` or a `path` is given)
 *   dgram.createSocket / dgram.Socket    ustack's (nothing inside node uses them)
 *
 * then module.syncBuiltinESMExports() carries the new values to the named
 * exports of `import { connect } from 'node:tls'`. What is left on the
 * kernel is listed in src/entry/README.md.
 */
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type * as nodeNetTypes from 'node:net';
import type * as nodeTlsTypes from 'node:tls';
import type * as nodeHttpTypes from 'node:http';
import type * as nodeDgramTypes from 'node:dgram';
import { listenOn, listensOnKernelOnly } from '../../socket/listen-on.js';
import { normalizeConnectArgs } from '../../socket/net-args.js';
import type { NetModule } from '../../socket/net.js';
import type { DgramModule } from '../../socket/dgram.js';
import { connectTlsWith, normalizeTlsConnectArgs } from '../../socket/tls.js';

const require = createRequire(import.meta.url);
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** node's builtin module objects, the same objects node's internals hold. */
export const nodeNet = require('node:net') as Mutable<typeof nodeNetTypes>;
const nodeTls = require('node:tls') as Mutable<typeof nodeTlsTypes>;
const nodeHttp = require('node:http') as typeof nodeHttpTypes;
const nodeDgram = require('node:dgram') as Mutable<typeof nodeDgramTypes>;

type AnyFn = (...args: unknown[]) => unknown;

/** The functions replaced, as node had them (for IPC paths, and for tests). */
export interface NodeOriginals {
  netConnect: AnyFn;
  netCreateConnection: AnyFn;
  serverListen: AnyFn;
  httpAgentCreateConnection: AnyFn;
  tlsConnect: typeof nodeTlsTypes.connect;
  dgramCreateSocket: AnyFn;
  dgramSocket: unknown;
}

let originals: NodeOriginals | null = null;

/** node's own functions, once patchBuiltins() ran (undefined before). */
export function nodeOriginals(): NodeOriginals | undefined {
  return originals ?? undefined;
}

/**
 * Replaces the functions listed in the file comment; `net` and `dgram` are
 * the ustack modules to route them to (the default stack's, opened on
 * first use). Runs once per process; later calls do nothing.
 */
export function patchBuiltins(net: NetModule, dgram: DgramModule): void {
  if (originals !== null) return;
  const serverProto = nodeNet.Server.prototype as unknown as { listen: AnyFn };
  const agentProto = nodeHttp.Agent.prototype as unknown as { createConnection: AnyFn };
  const o: NodeOriginals = {
    netConnect: nodeNet.connect as AnyFn,
    netCreateConnection: nodeNet.createConnection as AnyFn,
    serverListen: serverProto.listen,
    httpAgentCreateConnection: agentProto.createConnection,
    tlsConnect: nodeTls.connect,
    dgramCreateSocket: nodeDgram.createSocket as AnyFn,
    dgramSocket: nodeDgram.Socket,
  };
  originals = o;

  function connect(this: unknown, ...args: unknown[]): unknown {
    const [opts] = normalizeConnectArgs(args);
    if (opts.path) return o.netConnect.apply(this, args);
    return (net.connect as AnyFn)(...args);
  }
  nodeNet.connect = connect as typeof nodeNet.connect;
  nodeNet.createConnection = connect as typeof nodeNet.createConnection;

  serverProto.listen = function listen(this: nodeNetTypes.Server, ...args: unknown[]): unknown {
    if (listensOnKernelOnly(args)) return o.serverListen.apply(this, args);
    return listenOn(net, this, ...args);
  };

  agentProto.createConnection = function createConnection(this: unknown, ...args: unknown[]): unknown {
    // Looked up now, as the patched function (node bound the original when http loaded).
    return (nodeNet.createConnection as AnyFn).apply(this, args);
  };

  nodeTls.connect = function tlsConnect(...args: unknown[]) {
    const [options] = normalizeTlsConnectArgs(args);
    if (options.path) return (o.tlsConnect as AnyFn)(...args);
    return connectTlsWith(net, o.tlsConnect, args);
  } as typeof nodeTls.connect;

  nodeDgram.createSocket = dgram.createSocket as unknown as typeof nodeDgram.createSocket;
  nodeDgram.Socket = dgram.Socket as unknown as typeof nodeDgram.Socket;

  syncBuiltinESMExports();
}
