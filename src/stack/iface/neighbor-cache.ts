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
 * "merge" rule) — never from unsolicited replies.
 *
 * Queued packets are NIC slot indices (already built frames lacking only the
 * destination MAC), so the cache owns no packet memory of its own.
 */
import { Timer, type TimerWheel } from '../time/timer-wheel.js';
import { DEBUG, debug, ipStr, macStr } from '../debug.js';
import { macHigh16, macLow32, writeMacHalves } from '../wire/ethernet.js';

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
  /** Upper bound on entries. */
  maxEntries: number;
}

export const DEFAULT_NEIGHBOR_CONFIG: NeighborConfig = {
  reachableMs: 30_000,
  retransMs: 1_000,
  maxProbes: 3,
  queueLength: 8,
  maxEntries: 1024,
};

export interface NeighborStats {
  arp_requests_sent: number;
  arp_probes_sent: number;
  arp_resolved: number;
  arp_failed: number;
  arp_queue_drops: number;
  arp_cache_full: number;
}

/** What the cache asks of its interface. */
export interface NeighborHost {
  /** Sends an ARP request for `ip`: broadcast when `unicastMac` < 0, else unicast. */
  sendArpRequest(ip: number, unicastMac: number): void;
  /** Frames in `slots` can now go to `mac`. */
  transmitQueued(mac: number, slots: readonly number[], lens: readonly number[]): void;
  /** Frames in `slots` will never be sent: release them. */
  dropQueued(slots: readonly number[]): void;
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
  readonly queueSlots: number[] = [];
  readonly queueLens: number[] = [];
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
  readonly stats: NeighborStats = {
    arp_requests_sent: 0,
    arp_probes_sent: 0,
    arp_resolved: 0,
    arp_failed: 0,
    arp_queue_drops: 0,
    arp_cache_full: 0,
  };
  private readonly onTimer = (e: Entry, now: number): void => this.timerFired(e, now);

  constructor(
    private readonly host: NeighborHost,
    private readonly wheel: TimerWheel,
    readonly config: NeighborConfig = DEFAULT_NEIGHBOR_CONFIG,
  ) {}

  get size(): number {
    return this.entries.size;
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
      e.probes = 1;
      this.stats.arp_requests_sent++;
      this.host.sendArpRequest(ip, -1);
      this.wheel.arm(e.timer, now + this.config.retransMs);
    }
    if (e.queueSlots.length >= this.config.queueLength) {
      this.stats.arp_queue_drops++;
      return false;
    }
    e.queueSlots.push(slot);
    e.queueLens.push(len);
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
    e.mac = mac;
    e.macHi = macHigh16(mac);
    e.macLo = macLow32(mac);
    e.state = NeighborState.Reachable;
    e.confirmedAt = Math.floor(now);
    e.probes = 0;
    this.wheel.disarm(e.timer);
    if (wasIncomplete) {
      this.stats.arp_resolved++;
      if (DEBUG) debug('arp: %s is at %s (%d queued packets sent)', ipStr(ip), macStr(mac), e.queueSlots.length);
    }
    if (e.queueSlots.length > 0) {
      this.host.transmitQueued(mac, e.queueSlots, e.queueLens);
      e.queueSlots.length = 0;
      e.queueLens.length = 0;
    }
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
      if (DEBUG) debug('arp: %s did not answer %d requests; dropping %d queued packets', ipStr(e.ip), e.probes, e.queueSlots.length);
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
    if (e.queueSlots.length > 0) {
      this.stats.arp_queue_drops += e.queueSlots.length;
      this.host.dropQueued(e.queueSlots);
      e.queueSlots.length = 0;
      e.queueLens.length = 0;
    }
  }

  /** Makes room by evicting one entry that has nothing queued (oldest first). */
  private evictOne(): boolean {
    for (const e of this.entries.values()) {
      if (e.queueSlots.length === 0 && e.state !== NeighborState.Incomplete) {
        this.remove(e);
        return true;
      }
    }
    return false;
  }
}
