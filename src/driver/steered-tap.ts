/**
 * A TAP device under a shard owner (steered-device.ts): TapNic in owner
 * mode over the region's pool. Each receive burst reads into owner slots
 * the owner lends (ShmOwner.takeRx) and steers what was read; a write burst
 * is done when the call returns, so sent slots are given back at once
 * (ShmOwner.txDone). The device's wake-up is armed only while an owner slot
 * is free: with every slot at the workers a readable TAP would wake the
 * owner for nothing, again and again; a worker giving slots back wakes it
 * through the ring's eventfd instead.
 */
import type { ShmOwner } from './addon.js';
import type { NicStats } from './nic.js';
import { TapNic, type TapNicOptions } from './tap-nic.js';
import type { DeviceInfo, DeviceWake, RegionFactory, SteeredDevice } from './steered-device.js';

const BURST = 32;
const TX_BURST = 64;

export class SteeredTap implements SteeredDevice {
  readonly info: DeviceInfo;
  readonly wake: DeviceWake;
  private readonly rxSlots = new Uint32Array(BURST);
  private readonly rxLens = new Uint32Array(BURST);
  private readonly rxFlags: Uint8Array | undefined;
  private readonly txSlots = new Uint32Array(TX_BURST);
  private readonly txLens = new Uint32Array(TX_BURST);
  private readonly counters = { rxNoSlot: 0, txShort: 0, wakeSkipped: 0 };

  private constructor(
    readonly tap: TapNic,
    private readonly shm: ShmOwner,
  ) {
    this.info = { device: tap.name, mac: tap.mac, mtu: tap.mtu, offloads: { ...tap.offloads }, rxPerFrameFlags: tap.rxPerFrameFlags };
    this.rxFlags = tap.rxPerFrameFlags ? new Uint8Array(BURST) : undefined;
    this.wake = {
      setWakeHandler: (h) => tap.setWakeHandler(h),
      armWake: () => {
        if (shm.freeSlots > 0) tap.armWake();
        else this.counters.wakeSkipped++;
      },
      ref: () => tap.ref(),
      unref: () => tap.unref(),
    };
  }

  /** Opens the TAP; its pool is the region `makeRegion` creates for its slot size. */
  static open(opts: Omit<TapNicOptions, 'pool'>, makeRegion: RegionFactory): { device: SteeredTap; shm: ShmOwner } {
    let shm: ShmOwner | undefined;
    let tap: TapNic;
    try {
      tap = TapNic.open({
        ...opts,
        pool: (slotSize) => {
          shm = makeRegion(slotSize, 0);
          return { buffer: shm.pool, slotCount: shm.slotCount };
        },
      });
    } catch (err) {
      shm?.close();
      throw err;
    }
    return { device: new SteeredTap(tap, shm!), shm: shm! };
  }

  receive(): number {
    const k = this.shm.takeRx(this.rxSlots, this.rxLens, BURST);
    if (k === 0) {
      this.counters.rxNoSlot++;
      return 0;
    }
    const got = this.tap.readInto(this.rxSlots, this.rxLens, k, this.rxFlags);
    this.shm.steer(this.rxSlots, this.rxLens, k, got, this.rxFlags);
    return got;
  }

  transmit(): { sent: number; waiting: boolean } {
    let sent = 0;
    for (;;) {
      const n = this.shm.txBatch(this.txSlots, this.txLens, TX_BURST);
      if (n === 0) return { sent, waiting: false };
      const taken = this.tap.writeFrom(this.txSlots, this.txLens, n);
      this.shm.txDone(taken);
      sent += taken;
      if (taken < n) {
        this.counters.txShort++; // the device pushes back: the rest waits for the next poll
        return { sent, waiting: true };
      }
    }
  }

  stats(): NicStats {
    return { ...this.tap.stats(), ...this.counters };
  }

  close(): Promise<void> {
    return this.tap.close();
  }
}
