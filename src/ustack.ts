/**
 * The public entry point: `Stack.open()` puts a NetStack on a NIC and drives
 * it in real time; `Stack.pair()` joins two stacks with an in-process link.
 */
import type { Nic } from './driver/nic.js';
import { TapNic } from './driver/tap-nic.js';
import { E1000Nic } from './driver/e1000-nic.js';
import { VirtioNic } from './driver/virtio-nic.js';
import { XdpNic } from './driver/xdp-nic.js';
import { MemoryNic } from './driver/memory-nic.js';
import { LoopbackNic } from './driver/loopback-nic.js';
import { CaptureNic } from './driver/capture-nic.js';
import { ImpairedNic, type ImpairOptions } from './driver/impair.js';
import { parseNicSpec } from './driver/nic-spec.js';
import { RealClock, type Clock } from './time/clock.js';
import { NetStack, type StackLimits } from './stack/net-stack.js';
import type { TransportEndpoints } from './stack/transport-endpoints.js';
import { PollLoop, type PollLoopOptions, type PollMode } from './runtime/poll-loop.js';
import { eventLoopProbe, keepFreedHeap, nativeByteKernels } from './driver/addon.js';
import { installByteKernels } from './wire/kernels.js';
import type { Interface, InterfaceStats } from './stack/iface/interface.js';
import type { TcpConfig } from './stack/tcp/connection.js';
import { ipToString, parseCidr, parseIpv4Address } from './wire/ipv4.js';
import { IPV6_ALL_NODES, ipv6Equal, ipv6ToString, parseIpv6Address, parseIpv6Cidr } from './wire/ipv6.js';
import type { Ipv6AddressConfig, Ipv6Config, Ipv6Layer } from './stack/iface/ipv6-layer.js';
import { createNetModule, type NetModule } from './socket/net.js';
import type { SocketHost } from './socket/host.js';
import { createDgramModule, type DgramModule } from './socket/dgram.js';
import { DhcpClient } from './stack/services/dhcp.js';
import { existingHostResolver, hostLookup } from './stack/services/dns.js';
import type { LookupFunction } from './socket/host.js';
import { ShardLink, joinShard, shardDescription } from './shard/worker.js';
import type { TcpLayerOptions } from './stack/tcp/tcp-layer.js';
import type { UdpLayerOptions } from './stack/udp/udp-layer.js';
import { codedError } from './errors/node-errors.js';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { networkInterfaces } from 'node:os';

// The addon's memcpy/checksum kernels for the data path's copies and sums
// (JavaScript loops where the addon is not built, or USTACK_NATIVE_BYTES=0).
installByteKernels(nativeByteKernels());

export interface StackOptions {
  /** 'tap:NAME', 'e1000:PCI[?access=vfio]', 'virtio:PCI[?access=vfio&queues=N&tso=off]', 'xdp:IFNAME[?queue=N|all&mode=native|generic&zerocopy=auto|on|off&busy=1&shared=1]'; omitted: only the loopback interface. */
  nic?: string;
  /**
   * 'A.B.C.D/len' or 'dhcp' (required with a nic), or several: at most one
   * IPv4 address (or 'dhcp') and any IPv6 addresses with prefix lengths and
   * 'slaac', e.g. ['10.11.0.2/24', 'fd00:11::2/64']. An IPv6 address or
   * 'slaac' turns IPv6 on (with a link-local address); without one the
   * interface is IPv4 only.
   */
  address?: string | string[];
  /** With address 'dhcp': give up after this many ms (default 30 000), and the first retransmission interval. */
  dhcp?: { timeoutMs?: number; initialRetransmitMs?: number };
  /** DNS server for host names (USTACK_DNS). */
  dns?: string;
  gateway?: string;
  /** TAP only: address(es) given to the kernel side: one IPv4, any IPv6 ('fd00:11::1/64'). */
  hostAddress?: string | string[];
  /**
   * TAP only: virtio_net_hdr offloads (TX checksum, TSO/GSO both ways: TCP
   * moves 64 KiB segments across the fd). Default true; false opens a plain TAP.
   */
  tapOffloads?: boolean;
  mtu?: number;
  impair?: ImpairOptions;
  /**
   * 'adaptive' (default: spin while frames flow, sleep on the NIC's wake-up
   * when idle) or 'busy' (never sleep: a core of its own); or the options
   * object, e.g. { mode: 'busy', sliceMs: 50 } (see PollLoopOptions). A busy
   * stack also makes glibc's malloc keep the memory it frees, process-wide
   * (src/driver/addon.ts keepFreedHeap), so the heap does not shrink and
   * regrow (brk) around each garbage collection of received Buffers.
   */
  poll?: PollMode | PollLoopOptions;
  /** Also write every frame to this pcap file (USTACK_PCAP does the same). */
  capture?: string;
  /** TCP defaults for every connection (buffer sizes, timers, congestion control...). */
  tcp?: Partial<TcpConfig>;
  /** Resource caps (ARP queues, reassembly, backlog, out-of-order data, socket buffers); overflows are counted in stats(). */
  limits?: StackLimits;
  /**
   * One NIC, many workers: in a shard worker (a process ShardOwner forked),
   * the stack on this worker's share of the owner's NIC. The owner process
   * calls ShardOwner.open() with the same options; the device options
   * (nic, hostAddress, mtu...) are the owner's, and `address` must match.
   */
  workers?: number;
}

export type StackStats = Record<string, Record<string, number>>;

function invalidArg(message: string, code = 'ERR_INVALID_ARG_VALUE'): TypeError & { code: string } {
  const e = new TypeError(message) as TypeError & { code: string };
  e.code = code;
  return e;
}

function parseAddress(text: string, what: string): { address: number; prefixLength: number } {
  if (typeof text !== 'string') throw invalidArg(`The "${what}" option must be of type string`, 'ERR_INVALID_ARG_TYPE');
  try {
    return parseCidr(text);
  } catch {
    throw invalidArg(`The "${what}" option must be an IPv4 address with a prefix length, like 10.0.0.2/24. Received '${text}'`);
  }
}

/** What the `address` option asks for. */
export interface AddressPlan {
  v4: { address: number; prefixLength: number } | null;
  dhcp: boolean;
  v6: Ipv6AddressConfig[];
  slaac: boolean;
}

/** Splits `address` (a string or an array of them) into its IPv4, 'dhcp', IPv6 and 'slaac' parts. */
export function parseAddresses(input: string | string[], what = 'address'): AddressPlan {
  const list = Array.isArray(input) ? input : [input];
  if (list.length === 0) throw invalidArg(`The "${what}" option must not be an empty array`);
  const plan: AddressPlan = { v4: null, dhcp: false, v6: [], slaac: false };
  for (const text of list) {
    if (typeof text !== 'string') throw invalidArg(`The "${what}" option must be of type string or an array of strings`, 'ERR_INVALID_ARG_TYPE');
    if (text === 'slaac') {
      plan.slaac = true;
      continue;
    }
    if (text === 'dhcp' || !text.includes(':')) {
      if (plan.v4 !== null || plan.dhcp) throw invalidArg(`The "${what}" option takes one IPv4 address (or 'dhcp'). Received ${JSON.stringify(input)}`);
      if (text === 'dhcp') plan.dhcp = true;
      else plan.v4 = parseAddress(text, what);
      continue;
    }
    let v6: { address: Uint8Array; prefixLength: number };
    try {
      v6 = parseIpv6Cidr(text);
    } catch {
      throw invalidArg(`The "${what}" option must be an address with a prefix length, like 10.0.0.2/24 or fd00::2/64. Received '${text}'`);
    }
    plan.v6.push(v6);
  }
  return plan;
}

/** The kernel side's addresses for a TAP: one IPv4 (as TapNic takes it) and IPv6 ones as text with prefix lengths. */
export function splitHostAddresses(input: string | string[]): { v4: string | undefined; v6: string[] } {
  const list = Array.isArray(input) ? input : [input];
  let v4: string | undefined;
  const v6: string[] = [];
  for (const text of list) {
    if (typeof text !== 'string') throw invalidArg('The "hostAddress" option must be of type string or an array of strings', 'ERR_INVALID_ARG_TYPE');
    if (text.includes(':')) {
      try {
        const c = parseIpv6Cidr(text);
        v6.push(`${ipv6ToString(c.address)}/${c.prefixLength}`);
      } catch {
        throw invalidArg(`The "hostAddress" option must be an address with a prefix length, like fd00::1/64. Received '${text}'`);
      }
    } else {
      if (v4 !== undefined) throw invalidArg(`The "hostAddress" option takes one IPv4 address. Received ${JSON.stringify(input)}`);
      v4 = text;
    }
  }
  return { v4, v6 };
}

function pollOptions(poll: PollMode | PollLoopOptions | undefined): PollLoopOptions {
  const o: PollLoopOptions = typeof poll === 'string' ? { mode: poll } : { ...(poll ?? {}) };
  if (o.mode !== undefined && o.mode !== 'adaptive' && o.mode !== 'busy') {
    throw invalidArg(`The "poll" mode must be 'adaptive' or 'busy'. Received '${String(o.mode)}'`);
  }
  for (const k of ['idleMs', 'sliceMs'] as const) {
    const v = o[k];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v))) {
      throw invalidArg(`The "poll.${k}" option must be a non-negative number. Received ${String(v)}`);
    }
  }
  return o;
}

/** The kernel's IPv4 addresses on an interface, dotted. */
function interfaceAddresses(ifname: string): string[] {
  return (networkInterfaces()[ifname] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address);
}

function interfaceHasAddress(ifname: string, address: number): boolean {
  return interfaceAddresses(ifname).includes(ipToString(address));
}

function interfaceHas6(ifname: string, address: Uint8Array): boolean {
  return (networkInterfaces()[ifname] ?? []).some((a) => a.family === 'IPv6' && ipv6Equal(parseIpv6Address(a.address.split('%')[0]!), 0, address));
}

/** The RFC 7217 secret of a stack on AF_XDP: fixed per interface and MAC, so its addresses stay the same across runs. */
function xdpStableSecret(ifname: string, mac: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`ustack xdp ${ifname} ${mac.toString(16)}`).digest());
}

/**
 * Keeps the XDP program's IPv6 map equal to the stack's addresses (all but
 * duplicates, tentative ones too: DAD's NS and NA name them), with ff02::1
 * when the stack does SLAAC (it needs the router advertisements; the
 * kernel then gets no all-nodes traffic on the interface).
 */
function divertIpv6(xdp: XdpNic, v6: Ipv6Layer, slaac: boolean, stats: InterfaceStats): void {
  const update = (): void => {
    const list = v6.addresses().filter((a) => a.state !== 'duplicate').map((a) => a.address);
    if (slaac) list.push(IPV6_ALL_NODES);
    xdp.setAddresses6(list);
  };
  const previous = v6.onAddressChange;
  v6.onAddressChange = (a) => {
    previous?.(a);
    // Runs while a packet is handled (DAD, SLAAC), where nothing may throw: a
    // map update the kernel refuses is counted and the program keeps the
    // addresses it had until the next change.
    try {
      update();
    } catch {
      stats.mcast_filter_errors++;
    }
  };
  update();
}

/**
 * AF_XDP shared-address mode: the address must be one the interface already
 * has (the kernel keeps answering ARP and ICMP for it), and the stack's
 * ephemeral ports lie above the kernel's own range
 * (net.ipv4.ip_local_port_range), so replies to either side's connections
 * reach the right stack.
 */
function sharedModeEphemeralPorts(nic: string, ifname: string, address: number): { low: number; high: number } {
  if (!interfaceHasAddress(ifname, address)) {
    const have = interfaceAddresses(ifname);
    throw invalidArg(
      `nic '${nic}': shared mode uses an address ${ifname} already has (${have.join(', ') || 'none'}); got ${ipToString(address)}`,
    );
  }
  let kernelHigh = 60999;
  try {
    const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(range[1])) kernelHigh = range[1]!;
  } catch {
    // Linux's default range, 32768-60999
  }
  if (kernelHigh > 65535 - 1024) {
    throw invalidArg(`nic '${nic}': shared mode needs ports above the kernel's ephemeral range (ip_local_port_range ends at ${kernelHigh}); lower it`);
  }
  return { low: kernelHigh + 1, high: 65535 };
}

export class Stack implements SocketHost {
  /** The protocol engine (for advanced use and tests). */
  readonly engine: NetStack;
  /** The engine as the sockets see it: connect, listen, bind, address and route questions. */
  readonly endpoints: TransportEndpoints;
  private readonly loop: PollLoop;
  private readonly captures: CaptureNic[];
  private closed = false;

  private constructor(
    engine: NetStack,
    captures: CaptureNic[],
    /** The NIC's interface, or the loopback interface on a loopback-only stack. */
    readonly iface: Interface,
    poll: PollMode | PollLoopOptions | undefined,
    private readonly dnsOption: string | undefined,
  ) {
    this.engine = engine;
    this.endpoints = engine;
    this.captures = captures;
    const pollOpts = pollOptions(poll);
    if (pollOpts.mode === 'busy') keepFreedHeap();
    this.loop = new PollLoop(engine, captures, { eventLoop: eventLoopProbe(), ...pollOpts });
    this.loop.start();
  }

  /**
   * Starts the capture USTACK_PCAP or `path` names (the option wins). A
   * refused or failing capture path fails the open: the stack is closed
   * (releasing its NIC) and the error thrown.
   */
  private startCapture(path: string | undefined): this {
    try {
      const pcap = process.env.USTACK_PCAP;
      if (pcap) this.capture(pcap);
      if (path) this.capture(path);
    } catch (e) {
      this.close().catch(() => {});
      throw e;
    }
    return this;
  }

  /**
   * Opens a NIC and starts the stack on it; with address 'dhcp' resolves once
   * a lease is bound (rejects with ERR_USTACK_DHCP_TIMEOUT otherwise).
   */
  static async open(opts: StackOptions = {}): Promise<Stack> {
    const stack = Stack.openSync(opts);
    if (stack.ready !== undefined) {
      try {
        await stack.ready;
      } catch (err) {
        await stack.close();
        throw err;
      }
    }
    return stack;
  }

  /**
   * Like open(), but returns the stack at once. With address 'dhcp' the
   * lease is still being acquired: `ready` settles when it is bound (the
   * drop-in modules' default stack uses this: sockets wait for `ready`).
   */
  static openSync(opts: StackOptions = {}): Stack {
    if (opts === null || typeof opts !== 'object') throw invalidArg('The "options" argument must be of type object', 'ERR_INVALID_ARG_TYPE');
    if (opts.workers !== undefined) return Stack.openShard(opts);
    if (opts.nic === undefined) return Stack.build(new RealClock(), null, 0, 0, 0, opts);
    const spec = parseNicSpec(opts.nic);
    if (opts.address === undefined) throw invalidArg('The "address" option is required with a nic', 'ERR_MISSING_OPTION');
    const plan = parseAddresses(opts.address);
    const useDhcp = plan.dhcp;
    const { address, prefixLength } = plan.v4 ?? { address: 0, prefixLength: 0 };
    const ipv6: Ipv6Config | undefined = plan.v6.length > 0 || plan.slaac ? { addresses: plan.v6, slaac: plan.slaac } : undefined;
    const gateway = opts.gateway === undefined ? 0 : parseIpv4Address(opts.gateway);
    const host = opts.hostAddress === undefined ? undefined : splitHostAddresses(opts.hostAddress);
    const clock = new RealClock();
    let nic: Nic;
    if (spec.kind === 'tap') {
      nic = TapNic.open({
        name: spec.name,
        ...(host?.v4 !== undefined ? { hostAddress: host.v4 } : {}),
        ...(host !== undefined && host.v6.length > 0 ? { hostAddresses6: host.v6 } : {}),
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
        ...(opts.tapOffloads !== undefined ? { offloads: opts.tapOffloads } : {}),
      });
    } else if (spec.kind === 'e1000') {
      nic = E1000Nic.open({
        pci: spec.pci,
        access: spec.access,
        ...(spec.tso !== undefined ? { tso: spec.tso } : {}),
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      });
    } else if (spec.kind === 'virtio') {
      nic = VirtioNic.open({
        pci: spec.pci,
        access: spec.access,
        ...(spec.tso !== undefined ? { tso: spec.tso } : {}),
        ...(spec.queues !== undefined ? { queues: spec.queues } : {}),
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      });
    } else if (spec.kind === 'xdp') {
      // The program sends the socket only what is addressed to the stack: it must know the address first.
      if (ipv6 !== undefined && spec.shared) throw invalidArg(`nic '${opts.nic}': IPv6 is not supported in AF_XDP shared-address mode yet (its program diverts IPv4 ports only)`);
      if (useDhcp) throw invalidArg(`nic '${opts.nic}': address 'dhcp' is not supported on AF_XDP yet; give the address`);
      if (!spec.shared && interfaceHasAddress(spec.ifname, address)) {
        // Every IPv4 packet to the address would go to the stack: the kernel would lose its own traffic (SSH too).
        throw invalidArg(
          `nic '${opts.nic}': ${ipToString(address)} is the kernel's own address on ${spec.ifname}; give the stack another address, or share this one with ${'`'}xdp:${spec.ifname}?shared=1${'`'}`,
        );
      }
      for (const a of plan.v6) {
        if (interfaceHas6(spec.ifname, a.address)) {
          throw invalidArg(`nic '${opts.nic}': ${ipv6ToString(a.address)} is the kernel's own address on ${spec.ifname}; give the stack another address`);
        }
      }
      const ephemeral = spec.shared ? sharedModeEphemeralPorts(opts.nic, spec.ifname, address) : undefined;
      const xdp = XdpNic.open({
        ifname: spec.ifname,
        queue: spec.queue,
        mode: spec.mode,
        zerocopy: spec.zerocopy,
        busyPoll: spec.busyPoll,
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
        ...(ephemeral ? { shared: { ephemeralLow: ephemeral.low, ephemeralHigh: ephemeral.high } } : {}),
      });
      let stack: Stack;
      try {
        xdp.setAddresses([address]);
        // The kernel keeps IPv6 on the interface, with a link-local address
        // from the same MAC: the stack's identifiers are RFC 7217 stable ones
        // (a secret from the interface), so the two never collide.
        const ipv6Xdp = ipv6 === undefined ? undefined : { ...ipv6, stableSecret: xdpStableSecret(spec.ifname, xdp.mac) };
        stack = Stack.build(clock, xdp, address, prefixLength, gateway, {
          ...opts,
          ...(ephemeral ? { ephemeralPorts: ephemeral } : {}),
          ...(ipv6Xdp ? { ipv6: ipv6Xdp } : {}),
        });
        const v6 = stack.iface.v6;
        if (v6 !== null) divertIpv6(xdp, v6, plan.slaac, stack.iface.stats);
      } catch (err) {
        xdp.close().catch(() => {});
        throw err;
      }
      if (ephemeral) {
        // Shared mode: the program diverts exactly the ports the stack listens on.
        const engine = stack.engine;
        engine.onPortsChanged = () => xdp.setPorts(engine.boundPorts());
        xdp.setPorts(engine.boundPorts());
      }
      return stack;
    } else {
      throw invalidArg(`nic '${opts.nic}' cannot be opened on its own; use Stack.pair() for an in-process link`);
    }
    const stack = Stack.build(clock, nic, address, prefixLength, gateway, { ...opts, ...(ipv6 ? { ipv6 } : {}) });
    if (useDhcp) stack.startDhcp(opts.dhcp ?? {});
    return stack;
  }

  /** In a shard worker: its place among the owner's workers, and how many there are. */
  shard: { place: number; workers: number } | null = null;

  /**
   * A shard worker's stack (see StackOptions.workers): its NIC is the
   * owner's rings (ShmNic); its TCP announces connections to the owner and
   * chooses ephemeral ports whose replies are steered back to it. It takes
   * new flows one event-loop turn after this returns (listen right after
   * Stack.open resolves), and exits when the owner is gone, as node:cluster
   * workers do when their primary dies.
   */
  private static openShard(opts: StackOptions): Stack {
    if (Array.isArray(opts.address)) throw invalidArg('The "address" option takes one IPv4 address with workers (IPv6 is not supported in shards yet)');
    const description = shardDescription();
    if (description === null) {
      throw codedError(
        'ERR_USTACK_SHARD_OWNER',
        'Stack.open({ workers }) opens a shard worker\'s stack, and this process is no worker: the owner process calls ShardOwner.open() with the same options, which forks the workers',
      );
    }
    if (opts.address !== undefined && opts.address !== 'dhcp') {
      const { address, prefixLength } = parseAddress(opts.address, 'address');
      if (address !== description.address || prefixLength !== description.prefixLength) {
        throw invalidArg(`The "address" option (${opts.address}) differs from the owner's (${ipToString(description.address)}/${description.prefixLength})`);
      }
    }
    const shard = joinShard(description);
    let stack: Stack;
    try {
      stack = Stack.build(new RealClock(), shard.nic, description.address, description.prefixLength, description.gateway, {
        ...opts,
        // Receiving takes the owner's slots, never this worker's: all of them may transmit.
        rxReserve: 0,
        tcpHooks: shard.tcpHooks,
        udpHooks: shard.udpHooks,
        ephemeralPorts: { low: description.ephemeralLow, high: description.ephemeralHigh },
      });
    } catch (err) {
      shard.nic.close().catch(() => {});
      throw err;
    }
    stack.shard = { place: description.place, workers: description.workers };
    const link = new ShardLink(
      () => stack.stats(),
      () => {
        stack.close().finally(() => process.exit(0));
      },
    );
    setImmediate(() => link.ready());
    return stack;
  }

  /** The DHCP client when opened with address 'dhcp'. */
  dhcp: DhcpClient | null = null;
  /** Pending while a DHCP lease is being acquired; undefined once the stack is usable. */
  ready: Promise<void> | undefined;
  private rejectReady: ((err: Error) => void) | null = null;

  private startDhcp(opts: { timeoutMs?: number; initialRetransmitMs?: number }): void {
    this.ref(); // acquiring a lease keeps the process alive, like a pending connect
    this.ready = new Promise<void>((resolve, reject) => {
      const settle = (): void => {
        this.rejectReady = null;
        this.unref();
      };
      this.rejectReady = (err) => {
        settle();
        reject(err);
      };
      this.dhcp = new DhcpClient(this.engine, this.iface, {
        ...opts,
        kick: () => this.kick(),
        onBound: () => {
          if (this.rejectReady === null) return;
          settle();
          this.ready = undefined;
          resolve();
        },
        onError: (err) => this.rejectReady?.(err),
      });
    });
    this.ready.catch(() => {});
    this.dhcp!.start();
  }

  /** DNS server for host names: the `dns` option, else the DHCP lease's first one. */
  get dnsServer(): string | undefined {
    return this.dnsOption ?? this.dhcp?.dnsServers[0];
  }

  private lookupFn: LookupFunction | null = null;

  /** dns.lookup-style resolver through the stack's own DNS client (used by net and dgram). */
  get lookup(): LookupFunction {
    if (this.lookupFn === null) this.lookupFn = hostLookup(this) as LookupFunction;
    return this.lookupFn;
  }

  private dgramModule: DgramModule | null = null;

  /** node:dgram-compatible module on this stack. */
  get dgram(): DgramModule {
    if (this.dgramModule === null) this.dgramModule = createDgramModule(this);
    return this.dgramModule;
  }

  /**
   * Two stacks joined by an in-process Ethernet link, 10.0.0.1/24 and
   * 10.0.0.2/24 unless addresses are given (each end's as the `address`
   * option takes them: IPv6 ones too); impairments apply to both
   * directions of both ends.
   */
  static async pair(
    impair?: ImpairOptions,
    opts: {
      addresses?: [string | string[], string | string[]];
      mtu?: number;
      poll?: PollMode | PollLoopOptions;
      tcp?: Partial<TcpConfig>;
      limits?: StackLimits;
      /** veth-like offloads on the in-process link: no checksums computed, TCP in 64 KiB super-frames (MemoryNic `offloads`). */
      offloads?: boolean;
    } = {},
  ): Promise<[Stack, Stack]> {
    if (opts.offloads && impair?.corrupt) {
      // Frames with offloads carry no checksum a receiver could check.
      throw invalidArg('The "offloads" option cannot be combined with the "corrupt" impairment');
    }
    const [na, nb] = MemoryNic.pair({ ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}), ...(opts.offloads ? { offloads: true } : {}) });
    const addrs = opts.addresses ?? ['10.0.0.1/24', '10.0.0.2/24'];
    const clock = new RealClock();
    const end = (text: string | string[], what: string): { address: number; prefixLength: number; ipv6?: Ipv6Config } => {
      if (typeof text === 'string') return parseAddress(text, what);
      const plan = parseAddresses(text, what);
      if (plan.dhcp) throw invalidArg(`The "${what}" option cannot be 'dhcp' on an in-process link`);
      return { ...(plan.v4 ?? { address: 0, prefixLength: 0 }), ...(plan.v6.length > 0 || plan.slaac ? { ipv6: { addresses: plan.v6, slaac: plan.slaac } } : {}) };
    };
    const a = end(addrs[0], 'addresses[0]');
    const b = end(addrs[1], 'addresses[1]');
    const common = { ...(impair ? { impair } : {}), ...(opts.poll ? { poll: opts.poll } : {}), ...(opts.tcp ? { tcp: opts.tcp } : {}), ...(opts.limits ? { limits: opts.limits } : {}) };
    return [
      Stack.build(clock, na, a.address, a.prefixLength, 0, { ...common, ...(a.ipv6 ? { ipv6: a.ipv6 } : {}) }),
      Stack.build(clock, nb, b.address, b.prefixLength, 0, { ...common, ...(b.ipv6 ? { ipv6: b.ipv6 } : {}), ...(impair ? { impair: { ...impair, seed: (impair.seed ?? 1) + 1 } } : {}) }),
    ];
  }

  private static build(
    clock: Clock,
    rawNic: Nic | null,
    address: number,
    prefixLength: number,
    gateway: number,
    opts: {
      impair?: ImpairOptions;
      poll?: PollMode | PollLoopOptions;
      mtu?: number;
      capture?: string;
      dns?: string;
      tcp?: Partial<TcpConfig>;
      limits?: StackLimits;
      ephemeralPorts?: { low: number; high: number };
      rxReserve?: number;
      tcpHooks?: Pick<TcpLayerOptions, 'acceptsLocalPort' | 'onConnectionTable'>;
      udpHooks?: Pick<UdpLayerOptions, 'acceptsEphemeralPort'>;
      ipv6?: Ipv6Config;
    },
  ): Stack {
    const engine = new NetStack(clock, {
      ...(opts.tcp || opts.tcpHooks ? { tcp: { ...(opts.tcp ? { config: opts.tcp } : {}), ...opts.tcpHooks } } : {}),
      ...(opts.udpHooks ? { udp: opts.udpHooks } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.ephemeralPorts ? { ephemeralPorts: opts.ephemeralPorts } : {}),
    });
    const loNic = new CaptureNic(new LoopbackNic(), () => clock.now());
    const lo = engine.addInterface(loNic, { name: 'lo', address: 0x7f000001, prefixLength: 8, gateway: 0, loopback: true });
    if (rawNic === null) {
      return new Stack(engine, [loNic], lo, opts.poll, opts.dns).startCapture(opts.capture);
    }
    const impaired = opts.impair ? new ImpairedNic(rawNic, clock, opts.impair) : rawNic;
    const nic = new CaptureNic(impaired, () => clock.now());
    const iface = engine.addInterface(nic, {
      name: rawNic.name,
      address,
      prefixLength,
      gateway,
      ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
      ...(opts.rxReserve !== undefined ? { rxReserve: opts.rxReserve } : {}),
      ...(opts.ipv6 !== undefined ? { ipv6: opts.ipv6 } : {}),
    });
    return new Stack(engine, [loNic, nic], iface, opts.poll, opts.dns).startCapture(opts.capture);
  }

  private netModule: NetModule | null = null;

  /** node:net-compatible module on this stack. */
  get net(): NetModule {
    if (this.netModule === null) this.netModule = createNetModule(this);
    return this.netModule;
  }

  /** Our primary IPv4 address, dotted. */
  get address(): string {
    return ipToString(this.iface.address);
  }

  /**
   * Every address: the IPv4 one (when configured), then the IPv6 ones
   * (link-local first; tentative ones too, duplicates not), as text.
   */
  get addresses(): string[] {
    const out: string[] = [];
    if (this.iface.address !== 0 && !this.iface.loopback) out.push(ipToString(this.iface.address));
    if (!this.iface.loopback) for (const a of this.iface.v6?.addresses() ?? []) if (a.state !== 'duplicate') out.push(ipv6ToString(a.address));
    return out;
  }

  /** Counters per layer (like `netstat -s` / `ethtool -S`). */
  stats(): StackStats {
    const out: StackStats = { ...this.engine.stats(), poll: { ...this.loop.counters } };
    if (this.shard !== null) out.shard = { ...this.shard };
    const dns = existingHostResolver(this);
    if (dns !== undefined) out.dns = { ...dns.stats };
    if (this.dhcp !== null) out.dhcp = { ...this.dhcp.stats };
    return out;
  }

  /** Starts writing every frame in and out of the NIC to a pcap file; `null` stops. */
  capture(path: string | null): void {
    const nic = this.captures[this.captures.length - 1]!;
    if (path === null) nic.stop();
    else nic.start(path);
  }

  /** Sends one ICMP echo request and resolves with the round-trip time in ms, or rejects after `timeoutMs`. */
  ping(host: string, opts: { size?: number; timeoutMs?: number; seq?: number } = {}): Promise<number> {
    if (host.includes(':')) return this.ping6(host, opts);
    const dst = parseIpv4Address(host);
    const ident = (process.pid & 0xffff) ^ 0x5a5a;
    const seq = (opts.seq ?? this.pingSeq++) & 0xffff;
    const started = this.engine.clock.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        const e = new Error(`ping ${host}: timed out`) as Error & { code: string };
        e.code = 'ETIMEDOUT';
        reject(e);
      }, opts.timeoutMs ?? 2000);
      const off = this.engine.onEchoReply((r) => {
        if (r.from !== dst || r.ident !== ident || r.seqNo !== seq) return;
        clearTimeout(timer);
        off();
        resolve(r.at - started);
      });
      this.engine.ping(dst, ident, seq, opts.size ?? 56);
      this.kick();
    });
  }
  private pingSeq = 0;

  private ping6(host: string, opts: { size?: number; timeoutMs?: number; seq?: number }): Promise<number> {
    const dst = parseIpv6Address(host);
    // As ping does: one ident per process, a sequence number per request; each call waits for its own reply only.
    const ident = (process.pid & 0xffff) ^ 0x5a5a;
    const seq = (opts.seq ?? this.pingSeq++) & 0xffff;
    const started = this.engine.clock.now();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(Object.assign(new Error(`ping ${host}: timed out`), { code: 'ETIMEDOUT' }));
      }, opts.timeoutMs ?? 2000);
      const off = this.engine.onEchoReply6((r) => {
        if (r.ident !== ident || r.seqNo !== seq || !ipv6Equal(r.from, 0, dst)) return;
        clearTimeout(timer);
        off();
        resolve(r.at - started);
      });
      if (!this.engine.ping6(dst, ident, seq, opts.size ?? 56)) {
        clearTimeout(timer);
        off();
        reject(Object.assign(new Error(`ping ${host}: no route or no IPv6 source address`), { code: 'ENETUNREACH' }));
        return;
      }
      this.kick();
    });
  }

  /** Schedules a poll now (after the application queued output). */
  kick(): void {
    this.loop.kick();
  }

  /** Keeps the process alive while referenced (servers, sockets). */
  ref(): void {
    this.loop.ref();
  }
  unref(): void {
    this.loop.unref();
  }

  /** Stops polling, flushes a capture, releases the NIC. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.dhcp?.stop();
    this.rejectReady?.(Object.assign(new Error('Stack closed while acquiring a DHCP lease'), { code: 'ERR_USTACK_CLOSED' }));
    this.engine.poll();
    this.loop.stop();
    this.engine.shutdown();
    for (const c of this.captures) await c.close();
  }
}
