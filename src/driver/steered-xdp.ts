/**
 * AF_XDP on one receive queue under a shard owner (steered-device.ts): the
 * UMEM is the shared region itself (the XdpDevice maps the region's memfd;
 * the region's pool starts 256 bytes into its first page, where the kernel
 * puts a received frame in its chunk), so a frame the kernel writes into an
 * owner slot is the one a worker reads, and a worker's frame is sent from
 * the worker's slot.
 *
 * Receive: the device's fill ring takes slots from its free stack, which
 * the owner keeps stocked with owner slots it lends (ShmOwner.takeRx); a
 * received burst is steered as it comes. Transmit: frames go into the TX
 * ring (ShmOwner.txSent: still the owner's) and come back on the completion
 * ring: an owner slot to the device's free stack (lent again), a worker's
 * slot (the device was opened with foreignFrom = the first worker slot) to
 * the worker (ShmOwner.giveBack).
 *
 * The XDP program sends the socket ARP for the stack's address and IPv4 to
 * it, and the kernel keeps everything else, as with XdpNic; no offloads.
 */
import { readFileSync } from 'node:fs';
import { loadAddon, type ShmOwner, type XdpDevice } from './addon.js';
import { parseMac } from './host-config.js';
import type { NicStats } from './nic.js';
import { polledDeviceWake, type DeviceInfo, type DeviceWake, type RegionFactory, type SteeredDevice } from './steered-device.js';

export interface SteeredXdpOptions {
  ifname: string;
  queue?: number;
  mode?: 'auto' | 'native' | 'generic';
  zerocopy?: 'auto' | 'on' | 'off';
  busyPoll?: boolean;
  /** The stack's address (the program redirects what is addressed to it). */
  address: number;
}

const BURST = 32;
const TX_BURST = 64;
/** The kernel's headroom in a UMEM chunk (XDP_PACKET_HEADROOM). */
const XDP_HEADROOM = 256;
/** Entries of each AF_XDP ring. */
const RING_SIZE = 2048;
/** Owner slots kept on the device's free stack, for the fill ring to take as it drains (the ring holds RING_SIZE more). */
const STOCK = 256;
/** Owner slots never lent to the device: the ARP agent and the probes write frames of their own into them. */
const RESERVE = 64;

/** The UMEM chunk for an interface MTU, as addon/xdp/xdp.h chunk_for_mtu. */
function chunkFor(ifname: string): number {
  let mtu = 1500;
  try {
    mtu = Number(readFileSync(`/sys/class/net/${ifname}/mtu`, 'utf8').trim()) || 1500;
  } catch {
    // no such interface: XdpDevice says so
  }
  return mtu + 18 <= 2048 - XDP_HEADROOM ? 2048 : 4096;
}

export class SteeredXdp implements SteeredDevice {
  readonly info: DeviceInfo;
  readonly wake: DeviceWake & { release(): void };
  /** Shared with the addon: [count, owner slots the fill ring may take...]. */
  private readonly free: Uint32Array;
  private readonly lend = new Uint32Array(STOCK);
  private readonly rxSlots = new Uint32Array(BURST);
  private readonly rxLens = new Uint32Array(BURST);
  private readonly txSlots = new Uint32Array(TX_BURST);
  private readonly txLens = new Uint32Array(TX_BURST);
  private readonly done: Uint32Array;
  private closed = false;
  private readonly counters = { txShort: 0, completedWorkerSlots: 0 };

  private constructor(
    readonly dev: XdpDevice,
    private readonly shm: ShmOwner,
    ifname: string,
  ) {
    this.info = {
      device: ifname,
      mac: parseMac(dev.mac),
      mtu: dev.mtu,
      offloads: { txChecksum: false, tso: false, rxChecksumVerified: false },
      rxPerFrameFlags: false,
    };
    this.free = new Uint32Array(dev.slotCount + 1);
    this.done = new Uint32Array(dev.slotCount);
    this.stock();
    dev.start(this.free);
    this.wake = polledDeviceWake(dev, () => !this.closed);
  }

  /** Opens the socket over a UMEM that is the region `makeRegion` creates. */
  static open(opts: SteeredXdpOptions, makeRegion: RegionFactory): { device: SteeredXdp; shm: ShmOwner } {
    const chunk = chunkFor(opts.ifname);
    const shm = makeRegion(chunk, XDP_HEADROOM);
    let dev: XdpDevice | undefined;
    try {
      const { XdpDevice } = loadAddon();
      dev = new XdpDevice(opts.ifname, {
        ...(opts.queue !== undefined ? { queue: opts.queue } : {}),
        ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
        ...(opts.zerocopy !== undefined ? { zerocopy: opts.zerocopy } : {}),
        busyPoll: opts.busyPoll === true,
        slotCount: shm.slotCount,
        ringSize: RING_SIZE,
        umemFd: shm.fd,
        umemPage: shm.umemPage,
        foreignFrom: shm.ownerSlots,
      });
      if (dev.slotSize !== shm.slotSize || dev.slotCount !== shm.slotCount) {
        throw new Error(`AF_XDP UMEM of ${dev.slotCount} x ${dev.slotSize} B does not match the region's ${shm.slotCount} x ${shm.slotSize} B`);
      }
      dev.setAddresses([opts.address]);
      return { device: new SteeredXdp(dev, shm, opts.ifname), shm };
    } catch (err) {
      dev?.close();
      shm.close();
      throw err;
    }
  }

  /** Tops the device's free stack up with owner slots (lent: the owner counts them as its own, with the device). */
  private stock(): void {
    const f = this.free;
    const want = Math.min(STOCK - f[0]!, this.shm.freeSlots - RESERVE);
    if (want <= 0) return;
    const k = this.shm.takeRx(this.lend, this.lend, want);
    for (let i = 0; i < k; i++) f[++f[0]!] = this.lend[i]!;
  }

  receive(): number {
    if (this.closed) return 0;
    this.stock();
    const n = this.dev.rxBurst(this.rxSlots, this.rxLens, BURST);
    if (n > 0) this.shm.steer(this.rxSlots, this.rxLens, n, n);
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
    return { sent, waiting };
  }

  stats(): NicStats {
    if (this.closed) return { ...this.counters };
    const d = this.dev.stats();
    return { framesIn: d.rxFrames, bytesIn: d.rxBytes, framesOut: d.txFrames, bytesOut: d.txBytes, ...d, freeStack: this.free[0]!, ...this.counters };
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
