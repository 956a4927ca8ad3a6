/**
 * The IPv6 neighbour cache (RFC 4861 §7.3): the ARP cache's design and
 * bounds (neighbor-cache.ts) — at most `maxEntries` entries, at most
 * `queueLength` frames parked per unresolved address and `queueTotal` for
 * all of them together in one FIFO ring of NIC slots (the oldest goes when
 * it is full), the oldest INCOMPLETE entry evicted first — with the five
 * states of the RFC:
 *
 *  - INCOMPLETE: a multicast NS went to the solicited-node group; frames
 *    wait; after `maxMulticastSolicit` unanswered NS the entry and its frames go.
 *  - REACHABLE: confirmed by a solicited NA within `reachableMs`.
 *  - STALE: learnt without confirmation (an NS/RS/RA's source link-layer
 *    option, an unsolicited NA) or past `reachableMs`; still used.
 *  - DELAY: a STALE entry was used; after `delayMs` without confirmation ->
 *  - PROBE: unicast NS every `retransMs`; `maxUnicastSolicit` unanswered
 *    and the entry goes.
 *
 * Entries are created only when we need an address resolved, or from an NS
 * addressed to us (§7.2.3) and from a router's RA/redirect — never from an
 * NA we did not ask for (§7.2.5). Addresses are keyed by their 16 bytes as
 * an 8-character string.
 */
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import { macHigh16, macLow32, writeMacHalves } from '../../wire/ethernet.js';
import { ParkedFrames } from './parked-frames.js';

export const enum Nd6State {
  Incomplete = 0,
  Reachable = 1,
  Stale = 2,
  Delay = 3,
  Probe = 4,
}

export const ND6_STATE_NAMES = ['INCOMPLETE', 'REACHABLE', 'STALE', 'DELAY', 'PROBE'] as const;

export interface Nd6Config {
  /** REACHABLE_TIME (RFC 4861 §10: 30 s; an RA may change it). */
  reachableMs: number;
  /** RETRANS_TIMER (1 s; an RA may change it). */
  retransMs: number;
  /** DELAY_FIRST_PROBE_TIME (5 s). */
  delayMs: number;
  maxMulticastSolicit: number;
  maxUnicastSolicit: number;
  queueLength: number;
  queueTotal: number;
  maxEntries: number;
}

export const DEFAULT_ND6_CONFIG: Nd6Config = {
  reachableMs: 30_000,
  retransMs: 1_000,
  delayMs: 5_000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  queueLength: 8,
  queueTotal: 128,
  maxEntries: 1024,
};

export interface Nd6Stats {
  nd_ns_multicast_sent: number;
  nd_ns_unicast_sent: number;
  nd_resolved: number;
  nd_failed: number;
  nd_queue_drops: number;
  nd_queue_cap_drops: number;
  nd_evicted_incomplete: number;
  nd_cache_full: number;
}

export interface Nd6Host {
  /** Sends an NS for `target`: multicast to its solicited-node group when `unicastMac` < 0, else unicast to it. */
  sendNeighborSolicit(target: Uint8Array, unicastMac: number): void;
  transmitQueued(mac: number, slot: number, len: number): void;
  dropQueued(slot: number): void;
  /** An NA cleared the Router flag of a neighbour that was a router (§7.2.5): it leaves the default router list. */
  routerLost(addr: Uint8Array, now: number): void;
}

/** The 16 address bytes at buf[off] as an 8-character key. */
export function ipv6Key(buf: Uint8Array, off = 0): string {
  return String.fromCharCode(
    (buf[off]! << 8) | buf[off + 1]!, (buf[off + 2]! << 8) | buf[off + 3]!,
    (buf[off + 4]! << 8) | buf[off + 5]!, (buf[off + 6]! << 8) | buf[off + 7]!,
    (buf[off + 8]! << 8) | buf[off + 9]!, (buf[off + 10]! << 8) | buf[off + 11]!,
    (buf[off + 12]! << 8) | buf[off + 13]!, (buf[off + 14]! << 8) | buf[off + 15]!,
  );
}

class Entry6 {
  state = Nd6State.Incomplete;
  mac = -1;
  macHi = 0;
  macLo = 0;
  probes = 0;
  confirmedAt = 0;
  isRouter = false;
  queued = 0;
  readonly timer: Timer;
  constructor(readonly key: string, readonly addr: Uint8Array, onTimer: (e: Entry6, now: number) => void) {
    this.timer = new Timer((now) => onTimer(this, now));
  }
}

export class Nd6Cache {
  private readonly entries = new Map<string, Entry6>();
  private readonly incomplete = new Set<Entry6>();
  readonly stats: Nd6Stats = {
    nd_ns_multicast_sent: 0, nd_ns_unicast_sent: 0, nd_resolved: 0, nd_failed: 0,
    nd_queue_drops: 0, nd_queue_cap_drops: 0, nd_evicted_incomplete: 0, nd_cache_full: 0,
  };
  private readonly onTimer = (e: Entry6, now: number): void => this.timerFired(e, now);
  private readonly parked: ParkedFrames<Entry6>;
  /** The last destination writeMacFor looked up, and its key (a packet flow asks for the same one each time). */
  private readonly lastSendAddr = new Uint8Array(16);
  private lastSendKey = '';

  /** ipv6Key(addr), without making the string again for the destination asked before (a string per packet otherwise). */
  private sendKey(addr: Uint8Array): string {
    const last = this.lastSendAddr;
    let same = this.lastSendKey !== '';
    for (let i = 0; same && i < 16; i++) same = last[i] === addr[i];
    if (same) return this.lastSendKey;
    for (let i = 0; i < 16; i++) last[i] = addr[i]!;
    this.lastSendKey = ipv6Key(addr);
    return this.lastSendKey;
  }

  constructor(
    private readonly host: Nd6Host,
    private readonly wheel: TimerWheel,
    readonly config: Nd6Config = { ...DEFAULT_ND6_CONFIG },
  ) {
    if (!(config.queueTotal >= 0)) throw new RangeError(`Nd6Cache: queueTotal must be >= 0, got ${config.queueTotal}`);
    this.parked = new ParkedFrames<Entry6>(Math.floor(Math.min(config.queueTotal, config.maxEntries * config.queueLength)), host);
  }

  get size(): number {
    return this.entries.size;
  }

  get queued(): number {
    return this.parked.size;
  }

  state(addr: Uint8Array, off = 0): Nd6State | undefined {
    return this.entries.get(ipv6Key(addr, off))?.state;
  }

  /** The link-layer address known for `addr` (any state but INCOMPLETE), or -1. */
  macOf(addr: Uint8Array, off = 0): number {
    return this.entries.get(ipv6Key(addr, off))?.mac ?? -1;
  }

  /**
   * Writes the MAC for `addr` into buf[at, at + 6) and returns true, or
   * returns false when none is known. A use moves STALE to DELAY (§7.3.3).
   */
  writeMacFor(addr: Uint8Array, now: number, buf: Uint8Array, at: number): boolean {
    const e = this.entries.get(this.sendKey(addr));
    if (e === undefined || e.mac < 0) return false;
    if (e.state === Nd6State.Reachable && now - e.confirmedAt >= this.config.reachableMs) e.state = Nd6State.Stale;
    if (e.state === Nd6State.Stale) {
      e.state = Nd6State.Delay;
      this.wheel.arm(e.timer, now + this.config.delayMs);
    }
    writeMacHalves(buf, at, e.macHi, e.macLo);
    return true;
  }

  /** Parks a built frame for `addr`, starting resolution. False: not queued, the caller still owns the slot. */
  enqueue(addr: Uint8Array, slot: number, len: number, now: number): boolean {
    const key = ipv6Key(addr);
    let e = this.entries.get(key) ?? null;
    if (e === null) {
      e = this.create(key, addr);
      if (e === null) return false;
      this.incomplete.add(e);
      e.probes = 1;
      this.stats.nd_ns_multicast_sent++;
      this.host.sendNeighborSolicit(e.addr, -1);
      this.wheel.arm(e.timer, now + this.config.retransMs);
    }
    if (e.queued >= this.config.queueLength || this.parked.capacity === 0) {
      this.stats.nd_queue_drops++;
      return false;
    }
    if (this.parked.park(e, slot, len)) this.stats.nd_queue_cap_drops++;
    return true;
  }

  /**
   * A source link-layer address option from `addr` (NS for us, RS, RA,
   * redirect target): §7.2.3 — created STALE when `create`, an existing
   * entry whose address changed (or INCOMPLETE) becomes STALE with the new one.
   */
  learnSource(addr: Uint8Array, mac: number, create: boolean, now: number, isRouter = false): boolean {
    const key = ipv6Key(addr);
    let e = this.entries.get(key) ?? null;
    if (e === null) {
      if (!create) return false;
      e = this.create(key, addr);
      if (e === null) return false;
    }
    if (isRouter) e.isRouter = true;
    if (e.mac !== mac) {
      const wasIncomplete = e.state === Nd6State.Incomplete;
      this.setMac(e, mac);
      e.state = Nd6State.Stale;
      this.wheel.disarm(e.timer);
      if (wasIncomplete) this.resolved(e, now);
    }
    return true;
  }

  /**
   * A neighbour advertisement for `target` (§7.2.5). `mac` is its target
   * link-layer option or -1. Returns false when there is no entry (an NA
   * never creates one).
   */
  learnAdvert(target: Uint8Array, mac: number, solicited: boolean, override: boolean, router: boolean, now: number): boolean {
    const e = this.entries.get(ipv6Key(target));
    if (e === undefined) return false;
    if (e.state === Nd6State.Incomplete) {
      if (mac < 0) return true;
      this.setMac(e, mac);
      this.setRouter(e, router, now);
      if (solicited) this.confirm(e, now);
      else {
        e.state = Nd6State.Stale;
        this.wheel.disarm(e.timer);
      }
      this.resolved(e, now);
      return true;
    }
    const changed = mac >= 0 && mac !== e.mac;
    if (!override && changed) {
      // Not allowed to replace the address: only mark a REACHABLE entry STALE.
      if (e.state === Nd6State.Reachable) e.state = Nd6State.Stale;
      return true;
    }
    if (changed) this.setMac(e, mac);
    if (solicited) this.confirm(e, now);
    else if (changed) {
      e.state = Nd6State.Stale;
      this.wheel.disarm(e.timer);
    }
    this.setRouter(e, router, now);
    return true;
  }

  private setRouter(e: Entry6, router: boolean, now: number): void {
    const lost = e.isRouter && !router;
    e.isRouter = router;
    if (lost) this.host.routerLost(e.addr, now);
  }

  /** Drops every entry and every parked frame. */
  clear(): void {
    this.stats.nd_queue_drops += this.parked.dropAll();
    for (const e of this.entries.values()) this.remove(e);
  }

  dump(): Array<{ key: string; addr: Uint8Array; mac: number; state: Nd6State; router: boolean }> {
    return [...this.entries.values()].map((e) => ({ key: e.key, addr: e.addr, mac: e.mac, state: e.state, router: e.isRouter }));
  }

  private create(key: string, addr: Uint8Array): Entry6 | null {
    if (this.entries.size >= this.config.maxEntries && !this.evictOne()) {
      this.stats.nd_cache_full++;
      return null;
    }
    const e = new Entry6(key, addr.slice(0, 16), this.onTimer);
    this.entries.set(key, e);
    return e;
  }

  private setMac(e: Entry6, mac: number): void {
    e.mac = mac;
    e.macHi = macHigh16(mac);
    e.macLo = macLow32(mac);
  }

  private confirm(e: Entry6, now: number): void {
    e.state = Nd6State.Reachable;
    e.confirmedAt = Math.floor(now);
    e.probes = 0;
    this.wheel.disarm(e.timer);
  }

  private resolved(e: Entry6, _now: number): void {
    this.incomplete.delete(e);
    this.stats.nd_resolved++;
    if (e.queued > 0) this.parked.take(e, e.mac);
  }

  private timerFired(e: Entry6, now: number): void {
    const c = this.config;
    if (e.state === Nd6State.Delay) {
      e.state = Nd6State.Probe;
      e.probes = 1;
      this.stats.nd_ns_unicast_sent++;
      this.host.sendNeighborSolicit(e.addr, e.mac);
      this.wheel.arm(e.timer, now + c.retransMs);
      return;
    }
    if (e.state !== Nd6State.Incomplete && e.state !== Nd6State.Probe) return;
    const max = e.state === Nd6State.Incomplete ? c.maxMulticastSolicit : c.maxUnicastSolicit;
    if (e.probes >= max) {
      this.stats.nd_failed++;
      this.remove(e);
      return;
    }
    e.probes++;
    if (e.state === Nd6State.Incomplete) {
      this.stats.nd_ns_multicast_sent++;
      this.host.sendNeighborSolicit(e.addr, -1);
    } else {
      this.stats.nd_ns_unicast_sent++;
      this.host.sendNeighborSolicit(e.addr, e.mac);
    }
    this.wheel.arm(e.timer, now + c.retransMs);
  }

  private remove(e: Entry6): void {
    this.wheel.disarm(e.timer);
    this.entries.delete(e.key);
    this.incomplete.delete(e);
    if (e.queued > 0) {
      this.stats.nd_queue_drops += e.queued;
      this.parked.take(e, -1);
    }
  }

  private evictOne(): boolean {
    for (const e of this.incomplete) {
      this.stats.nd_evicted_incomplete++;
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
