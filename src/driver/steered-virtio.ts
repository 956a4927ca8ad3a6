/**
 * A virtio-net device under a shard owner (steered-device.ts), through UIO:
 * the device's packet memory is the shared region itself. The region is an
 * MFD_HUGETLB memfd (ShmOwner hugePages), the VirtioDevice maps that fd
 * (poolFd) and points its descriptors at the physical addresses of its huge
 * pages, so a frame the device writes into an owner slot is the frame a
 * worker reads in place, and a worker's frame is read by the device from
 * the worker's own slot. Only slot indices cross; no byte is copied.
 *
 * Every queue pair (`queues`) is the owner's: one rxBurst visits every
 * receive queue, and the owner steers what arrives (ShmOwner.steer: flow
 * table, then the Toeplitz hash and the indirection table), as for a TAP —
 * the device's own spreading over its queues (the backend's choice, e.g.
 * the host kernel's multi-queue TAP) decides nothing about which worker
 * gets a frame. Transmit picks a pair per frame by a hash of its flow.
 *
 * Receive: the device's free stack, which its receive queues take from, is
 * stocked with owner slots the owner lends (ShmOwner.takeRx). Transmit:
 * frames go onto the device's transmit queues (ShmOwner.txSent: still the
 * owner's) and complete later: an owner slot onto the free stack (lent
 * again), a worker's slot (foreignFrom = the first worker slot) back to the
 * worker (takeCompleted, ShmOwner.giveBack).
 *
 * Offloads are the device's (with a TAP backend: checksums and TSO both
 * ways); slots are 64 KiB with TSO, 2 KiB without.
 */
import { loadAddon, type ShmOwner, type VirtioDevice } from './addon.js';
import { installDmaSafetyHooks } from './dma-safety.js';
import { parseMac } from './host-config.js';
import type { NicStats } from './nic.js';
import { normalizePci } from './pci-sysfs.js';
import { polledDeviceWake, type DeviceInfo, type DeviceWake, type RegionFactory, type SteeredDevice } from './steered-device.js';

export interface SteeredVirtioOptions {
  /** PCI address, DDDD:BB:SS.F, bound to uio_pci_generic. */
  pci: string;
  /** Queue pairs (default 1). */
  queues?: number;
  /** TSO both ways when the device offers it (default true): 64 KiB slots. */
  tso?: boolean;
  /** IP MTU (default 1500). */
  mtu?: number;
}

const BURST = 32;
const TX_BURST = 64;
/** Whether stats() reports the device (physical) addresses of sample slots (the VM test's no-copy check). */
const EXPOSE_DMA_ADDRESSES = process.env['USTACK_DEBUG_DMA_ADDRESSES'] === '1';
/** Owner slots kept on the device's free stack, for the receive queues to take as they repost. */
const STOCK = 128;
/** Owner slots never lent to the device: the ARP agent and the probes write frames of their own into them. */
const RESERVE = 32;

export class SteeredVirtio implements SteeredDevice {
  readonly info: DeviceInfo;
  readonly wake: DeviceWake & { release(): void };
  /** Shared with the addon: [count, owner slots the receive queues may take...]. */
  private readonly free: Uint32Array;
  private readonly lend = new Uint32Array(STOCK);
  private readonly rxSlots = new Uint32Array(BURST);
  private readonly rxLens = new Uint32Array(BURST);
  private readonly rxFlags: Uint8Array | undefined;
  private readonly txSlots = new Uint32Array(TX_BURST);
  private readonly txLens = new Uint32Array(TX_BURST);
  private readonly done: Uint32Array;
  private closed = false;
  private readonly counters = { txShort: 0, completedWorkerSlots: 0 };

  private constructor(
    readonly dev: VirtioDevice,
    private readonly shm: ShmOwner,
    pci: string,
    mtu: number,
  ) {
    const o = dev.offloads;
    this.info = {
      device: `virtio-${pci}`,
      mac: parseMac(dev.mac),
      mtu,
      offloads: { txChecksum: o.txChecksum, tso: o.tso && o.txChecksum, rxChecksumVerified: false },
      // GUEST_CSUM: partial or validated checksums, flagged per frame (the flags cross the rings).
      rxPerFrameFlags: o.rxChecksum,
    };
    this.rxFlags = o.rxChecksum ? new Uint8Array(BURST) : undefined;
    this.free = new Uint32Array(dev.slotCount + 1);
    this.done = new Uint32Array(dev.slotCount);
    // The receive queues take every buffer they hold at start: stock them all.
    this.stock(dev.queuePairs * (dev.queueSize >>> 1) + STOCK);
    dev.start(this.free);
    this.wake = polledDeviceWake(dev, () => !this.closed);
  }

  /** Opens the device over a pool that is the huge-page region `makeRegion` creates. */
  static open(options: SteeredVirtioOptions, makeRegion: RegionFactory): { device: SteeredVirtio; shm: ShmOwner } {
    const pci = normalizePci(options.pci);
    const tso = options.tso ?? true;
    const slotSize = tso ? 65536 : 2048;
    const mtu = options.mtu ?? 1500;
    const shm = makeRegion(slotSize, 0, { hugePages: true });
    let dev: VirtioDevice | undefined;
    try {
      const { VirtioDevice } = loadAddon();
      installDmaSafetyHooks();
      dev = new VirtioDevice(pci, 'uio', {
        ...(options.queues !== undefined ? { queues: options.queues } : {}),
        slotSize,
        slotCount: shm.slotCount,
        mtu,
        txChecksum: true,
        tso,
        poolFd: shm.fd,
        poolPage: shm.umemPage,
        foreignFrom: shm.ownerSlots,
      });
      if (dev.slotSize !== shm.slotSize || dev.slotCount !== shm.slotCount) {
        throw new Error(`virtio pool of ${dev.slotCount} x ${dev.slotSize} B does not match the region's ${shm.slotCount} x ${shm.slotSize} B`);
      }
      return { device: new SteeredVirtio(dev, shm, pci, mtu), shm };
    } catch (err) {
      dev?.close();
      shm.close();
      throw err;
    }
  }

  /** Tops the device's free stack up to `target` with owner slots (lent: the owner counts them as its own, with the device). */
  private stock(target = STOCK): void {
    const f = this.free;
    const want = Math.min(target - f[0]!, this.shm.freeSlots - RESERVE);
    for (let left = want; left > 0; ) {
      const k = this.shm.takeRx(this.lend, this.lend, Math.min(left, STOCK));
      if (k === 0) break;
      for (let i = 0; i < k; i++) f[++f[0]!] = this.lend[i]!;
      left -= k;
    }
  }

  receive(): number {
    if (this.closed) return 0;
    this.stock();
    const n = this.dev.rxBurst(this.rxSlots, this.rxLens, BURST, this.rxFlags ?? null);
    if (n > 0) this.shm.steer(this.rxSlots, this.rxLens, n, n, this.rxFlags);
    return n;
  }

  transmit(): { sent: number; waiting: boolean } {
    if (this.closed) return { sent: 0, waiting: false };
    let sent = 0;
    let waiting = false;
    for (;;) {
      const n = this.shm.txBatch(this.txSlots, this.txLens, TX_BURST);
      if (n === 0) break;
      const taken = this.dev.txBurst(this.txSlots, this.txLens, n);
      this.shm.txSent(taken);
      sent += taken;
      if (taken < n) {
        this.counters.txShort++;
        waiting = true;
        break;
      }
    }
    // Completions: owner slots are back on the free stack; workers' slots go home.
    this.dev.txReclaim();
    const m = this.dev.takeCompleted(this.done);
    for (let i = 0; i < m; i++) this.shm.giveBack(this.done[i]!);
    this.counters.completedWorkerSlots += m;
    // Frames still on the device: poll again soon, so their slots come back (its transmit interrupts stay off).
    return { sent, waiting: waiting || this.dev.txOutstanding() > 0 };
  }

  stats(): NicStats {
    if (this.closed) return { ...this.counters };
    const d = this.dev.stats();
    // Where the device reads and writes the first owner slot and each worker's first slot
    // (physical addresses): the pages every process maps the region's pool from.
    // Physical addresses are what the kernel hides from unprivileged readers of
    // /proc/PID/pagemap: reported only when USTACK_DEBUG_DMA_ADDRESSES=1 (the VM test's check).
    const at = (slot: number): number => Number.parseInt(this.dev.slotDeviceAddress(slot) || '0', 16);
    const places: Record<string, number> = {};
    if (EXPOSE_DMA_ADDRESSES) {
      places['deviceAddrSlot0'] = at(0);
      for (let w = 0; w < this.shm.places; w++) places[`deviceAddrWorker${w}Slot`] = at(this.shm.ownerSlots + w * this.shm.workerSlots);
    }
    return {
      framesIn: d.rxFrames,
      bytesIn: d.rxBytes,
      framesOut: d.txFrames,
      bytesOut: d.txBytes,
      ...d,
      freeStack: this.free[0]!,
      txOutstanding: this.dev.txOutstanding(),
      ...places,
      ...this.counters,
    };
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.wake.release();
      this.dev.close();
    }
    return Promise.resolve();
  }
}
