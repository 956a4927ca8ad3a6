/**
 * Frames parked while their next hop's link-layer address is resolved (ARP
 * for IPv4, neighbour discovery for IPv6): built frames in NIC slots, each
 * tagged with the cache entry it waits for, in one FIFO ring allocated once.
 *
 * One ring for all entries, not a queue per entry, because parked frames
 * hold NIC slots, which the receive path needs too: the ring's capacity is
 * the most slots all unresolved addresses together may hold, and when it is
 * full the oldest parked frame goes, whichever address it waits for. Each
 * entry counts its own frames (`queued`) so the cache can cap them per
 * address as well.
 */

/** A cache entry frames wait for. */
export interface ParkedOwner {
  /** Frames parked for this entry (kept by the ring). */
  queued: number;
}

/** Where parked frames go when their entry resolves or fails. */
export interface ParkedFrameSink {
  /** Sends a parked frame (slot, length) to `mac`; the slot is the sink's again. */
  transmitQueued(mac: number, slot: number, len: number): void;
  /** Gives back the slot of a parked frame that will not be sent. */
  dropQueued(slot: number): void;
}

export class ParkedFrames<O extends ParkedOwner> {
  readonly capacity: number;
  private readonly slot: Uint32Array;
  private readonly len: Uint32Array;
  private readonly owner: (O | null)[];
  private head = 0;
  private count = 0;

  constructor(
    capacity: number,
    private readonly sink: ParkedFrameSink,
  ) {
    if (!(capacity >= 0)) throw new RangeError(`ParkedFrames: capacity must be >= 0, got ${capacity}`);
    this.capacity = Math.floor(capacity);
    this.slot = new Uint32Array(this.capacity);
    this.len = new Uint32Array(this.capacity);
    this.owner = new Array<O | null>(this.capacity).fill(null);
  }

  /** Frames parked for all entries together (NIC slots held). */
  get size(): number {
    return this.count;
  }

  /**
   * Parks (slot, len) for `o`. When the ring is full the oldest parked frame
   * is dropped first (its slot given back to the sink); returns whether one
   * was. The caller has checked that capacity > 0.
   */
  park(o: O, slot: number, len: number): boolean {
    const cap = this.capacity;
    let droppedOldest = false;
    if (this.count === cap) {
      const h = this.head;
      this.owner[h]!.queued--;
      this.owner[h] = null;
      this.head = h + 1 === cap ? 0 : h + 1;
      this.count--;
      droppedOldest = true;
      this.sink.dropQueued(this.slot[h]!);
    }
    let tail = this.head + this.count;
    if (tail >= cap) tail -= cap;
    this.slot[tail] = slot;
    this.len[tail] = len;
    this.owner[tail] = o;
    this.count++;
    o.queued++;
    return droppedOldest;
  }

  /**
   * Takes `o`'s frames out of the ring, in order, handing each to the sink
   * (transmitted to `mac`, or dropped when `mac` < 0); the other entries'
   * frames keep their order. O(frames parked), once per resolution or removal.
   */
  take(o: O, mac: number): void {
    const cap = this.capacity;
    const n = this.count;
    const owner = this.owner;
    let r = this.head;
    let w = r;
    let kept = 0;
    for (let k = 0; k < n; k++) {
      const x = owner[r]!;
      if (x === o) {
        if (mac >= 0) this.sink.transmitQueued(mac, this.slot[r]!, this.len[r]!);
        else this.sink.dropQueued(this.slot[r]!);
      } else {
        if (w !== r) {
          this.slot[w] = this.slot[r]!;
          this.len[w] = this.len[r]!;
          owner[w] = x;
        }
        kept++;
        if (++w === cap) w = 0;
      }
      if (++r === cap) r = 0;
    }
    // Places past the kept frames no longer name an entry.
    for (let k = kept; k < n; k++) {
      owner[w] = null;
      if (++w === cap) w = 0;
    }
    this.count = kept;
    o.queued = 0;
  }

  /** Gives back every parked frame's slot, oldest first; every owner's count goes to 0. Returns how many. */
  dropAll(): number {
    const cap = this.capacity;
    const n = this.count;
    for (let k = 0, r = this.head; k < n; k++) {
      this.owner[r]!.queued = 0;
      this.owner[r] = null;
      this.sink.dropQueued(this.slot[r]!);
      if (++r === cap) r = 0;
    }
    this.count = 0;
    return n;
  }
}
