/**
 * ShmNic: a worker's NIC in a shard (one NIC, many workers; src/shard/).
 * The device belongs to the owner process; this Nic is the worker's end of
 * the rings the owner steers frames into (addon/shm, ShmPort).
 *
 * Packet memory is the owner's slot pool, shared: received frames arrive in
 * owner slots — the very slot the device wrote, read here in place — and go
 * back to the owner with release(); frames to send are built in this
 * worker's own partition of the pool (alloc()), queued to the owner with
 * txBurst(), and come back to the free stack once sent. Only slot indices
 * cross the rings; no frame is copied between the processes.
 *
 * release() of an owner slot is batched: the slots collect here and go up
 * in one call at the next burst or before sleeping, so the per-frame cost
 * stays a store into a Uint32Array. The free stack of the own partition is
 * shared with the addon ([count, slot...]), as for AF_XDP and the e1000, so
 * alloc() and release() of own slots never cross into C++.
 *
 * The stack announces its connections through flowOpened()/flowClosed()
 * (tcp-layer's onConnectionTable), and asks steersHere() before choosing an
 * ephemeral port, so the replies to a connection it opens are steered back
 * to it.
 */
import { loadAddon, type ShmPort, type ShmPortStats } from './addon.js';
import type { Nic, NicOffloads, NicStats } from './nic.js';
import { codedError } from '../errors/node-errors.js';

export interface ShmNicOptions {
  /** The inherited region fd, this worker's place, its wake-up eventfd and the owner's. */
  fd: number;
  place: number;
  wakeFd: number;
  ownerWakeFd: number;
  /** The device's name (for names and messages). */
  device: string;
  /** The MAC the device answers to (the stack's). */
  mac: number;
  mtu: number;
  /** What the device does for us (the owner's device's offloads). */
  offloads: NicOffloads;
  /** Received frames carry per-frame checksum flags (RX_FLAG_*). */
  rxPerFrameFlags: boolean;
}

const IPPROTO_TCP = 6;
/** Owner slots collected before they go up in one call. */
const RELEASE_BATCH = 64;

export class ShmNic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads;
  readonly rxPerFrameFlags: boolean;
  /** This worker's place among the owner's workers. */
  readonly place: number;
  /** This worker's partition: [firstSlot, firstSlot + ownSlots). */
  readonly firstSlot: number;
  readonly ownSlots: number;

  private readonly port: ShmPort;
  /** Shared with the addon: [count, free own slots...]. */
  private readonly free: Uint32Array;
  /** Owner slots released since the last flush. */
  private readonly pending: Uint32Array;
  private pendingCount = 0;
  /** Flow notices the up ring had no room for: [opened, local, lport, remote, rport] each, sent before the next frames. */
  private readonly flowBacklog: number[] = [];
  private wakeHandler: (() => void) | null = null;
  private closed = false;
  private finalStats: NicStats | undefined;
  private wakeups = 0;
  private txFlowWait = 0;
  private readonly onDeviceWake = (): void => {
    this.wakeups++;
    const h = this.wakeHandler;
    if (h !== null) h();
  };
  private readonly onPendingWake = (): void => {
    if (!this.closed) this.onDeviceWake();
  };

  private constructor(port: ShmPort, opts: ShmNicOptions) {
    this.port = port;
    this.place = port.place;
    this.name = `${opts.device}#${port.place}`;
    this.mac = opts.mac;
    this.mtu = opts.mtu;
    this.offloads = opts.offloads;
    this.rxPerFrameFlags = opts.rxPerFrameFlags;
    this.slotSize = port.slotSize;
    this.slotCount = port.slotCount;
    this.firstSlot = port.firstSlot;
    this.ownSlots = port.ownSlots;
    this.pool = new Uint8Array(port.pool);
    // Empty at first: the owner's first returns (the whole partition) fill it.
    this.free = new Uint32Array(this.ownSlots + 1);
    this.pending = new Uint32Array(this.slotCount);
    port.start(this.free);
  }

  /** Attaches to the region and rings the owner handed this process. */
  static attach(opts: ShmNicOptions): ShmNic {
    const { ShmPort } = loadAddon();
    const port = new ShmPort({ fd: opts.fd, place: opts.place, wakeFd: opts.wakeFd, ownerWakeFd: opts.ownerWakeFd });
    try {
      return new ShmNic(port, opts);
    } catch (err) {
      port.close();
      throw err;
    }
  }

  private flushReleases(): void {
    let done = 0;
    while (done < this.pendingCount) {
      const k = this.port.release(done === 0 ? this.pending : this.pending.subarray(done), this.pending, this.pendingCount - done);
      if (k === 0) break; // ring full: try again at the next burst
      done += k;
    }
    if (done === this.pendingCount) this.pendingCount = 0;
    else {
      this.pending.copyWithin(0, done, this.pendingCount);
      this.pendingCount -= done;
    }
  }

  /** Flow notices held back by a full ring; false while some still wait. */
  private flushFlows(): boolean {
    const b = this.flowBacklog;
    while (b.length > 0) {
      if (!this.port.flow(b[0] === 1, IPPROTO_TCP, b[1]!, b[2]!, b[3]!, b[4]!)) return false;
      b.splice(0, 5);
    }
    return true;
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    if (this.closed) return 0;
    if (this.pendingCount > 0) this.flushReleases();
    return this.port.rxBurst(slots, lens, max, flags);
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    if (this.pendingCount > 0) this.flushReleases();
    // A connection's notice goes up before its first segment.
    if (this.flowBacklog.length > 0 && !this.flushFlows()) {
      this.txFlowWait++;
      return 0;
    }
    return this.port.txBurst(slots, lens, n);
  }

  alloc(): number {
    const f = this.free;
    const top = f[0]!;
    if (top === 0) return -1;
    f[0] = top - 1;
    return f[top]!;
  }

  release(slot: number): void {
    if (this.closed) return;
    if (slot >= this.firstSlot && slot < this.firstSlot + this.ownSlots) {
      const f = this.free;
      if (f[0]! >= this.ownSlots) throw codedError('ERR_USTACK_DOUBLE_RELEASE', `ShmNic.release: slot ${slot} released twice`);
      f[++f[0]!] = slot;
      return;
    }
    if (!(slot >= 0 && slot < this.slotCount)) {
      throw codedError('ERR_OUT_OF_RANGE', `ShmNic.release: slot ${slot} out of range`, RangeError);
    }
    this.pending[this.pendingCount++] = slot;
    if (this.pendingCount >= RELEASE_BATCH) this.flushReleases();
  }

  /** Free slots of this worker's partition: what transmit can take. */
  get availableSlots(): number {
    return this.free[0]!;
  }

  /** A TCP connection entered the stack's table: the owner pins its flow here. */
  flowOpened(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): void {
    this.flowNotice(1, localAddr, localPort, remoteAddr, remotePort);
  }

  /** A TCP connection left the stack's table. */
  flowClosed(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): void {
    this.flowNotice(0, localAddr, localPort, remoteAddr, remotePort);
  }

  private flowNotice(opened: number, la: number, lp: number, ra: number, rp: number): void {
    if (this.closed) return;
    if (this.flowBacklog.length === 0 && this.port.flow(opened === 1, IPPROTO_TCP, la >>> 0, lp, ra >>> 0, rp)) return;
    this.flowBacklog.push(opened, la >>> 0, lp, ra >>> 0, rp);
  }

  /** Whether replies from remote to this local port are steered to this worker (the ephemeral port choice). */
  steersHere(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean {
    return !this.closed && this.port.steersHere(localAddr >>> 0, localPort, remoteAddr >>> 0, remotePort);
  }

  setWakeHandler(onWake: (() => void) | null): void {
    this.wakeHandler = onWake;
    if (this.closed) return;
    this.port.setWakeCallback(onWake === null ? null : this.onDeviceWake);
  }

  /** One-shot: the handler runs once the owner queues a frame (at once if one waits). */
  armWake(): void {
    if (this.closed) return;
    if (this.pendingCount > 0) this.flushReleases();
    if (this.port.armWake()) queueMicrotask(this.onPendingWake);
  }

  ref(): this {
    if (!this.closed) this.port.ref();
    return this;
  }

  unref(): this {
    if (!this.closed) this.port.unref();
    return this;
  }

  pollAt(): number {
    return Infinity;
  }

  stats(): NicStats {
    if (this.closed) return this.finalStats!;
    const p: ShmPortStats = this.port.stats();
    return {
      framesIn: p.rxFrames,
      bytesIn: p.rxBytes,
      framesOut: p.txFrames,
      bytesOut: p.txBytes,
      ...p,
      place: this.place,
      freeSlots: this.free[0]!,
      ownSlots: this.ownSlots,
      pendingReleases: this.pendingCount,
      flowBacklog: this.flowBacklog.length / 5,
      txFlowWait: this.txFlowWait,
      wakeups: this.wakeups,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Gives the owner its slots back, then unmaps. Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      if (this.pendingCount > 0) this.flushReleases();
      this.finalStats = this.stats();
      this.closed = true;
      this.wakeHandler = null;
      this.port.close();
    }
    return Promise.resolve();
  }
}
