/**
 * What router advertisements teach a host (RFC 4861 §6.3.4, RFC 4862 §5.5.3):
 * default routers, on-link prefixes and autoconfigured (SLAAC) addresses,
 * each with its lifetime, and each list capped — an RA flood with random
 * prefixes or routers fills the lists to their caps and the rest is counted
 * and ignored, never grown. Pure bookkeeping on times it is handed: the
 * IPv6 layer does the sending, DAD and timers.
 */
import { ipv6PrefixMatch, ipv6Prefix, isIpv6LinkLocal } from '../../wire/ipv6.js';
import type { NdPrefixInfo } from '../../wire/ndp.js';
import { ipv6Key } from './nd-cache.js';

export interface SlaacLimits {
  maxRouters: number;
  maxPrefixes: number;
  /** Addresses formed from advertised prefixes. */
  maxAddresses: number;
}

export const DEFAULT_SLAAC_LIMITS: SlaacLimits = { maxRouters: 4, maxPrefixes: 16, maxAddresses: 16 };

export interface SlaacStats {
  ra_routers_added: number;
  ra_router_cap_drops: number;
  ra_prefixes_added: number;
  ra_prefix_cap_drops: number;
  ra_address_cap_drops: number;
  ra_prefix_ignored: number;
}

const TWO_HOURS_MS = 2 * 3600_000;
const INFINITE = 0xffffffff;

export interface Router6 {
  address: Uint8Array;
  key: string;
  expiresAt: number;
}

export interface OnLinkPrefix {
  prefix: Uint8Array;
  prefixLength: number;
  key: string;
  expiresAt: number;
}

/** A SLAAC address the layer must create (new) or whose lifetimes changed. */
export interface SlaacAddressUpdate {
  prefix: Uint8Array;
  validUntil: number;
  preferredUntil: number;
}

export function lifetimeEnd(now: number, seconds: number): number {
  return seconds === INFINITE ? Infinity : now + seconds * 1000;
}

export class SlaacState {
  readonly routers: Router6[] = [];
  readonly prefixes: OnLinkPrefix[] = [];
  readonly stats: SlaacStats = {
    ra_routers_added: 0, ra_router_cap_drops: 0, ra_prefixes_added: 0, ra_prefix_cap_drops: 0,
    ra_address_cap_drops: 0, ra_prefix_ignored: 0,
  };

  constructor(readonly limits: SlaacLimits = DEFAULT_SLAAC_LIMITS) {}

  /** An RA from `src` with router lifetime `lifetimeS` (seconds; 0 removes it from the default routers). */
  router(src: Uint8Array, lifetimeS: number, now: number): void {
    const key = ipv6Key(src);
    const i = this.routers.findIndex((r) => r.key === key);
    if (lifetimeS === 0) {
      if (i >= 0) this.routers.splice(i, 1);
      return;
    }
    const expiresAt = now + lifetimeS * 1000;
    if (i >= 0) {
      this.routers[i]!.expiresAt = expiresAt;
      return;
    }
    if (this.routers.length >= this.limits.maxRouters) {
      this.stats.ra_router_cap_drops++;
      return;
    }
    this.stats.ra_routers_added++;
    this.routers.push({ address: src.slice(0, 16), key, expiresAt });
  }

  /** Removes `addr` from the default routers (RFC 4861 §7.2.5: it said it is no router). True when it was one. */
  removeRouter(addr: Uint8Array): boolean {
    const key = ipv6Key(addr);
    const i = this.routers.findIndex((r) => r.key === key);
    if (i < 0) return false;
    this.routers.splice(i, 1);
    return true;
  }

  /** The on-link flag of a prefix information option (§6.3.4). */
  onLink(p: NdPrefixInfo, now: number): void {
    if (isIpv6LinkLocal(p.prefix)) return;
    const prefix = ipv6Prefix(p.prefix, p.prefixLength);
    const key = ipv6Key(prefix) + String.fromCharCode(p.prefixLength);
    const i = this.prefixes.findIndex((x) => x.key === key);
    if (p.validLifetime === 0) {
      if (i >= 0) this.prefixes.splice(i, 1);
      return;
    }
    const expiresAt = lifetimeEnd(now, p.validLifetime);
    if (i >= 0) {
      this.prefixes[i]!.expiresAt = expiresAt;
      return;
    }
    if (this.prefixes.length >= this.limits.maxPrefixes) {
      this.stats.ra_prefix_cap_drops++;
      return;
    }
    this.stats.ra_prefixes_added++;
    this.prefixes.push({ prefix, prefixLength: p.prefixLength, key, expiresAt });
  }

  /**
   * The autonomous flag (RFC 4862 §5.5.3): returns the lifetimes to give
   * the address formed from the prefix, or null when the option is to be
   * ignored. `existing` is the current address's valid end for this prefix,
   * or -1; `count` how many SLAAC addresses there are.
   */
  autonomous(p: NdPrefixInfo, existingValidUntil: number, count: number, now: number): SlaacAddressUpdate | null {
    // b) link-local prefixes, c) preferred > valid, and prefixes we cannot
    // append a 64-bit interface identifier to are ignored.
    if (isIpv6LinkLocal(p.prefix) || p.preferredLifetime > p.validLifetime || p.prefixLength !== 64) {
      this.stats.ra_prefix_ignored++;
      return null;
    }
    const prefix = ipv6Prefix(p.prefix, 64);
    const preferredUntil = lifetimeEnd(now, p.preferredLifetime);
    if (existingValidUntil < 0) {
      if (p.validLifetime === 0) return null;
      if (count >= this.limits.maxAddresses) {
        this.stats.ra_address_cap_drops++;
        return null;
      }
      return { prefix, validUntil: lifetimeEnd(now, p.validLifetime), preferredUntil };
    }
    // e) the two-hour rule: an unauthenticated RA cannot cut a valid lifetime below two hours.
    const received = lifetimeEnd(now, p.validLifetime);
    const remaining = existingValidUntil - now;
    let validUntil: number;
    if (received - now > TWO_HOURS_MS || received > existingValidUntil) validUntil = received;
    else if (remaining <= TWO_HOURS_MS) validUntil = existingValidUntil;
    else validUntil = now + TWO_HOURS_MS;
    return { prefix, validUntil, preferredUntil };
  }

  /** True when `addr` is inside an advertised on-link prefix. */
  isOnLink(addr: Uint8Array, off = 0): boolean {
    for (const p of this.prefixes) if (ipv6PrefixMatch(addr, off, p.prefix, 0, p.prefixLength)) return true;
    return false;
  }

  /** The first default router, or null. */
  defaultRouter(): Router6 | null {
    return this.routers.length > 0 ? this.routers[0]! : null;
  }

  /** Forgets what expired at `now`; returns the next expiry (Infinity when none). */
  expire(now: number): number {
    let next = Infinity;
    for (let i = this.routers.length - 1; i >= 0; i--) {
      const r = this.routers[i]!;
      if (r.expiresAt <= now) this.routers.splice(i, 1);
      else next = Math.min(next, r.expiresAt);
    }
    for (let i = this.prefixes.length - 1; i >= 0; i--) {
      const p = this.prefixes[i]!;
      if (p.expiresAt <= now) this.prefixes.splice(i, 1);
      else next = Math.min(next, p.expiresAt);
    }
    return next;
  }
}
