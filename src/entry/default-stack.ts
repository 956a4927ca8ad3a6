/**
 * The default stack behind the drop-in modules (`ustack/dgram`, `ustack/net`).
 *
 * Opened lazily, on the first socket created, from the environment:
 *   USTACK_NIC           'tap:NAME', 'e1000:PCI', 'virtio:PCI' or 'xdp:IFNAME' (as Stack.open's nic); unset: loopback only (127.0.0.0/8)
 *   USTACK_ADDRESS       'A.B.C.D/len' or 'dhcp' (required with USTACK_NIC)
 *   USTACK_GATEWAY       default gateway
 *   USTACK_HOST_ADDRESS  TAP only: the kernel side's address
 *   USTACK_DNS           DNS server for host names (else the DHCP lease's)
 *
 * node's socket APIs are synchronous but Stack.open() is async, so this uses
 * Stack.openSync(): every configuration except DHCP is usable at once (the
 * NIC is opened synchronously); with USTACK_ADDRESS=dhcp the stack is
 * returned while the lease is being acquired and `stack.ready` is pending.
 * Sockets handle that like a slow name lookup: dgram's bind (explicit or
 * implicit) and net's connect/listen wait for `ready` before completing,
 * and a DHCP failure surfaces as their 'error' (ERR_USTACK_DHCP_TIMEOUT).
 *
 * The default stack holds no reference of its own: only sockets and servers
 * on it keep the process alive, as with node's modules.
 */
import { Stack, type StackOptions } from '../ustack.js';

let stack: Stack | null = null;

/** What the environment asks for. */
export function defaultStackOptions(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const opts: StackOptions = {};
  if (env.USTACK_NIC) {
    opts.nic = env.USTACK_NIC;
    if (env.USTACK_ADDRESS) opts.address = env.USTACK_ADDRESS;
    if (env.USTACK_GATEWAY) opts.gateway = env.USTACK_GATEWAY;
    if (env.USTACK_HOST_ADDRESS) opts.hostAddress = env.USTACK_HOST_ADDRESS;
  }
  if (env.USTACK_DNS) opts.dns = env.USTACK_DNS;
  return opts;
}

/**
 * The process-wide default stack, opened on first use (throws what
 * Stack.openSync throws, e.g. a TAP device that cannot be opened). Check
 * `ready` (a pending promise while DHCP runs, else undefined) before
 * completing an operation that needs an address.
 */
export function defaultStack(): Stack {
  if (stack === null) {
    const s = Stack.openSync(defaultStackOptions());
    // A DHCP acquisition holds a reference while it runs; the default stack
    // must not keep the process alive by itself (waiting sockets hold their own).
    if (s.ready !== undefined) s.unref();
    stack = s;
  }
  return stack;
}
