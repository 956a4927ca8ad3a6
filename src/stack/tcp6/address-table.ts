/**
 * IPv6 addresses as small integer ids, for a transport (TCP) whose
 * connection table, listeners and records compare addresses as numbers.
 *
 * Interning hashes the 16 bytes where they lie (no allocation for an
 * address already known), compares bytes along a bucket chain and returns
 * the entry's id (1..; 0 is the unspecified address, "any"). An entry lives
 * while something holds it: `retain`/`release` count the transport's holds
 * (a connection in its table, a listener bound to the address). An entry
 * nobody holds — one interned for a segment that made no connection, or
 * whose last hold went — is freed by `sweep()`, which the adapter calls
 * only between its own calls into TCP, so an id stays valid for the whole
 * call that interned it.
 *
 * Per entry the table keeps what TCP asks of an address: its share of the
 * pseudo-header sum, a keyed hash (SipHash-2-4 under a random key, as the
 * ISN's F of RFC 6528: an attacker cannot choose addresses that collide)
 * and a view of its bytes for IP output. Memory grows by doubling with the
 * number of live entries and is reused through a free list.
 */
import { randomKey, SipHash24 } from '../tcp/siphash.js';
import type { AddressIds } from '../iface/ip-output.js';

const INITIAL_CAPACITY = 64;

export class Ipv6AddressTable implements AddressIds {
  private capacity = 0;
  /** Entry id's bytes at [id * 16, id * 16 + 16). */
  private bytes = new Uint8Array(0);
  private views: Uint8Array[] = [];
  private refs = new Int32Array(0);
  private sums = new Int32Array(0);
  private hashes = new Int32Array(0);
  /** Next entry in the bucket chain (live entries) or in the free list (free ones); 0 ends both. */
  private next = new Int32Array(0);
  /** 1 while the entry is live. */
  private live = new Uint8Array(0);
  /** 1 while the entry is on the sweep list. */
  private queued = new Uint8Array(0);
  private buckets = new Int32Array(0);
  private mask = 0;
  private freeHead = 0;
  /** Entries to look at in the next sweep (interned or released to no hold). */
  private sweepList = new Int32Array(0);
  private sweepCount = 0;
  private liveCount = 0;
  private readonly sip: SipHash24;
  /** Seeds the bucket hash, so chains cannot be aimed at from outside. */
  private readonly seed: number;

  constructor(secret?: Uint8Array) {
    const key = secret ?? randomKey();
    this.sip = new SipHash24(key);
    this.seed = ((key[0]! << 24) | (key[5]! << 16) | (key[10]! << 8) | key[15]!) | 1;
    this.grow(INITIAL_CAPACITY);
  }

  /** Entries alive now (held, or interned and not yet swept). */
  get size(): number {
    return this.liveCount;
  }

  /** Holds on all entries together (a test's leak check). */
  get holds(): number {
    let n = 0;
    for (let id = 1; id <= this.capacity; id++) if (this.live[id] === 1) n += this.refs[id]!;
    return n;
  }

  /**
   * The id of the address at buf[off, off + 16), made an entry if new (it
   * is then freed by the next sweep unless retained). The unspecified
   * address is 0.
   */
  intern(buf: Uint8Array, off: number): number {
    const h = bucketHash(buf, off, this.seed);
    let zero = true;
    for (let i = 0; i < 16; i++) {
      if (buf[off + i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return 0;
    const b = this.bytes;
    for (let id = this.buckets[h & this.mask]!; id !== 0; id = this.next[id]!) {
      const at = id << 4;
      let same = true;
      for (let i = 0; i < 16; i++) {
        if (b[at + i] !== buf[off + i]) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
    return this.insert(buf, off, h);
  }

  /** The address's bytes (a view kept per entry; valid while the entry lives). */
  address(id: number): Uint8Array {
    this.check(id);
    return this.views[id]!;
  }

  pseudoValue(id: number): number {
    return this.sums[id]!;
  }

  hash(id: number): number {
    return this.hashes[id]!;
  }

  retain(id: number): void {
    if (id === 0) return;
    this.check(id);
    this.refs[id]!++;
  }

  release(id: number): void {
    if (id === 0) return;
    this.check(id);
    if (this.refs[id]! <= 0) throw new Error(`Ipv6AddressTable: release of id ${id} with no hold`);
    if (--this.refs[id]! === 0) this.queue(id);
  }

  /** Frees every entry nobody holds that was interned or released since the last sweep. */
  sweep(): void {
    const list = this.sweepList;
    for (let k = 0; k < this.sweepCount; k++) {
      const id = list[k]!;
      this.queued[id] = 0;
      if (this.live[id] === 1 && this.refs[id] === 0) this.remove(id);
    }
    this.sweepCount = 0;
  }

  private check(id: number): void {
    if (!(id > 0 && id <= this.capacity && this.live[id] === 1)) throw new Error(`Ipv6AddressTable: no entry ${id}`);
  }

  private queue(id: number): void {
    if (this.queued[id] === 1) return;
    this.queued[id] = 1;
    this.sweepList[this.sweepCount++] = id;
  }

  private insert(buf: Uint8Array, off: number, h: number): number {
    if (this.freeHead === 0) this.grow(this.capacity * 2);
    const id = this.freeHead;
    this.freeHead = this.next[id]!;
    const at = id << 4;
    let sum = 0;
    for (let i = 0; i < 16; i += 2) {
      const hi = buf[off + i]!;
      const lo = buf[off + i + 1]!;
      this.bytes[at + i] = hi;
      this.bytes[at + i + 1] = lo;
      sum += (hi << 8) | lo;
    }
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    this.sums[id] = sum;
    this.hashes[id] = this.sip.hash(this.bytes, at, 16) | 0;
    this.refs[id] = 0;
    this.live[id] = 1;
    const bucket = h & this.mask;
    this.next[id] = this.buckets[bucket]!;
    this.buckets[bucket] = id;
    this.liveCount++;
    this.queue(id);
    return id;
  }

  private remove(id: number): void {
    const bucket = bucketHash(this.bytes, id << 4, this.seed) & this.mask;
    let prev = 0;
    let cur = this.buckets[bucket]!;
    while (cur !== id) {
      if (cur === 0) throw new Error(`Ipv6AddressTable: entry ${id} not in its bucket`);
      prev = cur;
      cur = this.next[cur]!;
    }
    if (prev === 0) this.buckets[bucket] = this.next[id]!;
    else this.next[prev] = this.next[id]!;
    this.live[id] = 0;
    this.next[id] = this.freeHead;
    this.freeHead = id;
    this.liveCount--;
  }

  /** Doubles the arrays (ids stay; the new ids join the free list; buckets are rebuilt). */
  private grow(capacity: number): void {
    const old = this.capacity;
    const bytes = new Uint8Array((capacity + 1) * 16);
    bytes.set(this.bytes);
    this.bytes = bytes;
    this.views = [];
    for (let id = 0; id <= capacity; id++) this.views.push(bytes.subarray(id << 4, (id << 4) + 16));
    const widen = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(capacity + 1);
      b.set(a);
      return b;
    };
    this.refs = widen(this.refs, (n) => new Int32Array(n));
    this.sums = widen(this.sums, (n) => new Int32Array(n));
    this.hashes = widen(this.hashes, (n) => new Int32Array(n));
    this.next = widen(this.next, (n) => new Int32Array(n));
    this.live = widen(this.live, (n) => new Uint8Array(n));
    this.queued = widen(this.queued, (n) => new Uint8Array(n));
    this.sweepList = widen(this.sweepList, (n) => new Int32Array(n));
    this.capacity = capacity;
    // Free list: the new ids, lowest first.
    for (let id = capacity; id > old; id--) {
      this.next[id] = this.freeHead;
      this.freeHead = id;
    }
    // Buckets: one per entry of capacity (a power of two), rebuilt from the live entries.
    this.buckets = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let id = 1; id <= old; id++) {
      if (this.live[id] !== 1) continue;
      const bucket = bucketHash(this.bytes, id << 4, this.seed) & this.mask;
      this.next[id] = this.buckets[bucket]!;
      this.buckets[bucket] = id;
    }
  }
}

/** A seeded mix of the address's four 32-bit words, for the bucket only (chains compare bytes). */
function bucketHash(b: Uint8Array, o: number, seed: number): number {
  let h = seed;
  for (let i = 0; i < 16; i += 4) {
    const w = (b[o + i]! << 24) | (b[o + i + 1]! << 16) | (b[o + i + 2]! << 8) | b[o + i + 3]!;
    h = Math.imul(h ^ w, 0x9e3779b1);
    h ^= h >>> 15;
  }
  return h & 0x3fffffff;
}
