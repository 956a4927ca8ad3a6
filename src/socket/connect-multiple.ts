/**
 * node's autoSelectFamily (RFC 8305 Happy Eyeballs as node 20's lib/net.js
 * does it: lookupAndConnectMultiple, internalConnectMultiple,
 * afterConnectMultiple, internalConnectMultipleTimeout). The looked-up
 * addresses are tried one at a time, families alternating from the family
 * of the first valid answer; an attempt that has not failed within
 * `autoSelectFamilyAttemptTimeout` is abandoned ('connectionAttemptTimeout',
 * an ETIMEDOUT error kept) and the next one starts; the last attempt has no
 * such timer (the connection's own timeout ends it). Each attempt emits
 * 'connectionAttempt' and, failing, 'connectionAttemptFailed' with its
 * error; when none connects the socket is destroyed with an AggregateError
 * of every attempt's error (code: the first one's), or
 * ERR_SOCKET_CONNECTION_TIMEOUT when there is none.
 *
 * The socket runs the attempts (UstackSocket implements MultiConnectSocket);
 * this module only decides what is tried when.
 */
import { isIP } from 'node:net';
import { ERR_SOCKET_CONNECTION_TIMEOUT, aggregateError, systemError } from '../errors/node-errors.js';

export interface AttemptAddress {
  address: string;
  family: 4 | 6;
}

/**
 * The addresses to try from a lookup's answers: valid ones (an IP address
 * with family 4 or 6), each address once, the families alternating, the
 * first one's family first (node's lookupAndConnectMultiple).
 */
export function attemptOrder(answers: ReadonlyArray<{ address: unknown; family: unknown }>): AttemptAddress[] {
  const groups: [AttemptAddress[], AttemptAddress[]] = [[], []];
  let firstFamily = 0;
  for (const a of answers) {
    if (typeof a.address !== 'string' || isIP(a.address) === 0 || (a.family !== 4 && a.family !== 6)) continue;
    if (firstFamily === 0) firstFamily = a.family;
    const g = groups[a.family === firstFamily ? 0 : 1];
    if (!g.some((x) => x.address === a.address)) g.push({ address: a.address, family: a.family });
  }
  const out: AttemptAddress[] = [];
  for (let i = 0; i < Math.max(groups[0].length, groups[1].length); i++) {
    if (i < groups[0].length) out.push(groups[0][i]!);
    if (i < groups[1].length) out.push(groups[1][i]!);
  }
  return out;
}

/** What ConnectMultiple needs of the socket. */
export interface MultiConnectSocket {
  readonly connecting: boolean;
  readonly destroyed: boolean;
  emit(event: string, ...args: unknown[]): boolean;
  /** `${address}:${port}` of every attempt made, as node's socket lists them. */
  autoSelectFamilyAttemptedAddresses: string[];
  /**
   * Starts one attempt (emitting 'connectionAttempt' when it gets that far).
   * Returns null when it is under way, or the error it failed with at once
   * (`emitted`: whether 'connectionAttempt' was emitted, so the failure is
   * an attempt's, not a bind's).
   */
  _attempt(address: string, port: number, family: 4 | 6, localPort: number | undefined): { error: Error; attempted: boolean } | null;
  /** Abandons the attempt under way: its connection closed, no event. */
  _abandonAttempt(): void;
  destroy(err: Error): void;
}

export class ConnectMultiple {
  private current = 0;
  private timer: NodeJS.Timeout | null = null;
  readonly errors: Error[] = [];

  constructor(
    private readonly socket: MultiConnectSocket,
    readonly addresses: AttemptAddress[],
    private readonly port: number,
    private readonly localPort: number | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** The attempt under way (or last made). */
  get attempt(): AttemptAddress {
    return this.addresses[Math.max(0, this.current - 1)]!;
  }

  /** node's internalConnectMultiple: the next attempt, or the end. */
  next(): void {
    this.clearTimer();
    const s = this.socket;
    if (s.destroyed || !s.connecting) return;
    for (;;) {
      if (this.current === this.addresses.length) {
        s.destroy(this.errors.length === 0 ? ERR_SOCKET_CONNECTION_TIMEOUT() : aggregateError(this.errors));
        return;
      }
      const { address, family } = this.addresses[this.current++]!;
      s.autoSelectFamilyAttemptedAddresses.push(`${address}:${this.port}`);
      const failed = s._attempt(address, this.port, family, this.localPort);
      if (failed === null) break;
      this.errors.push(failed.error);
      if (failed.attempted) s.emit('connectionAttemptFailed', address, this.port, family, failed.error);
      if (s.destroyed || !s.connecting) return;
    }
    if (this.current < this.addresses.length) {
      this.timer = setTimeout(() => this.timedOut(), this.timeoutMs);
    }
  }

  /** node's afterConnectMultiple with an error: the attempt under way failed. */
  failed(error: Error): void {
    this.clearTimer();
    const { address, family } = this.attempt;
    this.errors.push(error);
    this.socket.emit('connectionAttemptFailed', address, this.port, family, error);
    this.next();
  }

  /** The attempt under way connected: no more timers. */
  connected(): void {
    this.clearTimer();
  }

  /** node's internalConnectMultipleTimeout. */
  private timedOut(): void {
    this.timer = null;
    const s = this.socket;
    if (s.destroyed || !s.connecting) return;
    const { address, family } = this.attempt;
    s.emit('connectionAttemptTimeout', address, this.port, family);
    this.errors.push(systemError('ETIMEDOUT', 'connect', address, this.port));
    s._abandonAttempt();
    this.next();
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
