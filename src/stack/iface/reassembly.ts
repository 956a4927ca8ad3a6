/**
 * IPv4 fragment reassembly (RFC 791 §3.2, with RFC 815's hole bookkeeping
 * reduced to a sorted list of received ranges).
 *
 * Hostile input is expected here (fragment floods, overlapping fragments,
 * ping of death), so everything is bounded:
 *  - total buffered bytes across all datagrams <= maxBytes; a fragment that
 *    would exceed it evicts the oldest incomplete datagram, or is dropped;
 *  - at most maxDatagrams datagrams in progress;
 *  - each datagram expires timeoutMs after its first fragment;
 *  - a fragment ending past 65535 bytes is dropped (ping of death);
 *  - fragments that partially overlap earlier ones discard the whole datagram
 *    (as Linux has done since 2018, and RFC 5722 requires for IPv6); exact
 *    duplicates are dropped alone, since duplication happens on real links.
 */
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';

export interface ReassemblyConfig {
  maxBytes: number;
  maxDatagrams: number;
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY_CONFIG: ReassemblyConfig = {
  maxBytes: 1 << 20,
  maxDatagrams: 64,
  timeoutMs: 30_000,
};

export interface ReassemblyStats {
  frag_received: number;
  frag_reassembled: number;
  frag_timeouts: number;
  frag_overlaps: number;
  frag_duplicates: number;
  frag_too_big: number;
  frag_evicted: number;
  frag_memory_drops: number;
}

/** Largest IPv4 payload: 65535 - 20. Offsets are payload offsets. */
const MAX_PAYLOAD = 65535 - 20;

class Datagram {
  /** Received ranges, sorted, disjoint: [start0, end0, start1, end1, ...]. */
  readonly ranges: number[] = [];
  /** Payload length once the last fragment (MF = 0) has been seen; -1 before. */
  total = -1;
  buf: Uint8Array;
  readonly timer: Timer;
  constructor(
    readonly key: string,
    initialSize: number,
    onExpire: (d: Datagram, now: number) => void,
  ) {
    this.buf = new Uint8Array(initialSize);
    this.timer = new Timer((now) => onExpire(this, now));
  }
}

export interface ReassembledDatagram {
  /** The payload bytes [0, length) — valid until the next call to add(). */
  readonly buf: Uint8Array;
  readonly length: number;
}

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  private bytes = 0;
  readonly stats: ReassemblyStats = {
    frag_received: 0,
    frag_reassembled: 0,
    frag_timeouts: 0,
    frag_overlaps: 0,
    frag_duplicates: 0,
    frag_too_big: 0,
    frag_evicted: 0,
    frag_memory_drops: 0,
  };
  private readonly onExpire = (d: Datagram): void => {
    this.stats.frag_timeouts++;
    this.discard(d);
  };

  constructor(
    private readonly wheel: TimerWheel,
    readonly config: ReassemblyConfig = DEFAULT_REASSEMBLY_CONFIG,
  ) {}

  /** Bytes currently buffered for incomplete datagrams. */
  get bufferedBytes(): number {
    return this.bytes;
  }

  get pending(): number {
    return this.datagrams.size;
  }

  /**
   * Adds one fragment. `offset` is the fragment offset in bytes, `data` the
   * fragment's payload at buf[off, off + len). Returns the whole datagram's
   * payload when this fragment completed it, else null.
   */
  add(
    src: number,
    dst: number,
    protocol: number,
    ident: number,
    offset: number,
    moreFragments: boolean,
    buf: Uint8Array,
    off: number,
    len: number,
    now: number,
  ): ReassembledDatagram | null {
    this.stats.frag_received++;
    const end = offset + len;
    // Every fragment but the last carries a multiple of 8 bytes (RFC 791).
    if (end > MAX_PAYLOAD || (moreFragments && (len & 7) !== 0) || (moreFragments && len === 0)) {
      this.stats.frag_too_big++;
      return null;
    }
    const key = `${src}:${dst}:${protocol}:${ident}`;
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.config.maxDatagrams && !this.evictOldest()) {
        this.stats.frag_memory_drops++;
        return null;
      }
      const size = Math.min(MAX_PAYLOAD, Math.max(end, 1024));
      if (!this.reserve(size)) return null;
      d = new Datagram(key, size, this.onExpire);
      this.datagrams.set(key, d);
      this.wheel.arm(d.timer, now + this.config.timeoutMs);
    }
    // The last fragment fixes the length; a conflicting length is an attack or corruption.
    if (!moreFragments) {
      if ((d.total >= 0 && d.total !== end) || this.lastRangeEnd(d) > end) {
        this.stats.frag_overlaps++;
        this.discard(d);
        return null;
      }
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      this.stats.frag_overlaps++;
      this.discard(d);
      return null;
    }
    const verdict = this.insertRange(d, offset, end);
    if (verdict === 'duplicate') {
      this.stats.frag_duplicates++;
      return null;
    }
    if (verdict === 'overlap') {
      this.stats.frag_overlaps++;
      this.discard(d);
      return null;
    }
    if (end > d.buf.length) {
      const grown = Math.min(MAX_PAYLOAD, Math.max(end, d.buf.length * 2));
      if (!this.reserve(grown - d.buf.length, d)) {
        this.discard(d);
        return null;
      }
      const nb = new Uint8Array(grown);
      nb.set(d.buf);
      d.buf = nb;
    }
    d.buf.set(buf.subarray(off, off + len), offset);
    if (d.total >= 0 && d.ranges.length === 2 && d.ranges[0] === 0 && d.ranges[1] === d.total) {
      this.stats.frag_reassembled++;
      const result = { buf: d.buf, length: d.total };
      this.discard(d);
      return result;
    }
    return null;
  }

  /** Drops everything (interface going down). */
  clear(): void {
    for (const d of [...this.datagrams.values()]) this.discard(d);
  }

  private lastRangeEnd(d: Datagram): number {
    return d.ranges.length === 0 ? 0 : d.ranges[d.ranges.length - 1]!;
  }

  /** Inserts [start, end) into the sorted range list, merging neighbours. */
  private insertRange(d: Datagram, start: number, end: number): 'ok' | 'duplicate' | 'overlap' {
    const r = d.ranges;
    let i = 0;
    while (i < r.length && r[i + 1]! <= start) i += 2;
    if (i < r.length && r[i]! < end) {
      // Overlaps an existing range: only an exact repeat of a received piece is benign.
      return r[i]! <= start && end <= r[i + 1]! ? 'duplicate' : 'overlap';
    }
    r.splice(i, 0, start, end);
    // Merge with the previous range if adjacent.
    if (i > 0 && r[i - 1] === start) {
      r.splice(i - 1, 2);
      i -= 2;
    }
    // Merge with the next range if adjacent.
    if (i + 2 < r.length && r[i + 1] === r[i + 2]) {
      r.splice(i + 1, 2);
    }
    return 'ok';
  }

  /** Accounts `n` more bytes, evicting the oldest other datagrams if needed. */
  private reserve(n: number, keep?: Datagram): boolean {
    while (this.bytes + n > this.config.maxBytes) {
      if (!this.evictOldest(keep)) {
        this.stats.frag_memory_drops++;
        return false;
      }
    }
    this.bytes += n;
    return true;
  }

  private evictOldest(keep?: Datagram): boolean {
    for (const d of this.datagrams.values()) {
      if (d === keep) continue;
      this.stats.frag_evicted++;
      this.discard(d);
      return true;
    }
    return false;
  }

  private discard(d: Datagram): void {
    if (this.datagrams.get(d.key) !== d) return;
    this.datagrams.delete(d.key);
    this.wheel.disarm(d.timer);
    this.bytes -= d.buf.length;
  }
}
