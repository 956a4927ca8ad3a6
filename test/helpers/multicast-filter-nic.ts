/**
 * A model of a NIC's hardware multicast filter (the e1000's multicast table,
 * without its hash collisions: exact addresses) in front of an in-process
 * link: frames to a group address not in the set the stack gave through
 * setMulticast() are dropped before the stack sees them, and counted.
 * Unicast and broadcast pass.
 */
import { ForwardingNic } from '../../src/driver/forwarding-nic.js';

export class MulticastFilterNic extends ForwardingNic {
  /** The group addresses the stack asked for, in its last call. */
  joined: number[] = [];
  /** setMulticast() calls so far. */
  calls = 0;
  /** Multicast frames dropped by the filter. */
  dropped = 0;

  override setMulticast(macs: readonly number[]): void {
    this.joined = [...macs];
    this.calls++;
  }

  override rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
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
}
