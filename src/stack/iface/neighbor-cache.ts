/**
 * ARP neighbour cache (RFC 826, with the reachability timers of RFC 4861's
 * neighbour state machine adapted to IPv4 as Linux does).
 *
 * States:
 *  - INCOMPLETE: a request was broadcast; packets for the address wait in a
 *    small bounded queue; after `maxProbes` unanswered requests the entry and
 *    its queue are dropped.
 *  - REACHABLE: confirmed within `reachableMs`.
 *  - STALE: past `reachableMs`; still used, but the first use sends a
 *    unicast re-probe (PROBE). An unanswered PROBE deletes the entry.
 *
 * The cache never grows past `maxEntries`; entries are only created when we
 * need an address resolved or when a request is addressed to us (RFC 826's
 * "merge" rule) — never from unsolicited replies. When it is full, a new
 * entry evicts the oldest INCOMPLETE one (spoofed sources that never answer
 * ARP create exactly these), else the oldest other entry.
 *
 * Queued packets are NIC slot indices (already built frames lacking only the
 * destination MAC), so the cache owns no packet memory of its own — but it
 * holds NIC slots, which the receive path needs too. All queued frames of
 * all entries therefore wait in one FIFO ring of `queueTotal` frames: past
 * it, the oldest queued frame (whichever address it waits for) is dropped,
 * so replies to many addresses that never resolve cannot drain the pool.
 */
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import { DEBUG, debug, ipStr, macStr } from './debug.js';
import { macHigh16, macLow32, writeMacHalves } from '../../wire/ethernet.js';
import { ParkedFrames } from './parked-frames.js';

export const enum NeighborState {
  Incomplete = 0,
  Reachable = 1,
  Stale = 2,
  Probe = 3,
}

export interface NeighborConfig {
  /** How long a confirmed entry is trusted (Linux base_reachable_time: 30 s). */
  reachableMs: number;
  /** Interval between requests while resolving or probing. */
  retransMs: number;
  /** Requests sent before giving up. */
  maxProbes: number;
  /** Packets queued per unresolved address (Linux unres_qlen_bytes equivalent). */
  queueLength: number;
  /**
   * Packets queued for all unresolved addresses together, i.e. NIC slots the
   * cache may hold; past it the oldest queued packet is dropped. The
   * Interface derives it from the pool size when it is not given.
   */
  queueTotal: number;
  /** Upper bound on entries. */
  maxEntries: number;
}

export const DEFAULT_NEIGHBOR_CONFIG: NeighborConfig = {
  reachableMs: 30_000,
  retransMs: 1_000,
  maxProbes: 3,
  queueLength: 8,
  queueTotal: 128,
  maxEntries: 1024,
};

export interface NeighborStats {
  arp_requests_sent: number;
  arp_probes_sent: number;
  arp_resolved: number;
  arp_failed: number;
  /** Frames dropped from a full per-address queue, or still queued when their entry failed or was evicted. */
  arp_queue_drops: number;
  /** Oldest queued frames dropped because all queues together held `queueTotal` frames. */
  arp_queue_cap_drops: number;
  /** INCOMPLETE entries evicted to make room in a full cache. */
  arp_evicted_incomplete: number;
  arp_cache_full: number;
}

/** What the cache asks of its interface. */
export interface NeighborHost {
  /** Sends an ARP request for `ip`: broadcast when `unicastMac` < 0, else unicast. */
  sendArpRequest(ip: number, unicastMac: number): void;
  /** The frame in `slot` (`len` bytes) can now go to `mac`. Must not call back into the cache. */
  transmitQueued(mac: number, slot: number, len: number): void;
  /** The frame in `slot` will never be sent: release it. Must not call back into the cache. */
  dropQueued(slot: number): void;
}

class Entry {
  state = NeighborState.Incomplete;
  mac = -1;
  /**
   * The MAC as two small integers (top 16 bits, low 32 bits as int32), for
   * writing into frames: the 48-bit number is a heap number, and handling it
   * per packet sent allocated 16 bytes per packet.
   */
  macHi = 0;
  macLo = 0;
  probes = 0;
  /** Whole milliseconds (a small integer, not a boxed double). */
  confirmedAt = 0;
  /** Frames waiting for this address in the cache's queue ring. */
  queued = 0;
  readonly timer: Timer;
  constructor(readonly ip: number, onTimer: (e: Entry, now: number) => void) {
    this.timer = new Timer((now) => onTimer(this, now));
  }
}

export class NeighborCache {
  /**
   * Keyed by `ip | 0`: an int32 key is a Smi, while a uint32 address above
   * 2^31 (or one the JIT holds as a double) would be boxed on every lookup.
   */
  private readonly entries = new Map<number, Entry>();
  /** INCOMPLETE entries, oldest first: the first to go when the cache is full. */
  private readonly incomplete = new Set<Entry>();
  readonly stats: NeighborStats = {
    arp_requests_sent: 0,
    arp_probes_sent: 0,
    arp_resolved: 0,
    arp_failed: 0,
    arp_queue_drops: 0,
    arp_queue_cap_drops: 0,
    arp_evicted_incomplete: 0,
    arp_cache_full: 0,
  };
  private readonly onTimer = (e: Entry, now: number): void => this.timerFired(e, now);
  /** Every queued frame of every entry, oldest first (parked-frames.ts). */
  private readonly parked: ParkedFrames<Entry>;

  constructor(
    private readonly host: NeighborHost,
    private readonly wheel: TimerWheel,
    readonly config: NeighborConfig = DEFAULT_NEIGHBOR_CONFIG,
  ) {
    const total = config.queueTotal;
    if (!(total >= 0)) throw new RangeError(`NeighborCache: queueTotal must be >= 0, got ${total}`);
    // More than every entry's full queue can never be used.
    this.parked = new ParkedFrames<Entry>(Math.floor(Math.min(total, config.maxEntries * config.queueLength)), host);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Frames queued for all unresolved addresses together (NIC slots held). */
  get queued(): number {
    return this.parked.size;
  }

  /** The MAC to use for `ip` right now, or -1. Using a STALE entry starts a re-probe. */
  lookup(ip: number, now: number): number {
    const e = this.entries.get(ip | 0);
    if (e === undefined || e.mac < 0) return -1;
    this.use(e, ip, now);
    return e.mac;
  }

  /**
   * lookup() for the transmit path: writes the MAC to use into
   * buf[off, off + 6) and returns whether there was one. The 48-bit MAC never
   * crosses a call boundary as a number (V8 boxes it there: a heap number per frame).
   */
  writeMacFor(ip: number, now: number, buf: Uint8Array, off: number): boolean {
    const e = this.entries.get(ip | 0);
    if (e === undefined || e.mac < 0) return false;
    this.use(e, ip, now);
    writeMacHalves(buf, off, e.macHi, e.macLo);
    return true;
  }

  private use(e: Entry, ip: number, now: number): void {
    if (e.state === NeighborState.Reachable && now - e.confirmedAt >= this.config.reachableMs) {
      e.state = NeighborState.Stale;
    }
    if (e.state === NeighborState.Stale) {
      e.state = NeighborState.Probe;
      e.probes = 1;
      this.stats.arp_probes_sent++;
      this.host.sendArpRequest(ip, e.mac);
      this.wheel.arm(e.timer, now + this.config.retransMs);
    }
  }

  /**
   * Queues a frame (a slot owned by the caller until now) for `ip`, starting
   * resolution if needed. Returns false if the frame was not queued (queue
   * full or cache full): the caller still owns the slot and must drop it.
   */
  enqueue(ip: number, slot: number, len: number, now: number): boolean {
    let e = this.entries.get(ip | 0);
    if (e === undefined) {
      if (this.entries.size >= this.config.maxEntries && !this.evictOne()) {
        this.stats.arp_cache_full++;
        return false;
      }
      e = new Entry(ip, this.onTimer);
      this.entries.set(ip | 0, e);
      this.incomplete.add(e);
      e.probes = 1;
      this.stats.arp_requests_sent++;
      this.host.sendArpRequest(ip, -1);
      this.wheel.arm(e.timer, now + this.config.retransMs);
    }
    if (e.queued >= this.config.queueLength || this.parked.capacity === 0) {
      this.stats.arp_queue_drops++;
      return false;
    }
    if (this.parked.park(e, slot, len)) this.stats.arp_queue_cap_drops++;
    return true;
  }


  /**
   * An ARP packet from `ip` at `mac`. `create` is true when the packet was a
   * request addressed to us (RFC 826 merge rule); replies never create.
   * Returns true when the cache now holds `ip`.
   */
  learn(ip: number, mac: number, create: boolean, now: number): boolean {
    let e = this.entries.get(ip | 0);
    if (e === undefined) {
      if (!create) return false;
      if (this.entries.size >= this.config.maxEntries && !this.evictOne()) {
        this.stats.arp_cache_full++;
        return false;
      }
      e = new Entry(ip, this.onTimer);
      this.entries.set(ip | 0, e);
    }
    const wasIncomplete = e.state === NeighborState.Incomplete;
    if (wasIncomplete) this.incomplete.delete(e);
    e.mac = mac;
    e.macHi = macHigh16(mac);
    e.macLo = macLow32(mac);
    e.state = NeighborState.Reachable;
    e.confirmedAt = Math.floor(now);
    e.probes = 0;
    this.wheel.disarm(e.timer);
    if (wasIncomplete) {
      this.stats.arp_resolved++;
      if (DEBUG) debug('arp: %s is at %s (%d queued packets sent)', ipStr(ip), macStr(mac), e.queued);
    }
    if (e.queued > 0) this.parked.take(e, mac);
    return true;
  }

  /** Whether `ip` has an entry (any state). */
  has(ip: number): boolean {
    return this.entries.has(ip | 0);
  }

  state(ip: number): NeighborState | undefined {
    return this.entries.get(ip | 0)?.state;
  }

  /** Drops every entry and every queued frame. */
  clear(): void {
    this.stats.arp_queue_drops += this.parked.dropAll();
    for (const e of this.entries.values()) this.remove(e);
  }

  /** Snapshot for diagnostics: [ip, mac, state]. */
  dump(): Array<{ ip: number; mac: number; state: NeighborState }> {
    return [...this.entries.values()].map((e) => ({ ip: e.ip, mac: e.mac, state: e.state }));
  }

  private timerFired(e: Entry, now: number): void {
    if (e.state !== NeighborState.Incomplete && e.state !== NeighborState.Probe) return;
    if (e.probes >= this.config.maxProbes) {
      this.stats.arp_failed++;
      if (DEBUG) debug('arp: %s did not answer %d requests; dropping %d queued packets', ipStr(e.ip), e.probes, e.queued);
      this.remove(e);
      return;
    }
    e.probes++;
    if (e.state === NeighborState.Incomplete) {
      this.stats.arp_requests_sent++;
      this.host.sendArpRequest(e.ip, -1);
    } else {
      this.stats.arp_probes_sent++;
      this.host.sendArpRequest(e.ip, e.mac);
    }
    this.wheel.arm(e.timer, now + this.config.retransMs);
  }

  private remove(e: Entry): void {
    this.wheel.disarm(e.timer);
    this.entries.delete(e.ip | 0);
    this.incomplete.delete(e);
    if (e.queued > 0) {
      this.stats.arp_queue_drops += e.queued;
      this.parked.take(e, -1);
    }
  }

  /**
   * Makes room in a full cache: the oldest INCOMPLETE entry goes first (its
   * queued frames are dropped and counted) — a confirmed neighbour is worth
   * more than an address that has not answered yet, and spoofed sources fill
   * the cache with exactly those; else the oldest entry.
   */
  private evictOne(): boolean {
    for (const e of this.incomplete) {
      this.stats.arp_evicted_incomplete++;
      if (DEBUG) debug('arp: cache full, evicting unresolved %s (%d queued packets dropped)', ipStr(e.ip), e.queued);
      this.remove(e);
      return true;
    }
    for (const e of this.entries.values()) {
      this.remove(e);
      return true;
    }
    return false;
  }
}
