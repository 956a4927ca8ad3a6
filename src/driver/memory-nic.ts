/**
 * MemoryNic: an in-process Ethernet link between two Nic ends.
 *
 * The two ends share one slot pool (one ArrayBuffer of 2 x slotCount
 * fixed-size slots, exposed as `pool` by both) and each owns slotCount of
 * those slots through its own SlotAllocator, plus a bounded RX ring of slot
 * indices. txBurst() hands each frame over by slot, as veth passes an skb:
 * the frame's slot goes onto the peer's RX ring and the peer gives the
 * sender one of its free slots in exchange, so each end keeps owning
 * slotCount slots (a receiver with no free slot drops the frame, as a NIC
 * without RX buffers does) and no byte is copied. Nothing is allocated per
 * frame.
 */
import { SlotAllocator, type Nic, type NicOffloads, type NicStats } from './nic.js';

export interface MemoryNicPairOptions {
  /** IP MTU of the link (default 1500). Frames may be up to mtu + 18 bytes. */
  mtu?: number;
  /** Slots per end (default 1024). */
  slotCount?: number;
  /** Bytes per slot (default 2048, or mtu + 18 rounded up to 64 if larger). Rounded up to a multiple of 8. */
  slotSize?: number;
  /** RX ring capacity per end, in frames (default min(slotCount, 512)). */
  rxRingSize?: number;
  /** MAC of end A (default 02:00:00:00:00:01). */
  macA?: number;
  /** MAC of end B (default 02:00:00:00:00:02). */
  macB?: number;
  names?: [string, string];
  /**
   * Offloads as Linux's veth and lo have them (default false): frames carry
   * partial (pseudo-header) TCP/UDP checksums that nobody completes and are
   * taken as verified on receipt — both ends are this process, nothing can
   * corrupt them in between — and TCP passes as super-frames up to 64 KiB
   * (TSO with GRO on the far end, as veth passes GSO packets). Slots are then
   * 64 KiB + headers (default slotCount 256).
   */
  offloads?: boolean;
}

export const DEFAULT_MAC_A = 0x02_00_00_00_00_01;
export const DEFAULT_MAC_B = 0x02_00_00_00_00_02;

const NO_OFFLOADS: NicOffloads = Object.freeze({ txChecksum: false, tso: false, rxChecksumVerified: false });
const VETH_OFFLOADS: NicOffloads = Object.freeze({ txChecksum: true, tso: true, rxChecksumVerified: true, txChecksum6: true, tso6: true });
/** A TSO super-frame: 64 KiB of IP packet plus Ethernet (and a VLAN tag), rounded up to 64. */
const SUPER_FRAME_SLOT = 65_600;

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`MemoryNic.pair: ${name} must be an integer in [${min}, ${max}], got ${v}`);
  }
  return v;
}

export class MemoryNic implements Nic {
  /** The pair's shared pool: 2 x slotCount slots, of which this end owns slotCount at any time. */
  readonly pool: Uint8Array;
  readonly offloads: NicOffloads;
  /** Slots in the shared pool (a slot index is below this). */
  private readonly poolSlots: number;
  private readonly allocator: SlotAllocator;
  private readonly ringSlots: Uint32Array;
  private readonly ringLens: Uint32Array;
  private ringHead = 0;
  private ringCount = 0;
  private peer!: MemoryNic;
  private closed = false;
  private wakeHandler: (() => void) | null = null;
  private wakeArmed = false;
  private wakeQueued = false;
  private readonly fireWake = (): void => {
    this.wakeQueued = false;
    const h = this.wakeHandler;
    if (h !== null && !this.closed) h();
  };

  // Counters.
  private txFrames = 0;
  private txBytes = 0;
  private rxFrames = 0;
  private rxBytes = 0;
  private rxNoBuffer = 0;
  private txOversize = 0;
  private txNoCarrier = 0;

  private constructor(
    readonly name: string,
    readonly mac: number,
    readonly mtu: number,
    readonly slotSize: number,
    readonly slotCount: number,
    rxRingSize: number,
    offloads: boolean,
    pool: Uint8Array,
    firstSlot: number,
  ) {
    this.offloads = offloads ? VETH_OFFLOADS : NO_OFFLOADS;
    this.pool = pool;
    this.poolSlots = 2 * slotCount;
    this.allocator = new SlotAllocator(slotCount, firstSlot);
    this.ringSlots = new Uint32Array(rxRingSize);
    this.ringLens = new Uint32Array(rxRingSize);
  }

  /** Two connected ends of one link. */
  static pair(opts: MemoryNicPairOptions = {}): [MemoryNic, MemoryNic] {
    const mtu = checkInt('mtu', opts.mtu ?? 1500, 68, 65_535);
    const minSlot = mtu + 18;
    const offloads = opts.offloads === true;
    const slotCount = checkInt('slotCount', opts.slotCount ?? (offloads ? 256 : 1024), 1, 1 << 22);
    let slotSize = opts.slotSize ?? Math.max(offloads ? SUPER_FRAME_SLOT : 2048, Math.ceil(minSlot / 64) * 64);
    slotSize = checkInt('slotSize', Math.ceil(slotSize / 8) * 8, 64, 1 << 20);
    const rxRingSize = checkInt('rxRingSize', opts.rxRingSize ?? Math.min(slotCount, 512), 1, 1 << 22);
    const macA = opts.macA ?? DEFAULT_MAC_A;
    const macB = opts.macB ?? DEFAULT_MAC_B;
    checkInt('macA', macA, 0, 2 ** 48 - 1);
    checkInt('macB', macB, 0, 2 ** 48 - 1);
    const [nameA, nameB] = opts.names ?? ['mem0', 'mem1'];
    // One pool for both ends: A starts with slots [0, slotCount), B with the rest.
    const pool = new Uint8Array(slotSize * slotCount * 2);
    const a = new MemoryNic(nameA, macA, mtu, slotSize, slotCount, rxRingSize, offloads, pool, 0);
    const b = new MemoryNic(nameB, macB, mtu, slotSize, slotCount, rxRingSize, offloads, pool, slotCount);
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  /** Frames waiting in this end's RX ring. */
  get rxPending(): number {
    return this.ringCount;
  }

  /** Free slots in this end's pool. */
  get freeSlots(): number {
    return this.allocator.available;
  }

  get availableSlots(): number {
    return this.allocator.available;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number {
    if (this.closed) return 0;
    let n = this.ringCount;
    if (n > max) n = max;
    if (n > slots.length) n = slots.length;
    if (n > lens.length) n = lens.length;
    const cap = this.ringSlots.length;
    let h = this.ringHead;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      slots[i] = this.ringSlots[h]!;
      const len = this.ringLens[h]!;
      lens[i] = len;
      bytes += len;
      if (++h === cap) h = 0;
    }
    this.ringHead = h;
    this.ringCount -= n;
    this.rxFrames += n;
    this.rxBytes += bytes;
    return n;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    if (n > slots.length) n = slots.length;
    if (n > lens.length) n = lens.length;
    const peer = this.peer;
    // With TSO a frame may be a super-frame as large as a slot; otherwise the MTU bounds it.
    const maxLen = Math.min(this.offloads.tso ? Infinity : this.mtu + 18, this.slotSize, peer.slotSize);
    for (let i = 0; i < n; i++) {
      const slot = slots[i]!;
      const len = lens[i]!;
      if (slot >= this.poolSlots) {
        throw new RangeError(`MemoryNic.txBurst: slot ${slot} out of range (pool of ${this.poolSlots} slots)`);
      }
      if (len > maxLen) {
        this.txOversize++;
      } else if (peer.closed) {
        this.txNoCarrier++;
      } else {
        this.txFrames++;
        this.txBytes += len;
        // Handed over: the slot is the peer's now (and one of its free slots ours).
        if (peer.deliver(this, slot, len)) continue;
      }
      this.allocator.release(slot);
    }
    return n;
  }

  alloc(): number {
    return this.allocator.alloc();
  }

  release(slot: number): void {
    if (!(slot >= 0 && slot < this.poolSlots) || !Number.isInteger(slot)) {
      throw new RangeError(`MemoryNic.release: slot ${slot} out of range (pool of ${this.poolSlots} slots)`);
    }
    this.allocator.release(slot);
  }

  setWakeHandler(onWake: (() => void) | null): void {
    this.wakeHandler = onWake;
    if (onWake === null) this.wakeArmed = false;
  }

  armWake(): void {
    if (this.closed) return;
    this.wakeArmed = true;
    // Frames that arrived since the last rxBurst must not be slept on.
    if (this.ringCount > 0) this.wake();
  }

  pollAt(): number {
    return Infinity;
  }

  stats(): NicStats {
    return {
      tx_frames: this.txFrames,
      tx_bytes: this.txBytes,
      rx_frames: this.rxFrames,
      rx_bytes: this.rxBytes,
      rx_no_buffer: this.rxNoBuffer,
      tx_dropped_oversize: this.txOversize,
      tx_no_carrier: this.txNoCarrier,
      rx_pending: this.ringCount,
      free_slots: this.allocator.available,
    };
  }

  /** Closes this end: later bursts return 0; frames waiting in its RX ring are freed. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.wakeArmed = false;
    const cap = this.ringSlots.length;
    while (this.ringCount > 0) {
      this.allocator.release(this.ringSlots[this.ringHead]!);
      if (++this.ringHead === cap) this.ringHead = 0;
      this.ringCount--;
    }
  }

  /**
   * Takes the peer's frame in `slot` onto our RX ring, giving the peer one of
   * our free slots in exchange; false (counted, nothing taken) when our RX
   * ring is full or we have no free slot.
   */
  private deliver(from: MemoryNic, slot: number, len: number): boolean {
    if (this.ringCount === this.ringSlots.length) {
      this.rxNoBuffer++;
      return false;
    }
    const mine = this.allocator.alloc();
    if (mine < 0) {
      this.rxNoBuffer++;
      return false;
    }
    from.allocator.release(mine);
    let tail = this.ringHead + this.ringCount;
    if (tail >= this.ringSlots.length) tail -= this.ringSlots.length;
    this.ringSlots[tail] = slot;
    this.ringLens[tail] = len;
    this.ringCount++;
    if (this.wakeArmed) this.wake();
    return true;
  }

  private wake(): void {
    this.wakeArmed = false;
    if (this.wakeHandler !== null && !this.wakeQueued) {
      this.wakeQueued = true;
      queueMicrotask(this.fireWake);
    }
  }
}
