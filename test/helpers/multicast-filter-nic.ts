/**
 * A model of a NIC's hardware multicast filter (the e1000's multicast table,
 * without its hash collisions: exact addresses) in front of an in-process
 * link: frames to a group address not in the set the stack gave through
 * setMulticast() are dropped before the stack sees them, and counted.
 * Unicast and broadcast pass.
 */
import type { Nic, NicOffloads, NicStats } from '../../src/driver/nic.js';

export class MulticastFilterNic implements Nic {
  /** The group addresses the stack asked for, in its last call. */
  joined: number[] = [];
  /** setMulticast() calls so far. */
  calls = 0;
  /** Multicast frames dropped by the filter. */
  dropped = 0;

  constructor(private readonly inner: Nic) {}

  get name(): string { return this.inner.name; }
  get mac(): number { return this.inner.mac; }
  get mtu(): number { return this.inner.mtu; }
  get pool(): Uint8Array { return this.inner.pool; }
  get slotSize(): number { return this.inner.slotSize; }
  get slotCount(): number { return this.inner.slotCount; }
  get offloads(): NicOffloads { return this.inner.offloads; }
  get availableSlots(): number { return this.inner.availableSlots; }

  setMulticast(macs: readonly number[]): void {
    this.joined = [...macs];
    this.calls++;
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
    const n = this.inner.rxBurst(slots, lens, max);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const off = slots[i]! * this.inner.slotSize;
      const p = this.inner.pool;
      const isGroup = (p[off]! & 1) === 1;
      const dst = ((p[off]! << 8) | p[off + 1]!) * 0x1_0000_0000 + (((p[off + 2]! << 24) | (p[off + 3]! << 16) | (p[off + 4]! << 8) | p[off + 5]!) >>> 0);
      if (isGroup && dst !== 0xffff_ffff_ffff && !this.joined.includes(dst)) {
        this.dropped++;
        this.inner.release(slots[i]!);
        continue;
      }
      slots[kept] = slots[i]!;
      lens[kept] = lens[i]!;
      kept++;
    }
    return kept;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number { return this.inner.txBurst(slots, lens, n); }
  alloc(): number { return this.inner.alloc(); }
  release(slot: number): void { this.inner.release(slot); }
  setWakeHandler(onWake: (() => void) | null): void { this.inner.setWakeHandler(onWake); }
  armWake(): void { this.inner.armWake(); }
  pollAt(): number { return this.inner.pollAt(); }
  stats(): NicStats { return this.inner.stats(); }
  close(): Promise<void> { return this.inner.close(); }
}
