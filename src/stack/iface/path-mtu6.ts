/**
 * Path MTUs learnt from Packet Too Big (RFC 8201): per destination, below
 * the link MTU and never below 1280 (RFC 8200 §5: no atomic fragments for a
 * smaller one), each kept 10 minutes (§4: at least 5); at most 256
 * destinations, the oldest forgotten first. Pure bookkeeping on the times
 * and MTUs it is handed.
 */
import { IPV6_MIN_MTU } from '../../wire/ipv6.js';
import { ipv6Key } from './nd-cache.js';

/** Destinations with a learnt path MTU (the oldest is forgotten past it), and how long one is kept. */
const PMTU_MAX = 256;
const PMTU_TTL_MS = 10 * 60_000;

export class PathMtu6 {
  private readonly table = new Map<string, { mtu: number; expiresAt: number }>();

  /**
   * A Packet Too Big for the destination at buf[off, off + 16) reporting
   * `mtu`, on a link of `linkMtu`. True when it lowered the path's MTU.
   */
  learn(buf: Uint8Array, off: number, mtu: number, linkMtu: number, now: number): boolean {
    const value = Math.max(IPV6_MIN_MTU, Math.min(mtu, linkMtu));
    const key = ipv6Key(buf, off);
    const cur = this.table.get(key);
    if (cur !== undefined && cur.expiresAt > now && cur.mtu <= value) return false;
    if (value >= linkMtu) return false;
    this.table.delete(key);
    if (this.table.size >= PMTU_MAX) this.table.delete(this.table.keys().next().value!);
    this.table.set(key, { mtu: value, expiresAt: now + PMTU_TTL_MS });
    return true;
  }

  /** The MTU toward `dst`: a learnt path MTU while it lasts, else `linkMtu`. */
  get(dst: Uint8Array, linkMtu: number, now: number): number {
    if (this.table.size === 0) return linkMtu;
    const key = ipv6Key(dst);
    const e = this.table.get(key);
    if (e === undefined) return linkMtu;
    if (e.expiresAt <= now) {
      this.table.delete(key);
      return linkMtu;
    }
    return Math.min(e.mtu, linkMtu);
  }

  /** Destinations with a learnt path MTU. */
  get size(): number {
    return this.table.size;
  }
}
