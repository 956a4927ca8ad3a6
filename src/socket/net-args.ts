/**
 * node:net's options and argument handling: the option types, connect()'s
 * and listen()'s overloads normalised as node's normalizeArgs does, and
 * connect()'s validation with node's error codes.
 */
import { isIPv4 } from 'node:net';
import type { LookupFunction } from './host.js';
import { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE, ERR_MISSING_ARGS, validatePort } from '../errors/node-errors.js';

type ConnectListener = () => void;

export interface NetConnectOpts {
  port?: number | string;
  host?: string;
  localAddress?: string | null;
  localPort?: number | null;
  family?: number;
  lookup?: LookupFunction;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  timeout?: number;
  allowHalfOpen?: boolean;
  signal?: AbortSignal;
  onread?: { buffer: Uint8Array | (() => Uint8Array); callback: (nread: number, buf: Uint8Array) => boolean | void };
  path?: string | null;
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
  port?: number | string;
  host?: string;
  backlog?: number;
  exclusive?: boolean;
  signal?: AbortSignal;
  path?: string;
  ipv6Only?: boolean;
  reusePort?: boolean;
}

export function abortError(signal: AbortSignal): Error {
  const e = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

/** Normalises connect()'s overloads as node's normalizeArgs does. */
export function normalizeConnectArgs(args: unknown[]): [NetConnectOpts, ConnectListener | null] {
  if (args.length === 0) return [{}, null];
  const a0 = args[0];
  let opts: NetConnectOpts;
  let i = 1;
  if (a0 !== null && typeof a0 === 'object') {
    opts = a0 as NetConnectOpts;
  } else if (typeof a0 === 'string' && Number.isNaN(Number(a0))) {
    opts = { path: a0 };
  } else {
    opts = { port: a0 as number };
    if (args.length > 1 && typeof args[1] === 'string') {
      opts.host = args[1];
      i = 2;
    }
  }
  const cb = args.length > i ? args[args.length - 1] : undefined;
  return [opts, typeof cb === 'function' ? (cb as ConnectListener) : null];
}

/** Normalises listen()'s overloads: (port[, host][, backlog][, cb]), (options[, cb]), (cb). */
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

/**
 * What node calls a non-string `host` in connect()'s error: node 20 checks it
 * in its lookup as "hostname", node 22 and later validate "options.host" first.
 */
const HOST_ARG_NAME = Number(process.versions.node.split('.')[0]) >= 22 ? 'options.host' : 'hostname';

/**
 * Checks connect()'s options in node's order and with its errors; returns
 * the port. `path` and the socket's own state are the caller's to check first.
 */
export function validateConnectOptions(opts: NetConnectOpts): number {
  if (opts.port === undefined) throw ERR_MISSING_ARGS('options', 'port', 'path');
  if (typeof opts.port !== 'number' && typeof opts.port !== 'string') {
    throw ERR_INVALID_ARG_TYPE('options.port', 'one of type number or string', opts.port);
  }
  const port = validatePort(opts.port);
  if (opts.host !== undefined && typeof opts.host !== 'string') {
    throw ERR_INVALID_ARG_TYPE(HOST_ARG_NAME, 'of type string', opts.host);
  }
  // As node: an empty or null localAddress/localPort means none (undici passes null).
  if (opts.localAddress && !isIPv4(opts.localAddress)) {
    throw ERR_INVALID_ARG_VALUE('options.localAddress', opts.localAddress);
  }
  if (opts.localPort) validatePort(opts.localPort, 'options.localPort');
  if (opts.lookup !== undefined && typeof opts.lookup !== 'function') {
    throw ERR_INVALID_ARG_TYPE('options.lookup', 'of type function', opts.lookup);
  }
  if (opts.family !== undefined && opts.family !== 0 && opts.family !== 4 && opts.family !== 6) {
    throw ERR_INVALID_ARG_VALUE('options.family', opts.family, 'must be one of: 0, 4, 6');
  }
  return port;
}

/** connect()'s and createConnection()'s overloads. */
export type ConnectArgs =
  | [options: NetConnectOpts, connectListener?: () => void]
  | [port: number | string, host?: string, connectListener?: () => void]
  | [port: number | string, connectListener?: () => void];
