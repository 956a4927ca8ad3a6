/**
 * What the socket modules need from a stack. Kept as an interface so the
 * socket layer never imports the Stack class that exposes it.
 */
import type { NetStack } from '../stack/net-stack.js';

export interface SocketHost {
  readonly engine: NetStack;
  /** Keep the process alive (a listening server, an open socket). Counted. */
  ref(): void;
  unref(): void;
  /** Schedule a poll soon (after the application queued output). */
  kick(): void;
  /** DNS server for host-name lookups, dotted, if configured. */
  readonly dnsServer: string | undefined;
  /**
   * Resolves a host name through the stack's own DNS client, with node's
   * dns.lookup signature (IPv4 only). Absent: only numeric addresses and
   * 'localhost' resolve.
   */
  lookup?: LookupFunction;
  /** Pending while the stack has no address yet (DHCP); undefined when ready. */
  readonly ready?: Promise<void> | undefined;
}

export type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;
export type LookupFunction = (hostname: string, options: { family?: number; all?: boolean }, callback: LookupCallback) => void;
