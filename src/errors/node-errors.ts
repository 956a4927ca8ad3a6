/**
 * Errors shaped like node's own: system errors carry `errno` (negative, as
 * libuv reports it), `code`, `syscall` and, where node sets them, `address`
 * and `port`, with node's message format; argument errors carry node's
 * ERR_* codes, classes and messages.
 */
import { constants } from 'node:os';
import { inspect } from 'node:util';

export interface SystemError extends Error {
  errno: number;
  code: string;
  syscall: string;
  address?: string;
  port?: number;
}

const errnoOf = (code: string): number => {
  const n = (constants.errno as Record<string, number>)[code];
  return n === undefined ? -4094 /* UV_UNKNOWN */ : -n;
};

const UV_DESCRIPTIONS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ENETUNREACH: 'network is unreachable',
  EHOSTUNREACH: 'host is unreachable',
  EAFNOSUPPORT: 'address family not supported',
};

/** e.g. `listen EADDRINUSE: address already in use 0.0.0.0:80`, like node's uvExceptionWithHostPort. */
export function uvSystemError(code: string, syscall: string, address?: string, port?: number): SystemError {
  const desc = UV_DESCRIPTIONS[code] ?? code.toLowerCase();
  const where = address !== undefined ? ` ${address}${port !== undefined && port > 0 ? `:${port}` : ''}` : '';
  const e = new Error(`${syscall} ${code}: ${desc}${where}`) as SystemError;
  e.errno = errnoOf(code);
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined) e.port = port;
  return e;
}

/** e.g. `connect ECONNREFUSED 10.0.0.2:80`, like node's exceptionWithHostPort. */
export function systemError(code: string, syscall: string, address?: string, port?: number): SystemError {
  let details = '';
  if (address !== undefined && port !== undefined && port > 0) details = ` ${address}:${port}`;
  else if (address !== undefined) details = ` ${address}`;
  const e = new Error(`${syscall} ${code}${details}`) as SystemError;
  e.errno = errnoOf(code);
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined && port > 0) e.port = port;
  return e;
}

type Ctor = new (message: string) => Error;

/**
 * The one coded-error constructor: an Error (or TypeError, RangeError...)
 * carrying a Node-style `code`, for errors that have no ERR_* builder below.
 */
export function codedError(code: string, message: string, Base: Ctor = Error): Error & { code: string } {
  return nodeError(Base, code, message);
}

function nodeError(Base: Ctor, code: string, message: string): Error & { code: string } {
  const e = new Base(message) as Error & { code: string };
  e.code = code;
  // node shows the code in the name while building the stack, then restores it.
  Object.defineProperty(e, 'name', { value: `${Base.name}`, enumerable: false, writable: true, configurable: true });
  return e;
}

function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return ` Received ${value}`;
  if (typeof value === 'function') return ` Received function ${(value as { name?: string }).name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const ctor = (value as object).constructor;
    if (ctor?.name) return ` Received an instance of ${ctor.name}`;
    return ` Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return ` Received type ${typeof value} (${shown})`;
}

export function ERR_INVALID_ARG_TYPE(name: string, expected: string, actual: unknown): Error {
  const what = name.includes('.') ? 'property' : 'argument';
  return nodeError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" ${what} must be ${expected}.${describeReceived(actual)}`);
}

export function ERR_INVALID_ARG_VALUE(name: string, value: unknown, reason = 'is invalid'): Error {
  const what = name.includes('.') ? 'property' : 'argument';
  let shown = inspect(value);
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`;
  return nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${what} '${name}' ${reason}. Received ${shown}`);
}

export function ERR_OUT_OF_RANGE(name: string, range: string, value: unknown): Error {
  return nodeError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${inspect(value)}`);
}

export function ERR_SOCKET_BAD_PORT(name: string, port: unknown, allowZero = true): Error {
  const op = allowZero ? '>=' : '>';
  return nodeError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be ${op} 0 and < 65536.${describeReceived(port)}.`);
}

export function ERR_INVALID_IP_ADDRESS(ip: unknown): Error {
  return nodeError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(ip)}`);
}

/** node's connect with autoSelectFamily when no attempt left an error (every one was cut short). */
export function ERR_SOCKET_CONNECTION_TIMEOUT(): Error {
  return nodeError(Error, 'ERR_SOCKET_CONNECTION_TIMEOUT', 'Socket connection timeout');
}

/** node's NodeAggregateError: an AggregateError of `errors` (message empty) whose code is the first one's. */
export function aggregateError(errors: Error[]): AggregateError & { code?: string } {
  const e = new AggregateError(errors) as AggregateError & { code?: string };
  e.code = (errors[0] as { code?: string } | undefined)?.code;
  return e;
}

/** node's ERR_INVALID_ADDRESS_FAMILY: a lookup answered with a family that is neither 4 nor 6. */
export function ERR_INVALID_ADDRESS_FAMILY(family: unknown, host: unknown, port: unknown): Error {
  const e = nodeError(RangeError, 'ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${String(family)} ${String(host)}:${String(port)}`) as unknown as Error & {
    host: unknown;
    port: unknown;
  };
  e.host = host;
  e.port = port;
  return e;
}

/** node 22's ERR_IP_BLOCKED: a BlockList refused the address. */
export function ERR_IP_BLOCKED(ip: string): Error {
  return nodeError(Error, 'ERR_IP_BLOCKED', `IP(${ip}) is blocked by net.BlockList`);
}

export function ERR_SOCKET_CLOSED(): Error {
  return nodeError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed');
}

export function ERR_SOCKET_CLOSED_BEFORE_CONNECTION(): Error {
  return nodeError(Error, 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION', 'Socket closed before the connection was established');
}

export function ERR_SERVER_NOT_RUNNING(): Error {
  return nodeError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.');
}

export function ERR_SERVER_ALREADY_LISTEN(): Error {
  return nodeError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
}

export function ERR_STREAM_DESTROYED(method: string): Error {
  return nodeError(Error, 'ERR_STREAM_DESTROYED', `Cannot call ${method} after a stream was destroyed`);
}

export function ERR_MISSING_ARGS(...names: string[]): Error {
  const list = names.map((n) => `"${n}"`).join(' or ');
  return nodeError(TypeError, 'ERR_MISSING_ARGS', `The ${list} argument must be specified`);
}

export function ERR_SOCKET_DGRAM_NOT_RUNNING(): Error {
  return nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
}

export function ERR_SOCKET_DGRAM_IS_CONNECTED(): Error {
  return nodeError(Error, 'ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
}

export function ERR_SOCKET_DGRAM_NOT_CONNECTED(): Error {
  return nodeError(Error, 'ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
}

export function ERR_SOCKET_ALREADY_BOUND(): Error {
  return nodeError(Error, 'ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
}

export function ERR_SOCKET_BAD_TYPE(): Error {
  return nodeError(TypeError, 'ERR_SOCKET_BAD_TYPE', 'Bad socket type specified. Valid types are: udp4, udp6');
}

export function ERR_SOCKET_BUFFER_SIZE(code: string): Error {
  const e = nodeError(Error, 'ERR_SOCKET_BUFFER_SIZE', `Could not get or set buffer size: ${code}`);
  return e;
}

export function ERR_USTACK_UNSUPPORTED(what: string): Error {
  return nodeError(Error, 'ERR_USTACK_UNSUPPORTED', `${what} is not supported by ustack`);
}

/** The EPIPE node raises for writes after the peer ended and allowHalfOpen is off. */
export function EPIPE_ENDED(): SystemError {
  const e = new Error('This socket has been ended by the other party') as SystemError;
  e.code = 'EPIPE';
  e.errno = errnoOf('EPIPE');
  e.syscall = 'write';
  return e;
}

/** Validates a port like node's validatePort: numbers or numeric strings in range. */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (port === 0 && !allowZero)
  ) {
    throw ERR_SOCKET_BAD_PORT(name, port, allowZero);
  }
  return +port | 0;
}

export function ERR_BUFFER_OUT_OF_BOUNDS(name?: string): Error {
  return nodeError(
    RangeError,
    'ERR_BUFFER_OUT_OF_BOUNDS',
    name ? `"${name}" is outside of buffer bounds` : 'Attempt to access memory outside buffer bounds',
  );
}

export function ERR_SOCKET_BAD_BUFFER_SIZE(): Error {
  return nodeError(TypeError, 'ERR_SOCKET_BAD_BUFFER_SIZE', 'Buffer size must be a positive integer');
}

/**
 * node's ERR_SOCKET_BUFFER_SIZE SystemError with its context, e.g. "Could not
 * get or set buffer size: uv_recv_buffer_size returned EBADF (bad file descriptor)".
 */
export function ERR_SOCKET_BUFFER_SIZE_CTX(syscall: string, code: string, description: string): Error {
  const e = nodeError(Error, 'ERR_SOCKET_BUFFER_SIZE', `Could not get or set buffer size: ${syscall} returned ${code} (${description})`) as unknown as Error & {
    info: object;
    errno: number;
    syscall: string;
  };
  Object.defineProperty(e, 'name', { value: 'SystemError', enumerable: false, writable: true, configurable: true });
  e.info = { errno: errnoOf(code), code, message: description, syscall };
  e.errno = errnoOf(code);
  e.syscall = syscall;
  return e;
}
