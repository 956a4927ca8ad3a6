/**
 * A veth pair for the AF_XDP tests: one end (`host`) in this network
 * namespace, where ustack attaches its XDP program and socket, the other
 * (`peer`) in a namespace of its own, where the kernel's tools (ping, nc,
 * curl, a node child) play the client. On 10.11.X.0/24 (freeSubnet24):
 *   .1  the kernel's own address on `host` (what XDP must leave to the kernel)
 *   .2  ustack's address on `host`
 *   .3  the peer's address in the namespace
 * The peer's TX checksum offload is off: a veth hands XDP a partially
 * checksummed frame as it is (xdp-nic.ts). Names are unique per process
 * (uniqueIfName), and remove() deletes the namespace and the pair. The
 * routes between the peer and both addresses on `host` are checked (ip route
 * get) to use the pair, each way.
 */
import { existsSync } from 'node:fs';
import * as nodeNet from 'node:net';
import { assertRouteOver, freeSubnet24, isRoot, run, runBounded, uniqueIfName } from './netns.js';
import { withTimeout } from './wait.js';

export interface VethNs {
  ns: string;
  host: string;
  peer: string;
  subnet: number;
  kernelAddr: string;
  ustackAddr: string;
  peerAddr: string;
  /** Runs a command in the peer's namespace, bounded. */
  inNs(cmd: string, args: readonly string[], opts?: { timeoutMs?: number; what?: string }): Promise<{ stdout: string; stderr: string }>;
  /** `ip -d link show host` has an XDP program line (prog/xdp). */
  xdpAttached(): boolean;
  remove(): void;
}

let nsCounter = 0;

/** Why AF_XDP tests cannot run here, or undefined. */
export function xdpUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (!isRoot()) return 'not running as root (XDP needs CAP_NET_ADMIN and CAP_BPF)';
  if (!existsSync('/sys/fs/bpf') && !existsSync('/proc/sys/net/core/bpf_jit_enable')) return 'this kernel has no BPF';
  try {
    run('ip', ['netns', 'list']);
  } catch (err) {
    return `ip netns is not usable: ${(err as Error).message}`;
  }
  return undefined;
}

/** `queues`: receive and transmit queues of each end (default 1). */
export function createVethNs(prefix: string, queues = 1): VethNs {
  const subnet = freeSubnet24();
  const host = uniqueIfName(prefix);
  const peer = uniqueIfName(`${prefix}p`);
  const ns = `ustack-${prefix}-${process.pid}-${nsCounter++}`;
  const base = `10.11.${subnet}`;
  const v: VethNs = {
    ns,
    host,
    peer,
    subnet,
    kernelAddr: `${base}.1`,
    ustackAddr: `${base}.2`,
    peerAddr: `${base}.3`,
    inNs: (cmd, args, opts = {}) =>
      runBounded('ip', ['netns', 'exec', ns, cmd, ...args], {
        timeoutMs: opts.timeoutMs ?? 30_000,
        what: opts.what ?? `${cmd} ${args.join(' ')} in ${ns}`,
      }),
    xdpAttached: () => /prog\/xdp/.test(run('ip', ['-d', 'link', 'show', 'dev', host])),
    remove: () => {
      for (const args of [['link', 'del', host], ['netns', 'del', ns]]) {
        try {
          run('ip', args);
        } catch {
          // already gone
        }
      }
    },
  };
  try {
    run('ip', ['netns', 'add', ns]);
    const q = ['numtxqueues', String(queues), 'numrxqueues', String(queues)];
    run('ip', ['link', 'add', host, ...q, 'type', 'veth', 'peer', 'name', peer, ...q, 'netns', ns]);
    run('ip', ['addr', 'add', `${v.kernelAddr}/24`, 'dev', host]);
    run('ip', ['link', 'set', host, 'up']);
    run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', ns, 'addr', 'add', `${v.peerAddr}/24`, 'dev', peer]);
    run('ip', ['-n', ns, 'link', 'set', peer, 'up']);
    run('ip', ['netns', 'exec', ns, 'ethtool', '-K', peer, 'tx', 'off']);
    // The peer's routes to both addresses on `host` leave over the peer end.
    for (const dst of [v.ustackAddr, v.kernelAddr]) {
      const route = run('ip', ['-n', ns, 'route', 'get', dst]);
      if (!route.includes(`dev ${peer}`)) throw new Error(`route to ${dst} in ${ns} does not leave over ${peer}: ${route}`);
    }
    // And this namespace's route to the peer (the kernel's clients) leaves over `host`.
    assertRouteOver(v.peerAddr, host);
  } catch (err) {
    v.remove();
    throw err;
  }
  return v;
}

/**
 * A TCP listener of the kernel's own on `address` (the kernel's address on
 * the host end), on a port the kernel picks: it answers what a peer sends,
 * once the peer ends, with `kernel got <text>` (ns-peer.mjs tcp-hello). The
 * AF_XDP tests use it to show the kernel keeps its own traffic.
 */
export async function listenKernelHello(address: string): Promise<{ server: nodeNet.Server; port: number }> {
  const server = nodeNet.createServer((s) => {
    s.setEncoding('utf8');
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => s.end(`kernel got ${got}`));
  });
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await withTimeout(listening, { timeoutMs: 10_000, what: `a kernel TCP listener on ${address}` });
  return { server, port: (server.address() as nodeNet.AddressInfo).port };
}
