/**
 * E1000Nic: a Nic over an Intel 8254x (QEMU's `-device e1000` /
 * `e1000-82545em`) driven in poll mode from userspace through UIO or VFIO.
 *
 * The packet pool is the DMA memory itself, exposed once as one external
 * ArrayBuffer: the NIC writes received frames straight into slots JavaScript
 * reads, and sends frames from slots JavaScript wrote. Free slots live on a
 * stack (a Uint32Array: [count, slot, slot, ...]) shared with the addon, so
 * alloc()/release() never cross into C++ and one N-API call moves a burst
 * each way. The wake-up for idle periods is the device interrupt, delivered
 * through the UIO/VFIO interrupt fd to libuv.
 *
 * Offloads: TX checksums (IPv4 TCP/UDP) and TSO through context descriptors.
 * With TSO (the default) slots are 16 KiB, so the stack hands the NIC TCP
 * frames of up to ~16 KiB and the NIC cuts them into MTU-sized segments; RX
 * still uses 2 KiB of each slot.
 *
 * Safety: close(), process exit, SIGINT/SIGTERM (when nothing else handles
 * them) and uncaught exceptions stop RX/TX DMA and clear bus mastering before
 * the memory is freed. A device left running by a crashed process is stopped
 * and reprogrammed on open.
 */
import { loadAddon, type E1000Device } from './addon.js';
import { writeMac } from '../wire/ethernet.js';
import { installDmaSafetyHooks } from './dma-safety.js';
import { parseMac } from './host-config.js';
import { normalizePci } from './pci-sysfs.js';
import type { Nic, NicOffloads, NicStats } from './nic.js';
import { codedError } from '../errors/node-errors.js';

/** The addon (loadAddon()), for the e1000 tests that load it through this module. */
export const loadE1000Addon = loadAddon;

export interface E1000NicOptions {
  /** PCI address, DDDD:BB:SS.F. */
  pci: string;
  access?: 'uio' | 'vfio';
  /** RX / TX descriptors (multiples of 8; default 256). */
  rxRing?: number;
  txRing?: number;
  /** Slots in the pool (default: as many as 4 MiB of DMA memory holds; with TSO about 1024 slots, 16 MiB). */
  slotCount?: number;
  /** Bytes per slot, a power of two in [2048, 65536] (default 16384 with TSO, else 2048). */
  slotSize?: number;
  /** MII loopback: every transmitted frame comes straight back (self-test). */
  loopback?: boolean;
  promiscuous?: boolean;
  /** Use the NIC's TX checksum offload (default true). */
  txChecksum?: boolean;
  /** Use the NIC's TCP segmentation offload (default true; needs txChecksum). */
  tso?: boolean;
  /** IP MTU, at most 1500 (no jumbo frames: 2048-byte buffers). */
  mtu?: number;
}

/** Every open NIC stays reachable until close(): a device doing DMA is never left to the garbage collector. */
const open = new Set<E1000Nic>();

export class E1000Nic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads;
  readonly pci: string;
  readonly access: 'uio' | 'vfio';
  readonly model: string;

  private readonly dev: E1000Device;
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

  private constructor(dev: E1000Device, opts: E1000NicOptions) {
    this.dev = dev;
    this.pci = opts.pci;
    this.access = opts.access ?? 'uio';
    this.name = `e1000-${opts.pci}`;
    this.model = dev.model;
    this.mac = parseMac(dev.mac);
    this.mtu = opts.mtu ?? 1500;
    this.slotSize = dev.slotSize;
    this.slotCount = dev.slotCount;
    this.pool = new Uint8Array(dev.pool);
    this.offloads = { txChecksum: opts.txChecksum ?? true, tso: dev.tso === true, rxChecksumVerified: false };
    this.free = new Uint32Array(this.slotCount + 1);
    for (let i = 0; i < this.slotCount; i++) this.free[1 + i] = this.slotCount - 1 - i;
    this.free[0] = this.slotCount;
    dev.start(this.free);
  }

  /**
   * Opens the device (bound to uio_pci_generic or vfio-pci), allocates DMA
   * memory, resets and starts it. Errors carry `code`: ERR_USTACK_NO_DEVICE,
   * ERR_USTACK_NOT_BOUND, ERR_USTACK_DEVICE_IN_USE, ERR_USTACK_NO_PERMISSION,
   * ERR_USTACK_NO_HUGEPAGES, ERR_USTACK_GROUP_NOT_VIABLE,
   * ERR_USTACK_UNSUPPORTED_DEVICE, EBUSY (another process drives the
   * device), ERR_INVALID_ARG_VALUE (not a PCI address), or a system error code.
   */
  static open(options: E1000NicOptions): E1000Nic {
    if (typeof options !== 'object' || options === null || typeof options.pci !== 'string') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'E1000Nic.open: options.pci must be a string', TypeError);
    }
    // The address becomes part of sysfs paths: DDDD:BB:SS.F only (the addon checks again).
    const opts: E1000NicOptions = { ...options, pci: normalizePci(options.pci) };
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 1500)) {
      throw codedError('ERR_OUT_OF_RANGE', `E1000Nic.open: mtu must be an integer in [68, 1500], got ${String(opts.mtu)}`, RangeError);
    }
    const { E1000Device } = loadAddon();
    installDmaSafetyHooks();
    const dev = new E1000Device(opts.pci, opts.access ?? 'uio', {
      ...(opts.rxRing !== undefined ? { rxRing: opts.rxRing } : {}),
      ...(opts.txRing !== undefined ? { txRing: opts.txRing } : {}),
      ...(opts.slotCount !== undefined ? { slotCount: opts.slotCount } : {}),
      ...(opts.slotSize !== undefined ? { slotSize: opts.slotSize } : {}),
      mtu: opts.mtu ?? 1500,
      loopback: opts.loopback === true,
      promiscuous: opts.promiscuous === true,
      txChecksum: opts.txChecksum ?? true,
      tso: (opts.tso ?? true) && (opts.txChecksum ?? true),
    });
    let nic: E1000Nic;
    try {
      nic = new E1000Nic(dev, opts);
    } catch (err) {
      dev.close();
      throw err;
    }
    open.add(nic);
    return nic;
  }

  setMulticast(macs: readonly number[]): void {
    if (this.closed) return;
    const bytes = new Uint8Array(6 * macs.length);
    for (let k = 0; k < macs.length; k++) writeMac(bytes, 6 * k, macs[k]!);
    this.dev.setMulticast(bytes);
  }

  get linkUp(): boolean {
    return !this.closed && this.dev.linkUp();
  }

  /** DMA memory source: 'hugetlbfs' or 'vfio-iommu'. */
  get memory(): string {
    return this.dev.memory;
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
    // A closed NIC lends no slot: its pool is detached, and the stack above
    // may still try to send (a socket writing after Stack.close()).
    if (this.closed) return -1;
    const f = this.free;
    const top = f[0]!;
    if (top === 0) {
      // Frames sent earlier may be done by now.
      if (this.dev.txReclaim() === 0 || f[0] === 0) return -1;
      return f[f[0]--]!;
    }
    f[0] = top - 1;
    return f[top]!;
  }

  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount) {
      throw codedError('ERR_OUT_OF_RANGE', `E1000Nic.release: slot ${slot} out of range`, RangeError);
    }
    const f = this.free;
    if (f[0]! >= this.slotCount) throw codedError('ERR_USTACK_DOUBLE_RELEASE', 'E1000Nic.release: double release');
    f[++f[0]!] = slot;
  }

  /**
   * Free slots in the pool. When few are left, transmitted frames the device
   * is done with are reclaimed first (as alloc() does on an empty pool): the
   * stack stops transmitting at its receive reserve, so the free count must
   * not wait for a transmit burst to recover.
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

  /** One-shot: the handler runs once on the next RX interrupt (or at once if a frame is waiting). */
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

  /** Stops DMA, clears bus mastering, then frees the DMA memory (the pool is detached). Idempotent. */
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

  /**
   * MII-loopback self-test: opens the device with the PHY in loopback, sends
   * `count` frames of varied sizes and checks each comes back intact.
   */
  static async selfTest(
    pci: string,
    access: 'uio' | 'vfio' = 'uio',
    count = 64,
  ): Promise<{ sent: number; received: number; intact: number; model: string; ok: boolean }> {
    const nic = E1000Nic.open({ pci, access, loopback: true, txChecksum: false });
    try {
      const slots = new Uint32Array(32);
      const lens = new Uint32Array(32);
      const seen = new Set<number>();
      let sent = 0;
      let intact = 0;
      const frameLen = (i: number): number => 60 + ((i * 97) % 1400);
      const byteAt = (i: number, j: number): number => (i * 31 + j * 7) & 0xff;
      // RX starts about a second after RCTL is written on QEMU: wait until a probe comes back.
      const probeUntil = Date.now() + 5_000;
      let up = false;
      while (!up && Date.now() < probeUntil) {
        const s = nic.alloc();
        if (s >= 0) {
          const o = s * nic.slotSize;
          nic.pool.fill(0xff, o, o + 12);
          nic.pool[o + 12] = 0x88;
          nic.pool[o + 13] = 0xb6; // probe
          slots[0] = s;
          lens[0] = 60;
          if (nic.txBurst(slots, lens, 1) !== 1) nic.release(s);
        }
        await new Promise((r) => setTimeout(r, 50));
        const n = nic.rxBurst(slots, lens, 32);
        for (let k = 0; k < n; k++) {
          if (nic.pool[slots[k]! * nic.slotSize + 13] === 0xb6) up = true;
          nic.release(slots[k]!);
        }
      }
      const deadline = Date.now() + 10_000;
      let received = 0;
      while ((sent < count || received < sent) && Date.now() < deadline) {
        if (sent < count) {
          const s = nic.alloc();
          if (s >= 0) {
            const len = frameLen(sent);
            const o = s * nic.slotSize;
            const p = nic.pool;
            // Broadcast destination, our source MAC, EtherType 0x88b5 (local experimental).
            p.fill(0xff, o, o + 6);
            for (let b = 0; b < 6; b++) p[o + 6 + b] = Math.floor(nic.mac / 2 ** (8 * (5 - b))) & 0xff;
            p[o + 12] = 0x88;
            p[o + 13] = 0xb5;
            p[o + 14] = sent >> 8;
            p[o + 15] = sent & 0xff;
            for (let j = 16; j < len; j++) p[o + j] = byteAt(sent, j);
            slots[0] = s;
            lens[0] = len;
            if (nic.txBurst(slots, lens, 1) === 1) sent++;
            else nic.release(s);
          }
        }
        const n = nic.rxBurst(slots, lens, 32);
        for (let k = 0; k < n; k++) {
          const o = slots[k]! * nic.slotSize;
          const p = nic.pool;
          if (p[o + 12] === 0x88 && p[o + 13] === 0xb5) {
            received++;
            const i = (p[o + 14]! << 8) | p[o + 15]!;
            let good = lens[k] === frameLen(i) && !seen.has(i);
            for (let j = 16; good && j < lens[k]!; j++) if (p[o + j] !== byteAt(i, j)) good = false;
            if (good) intact++;
            seen.add(i);
          }
          nic.release(slots[k]!);
        }
        if (n === 0) await new Promise((r) => setTimeout(r, 1));
      }
      return { sent, received, intact, model: nic.model, ok: sent === count && intact === count };
    } finally {
      await nic.close();
    }
  }
}
