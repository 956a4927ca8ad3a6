/**
 * The loopback device: every transmitted frame is received again by the same
 * NIC. Checksums are never computed on it (as Linux's lo: the data never
 * left memory), so it advertises both checksum offloads.
 */
import { SlotAllocator, type Nic, type NicOffloads, type NicStats } from './nic.js';

export class LoopbackNic implements Nic {
  readonly name = 'lo';
  readonly mac = 0;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads = { txChecksum: true, tso: false, rxChecksumVerified: true };
  private readonly slots: SlotAllocator;
  /** Ring of received slot indices. */
  private readonly ring: Uint32Array;
  private readonly ringLens: Uint32Array;
  private head = 0;
  private count = 0;
  private wake: (() => void) | null = null;
  private armed = false;
  private readonly counters = { rx_frames: 0, tx_frames: 0, tx_bytes: 0 };

  constructor(opts: { mtu?: number; slotCount?: number } = {}) {
    this.mtu = opts.mtu ?? 65000;
    this.slotSize = Math.ceil((this.mtu + 18) / 2048) * 2048;
    this.slotCount = opts.slotCount ?? 512;
    this.pool = new Uint8Array(this.slotSize * this.slotCount);
    this.slots = new SlotAllocator(this.slotCount);
    this.ring = new Uint32Array(this.slotCount);
    this.ringLens = new Uint32Array(this.slotCount);
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
    const n = Math.min(max, this.count);
    for (let i = 0; i < n; i++) {
      slots[i] = this.ring[this.head]!;
      lens[i] = this.ringLens[this.head]!;
      this.head = (this.head + 1) % this.slotCount;
    }
    this.count -= n;
    this.counters.rx_frames += n;
    return n;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    // Every slot comes from our own pool, so the ring (one entry per slot) cannot overflow.
    for (let i = 0; i < n; i++) {
      const tail = (this.head + this.count) % this.slotCount;
      this.ring[tail] = slots[i]!;
      this.ringLens[tail] = lens[i]!;
      this.count++;
      this.counters.tx_bytes += lens[i]!;
    }
    this.counters.tx_frames += n;
    if (n > 0 && this.armed && this.wake !== null) {
      this.armed = false;
      queueMicrotask(this.wake);
    }
    return n;
  }

  alloc(): number {
    return this.slots.alloc();
  }
  get availableSlots(): number {
    return this.slots.available;
  }
  release(slot: number): void {
    this.slots.release(slot);
  }
  setWakeHandler(onWake: (() => void) | null): void {
    this.wake = onWake;
  }
  armWake(): void {
    // Frames already waiting must wake the sleeper too, or they would sit until other traffic.
    if (this.count > 0 && this.wake !== null) queueMicrotask(this.wake);
    else this.armed = true;
  }
  /** Frames waiting mean work now. */
  pollAt(): number {
    return this.count > 0 ? -Infinity : Infinity;
  }
  stats(): NicStats {
    return { ...this.counters };
  }
  async close(): Promise<void> {
    this.count = 0;
  }
}
