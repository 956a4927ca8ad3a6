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
}
