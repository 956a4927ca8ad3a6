/**
 * XdpNic: a Nic over an AF_XDP socket on one receive queue of any Linux
 * interface (veth, virtio-net, ixgbe, i40e, ice, mlx5...), with the kernel
 * keeping the interface: ustack's XDP program (addon/xdp/program.h) sends
 * the socket only ARP for the stack's addresses and IPv4 to them, and passes
 * every other frame to the kernel, so the machine keeps its own addresses,
 * SSH and everything else on the same interface.
 *
 * The packet pool is the UMEM itself, exposed once as one external
 * ArrayBuffer: the kernel writes received frames straight into slots
 * JavaScript reads, and sends frames from slots JavaScript wrote (copied by
 * the kernel in copy mode, DMA'd by the NIC in zero-copy mode). Free slots
 * live on a stack (a Uint32Array: [count, slot, ...]) shared with the addon,
 * as for the e1000, so alloc()/release() never cross into C++ and one N-API
 * call moves a burst each way. The idle wake-up is poll(POLLIN) on the
 * socket.
 *
 * Offloads: none. A frame received over AF_XDP carries no checksum state,
 * so the stack checks every checksum. On a veth pair the sending side's
 * checksum offload must be off (`ethtool -K <peer> tx off`): the kernel
 * hands a partially checksummed frame to XDP as it is.
 *
 * Shared-address mode (`shared`): the stack uses an address the kernel
 * already has on the interface, and the program diverts only TCP and UDP to
 * the stack's ports — its listeners (setPorts) and its ephemeral range, set
 * outside the kernel's own (ip_local_port_range) — while the kernel keeps
 * ARP, ICMP and every other port of the same address. The kernel then also
 * answers ARP for the address, so the stack's own ARP never reaches the
 * wire: this NIC takes each ARP request the stack sends, looks the target up
 * in the kernel's neighbour table (asking the kernel to resolve it when
 * absent) and hands the stack the ARP reply the kernel's answer amounts to.
 *
 * The program is attached through a bpf_link and goes away with the link's
 * last file descriptor: close(), exit, a crash and SIGKILL alike leave no
 * program on the interface. Errors carry `code`: ERR_USTACK_NO_DEVICE,
 * ERR_USTACK_QUEUE_OUT_OF_RANGE, ERR_USTACK_NO_PERMISSION,
 * ERR_USTACK_XDP_UNSUPPORTED (no native XDP with mode=native, no zero-copy
 * with zerocopy=on, no AF_XDP in the kernel), ERR_USTACK_XDP_BUSY (another
 * program is attached), ERR_USTACK_XDP_IN_USE (another ustack process drives
 * the interface or queue), ERR_USTACK_MTU_TOO_LARGE.
 */
import { loadAddon, type XdpDevice } from './addon.js';
import { parseMac } from './host-config.js';
import type { Nic, NicOffloads, NicStats } from './nic.js';
import { codedError } from '../errors/node-errors.js';
import { writeMac } from '../wire/ethernet.js';

export interface XdpNicOptions {
  /** The interface, e.g. 'eth0' or 'veth0'. */
  ifname: string;
  /**
   * Receive queue to bind (default 0), or 'all': a socket on every receive
   * queue, sharing one UMEM (a NIC spreads flows over its queues by hash;
   * with one queue bound, the stack sees only the flows that land there).
   */
  queue?: number | 'all';
  /** 'native' (the driver's XDP), 'generic' (any interface, slower), or 'auto' (default: native where the driver has it). */
  mode?: 'auto' | 'native' | 'generic';
  /** 'auto' (default: zero-copy where the driver has it, else copy), 'on' (fail without it) or 'off'. */
  zerocopy?: 'auto' | 'on' | 'off';
  /** SO_PREFER_BUSY_POLL / SO_BUSY_POLL_BUDGET on the socket, and a recvfrom on an empty RX ring to drive it. */
  busyPoll?: boolean;
  /** UMEM chunks = slots (default 8192). */
  slotCount?: number;
  /** Entries of each ring (a power of two, default 2048). */
  ringSize?: number;
  /** IP MTU the stack uses, at most the interface's (default: the interface's). */
  mtu?: number;
  /** Shared-address mode (see above), with the stack's ephemeral port range. */
  shared?: { ephemeralLow: number; ephemeralHigh: number };
}

const ETH_ARP = 0x0806;
const ARP_REQUEST = 1;
const ARP_FRAME = 60;
/** Shared mode: after asking the kernel to resolve a neighbour, look again after these delays (ms). */
const NEIGHBOR_RETRY_MS = [1, 5, 20, 100, 500];

export class XdpNic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads = { txChecksum: false, tso: false, rxChecksumVerified: false };
  /** 'native' or 'generic': where the program runs. */
  readonly mode: string;
  /** Whether the socket runs in zero-copy mode. */
  readonly zerocopy: boolean;
  readonly queue: number;
  /** Sockets (receive queues) this NIC reads. */
  readonly queueCount: number;
  /** Shared-address mode: the stack's ephemeral ports, which the program always diverts. */
  readonly shared: { ephemeralLow: number; ephemeralHigh: number } | null;

  private readonly dev: XdpDevice;
  /** Shared with the addon: [count, free slot indices...]. */
  private readonly free: Uint32Array;
  private wakeHandler: (() => void) | null = null;
  private closed = false;
  private finalStats: NicStats | undefined;
  private wakeups = 0;
  private readonly onDeviceWake = (): void => {
    this.wakeups++;
    const h = this.wakeHandler;
    if (h !== null) h();
  };
  private readonly onPendingWake = (): void => {
    if (!this.closed) this.onDeviceWake();
  };
  /** Shared mode: the stack's address (what ARP replies are for). */
  private ourIp = 0;
  /** Shared mode: ARP replies made from the kernel's neighbour table, waiting for rxBurst: [slot, len, ...]. */
  private readonly injected: number[] = [];
  /** Shared mode: neighbours the kernel is resolving, with the timer that looks again. */
  private readonly resolving = new Map<number, ReturnType<typeof setTimeout>>();
  private arpAnswered = 0;
  private arpUnresolved = 0;

  private constructor(dev: XdpDevice, ifname: string, mtu: number, shared: XdpNicOptions['shared']) {
    this.dev = dev;
    this.name = ifname;
    this.mac = parseMac(dev.mac);
    this.mtu = mtu;
    this.slotSize = dev.slotSize;
    this.slotCount = dev.slotCount;
    this.mode = dev.mode;
    this.queue = dev.queue;
    this.queueCount = dev.queueCount;
    this.shared = shared ?? null;
    this.pool = new Uint8Array(dev.pool);
    this.free = new Uint32Array(this.slotCount + 1);
    for (let i = 0; i < this.slotCount; i++) this.free[1 + i] = this.slotCount - 1 - i;
    this.free[0] = this.slotCount;
    dev.start(this.free);
    this.zerocopy = dev.zerocopy;
  }

  /** Sets up the socket and attaches the program; frames flow once setAddresses() names the stack's addresses. */
  static open(opts: XdpNicOptions): XdpNic {
    if (typeof opts !== 'object' || opts === null || typeof opts.ifname !== 'string') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'XdpNic.open: options.ifname must be a string', TypeError);
    }
    const { XdpDevice } = loadAddon();
    const dev = new XdpDevice(opts.ifname, {
      ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
      ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
      ...(opts.zerocopy !== undefined ? { zerocopy: opts.zerocopy } : {}),
      ...(opts.slotCount !== undefined ? { slotCount: opts.slotCount } : {}),
      ...(opts.ringSize !== undefined ? { ringSize: opts.ringSize } : {}),
      ...(opts.shared ? { shared: true, ephemeralLow: opts.shared.ephemeralLow, ephemeralHigh: opts.shared.ephemeralHigh } : {}),
      busyPoll: opts.busyPoll === true,
    });
    try {
      const mtu = opts.mtu ?? dev.mtu;
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > dev.mtu) {
        throw codedError('ERR_OUT_OF_RANGE', `XdpNic.open: mtu must be an integer in [68, ${dev.mtu}] (the MTU of ${opts.ifname}), got ${String(mtu)}`, RangeError);
      }
      return new XdpNic(dev, opts.ifname, mtu, opts.shared);
    } catch (err) {
      dev.close();
      throw err;
    }
  }

  /** The stack's IPv4 addresses (32-bit numbers): what the program sends this socket. */
  setAddresses(addresses: readonly number[]): void {
    const list = addresses.filter((a) => a !== 0);
    this.ourIp = list[0] ?? 0;
    if (!this.closed) this.dev.setAddresses(list);
  }

  /**
   * The IPv6 destinations the program sends this socket: the stack's
   * unicast addresses (tentative ones too), and ff02::1 when the stack takes
   * the whole all-nodes group (SLAAC). NS and NA to a group come when their
   * target is one of these (see addon/xdp/program.h).
   */
  setAddresses6(addresses: readonly Uint8Array[]): void {
    if (addresses.length > 64) throw codedError('ERR_OUT_OF_RANGE', `XdpNic.setAddresses6: at most 64 addresses, got ${addresses.length}`, RangeError);
    const keys = new Uint8Array(16 * addresses.length);
    addresses.forEach((a, i) => {
      if (a.length !== 16) throw codedError('ERR_INVALID_ARG_VALUE', 'XdpNic.setAddresses6: each address must be 16 bytes', TypeError);
      keys.set(a, 16 * i);
    });
    if (!this.closed) this.dev.setAddresses6(keys);
  }

  /**
   * The multicast groups the interface must receive for the stack (the
   * IPv6 layer's all-nodes and solicited-node groups, from the Interface):
   * the kernel puts them in the NIC's filter while the device is open (a
   * veth passes every group anyway; a real NIC may not).
   */
  setMulticast(macs: readonly number[]): void {
    if (this.closed) return;
    const bytes = new Uint8Array(6 * macs.length);
    for (let k = 0; k < macs.length; k++) writeMac(bytes, 6 * k, macs[k]!);
    this.dev.setMulticast(bytes);
  }

  /**
   * Shared mode: the ports the stack listens on (protocol << 16 | port, as
   * NetStack.boundPorts() gives them); those in the ephemeral range are
   * diverted anyway.
   */
  setPorts(keys: readonly number[]): void {
    const eph = this.shared;
    if (this.closed || eph === null) return;
    this.dev.setPorts(keys.filter((k) => (k & 0xffff) < eph.ephemeralLow || (k & 0xffff) > eph.ephemeralHigh));
  }

  /** Kernel ids of the attached program and its bpf_link (bpftool prog/link show). */
  get programId(): number {
    return this.dev.programId;
  }
  get linkId(): number {
    return this.dev.linkId;
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
    if (this.closed) return 0;
    if (this.injected.length === 0) return this.dev.rxBurst(slots, lens, max);
    // Shared mode: ARP replies from the kernel's neighbour table first.
    const inj = this.injected;
    let k = 0;
    while (k < max && k < slots.length && inj.length > 0) {
      slots[k] = inj.shift()!;
      lens[k] = inj.shift()!;
      k++;
    }
    return k + (k < max ? this.dev.rxBurst(slots.subarray(k), lens.subarray(k), max - k) : 0);
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    if (this.shared === null) return this.dev.txBurst(slots, lens, n);
    // Shared mode: the stack's ARP stays off the wire (see the file comment).
    let done = 0;
    while (done < n) {
      let i = done;
      while (i < n && !this.isArp(slots[i]!)) i++;
      if (i > done) {
        const t = this.dev.txBurst(done === 0 ? slots : slots.subarray(done), done === 0 ? lens : lens.subarray(done), i - done);
        done += t;
        if (done < i) return done;
      }
      if (i < n) {
        this.takeArp(slots[i]!);
        done++;
      }
    }
    return done;
  }

  private isArp(slot: number): boolean {
    const b = slot * this.slotSize;
    return ((this.pool[b + 12]! << 8) | this.pool[b + 13]!) === ETH_ARP;
  }

  /** Shared mode: an ARP frame the stack sent; a request for a neighbour is answered from the kernel's table. */
  private takeArp(slot: number): void {
    const p = this.pool;
    const a = slot * this.slotSize + 14;
    const op = (p[a + 6]! << 8) | p[a + 7]!;
    const target = ((p[a + 24]! << 24) | (p[a + 25]! << 16) | (p[a + 26]! << 8) | p[a + 27]!) >>> 0;
    this.release(slot);
    // The stack's announcements of its own address: the kernel owns it.
    if (op !== ARP_REQUEST || target === this.ourIp || target === 0) return;
    this.lookUpNeighbor(target, 0);
  }

  private lookUpNeighbor(ip: number, attempt: number): void {
    if (this.closed) return;
    const mac = this.dev.neighbor(ip);
    if (mac !== null) {
      const t = this.resolving.get(ip);
      if (t !== undefined) clearTimeout(t);
      this.resolving.delete(ip);
      this.injectArpReply(ip, parseMac(mac));
      return;
    }
    if (attempt === 0 && this.resolving.has(ip)) return; // already looking
    if (attempt >= NEIGHBOR_RETRY_MS.length) {
      this.resolving.delete(ip);
      this.arpUnresolved++; // the stack's own ARP timers retry or give up
      return;
    }
    const t = setTimeout(() => this.lookUpNeighbor(ip, attempt + 1), NEIGHBOR_RETRY_MS[attempt]);
    t.unref();
    this.resolving.set(ip, t);
  }

  /** Writes "ip is at mac" to the stack into a free slot, for the next rxBurst, and wakes the stack. */
  private injectArpReply(ip: number, mac: number): void {
    const slot = this.alloc();
    if (slot < 0) return;
    const p = this.pool;
    const b = slot * this.slotSize;
    p.fill(0, b, b + ARP_FRAME);
    const putMac = (at: number, m: number): void => {
      for (let i = 0; i < 6; i++) p[at + i] = Math.floor(m / 2 ** (8 * (5 - i))) & 0xff;
    };
    const putIp = (at: number, v: number): void => {
      p[at] = v >>> 24;
      p[at + 1] = (v >>> 16) & 0xff;
      p[at + 2] = (v >>> 8) & 0xff;
      p[at + 3] = v & 0xff;
    };
    putMac(b, this.mac);
    putMac(b + 6, mac);
    p[b + 12] = 0x08;
    p[b + 13] = 0x06;
    const a = b + 14;
    p.set([0, 1, 0x08, 0x00, 6, 4, 0, 2], a); // Ethernet, IPv4, reply
    putMac(a + 8, mac);
    putIp(a + 14, ip);
    putMac(a + 18, this.mac);
    putIp(a + 24, this.ourIp);
    this.injected.push(slot, ARP_FRAME);
    this.arpAnswered++;
    if (this.wakeHandler !== null) queueMicrotask(this.onPendingWake);
  }

  alloc(): number {
    // A closed NIC lends no slot: its pool is detached, and the stack above
    // may still try to send (a socket writing after Stack.close()).
    if (this.closed) return -1;
    const f = this.free;
    const top = f[0]!;
    if (top === 0) {
      // Frames sent earlier may be done by now.
      if (this.closed || this.dev.txReclaim() === 0 || f[0] === 0) return -1;
      return f[f[0]--]!;
    }
    f[0] = top - 1;
    return f[top]!;
  }

  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount) {
      throw codedError('ERR_OUT_OF_RANGE', `XdpNic.release: slot ${slot} out of range`, RangeError);
    }
    const f = this.free;
    if (f[0]! >= this.slotCount) throw codedError('ERR_USTACK_DOUBLE_RELEASE', 'XdpNic.release: double release');
    f[++f[0]!] = slot;
  }

  /**
   * Free slots in the pool. When few are left, slots the kernel finished
   * sending are reclaimed first (the stack stops transmitting at its receive
   * reserve, so the count must not wait for a transmit burst to recover).
   */
  get availableSlots(): number {
    if (this.closed) return 0;
    const f = this.free;
    if (f[0]! <= this.slotCount >>> 2) this.dev.txReclaim();
    return f[0]!;
  }

  setWakeHandler(onWake: (() => void) | null): void {
    this.wakeHandler = onWake;
    if (this.closed) return;
    this.dev.setWakeCallback(onWake === null ? null : this.onDeviceWake);
  }

  /** One-shot: the handler runs once when the socket has a frame (at once if one is waiting). */
  armWake(): void {
    if (this.closed) return;
    if (this.dev.armWake()) queueMicrotask(this.onPendingWake);
  }

  ref(): this {
    if (!this.closed) this.dev.ref();
    return this;
  }

  unref(): this {
    if (!this.closed) this.dev.unref();
    return this;
  }

  hasRef(): boolean {
    return !this.closed && this.dev.hasRef();
  }

  pollAt(): number {
    return Infinity;
  }

  stats(): NicStats {
    if (this.closed) return this.finalStats!;
    const d = this.dev.stats();
    return {
      framesIn: d.rxFrames,
      bytesIn: d.rxBytes,
      framesOut: d.txFrames,
      bytesOut: d.txBytes,
      ...d,
      wakeups: this.wakeups,
      freeSlots: this.free[0]!,
      native: this.mode === 'native' ? 1 : 0,
      zerocopy: this.zerocopy ? 1 : 0,
      queue: this.queue,
      queues: this.queueCount,
      programId: this.dev.programId,
      linkId: this.dev.linkId,
      shared: this.shared !== null ? 1 : 0,
      arpFromKernel: this.arpAnswered,
      arpUnresolved: this.arpUnresolved,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Detaches the program, closes the socket, then frees the UMEM (the pool is detached). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.finalStats = this.stats();
      this.closed = true;
      this.wakeHandler = null;
      for (const t of this.resolving.values()) clearTimeout(t);
      this.resolving.clear();
      this.injected.length = 0;
      this.dev.close();
    }
    return Promise.resolve();
  }
}
