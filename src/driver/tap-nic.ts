/**
 * TapNic: a Nic over a Linux TAP device. The kernel's own TCP/IP sits on the
 * other side of the link (the "host" side), which makes it the reference peer
 * for interop tests.
 *
 * Packet memory is one ArrayBuffer attached to the addon once; rxBurst hands
 * the addon free slot indices to read into, txBurst hands it filled slots.
 * Nothing is allocated per burst.
 */
import { loadAddon, type TapDevice, type TapDeviceStats } from './addon.js';
import {
  macToString,
  parseIpv4Cidr,
  parseMac,
  randomLocalMac,
  type Ipv4Cidr,
} from './host-config.js';
import { SlotAllocator, type Nic, type NicOffloads, type NicStats } from './nic.js';

export interface TapNicOptions {
  /** Interface name (at most 15 bytes). Created if missing; a persistent one is attached to. */
  name: string;
  /** Address given to the kernel side, e.g. '10.11.0.1/24'. */
  hostAddress?: string;
  /** IP MTU; sets the device's MTU. Default: the device's current MTU (1500 for a new TAP). */
  mtu?: number;
  /** Slots in the packet pool (default 1024). */
  slotCount?: number;
  /** Our MAC as a 48-bit number; default a random locally administered unicast address. */
  mac?: number;
}

const DEFAULT_SLOT_COUNT = 1024;

/** Slot size for an MTU: 2048 up to MTU 2030, then whole KiB holding mtu + 18 (Ethernet + VLAN). */
export function tapSlotSizeFor(mtu: number): number {
  const frame = mtu + 18;
  return frame <= 2048 ? 2048 : Math.ceil(frame / 1024) * 1024;
}

function argError(message: string, code = 'ERR_INVALID_ARG_VALUE'): Error {
  const err = new TypeError(message) as TypeError & { code: string };
  err.code = code;
  return err;
}

export class TapNic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads = { txChecksum: false, tso: false, rxChecksumVerified: false };
  /** The kernel side's MAC (48-bit number). */
  readonly hostMac: number;
  /** The kernel side's IPv4 address, if one was configured. */
  readonly hostAddress: Ipv4Cidr | undefined;
  /** The device existed (persistent) before open; close() then leaves it in place. */
  readonly preExisted: boolean;

  private readonly dev: TapDevice;
  private readonly slots: SlotAllocator;
  private wakeHandler: (() => void) | null = null;
  private closed = false;
  private finalStats: TapDeviceStats | undefined;
  private rxNoSlot = 0;
  private wakeups = 0;
  private readonly onDeviceWake = (): void => {
    this.wakeups++;
    const h = this.wakeHandler;
    if (h !== null) h();
  };

  private constructor(
    dev: TapDevice,
    mtu: number,
    slotSize: number,
    slotCount: number,
    mac: number,
    hostMac: number,
    hostAddress: Ipv4Cidr | undefined,
  ) {
    this.dev = dev;
    this.name = dev.name;
    this.preExisted = dev.preExisted;
    this.mtu = mtu;
    this.slotSize = slotSize;
    this.slotCount = slotCount;
    this.mac = mac;
    this.hostMac = hostMac;
    this.hostAddress = hostAddress;
    const buffer = new ArrayBuffer(slotSize * slotCount);
    dev.attachPool(buffer, slotSize);
    this.pool = new Uint8Array(buffer);
    this.slots = new SlotAllocator(slotCount);
  }

  /**
   * Creates (or attaches to) the TAP device, configures the kernel side
   * (MTU, address, link up) and allocates the packet pool. Throws Node-style
   * errors: `EPERM` without CAP_NET_ADMIN, `EBUSY` if another process has the
   * device, `EINVAL` for a bad name, `ERR_INVALID_ARG_VALUE` for bad options.
   */
  static open(opts: TapNicOptions): TapNic {
    if (typeof opts !== 'object' || opts === null || typeof opts.name !== 'string') {
      throw argError('TapNic.open: options.name must be a string', 'ERR_INVALID_ARG_TYPE');
    }
    const host = opts.hostAddress === undefined ? undefined : parseIpv4Cidr(opts.hostAddress);
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535)) {
      throw argError(`TapNic.open: mtu must be an integer in [68, 65535], got ${String(opts.mtu)}`);
    }
    const slotCount = opts.slotCount ?? DEFAULT_SLOT_COUNT;
    if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > 1 << 20) {
      throw argError(`TapNic.open: slotCount must be an integer in [1, 1048576], got ${String(slotCount)}`);
    }
    if (opts.mac !== undefined && (!Number.isInteger(opts.mac) || opts.mac < 0 || opts.mac >= 2 ** 48)) {
      throw argError(`TapNic.open: mac must be a 48-bit integer`);
    }

    const { TapDevice } = loadAddon();
    const dev = new TapDevice(opts.name);
    try {
      dev.configureHost({
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
        ...(host ? { address: host.address, prefixLength: host.prefixLength } : {}),
        up: true,
      });
      const mtu = opts.mtu ?? dev.hostMtu();
      const hostMac = parseMac(dev.hostMac());
      if (opts.mac !== undefined && opts.mac === hostMac) {
        throw argError(`TapNic.open: mac ${macToString(opts.mac)} equals the kernel side's MAC`);
      }
      const mac = opts.mac ?? randomLocalMac(hostMac);
      return new TapNic(dev, mtu, tapSlotSizeFor(mtu), slotCount, mac, hostMac, host);
    } catch (err) {
      dev.close();
      throw err;
    }
  }

  /** Our MAC as text, 'aa:bb:cc:dd:ee:ff'. */
  get macString(): string {
    return macToString(this.mac);
  }

  get hostMacString(): string {
    return macToString(this.hostMac);
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
    if (this.closed) return 0;
    const n = Math.min(max, slots.length, lens.length);
    let k = 0;
    while (k < n) {
      const s = this.slots.alloc();
      if (s < 0) break;
      slots[k++] = s;
    }
    if (k === 0) {
      if (n > 0) this.rxNoSlot++;
      return 0;
    }
    let got = this.dev.readBurst(slots, lens, k);
    if (got < 0) got = 0; // counted by the addon (rxErrors, lastRxErrno)
    // Give back the slots that were not filled, last first, so the next burst reuses the same ones.
    for (let i = k - 1; i >= got; i--) this.slots.release(slots[i]!);
    return got;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    const taken = this.dev.writeBurst(slots, lens, n);
    for (let i = 0; i < taken; i++) this.slots.release(slots[i]!);
    return taken;
  }

  alloc(): number {
    return this.slots.alloc();
  }

  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount) {
      const err = new RangeError(`TapNic.release: slot ${slot} out of range`) as RangeError & { code: string };
      err.code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
    this.slots.release(slot);
  }

  /** Free slots in the pool. */
  get availableSlots(): number {
    return this.slots.available;
  }

  setWakeHandler(onWake: (() => void) | null): void {
    this.wakeHandler = onWake;
    if (this.closed) return;
    // Only hold a callback in the addon while a handler is set, so a dropped
    // TapNic without a handler can still be garbage-collected (and closed).
    this.dev.setWakeCallback(onWake === null ? null : this.onDeviceWake);
  }

  /** One-shot: the wake handler runs once when the TAP fd becomes readable. No-op after close(). */
  armWake(): void {
    if (!this.closed) this.dev.armWake();
  }

  /** An armed wake keeps the event loop alive (the default). */
  ref(): this {
    if (!this.closed) this.dev.ref();
    return this;
  }

  /** An armed wake no longer keeps the event loop alive. */
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
    const d = this.closed ? this.finalStats! : this.dev.stats();
    return {
      framesIn: d.rxFrames,
      bytesIn: d.rxBytes,
      framesOut: d.txFrames,
      bytesOut: d.txBytes,
      readErrors: d.rxErrors,
      writeErrors: d.txErrors,
      readEagain: d.rxEagain,
      writeEagain: d.txEagain,
      rxTruncated: d.rxTruncated,
      rxNoSlot: this.rxNoSlot,
      lastReadErrno: d.lastRxErrno,
      lastWriteErrno: d.lastTxErrno,
      wakeups: this.wakeups,
      wakeErrors: d.wakeErrors,
      freeSlots: this.slots.available,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the device (a device we created disappears). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.finalStats = this.dev.stats();
      this.closed = true;
      this.wakeHandler = null;
      this.dev.close();
    }
    return Promise.resolve();
  }
}
