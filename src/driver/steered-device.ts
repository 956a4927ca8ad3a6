/**
 * The device side of a shard owner's steering pump (steering-pump.ts): how
 * frames get into the shared pool and out of it for one kind of device.
 * The pool is the shared region's (ShmOwner); the device reads into owner
 * slots and sends from any slot, by index. Three kinds today:
 *
 *  - TAP (steered-tap.ts): the owner lends free owner slots to each read
 *    burst; a write burst is done when the call returns.
 *  - AF_XDP on one queue (steered-xdp.ts): the UMEM is the region; the
 *    device's fill ring takes owner slots the owner keeps on its free stack;
 *    a transmit completes later (the completion ring), and a worker's slot
 *    goes back to the worker only then.
 *  - virtio-net through UIO (steered-virtio.ts): the region is huge-page
 *    memory the device reads and writes by physical address; receive and
 *    transmit as for AF_XDP, over every queue pair.
 */
import type { ShmOwner } from './addon.js';
import type { NicOffloads, NicStats } from './nic.js';

/** What a worker needs to know of the device (it opens nothing itself). */
export interface DeviceInfo {
  device: string;
  mac: number;
  mtu: number;
  offloads: NicOffloads;
  rxPerFrameFlags: boolean;
}

/** A PollLoop wake source (runtime/poll-loop.ts WakeSource). */
export interface DeviceWake {
  setWakeHandler(h: (() => void) | null): void;
  armWake(): void;
  ref(): void;
  unref(): void;
}

/** The wake-up calls of a polled device (XdpDevice, VirtioDevice): armWake says whether frames wait already. */
export interface PolledWakeDevice {
  setWakeCallback(fn: (() => void) | null): void;
  armWake(): boolean;
  ref(): void;
  unref(): void;
}

/**
 * A DeviceWake over a polled device, for as long as `live()` holds: once the
 * owner has closed the device nothing reaches it and no handler runs.
 * `release()` drops the handler (on close).
 */
export function polledDeviceWake(dev: PolledWakeDevice, live: () => boolean): DeviceWake & { release(): void } {
  let handler: (() => void) | null = null;
  const fire = (): void => {
    if (live()) handler?.();
  };
  return {
    setWakeHandler: (h) => {
      handler = h;
      if (live()) dev.setWakeCallback(h === null ? null : fire);
    },
    // Frames already waiting: the handler runs from a microtask, as a wake-up would.
    armWake: () => {
      if (live() && dev.armWake()) queueMicrotask(fire);
    },
    ref: () => {
      if (live()) dev.ref();
    },
    unref: () => {
      if (live()) dev.unref();
    },
    release: () => {
      handler = null;
    },
  };
}

export interface SteeredDevice {
  readonly info: DeviceInfo;
  /** The device's wake-up: frames may be waiting. */
  readonly wake: DeviceWake;
  /** Receives one burst and steers it (ShmOwner.steer); returns the frames received. */
  receive(): number;
  /**
   * Sends what the owner has queued (ShmOwner.txBatch) and gives back what
   * the device is done with; returns frames sent and whether the device
   * pushed back (frames still queued: poll again soon).
   */
  transmit(): { sent: number; waiting: boolean };
  stats(): NicStats;
  close(): Promise<void>;
}

/** How the pump makes the region once the device knows its slot size (hugePages: DMA memory by physical address). */
export type RegionFactory = (slotSize: number, poolShift: number, extra?: { hugePages?: boolean }) => ShmOwner;
