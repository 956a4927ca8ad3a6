/**
 * The layer's connection table: segments are demultiplexed to connections
 * by their 4-tuple (RFC 9293 §3.10.7). Buckets keyed by a hash of part of
 * the tuple chain their connections through Tcb.nextInBucket (nothing is
 * allocated per connection besides the record), and the full 4-tuple is
 * compared.
 */
import type { Connection } from './connection.js';

/**
 * Bucket key: a 30-bit hash of (remote address, remote port, local port).
 * It must stay a small integer (a V8 Smi): a larger number key is boxed on
 * every Map lookup, i.e. one allocation per segment.
 */
function bucketKey(remoteAddr: number, remotePort: number, localPort: number): number {
  let h = Math.imul(remoteAddr | 0, 0x9e3779b1) ^ Math.imul((remotePort << 16) | localPort, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae3d);
  return (h ^ (h >>> 13)) & 0x3fffffff;
}

export class ConnTable {
  /** bucketKey -> first connection of the bucket's chain. */
  private readonly buckets = new Map<number, Connection>();

  lookup(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): Connection | null {
    let c = this.buckets.get(bucketKey(remoteAddr, remotePort, localPort)) ?? null;
    while (c !== null) {
      if (c.localPort === localPort && c.localAddr === localAddr && c.remoteAddr === remoteAddr && c.remotePort === remotePort) return c;
      c = c.nextInBucket;
    }
    return null;
  }

  insert(conn: Connection): void {
    const key = bucketKey(conn.remoteAddr, conn.remotePort, conn.localPort);
    conn.nextInBucket = this.buckets.get(key) ?? null;
    this.buckets.set(key, conn);
  }

  /** Removes `conn`; false when it was not in the table. */
  remove(conn: Connection): boolean {
    const key = bucketKey(conn.remoteAddr, conn.remotePort, conn.localPort);
    let c = this.buckets.get(key) ?? null;
    let prev: Connection | null = null;
    while (c !== null && c !== conn) {
      prev = c;
      c = c.nextInBucket;
    }
    if (c === null) return false;
    if (prev === null) {
      if (conn.nextInBucket === null) this.buckets.delete(key);
      else this.buckets.set(key, conn.nextInBucket);
    } else {
      prev.nextInBucket = conn.nextInBucket;
    }
    conn.nextInBucket = null;
    return true;
  }

  /** Every connection, in a new array (callers may change the table while going through it). */
  all(): Connection[] {
    const out: Connection[] = [];
    for (const head of this.buckets.values()) for (let c: Connection | null = head; c !== null; c = c.nextInBucket) out.push(c);
    return out;
  }
}
