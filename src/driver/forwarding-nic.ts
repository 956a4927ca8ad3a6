/**
 * A Nic that passes every member through to the NIC it wraps: the base of
 * the wrappers that change one thing about a NIC (capture.ts records
 * frames, impair.ts loses and delays them, tests model hardware filters)
 * and override just that.
 */
import type { Nic, NicOffloads, NicStats } from './nic.js';

export class ForwardingNic implements Nic {
  constructor(readonly inner: Nic) {}

  get name(): string { return this.inner.name; }
  get mac(): number { return this.inner.mac; }
  get mtu(): number { return this.inner.mtu; }
  get pool(): Uint8Array { return this.inner.pool; }
  get slotSize(): number { return this.inner.slotSize; }
  get slotCount(): number { return this.inner.slotCount; }
  get offloads(): NicOffloads { return this.inner.offloads; }
  get rxPerFrameFlags(): boolean { return this.inner.rxPerFrameFlags === true; }
  get availableSlots(): number { return this.inner.availableSlots; }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number { return this.inner.rxBurst(slots, lens, max, flags); }
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number { return this.inner.txBurst(slots, lens, n); }
  alloc(): number { return this.inner.alloc(); }
  release(slot: number): void { this.inner.release(slot); }
  setWakeHandler(onWake: (() => void) | null): void { this.inner.setWakeHandler(onWake); }
  armWake(): void { this.inner.armWake(); }
  ref(): this { this.inner.ref?.(); return this; }
  unref(): this { this.inner.unref?.(); return this; }
  setMulticast(macs: readonly number[]): void { this.inner.setMulticast?.(macs); }
  pollAt(): number { return this.inner.pollAt(); }
  stats(): NicStats { return this.inner.stats(); }
  close(): Promise<void> { return this.inner.close(); }
}
