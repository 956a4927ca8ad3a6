/**
 * The addresses of one IPv6 interface (RFC 4291, 4862, 7217): the
 * link-local one (modified EUI-64, or RFC 7217 stable with a secret), the
 * configured ones, those SLAAC forms from advertised prefixes (capped by
 * slaac.ts), or ::1 alone on the loopback interface; duplicate address
 * detection for each, their valid and preferred lifetimes, and the groups
 * the interface receives because of them (all-nodes, each address's
 * solicited-node group). Sending the DAD solicitations and what follows a
 * ready link-local address are the caller's (`Ipv6AddressHooks`).
 */
import { createHash } from 'node:crypto';
import type { TimerWheel } from '../../time/timer-wheel.js';
import { Timer } from '../../time/timer-wheel.js';
import { IPV6_ALL_NODES, eui64FromMac, ipv6Equal, ipv6LinkLocal, ipv6PrefixMatch, ipv6ToString, ipv6WithInterfaceId, isSolicitedNodeMulticast } from '../../wire/ipv6.js';
import type { NdPrefixInfo } from '../../wire/ndp.js';
import { ipv6Key } from './nd-cache.js';
import type { SlaacState } from './slaac.js';
import { IPV6_LOOPBACK, type Ipv6Address, type Ipv6AddressOrigin, type Ipv6AddressState, type Ipv6Config, type Ipv6Stats } from './ipv6-types.js';

/** One address of the interface and its DAD state. */
export class Addr6 implements Ipv6Address {
  state: Ipv6AddressState = 'tentative';
  dadSent = 0;
  readonly key: string;
  /** The low 32 bits of the solicited-node group's MAC (as int32), for the receive filter. */
  readonly groupMacLo: number;
  readonly timer: Timer;
  constructor(
    readonly address: Uint8Array,
    readonly prefixLength: number,
    readonly origin: Ipv6AddressOrigin,
    public validUntil: number,
    public preferredUntil: number,
    onTimer: (a: Addr6, now: number) => void,
  ) {
    this.key = ipv6Key(address);
    this.groupMacLo = (0xff << 24) | (address[13]! << 16) | (address[14]! << 8) | address[15]!;
    this.timer = new Timer((now) => onTimer(this, now));
  }
  get usable(): boolean {
    return this.state === 'preferred' || this.state === 'deprecated';
  }
}

/** RFC 7217: the first 64 bits of SHA-256(prefix | interface name | DAD counter | secret). */
export function stableInterfaceId(prefix: Uint8Array, ifaceName: string, dadCounter: number, secret: Uint8Array): Uint8Array {
  const h = createHash('sha256');
  h.update(prefix.subarray(0, 8));
  h.update(ifaceName);
  h.update(Uint8Array.of(dadCounter & 0xff));
  h.update(secret);
  const id = new Uint8Array(h.digest().subarray(0, 8));
  // RFC 7136: the u/g bits carry no meaning; RFC 5453's reserved identifiers are practically never hit.
  return id;
}

/** What the address table asks of the layer. */
export interface Ipv6AddressHooks {
  /** Sends one DAD solicitation for `address` (from ::, to its solicited-node group). */
  sendDadSolicit(address: Uint8Array): void;
  /** RetransTimer (ms): how long DAD waits after each solicitation. */
  retransMs(): number;
  /** An address changed state (tentative: DAD starts; DAD done or failed; expired). */
  changed(a: Addr6, now: number): void;
  /** The link-local address passed DAD (router solicitations may start). */
  linkLocalReady(now: number): void;
}

export class Ipv6Addresses {
  /** addrs[0] is the link-local address (::1 on the loopback interface). */
  readonly list: Addr6[] = [];
  private readonly dadTransmits: number;
  private readonly stableSecret: Uint8Array | null;
  private readonly lifetimeTimer: Timer;
  private started = false;
  private readonly onAddrTimer = (a: Addr6, now: number): void => this.addrTimer(a, now);

  constructor(
    private readonly name: string,
    private readonly mac: number,
    loopback: boolean,
    config: Ipv6Config,
    private readonly wheel: TimerWheel,
    private readonly stats: Ipv6Stats,
    private readonly slaac: SlaacState,
    private readonly hooks: Ipv6AddressHooks,
  ) {
    // Nothing else is on a loopback link: no address there can be a duplicate.
    this.dadTransmits = loopback ? 0 : config.dadTransmits ?? 1;
    this.stableSecret = config.stableSecret ?? null;
    this.lifetimeTimer = new Timer((now) => this.expire(now));
    if (loopback) {
      this.list.push(new Addr6(IPV6_LOOPBACK.slice(), 128, 'loopback', Infinity, Infinity, this.onAddrTimer));
      return;
    }
    const prefixLL = ipv6LinkLocal(new Uint8Array(8));
    const ll = ipv6LinkLocal(this.interfaceId(prefixLL, 0));
    this.list.push(new Addr6(ll, 64, 'link-local', Infinity, Infinity, this.onAddrTimer));
    for (const a of config.addresses ?? []) {
      this.list.push(new Addr6(a.address.slice(0, 16), a.prefixLength, 'manual', Infinity, Infinity, this.onAddrTimer));
    }
  }

  interfaceId(prefix: Uint8Array, dadCounter: number): Uint8Array {
    return this.stableSecret !== null ? stableInterfaceId(prefix, this.name, dadCounter, this.stableSecret) : eui64FromMac(this.mac);
  }

  /** Every address with its state. */
  addresses(): Ipv6Address[] {
    return this.list.map((a) => ({
      address: a.address, prefixLength: a.prefixLength, state: a.state, origin: a.origin, validUntil: a.validUntil, preferredUntil: a.preferredUntil,
    }));
  }

  /** The link-local address (fe80::/64); ::1 on the loopback interface. */
  get linkLocal(): Uint8Array {
    return this.list[0]!.address;
  }

  /** Starts DAD on every address (the interface came up). */
  start(now: number): void {
    if (this.started) return;
    this.started = true;
    for (const a of this.list) this.startDad(a, now);
  }

  /** Whether to accept a frame sent to 33:33 + `lo32` (an int32): all-nodes and our solicited-node groups. */
  acceptsMulticastMac(lo32: number): boolean {
    if (lo32 === 1) return true;
    const addrs = this.list;
    for (let k = 0; k < addrs.length; k++) if (addrs[k]!.groupMacLo === lo32 && addrs[k]!.state !== 'duplicate') return true;
    return false;
  }

  /** Whether the group at buf[off, off + 16) is one the interface has joined. */
  inGroup(buf: Uint8Array, off: number): boolean {
    if (ipv6Equal(buf, off, IPV6_ALL_NODES)) return true;
    if (!isSolicitedNodeMulticast(buf, off)) return false;
    for (const a of this.list) {
      if (a.state !== 'duplicate' && a.address[13] === buf[off + 13] && a.address[14] === buf[off + 14] && a.address[15] === buf[off + 15]) return true;
    }
    return false;
  }

  find(buf: Uint8Array, off: number): Addr6 | null {
    for (const a of this.list) if (ipv6Equal(buf, off, a.address)) return a;
    return null;
  }

  /** Whether `a` is one of the addresses and usable (past DAD, not duplicate): what a socket may bind. */
  hasAddress(a: Uint8Array): boolean {
    const x = this.find(a, 0);
    return x !== null && x.usable;
  }

  /** The stored address when buf[off, off + 16) is one of the addresses (tentative too, duplicates not), else null. */
  ownAddress(buf: Uint8Array, off = 0): Uint8Array | null {
    const a = this.find(buf, off);
    return a === null || a.state === 'duplicate' ? null : a.address;
  }

  /**
   * A prefix information option with the autonomous flag (RFC 4862
   * §5.5.3): the SLAAC address for it is formed (then DAD) or its
   * lifetimes updated, as slaac.ts decides.
   */
  autonomousPrefix(p: NdPrefixInfo, now: number): void {
    const prefix = p.prefix;
    let existing: Addr6 | null = null;
    let count = 0;
    for (const a of this.list) {
      if (a.origin !== 'slaac') continue;
      count++;
      if (ipv6PrefixMatch(a.address, 0, prefix, 0, 64)) existing = a;
    }
    const u = this.slaac.autonomous(p, existing === null ? -1 : existing.validUntil, count, now);
    if (u === null) return;
    if (existing !== null) {
      existing.validUntil = u.validUntil;
      existing.preferredUntil = u.preferredUntil;
      if (existing.state === 'deprecated' && u.preferredUntil > now) existing.state = 'preferred';
      return;
    }
    const addr = ipv6WithInterfaceId(u.prefix, this.interfaceId(u.prefix, 0));
    if (this.find(addr, 0) !== null) return;
    const a = new Addr6(addr, 64, 'slaac', u.validUntil, u.preferredUntil, this.onAddrTimer);
    this.list.push(a);
    this.stats.slaac_addresses_formed++;
    this.startDad(a, now);
  }

  /** Arms the timer for the next lifetime end (an address's, or a router's or prefix's in slaac.ts). */
  armLifetimes(now: number): void {
    let next = this.slaac.expire(now);
    for (const a of this.list) {
      if (a.validUntil > now) next = Math.min(next, a.validUntil);
      if (a.preferredUntil > now) next = Math.min(next, a.preferredUntil);
    }
    if (next === Infinity) this.wheel.disarm(this.lifetimeTimer);
    else this.wheel.arm(this.lifetimeTimer, next);
  }

  private expire(now: number): void {
    for (let i = this.list.length - 1; i >= 1; i--) {
      const a = this.list[i]!;
      if (a.validUntil <= now) {
        this.wheel.disarm(a.timer);
        this.list.splice(i, 1);
        this.stats.slaac_addresses_expired++;
        a.state = 'duplicate';
        this.hooks.changed(a, now);
      } else if (a.preferredUntil <= now && a.state === 'preferred') {
        a.state = 'deprecated';
        this.hooks.changed(a, now);
      }
    }
    this.armLifetimes(now);
  }

  private startDad(a: Addr6, now: number): void {
    if (this.dadTransmits <= 0) {
      this.dadDone(a, now);
      return;
    }
    a.state = 'tentative';
    a.dadSent = 0;
    this.hooks.changed(a, now);
    this.addrTimer(a, now);
  }

  private addrTimer(a: Addr6, now: number): void {
    if (a.state !== 'tentative') return;
    if (a.dadSent >= this.dadTransmits) {
      this.dadDone(a, now);
      return;
    }
    a.dadSent++;
    this.stats.nd_dad_ns_sent++;
    this.hooks.sendDadSolicit(a.address);
    this.wheel.arm(a.timer, now + this.hooks.retransMs());
  }

  private dadDone(a: Addr6, now: number): void {
    a.state = a.preferredUntil > now ? 'preferred' : 'deprecated';
    this.hooks.changed(a, now);
    if (a.origin === 'link-local') this.hooks.linkLocalReady(now);
  }

  /** Another node has the address (an NA for it, or its DAD solicitation while ours runs): never used. */
  duplicate(a: Addr6, now: number): void {
    this.stats.nd_dad_duplicates++;
    a.state = 'duplicate';
    this.wheel.disarm(a.timer);
    this.hooks.changed(a, now);
  }

  /** Disarms every timer. */
  shutdown(): void {
    this.wheel.disarm(this.lifetimeTimer);
    for (const a of this.list) this.wheel.disarm(a.timer);
  }

  /** For debugging: the addresses as text. */
  describe(): string {
    return this.list.map((a) => `${ipv6ToString(a.address)}/${a.prefixLength} ${a.state}`).join(', ');
  }
}
