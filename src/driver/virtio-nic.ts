/**
 * VirtioNic: a Nic over a virtio-net device (virtio 1.x over PCI: QEMU's
 * `-device virtio-net-pci`, what every KVM/QEMU cloud VM has) driven in poll
 * mode from userspace through UIO or VFIO.
 *
 * As for the e1000, the packet pool is the DMA memory, exposed once as one
 * external ArrayBuffer; free slots live on a stack shared with the addon
 * ([count, slot...]); one N-API call moves a burst each way; the idle
 * wake-up is the device's interrupt (INTx through the UIO/VFIO fd), which
 * stays suppressed while the stack polls.
 *
 * Offloads, as the device negotiates them: TX checksums (CSUM) and TSO
 * (HOST_TSO4: the stack hands over TCP frames of up to 64 KiB, the device
 * or its backend cuts them); RX partial checksums and GSO super-frames
 * (GUEST_CSUM, GUEST_TSO4), flagged per frame (rxPerFrameFlags). Each frame
 * crosses behind a virtio_net_hdr the addon builds and reads (addon/vnet_hdr,
 * the TAP backend's too). QEMU offers none of them with slirp (`-netdev
 * user`) and all with `-netdev tap`.
 *
 * Queue pairs (`queues`): with more than one (VIRTIO_NET_F_MQ), the stack
 * receives from every pair's queue and sends each flow on one pair (a hash
 * of its addresses and ports).
 *
 * Safety: close(), process exit, SIGINT/SIGTERM (when nothing else handles
 * them) and uncaught exceptions reset the device (its DMA stops) and clear
 * bus mastering before the memory is freed (dma-safety.ts). A device left
 * running by a crashed process is reset on open.
 */
import { loadAddon, type VirtioDevice } from './addon.js';
import { installDmaSafetyHooks } from './dma-safety.js';
import { parseMac } from './host-config.js';
import { normalizePci } from './pci-sysfs.js';
import type { Nic, NicOffloads, NicStats } from './nic.js';
import { codedError } from '../errors/node-errors.js';
import { writeMac } from '../wire/ethernet.js';

export interface VirtioNicOptions {
  /** PCI address, DDDD:BB:SS.F. */
  pci: string;
  access?: 'uio' | 'vfio';
  /** Queue pairs (default 1); more than one needs a device with VIRTIO_NET_F_MQ. */
  queues?: number;
  /** Descriptors per data queue (a power of two; default 256, lowered to the device's maximum). */
  queueSize?: number;
  slotCount?: number;
  /** Bytes per slot, a power of two in [2048, 65536] (default 65536 with TSO, else 2048). */
  slotSize?: number;
  /** Use the device's checksum offload when it offers it (default true). */
  txChecksum?: boolean;
  /** Use TSO both ways when the device offers it (default true; needs txChecksum). */
  tso?: boolean;
  /** IP MTU (default 1500). */
  mtu?: number;
}

/** Every open NIC stays reachable until close(): a device doing DMA is never left to the garbage collector. */
const open = new Set<VirtioNic>();

export class VirtioNic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads;
  readonly rxPerFrameFlags: boolean;
  readonly pci: string;
  readonly access: 'uio' | 'vfio';
  readonly model: string;
  /** Queue pairs in use. */
  readonly queuePairs: number;
  /** The negotiated virtio features, e.g. 'CSUM GUEST_CSUM ... VERSION_1'. */
  readonly features: string;

  private readonly dev: VirtioDevice;
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

  private constructor(dev: VirtioDevice, opts: VirtioNicOptions) {
    this.dev = dev;
    this.pci = opts.pci;
    this.access = opts.access ?? 'uio';
    this.name = `virtio-${opts.pci}`;
    this.model = dev.model;
    this.mac = parseMac(dev.mac);
    this.mtu = opts.mtu ?? 1500;
    this.slotSize = dev.slotSize;
    this.slotCount = dev.slotCount;
    this.queuePairs = dev.queuePairs;
    this.features = dev.features;
    this.pool = new Uint8Array(dev.pool);
    const o = dev.offloads;
    this.offloads = { txChecksum: o.txChecksum, tso: o.tso && o.txChecksum, rxChecksumVerified: false };
    // GUEST_CSUM: the device may hand over partial or validated checksums, flagged per frame.
    this.rxPerFrameFlags = o.rxChecksum;
    this.free = new Uint32Array(this.slotCount + 1);
    for (let i = 0; i < this.slotCount; i++) this.free[1 + i] = this.slotCount - 1 - i;
    this.free[0] = this.slotCount;
    dev.start(this.free);
  }

  /**
   * Opens the device (bound to uio_pci_generic or vfio-pci), negotiates
   * features, allocates DMA memory, sets up and starts the queues. Errors
   * carry `code`: ERR_USTACK_NO_DEVICE, ERR_USTACK_NOT_BOUND,
   * ERR_USTACK_DEVICE_IN_USE, ERR_USTACK_NO_PERMISSION,
   * ERR_USTACK_NO_HUGEPAGES, ERR_USTACK_GROUP_NOT_VIABLE,
   * ERR_USTACK_UNSUPPORTED_DEVICE (not virtio-net; legacy-only; VFIO with a
   * device that bypasses the IOMMU), ERR_OUT_OF_RANGE (queues beyond what
   * the device has), EBUSY (another process drives it),
   * ERR_INVALID_ARG_VALUE (not a PCI address), or a system error code.
   */
  static open(options: VirtioNicOptions): VirtioNic {
    if (typeof options !== 'object' || options === null || typeof options.pci !== 'string') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'VirtioNic.open: options.pci must be a string', TypeError);
    }
    const opts: VirtioNicOptions = { ...options, pci: normalizePci(options.pci) };
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65518)) {
      throw codedError('ERR_OUT_OF_RANGE', `VirtioNic.open: mtu must be an integer in [68, 65518], got ${String(opts.mtu)}`, RangeError);
    }
    if (opts.queues !== undefined && (!Number.isInteger(opts.queues) || opts.queues < 1 || opts.queues > 16)) {
      throw codedError('ERR_OUT_OF_RANGE', `VirtioNic.open: queues must be an integer in [1, 16], got ${String(opts.queues)}`, RangeError);
    }
    const { VirtioDevice } = loadAddon();
    installDmaSafetyHooks();
    const dev = new VirtioDevice(opts.pci, opts.access ?? 'uio', {
      ...(opts.queues !== undefined ? { queues: opts.queues } : {}),
      ...(opts.queueSize !== undefined ? { queueSize: opts.queueSize } : {}),
      ...(opts.slotCount !== undefined ? { slotCount: opts.slotCount } : {}),
      ...(opts.slotSize !== undefined ? { slotSize: opts.slotSize } : {}),
      mtu: opts.mtu ?? 1500,
      txChecksum: opts.txChecksum ?? true,
      tso: (opts.tso ?? true) && (opts.txChecksum ?? true),
    });
    let nic: VirtioNic;
    try {
      nic = new VirtioNic(dev, opts);
    } catch (err) {
      dev.close();
      throw err;
    }
    open.add(nic);
    return nic;
  }

  get linkUp(): boolean {
    return !this.closed && this.dev.linkUp();
  }

  /** The multicast groups to receive (the IPv6 layer's): the device's MAC table, promiscuous off (VIRTIO_NET_F_CTRL_RX). */
  setMulticast(macs: readonly number[]): void {
    if (this.closed) return;
    const bytes = new Uint8Array(6 * macs.length);
    for (let k = 0; k < macs.length; k++) writeMac(bytes, 6 * k, macs[k]!);
    this.dev.setMulticast(bytes);
  }

  /** DMA memory source: 'hugetlbfs' or 'vfio-iommu'. */
  get memory(): string {
    return this.dev.memory;
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    if (this.closed) return 0;
    return this.dev.rxBurst(slots, lens, max, flags);
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
      throw codedError('ERR_OUT_OF_RANGE', `VirtioNic.release: slot ${slot} out of range`, RangeError);
    }
    const f = this.free;
    if (f[0]! >= this.slotCount) throw codedError('ERR_USTACK_DOUBLE_RELEASE', 'VirtioNic.release: double release');
    f[++f[0]!] = slot;
  }

  /**
   * Free slots in the pool. When few are left, transmitted frames the device
   * is done with are reclaimed first (as alloc() does on an empty pool).
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

  /** One-shot: the handler runs once on the next receive interrupt (or at once if a frame is waiting). */
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
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resets the device (DMA stops), clears bus mastering, then frees the DMA memory (the pool is detached). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.finalStats = this.stats();
      this.closed = true;
      this.wakeHandler = null;
      open.delete(this);
      this.dev.close();
    }
    return Promise.resolve();
  }
}
