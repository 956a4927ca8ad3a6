/**
 * The contract every backend (MemoryNic, TapNic, E1000Nic, and the impairment
 * wrapper) implements.
 *
 * Packet memory is one pool of fixed-size slots exposed once as `pool`.
 * Frames move by slot index, never by copying into fresh buffers:
 *  - rxBurst() fills `slots`/`lens` with received frames; those slots now belong
 *    to the caller, who must hand each back with release() (or reuse it for TX).
 *  - alloc() lends the caller a free slot to build an outgoing frame in.
 *  - txBurst() passes ownership of the first n accepted slots to the NIC
 *    (returns how many it took); slots it did not take stay with the caller.
 * A frame always starts at slot offset 0 (`slot * slotSize`) and never exceeds
 * slotSize bytes.
 */
export interface NicOffloads {
  /** The NIC fills IPv4 header and TCP/UDP checksums on transmit (see TxMeta). */
  txChecksum: boolean;
  /** The NIC segments large TCP frames on transmit. */
  tso: boolean;
  /** Received frames' checksums were verified by the NIC (false on QEMU's e1000). */
  rxChecksumVerified: boolean;
  /**
   * The NIC completes the TCP checksum of an IPv6 frame whose checksum field
   * holds the IPv6 pseudo-header sum (TCP right after the fixed header).
   * Absent: false (IPv6 TCP is summed by the stack).
   */
  txChecksum6?: boolean;
  /** The NIC segments IPv6 TCP frames longer than the MTU (with txChecksum6). Absent: false. */
  tso6?: boolean;
}

/** rxBurst() per-frame flag: the frame's TCP/UDP checksum needs no verification. */
export const RX_FLAG_CSUM_VERIFIED = 1;

export interface NicStats {
  [counter: string]: number;
}

export interface Nic {
  readonly name: string;
  /** 48-bit MAC address as a number. */
  readonly mac: number;
  /** IP MTU (largest L3 packet); a frame is at most mtu + 18 bytes (Ethernet + VLAN). */
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads;
  /**
   * True when rxBurst() fills `flags` (one byte per frame, RX_FLAG_*) when it
   * is given: per-frame checksum state overriding offloads.rxChecksumVerified.
   * A NIC (or wrapper) without it never needs flags: called without `flags`,
   * such a NIC returns frames whose checksums are complete (a TAP driver then
   * completes the kernel's partial checksums itself).
   */
  readonly rxPerFrameFlags?: boolean;

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number;
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number;
  /** A free slot, or -1 when the pool is exhausted. */
  alloc(): number;
  /**
   * Free slots in the pool right now: what alloc() and the receive side can
   * still take. The stack keeps a reserve of these for receive and refuses
   * to transmit into it.
   */
  readonly availableSlots: number;
  release(slot: number): void;

  /**
   * Idle wake-up: after arm(), `onWake` is called once when frames may be
   * waiting (TAP fd readable, e1000 interrupt, a MemoryNic peer's transmit).
   */
  setWakeHandler(onWake: (() => void) | null): void;
  armWake(): void;
  /**
   * Whether the NIC's wake-up source (a libuv handle: the TAP fd, the
   * interrupt fd) keeps the process alive; the poll loop unrefs it and refs
   * it while sockets or servers hold the stack. NICs without such a handle
   * (in-process links) leave these out; wrappers pass them through.
   */
  ref?(): unknown;
  unref?(): unknown;
  /**
   * The Ethernet multicast addresses (48-bit numbers) the stack has joined,
   * the whole set each time it changes. A NIC with a hardware filter (the
   * e1000's multicast table) receives frames for these and no other group;
   * a NIC that passes every multicast frame (TAP, virtio-net in its default
   * promiscuous mode, the in-process links) leaves this out. Either way the
   * interface checks each frame's full address itself.
   */
  setMulticast?(macs: readonly number[]): void;
  /**
   * The earliest time (per the stack's clock) at which this NIC has something
   * to deliver without any new input (e.g. a delayed frame in the impairment
   * layer); Infinity when none.
   */
  pollAt(): number;
  stats(): NicStats;
  close(): Promise<void>;
}

/** Free-list allocator over slot indices; no allocation after construction. */
export class SlotAllocator {
  private readonly free: Uint32Array;
  private top: number;
  constructor(readonly count: number, firstSlot = 0) {
    this.free = new Uint32Array(count);
    for (let i = 0; i < count; i++) this.free[i] = firstSlot + count - 1 - i;
    this.top = count;
  }
  alloc(): number {
    return this.top === 0 ? -1 : this.free[--this.top]!;
  }
  release(slot: number): void {
    if (this.top >= this.count) throw new Error('SlotAllocator: double release');
    this.free[this.top++] = slot;
  }
  get available(): number {
    return this.top;
  }
}
