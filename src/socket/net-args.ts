/**
 * node:net's options and argument handling: the option types, the
 * overloads of connect() and listen() normalised as node's normalizeArgs
 * does, and the checks node makes before it connects, in node's order and
 * with its error codes.
 */
import { BlockList, isIP } from 'node:net';
import type { LookupFunction } from './host.js';
import { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_INVALID_IP_ADDRESS, validatePort } from '../errors/node-errors.js';
import { validateBoolean, validateFunction, validateInt32, validateNumber, validateString } from '../errors/validators.js';

type ConnectListener = () => void;

export interface NetConnectOpts {
  port?: number | string;
  host?: string;
  localAddress?: string | null;
  localPort?: number | null;
  family?: number | string;
  hints?: number;
  lookup?: LookupFunction;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  allowHalfOpen?: boolean;
  signal?: AbortSignal;
  onread?: { buffer: Uint8Array | (() => Uint8Array); callback: (nread: number, buf: Uint8Array) => boolean | void };
  path?: string | null;
  autoSelectFamily?: boolean;
  autoSelectFamilyAttemptTimeout?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ServerOpts {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  highWaterMark?: number;
}

export interface ListenOpts {
  port?: number | string | null;
  host?: string;
  backlog?: number;
  exclusive?: boolean;
  signal?: AbortSignal;
  path?: string;
  fd?: number;
  ipv6Only?: boolean;
  reusePort?: boolean;
}

/** Marks an argument array connect() already normalised (node's normalizedArgsSymbol). */
const NORMALIZED = Symbol('ustack.normalizedArgs');

export type NormalizedArgs<T> = [T, ConnectListener | null] & { [NORMALIZED]?: true };

/** node's toNumber: a non-negative number, else false. */
export function toNumber(x: unknown): number | false {
  const n = Number(x);
  return n >= 0 ? n : false;
}

/** A string that is not a non-negative number names a pipe (an IPC path). */
export function isPipeName(s: unknown): s is string {
  return typeof s === 'string' && toNumber(s) === false;
}

/**
 * node's normalizeArgs: (options[, cb]), (path[, cb]), ([port][, host][, cb])
 * as [options, cb]. Used by connect() and listen().
 */
export function normalizeArgs<T extends object = NetConnectOpts>(args: readonly unknown[]): NormalizedArgs<T> {
  let arr: NormalizedArgs<T>;
  if (args.length === 0) {
    arr = [{} as T, null];
    arr[NORMALIZED] = true;
    return arr;
  }
  const arg0 = args[0];
  let options: Record<string, unknown> = {};
  if (typeof arg0 === 'object' && arg0 !== null) {
    options = arg0 as Record<string, unknown>;
  } else if (isPipeName(arg0)) {
    options.path = arg0;
  } else {
    options.port = arg0;
    if (args.length > 1 && typeof args[1] === 'string') options.host = args[1];
  }
  const cb = args[args.length - 1];
  arr = [options as T, typeof cb === 'function' ? (cb as ConnectListener) : null];
  arr[NORMALIZED] = true;
  return arr;
}

/** connect()'s overloads as [options, cb] (for the TLS and register glue). */
export function normalizeConnectArgs(args: readonly unknown[]): [NetConnectOpts, ConnectListener | null] {
  const [options, cb] = normalizeArgs<NetConnectOpts>(args);
  return [options, cb];
}

/**
 * listen()'s overloads as one options object: (port[, host][, backlog][, cb]),
 * (options[, cb]), (cb) — for listen-on.ts, which hands them to a ustack Server.
 */
export function normalizeListenArgs(args: unknown[]): [ListenOpts, (() => void) | null] {
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as () => void) : null;
  const rest = cb ? args.slice(0, -1) : args;
  const a0 = rest[0];
  if (a0 === undefined || a0 === null) return [{ port: 0 }, cb];
  if (typeof a0 === 'object') return [a0 as ListenOpts, cb];
  const opts: ListenOpts = { port: a0 as number };
  if (typeof rest[1] === 'string') {
    opts.host = rest[1];
    if (typeof rest[2] === 'number') opts.backlog = rest[2];
  } else if (typeof rest[1] === 'number') {
    opts.backlog = rest[1];
  }
  return [opts, cb];
}

/** connect(...args) as [options, cb]: an array normalizeArgs made is taken as it is. */
export function connectArgs(args: readonly unknown[]): NormalizedArgs<NetConnectOpts> {
  const a0 = args[0];
  if (Array.isArray(a0) && (a0 as NormalizedArgs<NetConnectOpts>)[NORMALIZED] === true) return a0 as NormalizedArgs<NetConnectOpts>;
  return normalizeArgs<NetConnectOpts>(args);
}

/** What connect() takes from its options after node's checks. */
export interface ConnectTarget {
  host: string;
  port: number;
  localAddress: string | undefined;
  localPort: number | undefined;
  autoSelectFamily: boolean;
  /** The autoSelectFamily attempt timeout in ms: the option (at least 10, as node raises it), else node's default. */
  autoSelectFamilyAttemptTimeout: number;
}

/**
 * node's checks at the start of lookupAndConnect, in its order: local
 * address and port, port type and range, the autoSelectFamily options.
 */
export function checkConnectOptions(options: NetConnectOpts, autoSelectFamilyDefault: boolean, attemptTimeoutDefault = 250): ConnectTarget {
  const { localAddress, localPort } = options;
  let { autoSelectFamilyAttemptTimeout } = options;
  let { autoSelectFamily } = options;
  const port: unknown = options.port;
  if (localAddress && !isIP(localAddress)) throw ERR_INVALID_IP_ADDRESS(localAddress);
  if (localPort) validateNumber(localPort, 'options.localPort');
  if (port !== undefined) {
    if (typeof port !== 'number' && typeof port !== 'string') {
      throw ERR_INVALID_ARG_TYPE('options.port', 'one of type number or string', port);
    }
    validatePort(port);
  }
  // node 22 and later check the host's type here ('options.host'); node 20 leaves it to dns.lookup ('hostname').
  if (HOST_CHECKED_FIRST && options.host !== undefined && options.host !== null) validateString(options.host, 'options.host');
  if (autoSelectFamily !== undefined && autoSelectFamily !== null) validateBoolean(autoSelectFamily, 'options.autoSelectFamily');
  else autoSelectFamily = autoSelectFamilyDefault;
  if (autoSelectFamilyAttemptTimeout !== undefined && autoSelectFamilyAttemptTimeout !== null) {
    validateInt32(autoSelectFamilyAttemptTimeout, 'options.autoSelectFamilyAttemptTimeout', 1);
    if (autoSelectFamilyAttemptTimeout < 10) autoSelectFamilyAttemptTimeout = 10;
  } else autoSelectFamilyAttemptTimeout = attemptTimeoutDefault;
  return {
    host: options.host || 'localhost',
    port: Number(port) | 0,
    localAddress: localAddress || undefined,
    localPort: localPort || undefined,
    autoSelectFamily,
    autoSelectFamilyAttemptTimeout,
  };
}

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const HOST_CHECKED_FIRST = NODE_MAJOR >= 22;

/**
 * Where node's behaviour changed between the versions ustack runs on, it
 * behaves as the running node does:
 * - finalWaitsForHandle: end() on a socket that never connected waits for a
 *   connection on node 20 (_final checks `pending`), completes on node 22+
 *   (it checks `connecting`);
 * - maxConnectionsZeroDrops: maxConnections = 0 drops every connection on
 *   node 22+ (`!= null`), means "no limit" on node 20 (truthiness).
 */
export const NODE_BEHAVIOUR = {
  finalWaitsForHandle: NODE_MAJOR < 22,
  maxConnectionsZeroDrops: NODE_MAJOR >= 22,
};

/**
 * node:net's BlockList options (a socket's and a server's blockList, dgram's
 * sendBlockList/receiveBlockList) exist where node has BlockList.isBlockList
 * (22.13+); on older nodes the options are ignored, as node ignores them.
 */
export type BlockListLike = { check(address: string, family?: string): boolean };
export function blockListOption(value: unknown, name: string): BlockListLike | undefined {
  const isBlockList = (BlockList as unknown as { isBlockList?: (v: unknown) => boolean }).isBlockList;
  if (!value || typeof isBlockList !== 'function') return undefined;
  if (!isBlockList(value)) throw ERR_INVALID_ARG_TYPE(name, 'an net.BlockList', value); // node's wording
  return value as BlockListLike;
}

/** dns.lookup's family from a connect() family option ('IPv4' as server.address() gives it, or 4). */
export function dnsFamily(family: unknown): unknown {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return family;
}

/** node's Socket constructor refuses object modes: a socket carries bytes. */
export function checkSocketOptions(options: Record<string, unknown> | undefined): void {
  if (options?.objectMode) {
    throw ERR_INVALID_ARG_VALUE('options.objectMode', options.objectMode, 'is not supported');
  } else if (options?.readableObjectMode || options?.writableObjectMode) {
    const key = options.readableObjectMode ? 'readableObjectMode' : 'writableObjectMode';
    throw ERR_INVALID_ARG_VALUE(`options.${key}`, options.readableObjectMode || options.writableObjectMode, 'is not supported');
  }
  if (options?.keepAliveInitialDelay !== undefined) validateNumber(options.keepAliveInitialDelay, 'options.keepAliveInitialDelay');
}

export function checkLookup(lookup: unknown): void {
  if (lookup !== undefined && lookup !== null) validateFunction(lookup, 'options.lookup');
}

/** connect()'s and createConnection()'s overloads. */
export type ConnectArgs =
  | [options: NetConnectOpts, connectListener?: () => void]
  | [port: number | string, host?: string, connectListener?: () => void]
  | [port: number | string, connectListener?: () => void];

/** An IPv6 address without its zone (fe80::1%eth0): a stack is one scope. */
export function stripZone(address: string): string {
  const i = address.indexOf('%');
  return i < 0 ? address : address.slice(0, i);
}
