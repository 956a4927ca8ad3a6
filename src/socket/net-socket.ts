/**
 * node:net's Socket over the stack's TCP: a stream Duplex with node 20's
 * connect handling, event order, error codes and readyState semantics.
 *
 * Flow control is end to end: bytes stay in the TCP receive ring until the
 * stream asks for them (_read), so a paused or slow reader closes the
 * advertised window; _write hands bytes to the send ring and only completes
 * once the ring took all of them, so Writable's highWaterMark and 'drain'
 * follow the peer's window.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import { isIP, isIPv4 } from 'node:net';
import type { Connection, TcpErrorCode, TcpEvents } from '../stack/transport-endpoints.js';
import { ipToString, parseIpv4Address } from '../wire/ipv4.js';
import { resolveIpv4, type SocketHost } from './host.js';
import { abortError, normalizeConnectArgs, validateConnectOptions, type NetConnectOpts } from './net-args.js';
import {
  EPIPE_ENDED,
  ERR_INVALID_ARG_TYPE,
  ERR_INVALID_ARG_VALUE,
  ERR_SOCKET_CLOSED,
  systemError,
  type SystemError,
} from '../errors/node-errors.js';

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
const READ_SLAB = 64 * 1024;
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

/** The server that accepted a socket, told when the socket closes (its connection count). */
export interface AcceptingServer {
  _connectionClosed(): void;
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

/** What a stash slot holds once its view was pushed (no reference kept to the stream's chunk). */
const EMPTY_BUFFER = Buffer.alloc(0);

function queuedPull(s: UstackSocket): void {
  s._pullQueued = false;
  s._pull();
}

function onSocketEnd(this: UstackSocket): void {
  this._onEnd();
}

/** A TCP socket on a ustack stack (node:net Socket semantics). */
export class UstackSocket extends Duplex {
  connecting = false;
  /** @internal the TCP connection once there is one. */
  _conn: Connection | null = null;
  private _pendingChunk: Uint8Array | null = null;
  private _pendingOff = 0;
  private _pendingCb: ((err?: Error | null) => void) | null = null;
  private _bytesRead = 0;
  private _bytesWritten = 0;
  private _timeoutMs: number | undefined = undefined;
  private _timer: NodeJS.Timeout | null = null;
  private _server: AcceptingServer | null = null;
  private _onread: NetConnectOpts['onread'] | null = null;
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

  constructor(hostRef: SocketHost, options: NetConnectOpts & DuplexOptions & { fd?: number } = {}) {
    if (options.fd !== undefined) throw ERR_INVALID_ARG_VALUE('options.fd', options.fd, 'is not supported by ustack (no kernel sockets)');
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      emitClose: false,
      autoDestroy: true,
      decodeStrings: false,
      ...(options.readableHighWaterMark !== undefined ? { readableHighWaterMark: options.readableHighWaterMark } : {}),
      ...(options.writableHighWaterMark !== undefined ? { writableHighWaterMark: options.writableHighWaterMark } : {}),
    });
    this._hostRef = hostRef;
    this.allowHalfOpen = options.allowHalfOpen ?? false;
    if (options.onread) this._onread = options.onread;
    // Like node, a socket created without a handle is not readable until it connects.
    this.on('end', onSocketEnd);
  }

  // ------------------------------------------------------------ getters
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
  get bytesWritten(): number {
    return this._bytesWritten + this.writableLength;
  }
  get remoteAddress(): string | undefined {
    return this._conn && !this.connecting ? ipToString(this._conn.remoteAddr) : undefined;
  }
  get remotePort(): number | undefined {
    return this._conn && !this.connecting ? this._conn.remotePort : undefined;
  }
  get remoteFamily(): string | undefined {
    return this._conn && !this.connecting ? 'IPv4' : undefined;
  }
  get localAddress(): string | undefined {
    return this._conn ? ipToString(this._conn.localAddr) : undefined;
  }
  get localPort(): number | undefined {
    return this._conn ? this._conn.localPort : undefined;
  }
  get localFamily(): string | undefined {
    return this._conn ? 'IPv4' : undefined;
  }
  get timeout(): number | undefined {
    return this._timeoutMs;
  }
  get bufferSize(): number {
    return this.writableLength;
  }

  address(): { address: string; family: string; port: number } | Record<string, never> {
    if (this._conn === null) return {};
    return { address: ipToString(this._conn.localAddr), family: 'IPv4', port: this._conn.localPort };
  }

  // ------------------------------------------------------------ connect
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    if (opts.path) throw ERR_INVALID_ARG_VALUE('options.path', opts.path, 'is not supported: ustack has no IPC sockets');
    if (this._conn !== null || this.connecting) {
      throw Object.assign(new Error('Socket is already connecting or connected'), { code: 'ERR_SOCKET_CONNECTING' });
    }
    if (this.destroyed) {
      // node re-initialises a destroyed socket; we do not support reuse.
      throw ERR_SOCKET_CLOSED();
    }
    const port = validateConnectOptions(opts);
    if (cb) this.once('connect', cb);
    if (opts.timeout) this.setTimeout(opts.timeout);
    const hostname = opts.host ?? 'localhost';
    this.connecting = true;
    this._takeRef();
    if (opts.signal) {
      if (opts.signal.aborted) {
        process.nextTick(() => this.destroy(abortError(opts.signal!)));
        return this;
      }
      const onAbort = (): void => {
        this.destroy(abortError(opts.signal!));
      };
      opts.signal.addEventListener('abort', onAbort, { once: true });
      this.once('close', () => opts.signal!.removeEventListener('abort', onAbort));
    }
    const ready = this._hostRef.ready;
    if (ready !== undefined) {
      // The stack is still acquiring its address (DHCP): connect once it has one.
      ready.then(
        () => this._resolveAndOpen(hostname, port, opts),
        (err: Error) => this.destroy(err),
      );
      return this;
    }
    this._resolveAndOpen(hostname, port, opts);
    return this;
  }

  private _resolveAndOpen(hostname: string, port: number, opts: NetConnectOpts): void {
    if (!this.connecting || this.destroyed) return;
    resolveIpv4(this._hostRef, hostname, opts.lookup, (err, address, family) => {
      if (!this.connecting || this.destroyed) return;
      if (!isIP(hostname)) this.emit('lookup', err, address, family, hostname);
      if (err) {
        this.destroy(err);
        return;
      }
      if (family === 6 || !isIPv4(address)) {
        this.destroy(systemError('EAFNOSUPPORT', 'connect', address, port));
        return;
      }
      this._open(address, port, opts);
    });
  }

  private _open(address: string, port: number, opts: NetConnectOpts): void {
    let conn: Connection;
    try {
      // No per-connection config: the connection shares the layer's, and
      // keeps these two settings in its own fields.
      conn = this._hostRef.endpoints.tcpConnect(parseIpv4Address(address), port, {
        ...(opts.localAddress ? { localAddr: parseIpv4Address(opts.localAddress) } : {}),
        ...(opts.localPort ? { localPort: opts.localPort } : {}),
      });
      if (opts.noDelay) conn.setNoDelay(true);
      if (opts.keepAlive) conn.setKeepAlive(true, opts.keepAliveInitialDelay ? opts.keepAliveInitialDelay : undefined);
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EINVAL';
      this.destroy(systemError(code, 'connect', address, port));
      return;
    }
    this._attach(conn);
    this._hostRef.kick();
  }

  /** @internal binds this socket to a TCP connection (connecting or accepted). */
  _attach(conn: Connection): void {
    this._conn = conn;
    conn.events = new SocketEvents(this);
  }

  /** @internal an accepted connection: already established, maybe with data waiting. */
  _accepted(conn: Connection, server: AcceptingServer): void {
    this._server = server;
    this._attach(conn);
    this._takeRef();
    if (conn.readable > 0 || conn.peerFinished) process.nextTick(() => this._pull());
  }

  /** @internal */
  _onConnected(): void {
    if (!this.connecting) return;
    this.connecting = false;
    this._touch();
    this._flushPending();
    if (this._finalCb !== null) this._doFinal();
    // Emitted a turn later, after the poll that sends our ACK: on loopback
    // the server then sees 'connection' before the client sees 'connect',
    // the order node shows over the kernel's loopback.
    setImmediate(() => {
      if (this.destroyed) return;
      this.emit('connect');
      this.emit('ready');
      this._pull();
    });
  }

  /** @internal */
  _onClosed(error: TcpErrorCode | undefined): void {
    this._releaseRef();
    if (error !== undefined) {
      const syscall = this.connecting ? 'connect' : 'read';
      const conn = this._conn;
      const err: SystemError =
        syscall === 'connect' && conn !== null
          ? systemError(error, 'connect', ipToString(conn.remoteAddr), conn.remotePort)
          : systemError(error, syscall);
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
    if (this._onread) {
      this._pullOnread(conn);
      return;
    }
    let moved = 0;
    if (this._rtBuf !== null) this._stashFill(conn);
    const st = this._stash;
    if (st !== null) {
      while (this._reading && this._stashHead < this._stashTail) {
        const b = st[this._stashHead]!;
        st[this._stashHead++] = EMPTY_BUFFER;
        moved += b.length;
        if (!this.push(b)) this._reading = false;
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
      if (!this.push(got === n ? buf : buf.subarray(0, got))) this._reading = false;
    }
    if (moved > 0) {
      this._bytesRead += moved;
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
      // listener, or pause()) gets EOF only once it asks for data again and
      // finds none, so 'end' never lands between its reads (undici's parser
      // asserts on that). With no consumer at all, EOF goes now, as node's.
      if (this.readableFlowing === false && !this._consumerWaiting) return;
      if (moved > 0) {
        // Over the kernel the last data and EOF come from separate reads,
        // separate event-loop turns; consumers rely on that (undici resumes
        // its parser in between). EOF follows a turn after the data here too.
        if (!this._eofScheduled) {
          this._eofScheduled = true;
          setImmediate(() => {
            this._eofScheduled = false;
            this._pull();
          });
        }
        return;
      }
      this._endReadable();
    }
  }

  /** @internal TCP has a segment the read target has no room for (TcpEvents.onReadTargetFull). */
  _readTargetFull(need: number): void {
    const conn = this._conn;
    if (conn === null || this._onread !== null || this._rtBuf === null) return;
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
    this.push(null);
    // As node's onStreamRead on EOF: read(0) lets 'end' fire even when nobody reads.
    this.read(0);
  }

  /**
   * The onread option: bytes go to the caller's buffer, no Buffer per read.
   * TCP writes in-order payload straight into it (the read target) while the
   * stream flows; what did not fit, or came while paused, is read from the
   * receive ring after it.
   */
  private _pullOnread(conn: Connection): void {
    const o = this._onread!;
    while (!this.isPaused()) {
      let buf: Uint8Array;
      let got = conn.takeReadTarget();
      if (got > 0) {
        buf = this._rtBuf!;
        this._rtBuf = null;
      } else {
        if (conn.readable === 0) break;
        buf = typeof o.buffer === 'function' ? o.buffer() : o.buffer;
        got = conn.read(buf, 0, buf.length);
        if (got === 0) break;
      }
      this._bytesRead += got;
      this._touch();
      if (o.callback(got, buf as Buffer) === false) {
        this.pause();
        break;
      }
    }
    if (this.isPaused() || conn.readable > 0) {
      conn.clearReadTarget();
    } else if (conn.readTargetFilled === 0) {
      // The next bytes straight into the caller's buffer.
      const buf = typeof o.buffer === 'function' ? o.buffer() : o.buffer;
      this._rtBuf = buf as Buffer;
      conn.setReadTarget(buf, 0, buf.length);
    }
    if (conn.readable === 0 && conn.readTargetFilled === 0 && conn.peerFinished && !this._ended) this._endReadable();
  }

  override resume(): this {
    super.resume();
    if (this._onread) process.nextTick(() => this._pull());
    return this;
  }

  /** @internal */
  _onEnd(): void {
    // With allowHalfOpen off, Duplex ends our side; node then refuses writes with EPIPE.
    if (!this.allowHalfOpen) {
      const write = this.write;
      this.write = ((chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
        // Like node's writeAfterFIN: a normal write until our side has ended too.
        if (!this.writableEnded) return Reflect.apply(write, this, [chunk, enc, cb]) as boolean;
        const callback = typeof enc === 'function' ? enc : cb;
        const err = EPIPE_ENDED();
        if (typeof callback === 'function') process.nextTick(callback as (e: Error) => void, err);
        this.destroy(err);
        return false;
      }) as this['write'];
    }
  }

  // ------------------------------------------------------------ writing
  override _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk;
    this._pendingChunk = buf;
    this._pendingOff = 0;
    this._pendingCb = cb;
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
      this._bytesWritten += chunk.length;
      const cb = this._pendingCb!;
      this._pendingChunk = null;
      this._pendingCb = null;
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
    this._bytesWritten += n;
    if (n > 0) this._touch();
    if (this._pendingOff === chunk.length) {
      const cb = this._pendingCb!;
      this._pendingChunk = null;
      this._pendingCb = null;
      cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    this._finalCb = cb;
    if (!this.connecting && this._conn !== null) this._doFinal();
  }

  private _doFinal(): void {
    const cb = this._finalCb!;
    this._finalCb = null;
    this._conn?.shutdown();
    this._hostRef.kick();
    cb();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this._clearTimer();
    this.connecting = false;
    const conn = this._conn;
    if (conn !== null) {
      conn.events = {};
      conn.close();
      this._hostRef.kick();
    }
    this._releaseRef();
    this._hadError = err !== null;
    cb(err);
    const server = this._server;
    // Like node, whose 'close' comes from the handle's close callback (the
    // event loop's close phase, after immediates), not on the next tick.
    setImmediate(() => {
      this.emit('close', this._hadError);
      if (server !== null) server._connectionClosed();
    });
  }

  // ------------------------------------------------------------ options
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  resetAndDestroy(): this {
    if (this._conn !== null && !this.connecting) {
      this._conn.abort();
      this._hostRef.kick();
      this._conn.events = {};
      this._conn = null;
      this.destroy();
    } else {
      this.destroy(ERR_SOCKET_CLOSED());
    }
    return this;
  }

  setNoDelay(noDelay = true): this {
    this._conn?.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this._conn?.setKeepAlive(enable, initialDelay > 0 ? initialDelay : undefined);
    return this;
  }

  setTimeout(ms: number, cb?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
      throw ERR_INVALID_ARG_TYPE('msecs', 'of type number', ms);
    }
    this._timeoutMs = ms;
    this._clearTimer();
    if (ms === 0) {
      if (cb) this.removeListener('timeout', cb);
    } else {
      if (cb) this.once('timeout', cb);
      this._timer = setTimeout(() => this._onTimeout(), ms);
      this._timer.unref();
    }
    return this;
  }

  private _onTimeout(): void {
    this._timer = null;
    this.emit('timeout');
  }

  /** Activity restarts the idle timer. */
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
