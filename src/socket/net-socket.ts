/**
 * node:net's Socket over the stack's TCP: a stream Duplex with node 20's
 * connect handling (lib/net.js: argument checks in node's order, lookup,
 * reconnect of a closed socket), event order, error codes and readyState
 * semantics.
 *
 * Flow control is end to end: bytes stay in the TCP receive ring until the
 * stream asks for them (_read), so a paused or slow reader closes the
 * advertised window; _write hands bytes to the send ring and only completes
 * once the ring took all of them, so Writable's highWaterMark and 'drain'
 * follow the peer's window.
 *
 * A ustack socket has no libuv handle: `_handle` is always null, which is
 * what node's own modules (http, tls) check before they reach into one.
 */
import { Duplex, addAbortSignal, type DuplexOptions } from 'node:stream';
import { isIP } from 'node:net';
import { ADDRCONFIG } from 'node:dns';
import * as nodeNet from 'node:net';
import type { Connection, TcpErrorCode, TcpEvents } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { ipv4OfMapped, parseIpv6Address } from '../wire/ipv6.js';
import { whenReady, type LookupFunction, type SocketHost } from './host.js';
import { ConnectMultiple, attemptOrder, type MultiConnectSocket } from './connect-multiple.js';
import {
  blockListOption,
  checkConnectOptions,
  checkLookup,
  NODE_BEHAVIOUR,
  type BlockListLike,
  checkSocketOptions,
  connectArgs,
  dnsFamily,
  stripZone,
  type NetConnectOpts,
} from './net-args.js';
import {
  EPIPE_ENDED,
  ERR_INVALID_ADDRESS_FAMILY,
  ERR_INVALID_ARG_VALUE,
  ERR_INVALID_IP_ADDRESS,
  ERR_IP_BLOCKED,
  ERR_MISSING_ARGS,
  ERR_SOCKET_CLOSED,
  ERR_SOCKET_CLOSED_BEFORE_CONNECTION,
  ERR_USTACK_UNSUPPORTED,
  systemError,
  type SystemError,
} from '../errors/node-errors.js';
import { validateFunction, validateInt32, validateString, validateTimerDuration } from '../errors/validators.js';

/** Largest chunk handed to the stream per read. */
const READ_CHUNK = 64 * 1024;
/**
 * The zero-copy receive path: a socket whose reads move at least
 * STREAM_MIN bytes at a time lets TCP copy in-order payload straight into a
 * slab of READ_SLAB bytes (Connection.setReadTarget) and hands the stream
 * views of it, instead of TCP copying into its receive ring and this layer
 * copying out into a new Buffer. A socket that only ever gets small reads
 * (requests, responses) keeps no slab: the ring is pooled and empty when
 * idle, a slab would stay with the socket.
 */
const READ_SLAB = 128 * 1024;
const STREAM_MIN = 16 * 1024;
/**
 * A write at least this long that does not fit the send buffer's free space
 * is lent to TCP (Connection.lend): sent straight from the caller's Buffer,
 * never copied, and it completes once the peer has acknowledged it. node's
 * contract allows it (the chunk is the stream's until the write's callback),
 * and such a write would not have completed at once anyway: copied, it
 * would wait for room in the send ring. Anything else is copied into the
 * send ring and completes as soon as it is all there, as over the kernel.
 */
const LEND_MIN = 32 * 1024;


/** The server that accepted a socket: its connection count, which the socket's destroy lowers. */
export interface AcceptingServer {
  _connections: number;
  _emitCloseIfDrained(): void;
}

/** What socket.address() and friends report. */
export interface SocketName {
  address: string;
  family: string;
  port: number;
}

/**
 * The TCP events of a socket's connection: one small object whose methods
 * are shared, instead of five closures (and their context) per socket.
 */
class SocketEvents implements TcpEvents {
  constructor(readonly s: UstackSocket) {}
  onConnected(): void {
    this.s._onConnected();
  }
  onReadable(): void {
    // TCP reports readable data once per receive burst, at its end and before
    // the connection's output (Connection.process): one pull moves the burst
    // as one chunk (node reads up to 64 KiB per wake-up), and a request is
    // answered within the same poll, whose transmit flush carries the reply
    // with the ACK.
    this.s._pull();
  }
  onWritable(): void {
    this.s._flushPending();
  }
  onPeerClosed(): void {
    this.s._queuePull();
  }
  onClosed(error?: TcpErrorCode): void {
    this.s._onClosed(error);
  }
  onReadTargetFull(need: number): void {
    this.s._readTargetFull(need);
  }
}

// UstackSocket flag bits (UstackSocket._fl).
const S_READING = 1;
const S_ENDED = 2;
const S_REFD = 4;
const S_HOLDS_REF = 8;
const S_HAD_ERROR = 16;
const S_PULL_QUEUED = 32;
const S_EOF_SCHEDULED = 64;
const S_CONSUMER_WAITING = 128;
/** The pending write is lent to the connection (not copied): it completes once acknowledged. */
const S_LENDING = 256;
const S_NO_DELAY = 512;
const S_KEEP_ALIVE = 1024;
const S_RESET_ON_CLOSE = 2048;
/** An onread socket is reading (node's handle.reading). */
const S_ONREAD_READING = 4096;
/**
 * node's handle would be reading: set when the connection opens (unless the
 * socket is paused) without pulling anything yet; cleared, like S_READING,
 * when the stream pushes back. For liveness only (_updateRef).
 */
const S_WANT_READ = 8192;
/** Flags that describe one connection, cleared when a closed socket connects again. */
const S_PER_CONNECTION = S_READING | S_ENDED | S_HAD_ERROR | S_PULL_QUEUED | S_EOF_SCHEDULED | S_CONSUMER_WAITING | S_RESET_ON_CLOSE | S_ONREAD_READING | S_WANT_READ | S_LENDING;

/** What a stash slot holds once its view was pushed (no reference kept to the stream's chunk). */
const EMPTY_BUFFER = Buffer.alloc(0);

function queuedPull(s: UstackSocket): void {
  s._pullQueued = false;
  s._pull();
}

function onSocketEnd(this: UstackSocket): void {
  this._onEnd();
}

/**
 * EOF a turn after the last data (UstackSocket._pull). A function of the
 * module's, not a closure: a closure in _pull would make every call of it
 * allocate a context for the variables it captures (V8 allocates a
 * function's context on entry, whichever branch then runs), and V8 12.4+
 * leaves _pull interpreted in a bulk transfer (each call runs a few of its
 * bytecodes, too few to count as hot).
 */
function eofAfterData(s: UstackSocket, conn: Connection): void {
  s._eofTurn(conn);
}

function afterConnect(s: UstackSocket): void {
  s._afterConnect();
}

function emitClose(s: UstackSocket, hadError: boolean): void {
  s.emit('close', hadError);
}

/** node's writeAfterFIN: once the peer ended (allowHalfOpen off), a write is EPIPE, on the next tick. */
function writeAfterFIN(this: UstackSocket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as () => void);
  const callback = typeof encoding === 'function' ? encoding : cb;
  const err = EPIPE_ENDED();
  if (typeof callback === 'function') process.nextTick(callback as (e: Error) => void, err);
  this.destroy(err);
  return false;
}

type OnreadCallback = (nread: number, buf: Uint8Array) => boolean | void;

/** A TCP socket on a ustack stack (node:net Socket semantics). */
export class UstackSocket extends Duplex implements MultiConnectSocket {
  connecting = false;
  /** node's libuv handle; a ustack socket never has one. */
  _handle: null = null;
  /** The server that accepted this socket (node's socket.server). */
  server: AcceptingServer | null = null;
  _server: AcceptingServer | null = null;
  /** The last value given to setTimeout (node keeps it as a plain property). */
  timeout: number | undefined = undefined;
  /** options.blockList (node 22.13+): addresses connect() refuses with ERR_IP_BLOCKED. */
  blockList: BlockListLike | undefined = undefined;
  /** The host name connect() looked up. */
  _host: string | null = null;
  /** @internal the TCP connection once there is one. */
  _conn: Connection | null = null;
  /** The autoSelectFamily attempts under way (several addresses), else null. */
  private _multi: ConnectMultiple | null = null;
  /** The address connect() was given (a failed connect's error names it, as node's). */
  private _connectAddr: string | null = null;
  /** How the attempt _attempt() started failed at once (set by _connectFailed). */
  private _attemptFailure: { error: Error; attempted: boolean } | null = null;
  /** node's: `${address}:${port}` of each autoSelectFamily attempt (set when several addresses are tried). */
  declare autoSelectFamilyAttemptedAddresses: string[];
  _peername: SocketName | null = null;
  _sockname: SocketName | null = null;
  /**
   * @internal the connection's family as node reports it: 4; 6 (TCP over
   * IPv6); 46, IPv4 on an IPv6 socket (a v4-mapped destination, or accepted
   * by a dual-stack listener): addresses '::ffff:a.b.c.d', family 'IPv6'.
   */
  _af: 4 | 6 | 46 = 4;
  /** An IPv6 connection's local and remote addresses as text, taken when it is attached (its ids go with it). */
  private _text6: [string, string] | null = null;
  private _pendingChunk: Uint8Array | null = null;
  private _pendingOff = 0;
  private _pendingCb: ((err?: Error | null) => void) | null = null;
  private _bytesRead = 0;
  /** Bytes handed to the connection, counted when _write takes them (node's handle.bytesWritten). */
  private _dispatched = 0;
  private _timer: NodeJS.Timeout | null = null;
  private _keepAliveDelayMs = 0;
  /** options.onread: a buffer (or a function making one) the data goes into instead of the stream. */
  private _onreadBuf: Uint8Array | null = null;
  private _onreadGen: (() => Uint8Array) | null = null;
  private _onreadCb: OnreadCallback | null = null;
  private _finalCb: ((err?: Error | null) => void) | null = null;
  /** The slab TCP writes in-order bytes into (stream mode) or the onread buffer it writes them into; null: none. */
  private _rtBuf: Buffer | null = null;
  /** Where the slab's bytes not yet handed to the stream start. */
  private _rtStart = 0;
  /**
   * Views of slabs filled during a receive burst, waiting for _pull, in
   * order: _stash[_stashHead, _stashTail), in an array that only grows (no
   * storage reallocated per burst); null until first needed.
   */
  private _stash: Buffer[] | null = null;
  private _stashHead = 0;
  private _stashTail = 0;
  override readonly allowHalfOpen: boolean;
  private _fl = S_REFD;

  // Booleans as bits of one small integer (_fl): one field instead of eight.
  private get _reading(): boolean {
    return (this._fl & S_READING) !== 0;
  }
  private set _reading(v: boolean) {
    this._fl = v ? this._fl | S_READING : this._fl & ~S_READING;
  }
  private get _ended(): boolean {
    return (this._fl & S_ENDED) !== 0;
  }
  private set _ended(v: boolean) {
    this._fl = v ? this._fl | S_ENDED : this._fl & ~S_ENDED;
  }
  private get _refd(): boolean {
    return (this._fl & S_REFD) !== 0;
  }
  private set _refd(v: boolean) {
    this._fl = v ? this._fl | S_REFD : this._fl & ~S_REFD;
  }
  private get _holdsRef(): boolean {
    return (this._fl & S_HOLDS_REF) !== 0;
  }
  private set _holdsRef(v: boolean) {
    this._fl = v ? this._fl | S_HOLDS_REF : this._fl & ~S_HOLDS_REF;
  }
  private get _hadError(): boolean {
    return (this._fl & S_HAD_ERROR) !== 0;
  }
  private set _hadError(v: boolean) {
    this._fl = v ? this._fl | S_HAD_ERROR : this._fl & ~S_HAD_ERROR;
  }
  /** @internal a _pull is queued on the next tick (queuedPull). */
  get _pullQueued(): boolean {
    return (this._fl & S_PULL_QUEUED) !== 0;
  }
  set _pullQueued(v: boolean) {
    this._fl = v ? this._fl | S_PULL_QUEUED : this._fl & ~S_PULL_QUEUED;
  }
  private get _eofScheduled(): boolean {
    return (this._fl & S_EOF_SCHEDULED) !== 0;
  }
  private set _eofScheduled(v: boolean) {
    this._fl = v ? this._fl | S_EOF_SCHEDULED : this._fl & ~S_EOF_SCHEDULED;
  }
  /** The consumer called read() and found nothing since our last push. */
  private get _consumerWaiting(): boolean {
    return (this._fl & S_CONSUMER_WAITING) !== 0;
  }
  private set _consumerWaiting(v: boolean) {
    this._fl = v ? this._fl | S_CONSUMER_WAITING : this._fl & ~S_CONSUMER_WAITING;
  }

  /** @internal */
  readonly _hostRef: SocketHost;

  constructor(hostRef: SocketHost, options: (NetConnectOpts & DuplexOptions & { fd?: number; handle?: unknown }) | number = {}) {
    checkSocketOptions(typeof options === 'object' && options !== null ? (options as Record<string, unknown>) : undefined);
    // A number is node's legacy form of { fd }.
    const opts: NetConnectOpts & DuplexOptions & { fd?: number; handle?: unknown } =
      typeof options === 'number' ? { fd: options } : { ...(options ?? {}) };
    if (opts.fd !== undefined) {
      validateInt32(opts.fd, 'fd', 0);
      throw ERR_INVALID_ARG_VALUE('options.fd', opts.fd, 'is not supported by ustack (no kernel sockets)');
    }
    if (opts.handle !== undefined && opts.handle !== null) {
      throw ERR_INVALID_ARG_VALUE('options.handle', opts.handle, 'is not supported by ustack (no libuv handles)');
    }
    if (opts.keepAliveInitialDelay !== undefined && opts.keepAliveInitialDelay < 0) opts.keepAliveInitialDelay = 0;
    const allowHalfOpen = Boolean(opts.allowHalfOpen);
    // The options go to Duplex, as node's do (highWaterMarks...), except the
    // signal: Duplex would act on an aborted one before this class's fields exist.
    const { signal, ...duplexOptions } = opts;
    super({ ...duplexOptions, allowHalfOpen, emitClose: false, autoDestroy: true, decodeStrings: false });
    this._hostRef = hostRef;
    this.allowHalfOpen = allowHalfOpen;
    const onread = opts.onread as { buffer?: unknown; callback?: unknown } | null | undefined;
    if (
      onread !== null &&
      typeof onread === 'object' &&
      (onread.buffer instanceof Uint8Array || typeof onread.buffer === 'function') &&
      typeof onread.callback === 'function'
    ) {
      if (typeof onread.buffer === 'function') this._onreadGen = onread.buffer as () => Uint8Array;
      else this._onreadBuf = onread.buffer as Uint8Array;
      this._onreadCb = onread.callback as OnreadCallback;
    }
    if (opts.noDelay) this._fl |= S_NO_DELAY;
    if (opts.keepAlive) this._fl |= S_KEEP_ALIVE;
    this._keepAliveDelayMs = opts.keepAliveInitialDelay ? Math.floor(opts.keepAliveInitialDelay / 1000) * 1000 : 0;
    this.blockList = blockListOption((opts as { blockList?: unknown }).blockList, 'options.blockList');
    // Like node, a socket created without a handle is not readable until it connects.
    this.on('end', onSocketEnd);
    // An abort destroys the socket with an AbortError (at once if already aborted), as Duplex's own option does.
    if (signal !== undefined) addAbortSignal(signal, this);
  }

  // ------------------------------------------------------------ getters
  get _connecting(): boolean {
    return this.connecting;
  }
  get pending(): boolean {
    return this._conn === null || this.connecting;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  get bytesRead(): number {
    return this._bytesRead;
  }
  /** node's _bytesDispatched: what was handed to the connection. */
  get _bytesDispatched(): number {
    return this._dispatched;
  }
  /** Bytes handed to the connection plus those still queued in the stream (undefined on the prototype, as node's). */
  get bytesWritten(): number | undefined {
    const queued = (this as unknown as { writableBuffer?: unknown }).writableBuffer as Array<{ chunk: Buffer | string; encoding: BufferEncoding }> | undefined;
    if (!queued) return undefined;
    let bytes = this._dispatched;
    for (const el of queued) bytes += typeof el.chunk === 'string' ? Buffer.byteLength(el.chunk, el.encoding) : el.chunk.length;
    return bytes;
  }
  get remoteAddress(): string | undefined {
    return this._getpeername().address;
  }
  get remotePort(): number | undefined {
    return this._getpeername().port;
  }
  get remoteFamily(): string | undefined {
    return this._getpeername().family;
  }
  get localAddress(): string | undefined {
    return this._getsockname().address;
  }
  get localPort(): number | undefined {
    return this._getsockname().port;
  }
  get localFamily(): string | undefined {
    return this._getsockname().family;
  }
  get bufferSize(): number | undefined {
    return this._conn !== null || this.connecting ? this.writableLength : undefined;
  }

  _getpeername(): Partial<SocketName> {
    const conn = this._conn;
    if (conn === null || this.connecting) return this._peername ?? {};
    if (this._peername === null) this._peername = this._nameOf(conn, false);
    return this._peername;
  }

  _getsockname(): Partial<SocketName> {
    const conn = this._conn;
    if (conn === null) return {};
    if (this._sockname === null) this._sockname = this._nameOf(conn, true);
    return this._sockname;
  }

  /** One end of the connection as node names it. */
  private _nameOf(conn: Connection, local: boolean): SocketName {
    const port = local ? conn.localPort : conn.remotePort;
    if (this._af === 6) return { address: this._text6![local ? 0 : 1], family: 'IPv6', port };
    const address = ipToString(local ? conn.localAddr : conn.remoteAddr);
    return this._af === 4 ? { address, family: 'IPv4', port } : { address: `::ffff:${address}`, family: 'IPv6', port };
  }

  address(): Partial<SocketName> {
    return this._getsockname();
  }

  // ------------------------------------------------------------ connect
  connect(...args: unknown[]): this {
    const [options, cb] = connectArgs(args);
    if (cb !== null) this.once('connect', cb);
    if (options.port === undefined && (options.path === undefined || options.path === null)) {
      throw ERR_MISSING_ARGS('options', 'port', 'path');
    }
    if (this.write !== Duplex.prototype.write) this.write = Duplex.prototype.write;
    if (this.destroyed) this._reinitialize();
    if (options.path) {
      validateString(options.path, 'options.path');
      throw ERR_USTACK_UNSUPPORTED('Connecting to an IPC path (options.path)');
    }
    const target = checkConnectOptions(options, nodeNet.getDefaultAutoSelectFamily(), nodeNet.getDefaultAutoSelectFamilyAttemptTimeout());
    if (this._conn !== null || this.connecting) {
      // node hands the second connect to the same handle, which refuses it.
      const code = this.connecting ? 'EALREADY' : 'EISCONN';
      process.nextTick(() => this.destroy(systemError(code, 'connect', target.host, target.port)));
      return this;
    }
    this._touch();
    this._initOnreadBuffer();
    // No reference yet: like node's, a socket waiting for its lookup does not
    // keep the process alive (the lookup itself may: the stack's resolver does).
    this.connecting = true;
    if (isIP(target.host)) {
      const connectNT = (): void => {
        if (this.connecting) this._internalConnect(target.host, target.port, isIP(target.host), target.localAddress, target.localPort);
      };
      // The stack may still be acquiring its address (DHCP): connect once it has one.
      whenReady(this._hostRef, () => process.nextTick(connectNT), (err) => this.destroy(err));
      return this;
    }
    checkLookup(options.lookup);
    const dnsopts = { family: dnsFamily(options.family), hints: options.hints || 0, all: false };
    if (dnsopts.family !== 4 && dnsopts.family !== 6 && dnsopts.hints === 0) dnsopts.hints = ADDRCONFIG;
    this._host = target.host;
    const custom = options.lookup;
    const lookup: LookupFunction = custom ?? this._hostRef.lookup;
    const autoSelect = dnsopts.family !== 4 && dnsopts.family !== 6 && !target.localAddress && target.autoSelectFamily;
    // The stack's own resolver needs the stack's address (DHCP may still be running).
    const ready = custom === undefined ? this._hostRef.ready : undefined;
    const go = (): void => {
      if (!this.connecting) return;
      if (autoSelect) this._lookupAll(lookup, dnsopts, options, target);
      else this._lookupOne(lookup, dnsopts, options, target);
    };
    if (ready !== undefined) {
      whenReady(this._hostRef, go, (err) => this.destroy(err));
      return this;
    }
    try {
      go();
    } catch (e) {
      // dns.lookup refused its arguments (a host that is not a string, bad hints): thrown, as node's.
      this.connecting = false;
      this._updateRef();
      throw e;
    }
    return this;
  }

  /** A destroyed socket connects again: the stream and per-connection state start over, as node's initSocketHandle does. */
  private _reinitialize(): void {
    (this as unknown as { _undestroy(): void })._undestroy();
    this._conn = null;
    this._peername = null;
    this._sockname = null;
    this._af = 4;
    this._text6 = null;
    this._multi = null;
    this._connectAddr = null;
    // The counters are the connection's, as node's are its handle's.
    this._bytesRead = 0;
    this._dispatched = 0;
    this._fl &= ~S_PER_CONNECTION;
    this._pendingChunk = null;
    this._pendingCb = null;
    this._finalCb = null;
    this._rtBuf = null;
    this._stashHead = this._stashTail = 0;
  }

  private _lookupOne(lookup: LookupFunction, dnsopts: { family: unknown; hints: number }, options: NetConnectOpts, t: ReturnType<typeof checkConnectOptions>): void {
    lookup(t.host, dnsopts as { family?: number }, (err, ip, addressType) => {
      this.emit('lookup', err, ip, addressType, t.host);
      if (!this.connecting) return;
      if (err) process.nextTick(() => this.destroy(err));
      else if (typeof ip !== 'string' || !isIP(ip)) process.nextTick(() => this.destroy(ERR_INVALID_IP_ADDRESS(ip)));
      else if (addressType !== 4 && addressType !== 6) {
        process.nextTick(() => this.destroy(ERR_INVALID_ADDRESS_FAMILY(addressType, options.host, options.port)));
      } else {
        this._touch();
        this._internalConnect(ip, t.port, addressType, t.localAddress, t.localPort);
      }
    });
  }

  /**
   * node's autoSelectFamily lookup (all addresses, lookupAndConnectMultiple):
   * one valid address is connected to as without autoSelectFamily; several
   * are tried in turn by ConnectMultiple (connect-multiple.ts).
   */
  private _lookupAll(lookup: LookupFunction, dnsopts: { family: unknown; hints: number }, options: NetConnectOpts, t: ReturnType<typeof checkConnectOptions>): void {
    const all = { ...dnsopts, all: true };
    (lookup as unknown as (h: string, o: object, cb: (err: NodeJS.ErrnoException | null, addrs?: Array<{ address: string; family: number }>) => void) => void)(
      t.host,
      all,
      (err, addresses) => {
        if (!this.connecting) return;
        if (err) {
          this.emit('lookup', err, undefined, undefined, t.host);
          process.nextTick(() => this.destroy(err));
          return;
        }
        const list = addresses ?? [];
        for (const a of list) {
          this.emit('lookup', err, a.address, a.family, t.host);
          if (!this.connecting) return;
        }
        const order = attemptOrder(list);
        if (order.length === 0) {
          const a0 = list[0];
          if (a0 !== undefined && (typeof a0.address !== 'string' || !isIP(a0.address))) process.nextTick(() => this.destroy(ERR_INVALID_IP_ADDRESS(a0.address)));
          else if (a0 !== undefined) process.nextTick(() => this.destroy(ERR_INVALID_ADDRESS_FAMILY(a0.family, options.host, options.port)));
          return;
        }
        this._touch();
        if (order.length === 1) {
          this._internalConnect(order[0]!.address, t.port, order[0]!.family, t.localAddress, t.localPort);
          return;
        }
        this.autoSelectFamilyAttemptedAddresses = [];
        this._multi = new ConnectMultiple(this, order, t.port, t.localPort, t.autoSelectFamilyAttemptTimeout);
        this._multi.next();
      },
    );
  }

  /** @internal one autoSelectFamily attempt (ConnectMultiple): null when under way, else how it failed at once. */
  _attempt(address: string, port: number, family: 4 | 6, localPort: number | undefined): { error: Error; attempted: boolean } | null {
    this._attemptFailure = null;
    this._internalConnect(address, port, family, undefined, localPort);
    const f = this._attemptFailure;
    this._attemptFailure = null;
    return f;
  }

  /** @internal drops the autoSelectFamily attempt under way (timed out): its connection closes with no event. */
  _abandonAttempt(): void {
    const conn = this._conn;
    if (conn === null) return;
    conn.events = {};
    conn.close();
    this._conn = null;
    this._sockname = null;
    this._peername = null;
    this._releaseRef();
    this._hostRef.kick();
  }

  /**
   * A connect that fails before its connection exists: an autoSelectFamily
   * attempt records it (`attempted`: after 'connectionAttempt', so not a
   * bind's), a lone connect destroys the socket.
   */
  private _connectFailed(err: Error, attempted: boolean): void {
    if (this._multi !== null) this._attemptFailure = { error: err, attempted };
    else this.destroy(err);
  }

  /**
   * node's internalConnect: binds when asked (an address of the
   * destination's family, else EINVAL as node's bind/bind6), then connects.
   * An IPv6 destination makes an IPv6 connection, except an IPv4-mapped one
   * (::ffff:a.b.c.d), which goes over IPv4 and is reported as IPv6 (as an
   * AF_INET6 socket does).
   */
  private _internalConnect(address: string, port: number, addressType: number, localAddress: string | undefined, localPort: number | undefined): void {
    const endpoints = this._hostRef.endpoints;
    const bindError = (code: string): void => {
      this._connectFailed(systemError(code, 'bind', localAddress ?? (addressType === 6 ? '::' : '0.0.0.0'), localPort), false);
    };
    let remote4 = -1;
    let remote6: Uint8Array | null = null;
    let local4: number | undefined;
    let local6: Uint8Array | undefined;
    if (addressType === 6) {
      remote6 = parseIpv6Address(stripZone(address));
      // As Linux: a connection to :: goes to ::1.
      if (remote6.every((b) => b === 0)) remote6[15] = 1;
      remote4 = ipv4OfMapped(remote6);
      if (localAddress !== undefined || localPort !== undefined) {
        if (localAddress !== undefined && isIP(stripZone(localAddress)) !== 6) return bindError('EINVAL');
        const l = localAddress === undefined ? new Uint8Array(16) : parseIpv6Address(stripZone(localAddress));
        if (remote4 >= 0) {
          // An IPv4 connection: from a mapped address or any.
          const l4 = ipv4OfMapped(l);
          if (l4 < 0 && l.some((b) => b !== 0)) return bindError('EAFNOSUPPORT');
          local4 = l4 < 0 ? 0 : l4;
        } else {
          local6 = l;
          if (l.some((b) => b !== 0) && !endpoints.isLocalAddress6(l)) return bindError('EADDRNOTAVAIL');
        }
      }
    } else {
      // As Linux: a connection to 0.0.0.0 goes to 127.0.0.1.
      remote4 = parseIpv4Address(address) || 0x7f000001;
      if (localAddress !== undefined || localPort !== undefined) {
        if (localAddress !== undefined && isIP(localAddress) !== 4) return bindError('EINVAL');
        local4 = localAddress !== undefined ? parseIpv4Address(localAddress) : 0;
      }
    }
    if (local4 !== undefined && local4 !== 0 && !endpoints.isLocalAddress(local4)) return bindError('EADDRNOTAVAIL');
    // A failed connect's error names the address given (node's req.address), not where it went (0.0.0.0 reaches 127.0.0.1).
    this._connectAddr = address;
    this.emit('connectionAttempt', address, port, addressType);
    if (this.blockList?.check(address, addressType === 6 ? 'ipv6' : 'ipv4')) {
      this._connectFailed(ERR_IP_BLOCKED(address), true);
      return;
    }
    let conn: Connection;
    try {
      conn =
        remote6 !== null && remote4 < 0
          ? endpoints.tcp6Connect(remote6, port, {
              ...(local6 !== undefined && local6.some((b) => b !== 0) ? { localAddr: local6 } : {}),
              ...(localPort !== undefined ? { localPort } : {}),
            })
          : endpoints.tcpConnect(remote4, port, {
              ...(local4 !== undefined && local4 !== 0 ? { localAddr: local4 } : {}),
              ...(localPort !== undefined ? { localPort } : {}),
            });
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EINVAL';
      // A local port another socket holds fails node's bind(), before the connect.
      if (code === 'EADDRINUSE' && localPort !== undefined) bindError(code);
      else this._connectFailed(systemError(code, 'connect', address, port), true);
      return;
    }
    if ((this._fl & S_NO_DELAY) !== 0) conn.setNoDelay(true);
    if ((this._fl & S_KEEP_ALIVE) !== 0) conn.setKeepAlive(true, this._keepAliveDelayMs > 0 ? this._keepAliveDelayMs : undefined);
    this._attach(conn, addressType === 4 ? 4 : remote4 >= 0 ? 46 : 6);
    this._updateRef();
    this._hostRef.kick();
  }

  /** @internal binds this socket to a TCP connection (connecting or accepted). */
  _attach(conn: Connection, af: 4 | 6 | 46 = 4): void {
    this._conn = conn;
    this._af = af;
    const ep = this._hostRef.endpoints;
    this._text6 = af === 6 ? [ep.tcp6AddressText(conn.localAddr), ep.tcp6AddressText(conn.remoteAddr)] : null;
    conn.events = new SocketEvents(this);
  }

  /** @internal an accepted connection: already established, maybe with data waiting. */
  _accepted(conn: Connection, server: AcceptingServer, noDelay: boolean, keepAlive: boolean, keepAliveDelayMs: number, pauseOnConnect: boolean, af: 4 | 6 | 46 = 4): void {
    this.server = server;
    this._server = server;
    if (noDelay) {
      this._fl |= S_NO_DELAY;
      conn.setNoDelay(true);
    }
    if (keepAlive) {
      this._fl |= S_KEEP_ALIVE;
      this._keepAliveDelayMs = keepAliveDelayMs;
      conn.setKeepAlive(true, keepAliveDelayMs > 0 ? keepAliveDelayMs : undefined);
    }
    this._attach(conn, af);
    this._initOnreadBuffer();
    // As node's Socket made for an accepted handle, it counts as reading at
    // once (unless the server pauses it), which keeps the process alive. The
    // bytes themselves stay in the TCP ring until the stream asks for them.
    if (pauseOnConnect) this.pause();
    else this._fl |= S_WANT_READ;
    if (this._onreadCb !== null && !pauseOnConnect) this._onreadStart();
    this._updateRef();
    if (conn.readable > 0 || conn.peerFinished) process.nextTick(() => this._pull());
  }

  /** @internal */
  _onConnected(): void {
    if (!this.connecting) return;
    // Completed a turn later, after the poll that sends our ACK: on loopback
    // the server then sees 'connection' before the client sees 'connect',
    // the order node shows over the kernel's loopback.
    setImmediate(afterConnect, this);
  }

  /** @internal node's afterConnect: 'connect', then the writes and end() made meanwhile, then the first read. */
  _afterConnect(): void {
    if (this.destroyed || !this.connecting) return;
    this.connecting = false;
    if (this._multi !== null) {
      this._multi.connected();
      this._multi = null;
    }
    this._sockname = null;
    this._touch();
    this.emit('connect');
    this.emit('ready');
    if ((this._fl & S_RESET_ON_CLOSE) !== 0) {
      this.destroy();
      return;
    }
    this._flushPending();
    if (this._finalCb !== null) this._doFinal();
    // node's afterConnect starts the first read unless the socket is paused.
    if (!this.isPaused()) {
      this._fl |= S_WANT_READ;
      this.read(0);
    }
    this._updateRef();
    this._pull();
  }

  /** @internal */
  _onClosed(error: TcpErrorCode | undefined): void {
    this._releaseRef();
    if (error !== undefined) {
      const syscall = this.connecting ? 'connect' : 'read';
      const conn = this._conn;
      const err: SystemError =
        syscall === 'connect' && conn !== null
          ? systemError(error, 'connect', this._connectAddr ?? this._nameOf(conn, false).address, conn.remotePort)
          : systemError(error, syscall);
      if (this._multi !== null && syscall === 'connect') {
        // An autoSelectFamily attempt failed: the next address, if any.
        this._conn = null;
        this._sockname = null;
        this._peername = null;
        this._multi.failed(err);
        return;
      }
      this.connecting = false;
      // Data already received stays readable; the error follows it.
      this.destroy(err);
      return;
    }
    // A clean close: make sure the readable side finishes.
    this._pull();
    if (this._pendingCb !== null) {
      const cb = this._pendingCb;
      this._pendingCb = null;
      this._pendingChunk = null;
      this._fl &= ~S_LENDING;
      cb(EPIPE_ENDED());
    }
  }

  // ------------------------------------------------------------ reading
  override _read(): void {
    this._reading = true;
    if (!this._holdsRef && !this.connecting && this._conn !== null) this._updateRef();
    // Asynchronous, as over the kernel: data never appears synchronously
    // inside read() (undici's parser pauses and resumes around read() and
    // relies on that). Only when there is something to pull: otherwise the
    // next readable report pulls (the stream asks again after every push, and
    // a tick per push showed in the allocation profile of a request/response).
    const conn = this._conn;
    if (conn === null || conn.readable > 0 || conn.readTargetFilled > 0 || this._stashTail > 0 || conn.peerFinished) this._queuePull();
  }

  /** @internal one _pull on the next tick, however many times this is called before it. */
  _queuePull(): void {
    if (!this._pullQueued) {
      this._pullQueued = true;
      process.nextTick(queuedPull, this);
    }
  }


  /**
   * @internal Moves received bytes into the stream while it wants them: first
   * what TCP wrote into the reader's memory (slabs filled during the burst,
   * then the current slab's fill), then what is in the receive ring; then
   * arms the read target for what comes next, or stops it.
   */
  _pull(): void {
    const conn = this._conn;
    if (conn === null || this.destroyed || this.connecting) return;
    if (this._onreadCb !== null) {
      this._pullOnread(conn);
      return;
    }
    let moved = 0;
    let pushedBack = false;
    if (this._rtBuf !== null) this._stashFill(conn);
    const st = this._stash;
    if (st !== null) {
      while (this._reading && this._stashHead < this._stashTail) {
        const b = st[this._stashHead]!;
        st[this._stashHead++] = EMPTY_BUFFER;
        moved += b.length;
        // Counted before the push: a 'data' listener sees bytesRead include its chunk.
        this._bytesRead += b.length;
        if (!this.push(b)) {
          this._reading = false;
          pushedBack = true;
        }
      }
      if (this._stashHead === this._stashTail) this._stashHead = this._stashTail = 0;
    }
    const stashed = this._stashTail > 0;
    while (this._reading && !stashed && conn.readable > 0) {
      const n = Math.min(conn.readable, READ_CHUNK);
      const buf = Buffer.allocUnsafe(n);
      const got = conn.read(buf, 0, n);
      if (got === 0) break;
      moved += got;
      this._bytesRead += got;
      if (!this.push(got === n ? buf : buf.subarray(0, got))) {
        this._reading = false;
        pushedBack = true;
      }
    }
    if (pushedBack) {
      // node's readStop: the stream pushed back, the handle no longer counts as reading.
      this._fl &= ~S_WANT_READ;
      this._updateRef();
    }
    if (moved > 0) {
      this._touch();
      // Whatever the consumer found before, it has not seen these bytes yet.
      this._consumerWaiting = false;
    }
    // The next bytes straight into a slab while the stream keeps wanting
    // them and they come in quantity (a slab in use stays while it has room).
    if (this._reading && !stashed && conn.readable === 0 && !conn.peerFinished && (moved >= STREAM_MIN || (this._rtBuf !== null && conn.readTargetRoom > 0))) {
      if (this._rtBuf === null || conn.readTargetRoom < STREAM_MIN) this._newSlab(conn, 0);
    } else if (this._rtBuf !== null) {
      conn.clearReadTarget();
      this._rtBuf = null;
    }
    if (conn.readable === 0 && !stashed && conn.peerFinished && !this._ended) {
      // A consumer in paused mode (readableFlowing false: a 'readable'
      // listener, or pause()) that has not yet asked for more gets EOF a
      // turn later, as over the kernel, where EOF comes from a later read,
      // so 'end' does not land between the reads it is making now (undici's
      // parser relies on that). With no consumer at all, EOF goes now, as node's.
      const paused = this.readableFlowing === false && !this._consumerWaiting;
      if (moved > 0 || paused) {
        // Over the kernel the last data and EOF come from separate reads,
        // separate event-loop turns; consumers rely on that (undici resumes
        // its parser in between). EOF follows a turn after the data here too.
        if (!this._eofScheduled) {
          this._eofScheduled = true;
          setImmediate(eofAfterData, this, conn);
        }
        return;
      }
      this._endReadable();
    }
  }

  /** @internal the EOF _pull scheduled a turn after the last data (eofAfterData). */
  _eofTurn(conn: Connection): void {
    this._eofScheduled = false;
    if (this._conn === conn && conn.readable === 0 && this._stashTail === 0 && !this._ended && !this.destroyed) {
      this._endReadable();
    } else {
      this._pull();
    }
  }

  /** @internal TCP has a segment the read target has no room for (TcpEvents.onReadTargetFull). */
  _readTargetFull(need: number): void {
    const conn = this._conn;
    if (conn === null || this._onreadCb !== null || this._rtBuf === null) return;
    this._stashFill(conn);
    if (this._reading) this._newSlab(conn, need);
    else {
      conn.clearReadTarget();
      this._rtBuf = null;
    }
  }

  /** What TCP wrote into the slab since the last time, as a view at the end of the stash. */
  private _stashFill(conn: Connection): void {
    const n = conn.takeReadTarget();
    if (n === 0) return;
    const slab = this._rtBuf!;
    const view = Buffer.from(slab.buffer, slab.byteOffset + this._rtStart, n);
    this._rtStart += n;
    const st = (this._stash ??= []);
    if (this._stashTail === st.length) st.push(view);
    else st[this._stashTail] = view;
    this._stashTail++;
  }

  /** A fresh slab as the read target, with room for at least `need` bytes (its fill must have been taken). */
  private _newSlab(conn: Connection, need: number): void {
    const slab = Buffer.allocUnsafeSlow(need > READ_SLAB ? need : READ_SLAB);
    this._rtBuf = slab;
    this._rtStart = 0;
    conn.setReadTarget(slab, 0, slab.length);
  }

  override read(size?: number): any {
    this._onreadStart();
    const chunk = super.read(size);
    if (size !== 0) {
      this._consumerWaiting = chunk === null;
      if (chunk === null && this._conn !== null && this._conn.peerFinished && !this._ended && !this._pullQueued) {
        this._pullQueued = true;
        process.nextTick(queuedPull, this);
      }
    }
    return chunk;
  }

  private _endReadable(): void {
    this._ended = true;
    this._updateRef();
    this.push(null);
    // As node's onStreamRead on EOF: read(0) lets 'end' fire even when nobody reads.
    this.read(0);
  }

  /**
   * options.onread: the data goes into the user's buffer and to the
   * callback (called on the socket), never through the stream: TCP writes
   * in-order payload straight into the buffer (the read target) while the
   * socket reads; what did not fit, or came while it did not, is read from
   * the receive ring after it. Reading stops when the callback returns false
   * or the socket is paused, and starts again on resume() or read(), as
   * node's handle.readStop/readStart; a buffer function gives the next
   * buffer after each callback.
   */
  private _pullOnread(conn: Connection): void {
    while ((this._fl & S_ONREAD_READING) !== 0) {
      let buf: Uint8Array | null;
      let got = conn.takeReadTarget();
      if (got > 0) {
        buf = this._rtBuf!;
        this._rtBuf = null;
      } else {
        buf = this._onreadBuf;
        if (conn.readable === 0 || buf === null) break;
        got = conn.read(buf, 0, buf.length);
        if (got === 0) break;
      }
      this._bytesRead += got;
      this._touch();
      const more = this._onreadCb!.call(this, got, buf) !== false;
      if (this._onreadGen !== null) {
        const next = this._onreadGen();
        if (next instanceof Uint8Array) this._onreadBuf = next;
      }
      if (!more) {
        this._fl &= ~S_ONREAD_READING;
        this._updateRef();
      }
      if (this._conn !== conn) return;
    }
    const reading = (this._fl & S_ONREAD_READING) !== 0;
    if (!reading || conn.readable > 0 || this._onreadBuf === null) {
      conn.clearReadTarget();
      this._rtBuf = null;
    } else if (conn.readTargetFilled === 0) {
      // The next bytes straight into the caller's buffer.
      const buf = this._onreadBuf as Buffer;
      this._rtBuf = buf;
      conn.setReadTarget(buf, 0, buf.length);
    }
    if (reading && conn.readable === 0 && conn.readTargetFilled === 0 && conn.peerFinished && !this._ended) this._endReadable();
  }

  /** options.onread with a buffer function: node takes the first buffer when the socket gets its handle. */
  private _initOnreadBuffer(): void {
    if (this._onreadGen === null) return;
    const b = this._onreadGen();
    if (b instanceof Uint8Array) this._onreadBuf = b;
  }

  /** An onread socket starts reading (node's tryReadStart) unless it already does. */
  private _onreadStart(): void {
    if (this._onreadCb === null || this.connecting || this._conn === null || (this._fl & S_ONREAD_READING) !== 0) return;
    this._fl |= S_ONREAD_READING;
    this._updateRef();
    this._queuePull();
  }

  override pause(): this {
    if (this._onreadCb !== null && !this.connecting && (this._fl & S_ONREAD_READING) !== 0) {
      this._fl &= ~S_ONREAD_READING;
      this._updateRef();
    }
    return super.pause();
  }

  override resume(): this {
    this._onreadStart();
    return super.resume();
  }

  /** @internal */
  _onEnd(): void {
    // With allowHalfOpen off, Duplex ends our side; node then refuses writes with EPIPE.
    if (!this.allowHalfOpen) this.write = writeAfterFIN as this['write'];
  }

  // ------------------------------------------------------------ writing
  override _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    if (this._conn === null && !this.connecting) {
      cb(ERR_SOCKET_CLOSED());
      return;
    }
    this._dispatched += buf.length;
    this._pendingChunk = buf;
    this._pendingOff = 0;
    this._pendingCb = cb;
    if (!this._holdsRef) this._updateRef();
    if (!this.connecting) this._flushPending();
  }

  /** @internal */
  _flushPending(): void {
    const conn = this._conn;
    const chunk = this._pendingChunk;
    if (conn === null || chunk === null || this.connecting) return;
    if ((this._fl & S_LENDING) !== 0) {
      // Lent: done once the connection has given it back (all acknowledged).
      if (conn.lent > 0) return;
      this._fl &= ~S_LENDING;
      const cb = this._pendingCb!;
      this._pendingChunk = null;
      this._pendingCb = null;
      if (!this._reading) this._updateRef();
      cb();
      return;
    }
    if (this._pendingOff === 0 && chunk.length >= LEND_MIN && chunk.length > conn.writable && conn.lend(chunk, 0, chunk.length)) {
      this._fl |= S_LENDING;
      this._touch();
      return;
    }
    const n = conn.write(chunk, this._pendingOff, chunk.length - this._pendingOff);
    this._pendingOff += n;
    if (n > 0) this._touch();
    if (this._pendingOff === chunk.length) {
      const cb = this._pendingCb!;
      this._pendingChunk = null;
      this._pendingCb = null;
      if (!this._reading) this._updateRef();
      cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    // node defers the shutdown of a socket still connecting until 'connect';
    // one that never connected finishes at once on node 22+ (NODE_BEHAVIOUR).
    if (this._conn === null && !this.connecting && !NODE_BEHAVIOUR.finalWaitsForHandle) {
      cb();
      return;
    }
    this._finalCb = cb;
    if (!this.connecting && this._conn !== null) this._doFinal();
  }

  private _doFinal(): void {
    const cb = this._finalCb!;
    this._finalCb = null;
    this._conn?.shutdown();
    this._hostRef.kick();
    this._updateRef();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const wasConnecting = this.connecting;
    this.connecting = false;
    this._multi?.clearTimer();
    this._multi = null;
    this._clearTimer();
    const conn = this._conn;
    const hadError = err !== null && err !== undefined;
    // A write still waiting: before the connection existed it fails (node's
    // ERR_SOCKET_CLOSED_BEFORE_CONNECTION); one the connection was taking completes.
    const pendingCb = this._pendingCb;
    this._pendingCb = null;
    this._pendingChunk = null;
    this._finalCb = null;
    if (conn !== null) {
      this._getpeername();
      conn.events = {};
      if ((this._fl & S_RESET_ON_CLOSE) !== 0) conn.abort();
      else {
        // A write in progress may be lent from the application's Buffer,
        // which it may reuse once its callback runs (below): TCP keeps
        // (copies) only what it already sent, as the kernel keeps what a
        // write had given it, and drops the rest.
        if (conn.lent > 0) conn.returnLoan();
        conn.close();
      }
      this._hostRef.kick();
      this._conn = null;
      this._sockname = null;
    }
    this._fl &= ~(S_RESET_ON_CLOSE | S_LENDING);
    this._rtBuf = null;
    this._releaseRef();
    this._hadError = hadError;
    cb(err);
    const server = this._server;
    if (server !== null) {
      server._connections--;
      server._emitCloseIfDrained();
    }
    const finish = (): void => {
      if (pendingCb !== null) pendingCb(wasConnecting ? ERR_SOCKET_CLOSED_BEFORE_CONNECTION() : null);
      emitClose(this, hadError);
    };
    // Like node, whose 'close' for a socket with a connection comes from the
    // handle's close callback (the event loop's close phase, after
    // immediates), and on the next tick for one without.
    if (conn !== null) setImmediate(finish);
    else process.nextTick(finish);
  }

  // ------------------------------------------------------------ options
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', this.destroy);
  }

  /** Closes with a RST instead of a FIN (node's resetAndDestroy); a socket still connecting resets once connected. */
  resetAndDestroy(): this {
    if (this._conn !== null || this.connecting) {
      this._fl |= S_RESET_ON_CLOSE;
      if (!this.connecting) this.destroy();
    } else {
      this.destroy(ERR_SOCKET_CLOSED());
    }
    return this;
  }

  setNoDelay(enable?: unknown): this {
    // node: no argument means true; anything else by its truth value.
    const on = enable === undefined ? true : Boolean(enable);
    if (on === ((this._fl & S_NO_DELAY) !== 0)) return this;
    this._fl = on ? this._fl | S_NO_DELAY : this._fl & ~S_NO_DELAY;
    this._conn?.setNoDelay(on);
    return this;
  }

  setKeepAlive(enable?: unknown, initialDelayMsecs?: unknown): this {
    const on = Boolean(enable);
    // node keeps whole seconds (the kernel's TCP_KEEPIDLE unit).
    const delayMs = Math.floor(Number(initialDelayMsecs) / 1000) * 1000 || 0;
    if (on === ((this._fl & S_KEEP_ALIVE) !== 0) && (!on || delayMs === this._keepAliveDelayMs)) return this;
    this._fl = on ? this._fl | S_KEEP_ALIVE : this._fl & ~S_KEEP_ALIVE;
    this._keepAliveDelayMs = delayMs;
    this._conn?.setKeepAlive(on, delayMs > 0 ? delayMs : undefined);
    return this;
  }

  setTimeout(msecs: number, callback?: () => void): this {
    if (this.destroyed) return this;
    this.timeout = msecs;
    const ms = validateTimerDuration(msecs, 'msecs');
    this._clearTimer();
    if (ms === 0) {
      if (callback !== undefined) {
        validateFunction(callback, 'callback');
        this.removeListener('timeout', callback);
      }
    } else {
      this._timer = setTimeout(() => this._onTimeout(), ms);
      this._timer.unref();
      if (callback !== undefined) {
        validateFunction(callback, 'callback');
        this.once('timeout', callback);
      }
    }
    return this;
  }

  private _onTimeout(): void {
    this._timer = null;
    this.emit('timeout');
  }

  /** Activity restarts the idle timer (node's _unrefTimer). */
  _unrefTimer(): void {
    this._touch();
  }

  private _touch(): void {
    if (this._timer !== null) this._timer.refresh();
  }

  private _clearTimer(): void {
    if (this._timer !== null) clearTimeout(this._timer);
    this._timer = null;
  }

  ref(): this {
    if (!this._refd) {
      this._refd = true;
      if (this._holdsRef) this._hostRef.ref();
    }
    return this;
  }

  unref(): this {
    if (this._refd) {
      this._refd = false;
      if (this._holdsRef) this._hostRef.unref();
    }
    return this;
  }

  /**
   * Holds the process while the socket is active as libuv counts a TCP
   * handle active: connecting, reading (the stream asked for data and has
   * not reached EOF or pushed back), or writing. An idle connected socket —
   * paused, or past EOF with nothing to write — lets the process exit, as
   * with node's own.
   */
  _updateRef(): void {
    const conn = this._conn;
    const reading = this._onreadCb !== null ? (this._fl & S_ONREAD_READING) !== 0 : (this._fl & (S_READING | S_WANT_READ)) !== 0 && (this._fl & S_ENDED) === 0;
    const active = conn !== null && !this.destroyed && (this.connecting || reading || this._pendingChunk !== null || this._finalCb !== null);
    if (active) this._takeRef();
    else this._releaseRef();
  }

  private _takeRef(): void {
    if (this._holdsRef) return;
    this._holdsRef = true;
    if (this._refd) this._hostRef.ref();
  }

  private _releaseRef(): void {
    if (!this._holdsRef) return;
    this._holdsRef = false;
    if (this._refd) this._hostRef.unref();
  }
}
