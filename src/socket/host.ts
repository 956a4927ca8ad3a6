/**
 * What the socket modules need from a stack. An interface, so the socket
 * layer never imports the Stack class that implements it.
 */
import { isIPv4 } from 'node:net';
import type { TransportEndpoints } from '../stack/transport-endpoints.js';

export interface SocketHost {
  /** Connect, listen, bind, and the address and route questions a socket asks. */
  readonly endpoints: TransportEndpoints;
  /** Keep the process alive (a listening server, an open socket). Counted. */
  ref(): void;
  unref(): void;
  /** Schedule a poll soon (after the application queued output). */
  kick(): void;
  /**
   * Resolves a host name through the stack's own DNS client, with node's
   * dns.lookup signature and semantics: family 0/4/6 (A and AAAA), all,
   * hints (ADDRCONFIG, V4MAPPED), verbatim/order; localhost is ::1 and
   * 127.0.0.1, ip6-localhost ::1 (src/stack/services/dns.ts).
   */
  readonly lookup: LookupFunction;
  /** Pending while the stack has no address yet (DHCP); undefined when ready. */
  readonly ready?: Promise<void> | undefined;
}

export type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
export type LookupFunction = (hostname: string, options: { family?: number; all?: boolean; hints?: number; order?: string; verbatim?: boolean }, callback: LookupCallback) => void;

/** Resolves a host name to an IPv4 address string: a literal as itself, anything else through `lookup` or the host's resolver. */
export function resolveIpv4(host: SocketHost, hostname: string, lookup: LookupFunction | undefined, cb: LookupCallback): void {
  if (isIPv4(hostname)) {
    process.nextTick(cb, null, hostname, 4);
    return;
  }
  (lookup ?? host.lookup)(hostname, { family: 4 }, cb);
}

/**
 * Runs `go` at once when the host has its address, else once it has one
 * (DHCP), holding a reference on the host meanwhile, as a pending lookup
 * would; `fail` gets the error when the address never comes.
 */
export function whenReady(host: SocketHost, go: () => void, fail: (err: Error) => void): void {
  const ready = host.ready;
  if (ready === undefined) {
    go();
    return;
  }
  host.ref();
  ready.then(
    () => {
      host.unref();
      go();
    },
    (err: Error) => {
      host.unref();
      fail(err);
    },
  );
}
