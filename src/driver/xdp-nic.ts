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

export interface XdpNicOptions {
  /** The interface, e.g. 'eth0' or 'veth0'. */
  ifname: string;
  /** Receive queue to bind (default 0). */
  queue?: number;
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
}

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

  private constructor(dev: XdpDevice, ifname: string, mtu: number) {
    this.dev = dev;
    this.name = ifname;
    this.mac = parseMac(dev.mac);
    this.mtu = mtu;
    this.slotSize = dev.slotSize;
    this.slotCount = dev.slotCount;
    this.mode = dev.mode;
    this.queue = dev.queue;
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
      busyPoll: opts.busyPoll === true,
    });
    try {
      const mtu = opts.mtu ?? dev.mtu;
      if (!Number.isInteger(mtu) || mtu < 68 || mtu > dev.mtu) {
        throw codedError('ERR_OUT_OF_RANGE', `XdpNic.open: mtu must be an integer in [68, ${dev.mtu}] (the MTU of ${opts.ifname}), got ${String(mtu)}`, RangeError);
      }
      return new XdpNic(dev, opts.ifname, mtu);
    } catch (err) {
      dev.close();
      throw err;
    }
  }

  /** The stack's IPv4 addresses (32-bit numbers): what the program sends this socket. */
  setAddresses(addresses: readonly number[]): void {
    if (!this.closed) this.dev.setAddresses(addresses.filter((a) => a !== 0));
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
    return this.dev.rxBurst(slots, lens, max);
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    return this.dev.txBurst(slots, lens, n);
  }

  alloc(): number {
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
    const f = this.free;
    if (f[0]! <= this.slotCount >>> 2 && !this.closed) this.dev.txReclaim();
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
      programId: this.dev.programId,
      linkId: this.dev.linkId,
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
      this.dev.close();
    }
    return Promise.resolve();
  }
}
