/**
 * IPv6 fragment reassembly by RFC 8200 §4.5 and the rules written since:
 *
 *  - overlapping fragments discard the whole datagram (RFC 5722), and the
 *    rest of its fragments are dropped until it times out; an exact
 *    duplicate (same offset and length) is dropped on its own;
 *  - a fragment that is not the last must carry a multiple of 8 bytes, and
 *    none may end past 65,535 bytes;
 *  - two different ends (two last fragments) discard the datagram;
 *  - an atomic fragment (offset 0, no more fragments; RFC 6946) never gets
 *    here: the IPv6 layer processes it at once;
 *  - bounded: at most `maxDatagrams` in progress, `maxBytes` of fragment
 *    data held in total (the oldest datagram goes first when full),
 *    `maxFragments` per datagram (tiny fragments cannot make it cost much),
 *    and each expires `timeoutMs` after its first fragment.
 *
 * Datagrams are keyed by source, destination and identification. Fragment
 * data is copied out of the NIC slot; the completed datagram is rebuilt as
 * one IPv6 packet (the first fragment's header and unfragmentable part, its
 * fragment header removed) in a buffer the caller processes at once.
 */
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import { IPV6_HEADER_LEN } from '../../wire/ipv6.js';
import { FRAGMENT_HEADER_LEN } from '../../wire/ipv6-ext.js';
import { ipv6Key } from './nd-cache.js';

export interface Reassembly6Config {
  maxBytes: number;
  maxDatagrams: number;
  maxFragments: number;
  /** RFC 8200: 60 s. */
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY6_CONFIG: Reassembly6Config = { maxBytes: 1 << 20, maxDatagrams: 64, maxFragments: 64, timeoutMs: 60_000 };

export interface Reassembly6Stats {
  frag6_received: number;
  frag6_reassembled: number;
  frag6_overlaps: number;
  frag6_duplicates: number;
  frag6_bad_length: number;
  frag6_too_many: number;
  /** Datagrams discarded for two different ends (or data past the last fragment's end). */
  frag6_bad_end: number;
  frag6_poisoned_drops: number;
  frag6_timeouts: number;
  frag6_evicted: number;
  frag6_memory_drops: number;
}

class Datagram6 {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly data: Uint8Array[] = [];
  /** The first fragment's header up to its fragment header (IPv6 header + unfragmentable headers), once seen. */
  head: Uint8Array | null = null;
  /** Where, in `head`, the next-header byte naming the fragment header is. */
  nextHeaderAt = 0;
  /** The fragment header's next header (from the first fragment). */
  nextHeader = 0;
  /** The datagram's length (fragmentable part), once the last fragment came; -1 before. */
  total = -1;
  bytes = 0;
  poisoned = false;
  readonly timer: Timer;
  constructor(readonly key: string, onTimeout: (d: Datagram6) => void) {
    this.timer = new Timer(() => onTimeout(this));
  }
}

export class Reassembler6 {
  readonly stats: Reassembly6Stats = {
    frag6_received: 0, frag6_reassembled: 0, frag6_overlaps: 0, frag6_duplicates: 0, frag6_bad_length: 0,
    frag6_too_many: 0, frag6_bad_end: 0, frag6_poisoned_drops: 0, frag6_timeouts: 0, frag6_evicted: 0, frag6_memory_drops: 0,
  };
  private readonly datagrams = new Map<string, Datagram6>();
  private held = 0;
  /** The rebuilt packet, reused (IPv6 header + unfragmentable part + 65,535 bytes). */
  private out: Uint8Array | null = null;
  private readonly onTimeout = (d: Datagram6): void => {
    this.stats.frag6_timeouts++;
    this.remove(d);
  };

  constructor(
    private readonly wheel: TimerWheel,
    readonly config: Reassembly6Config = DEFAULT_REASSEMBLY6_CONFIG,
  ) {}

  get pending(): number {
    return this.datagrams.size;
  }

  get bufferedBytes(): number {
    return this.held;
  }

  /**
   * One fragment of the packet at buf[ipOff, ...): its fragment header at
   * `fragAt`, the byte naming that header at `nextHeaderAt`, its data at
   * buf[dataOff, dataOff + dataLen). Returns the rebuilt packet's length in
   * `packet` (valid until the next call), or -1 while incomplete or dropped.
   */
  add(buf: Uint8Array, ipOff: number, nextHeaderAt: number, fragAt: number, offset: number, more: boolean, id: number, dataOff: number, dataLen: number, now: number): number {
    const st = this.stats;
    st.frag6_received++;
    const end = offset + dataLen;
    if ((more && (dataLen & 7) !== 0) || (more && dataLen === 0) || end > 65535) {
      st.frag6_bad_length++;
      return -1;
    }
    const key = ipv6Key(buf, ipOff + 8) + ipv6Key(buf, ipOff + 24) + String.fromCharCode(id >>> 16, id & 0xffff);
    let d = this.datagrams.get(key);
    if (d === undefined) {
      if (this.datagrams.size >= this.config.maxDatagrams) this.evictOldest();
      d = new Datagram6(key, this.onTimeout);
      this.datagrams.set(key, d);
      this.wheel.arm(d.timer, now + this.config.timeoutMs);
    }
    if (d.poisoned) {
      st.frag6_poisoned_drops++;
      return -1;
    }
    if (!more) {
      if ((d.total >= 0 && d.total !== end) || d.ends.some((e) => e > end)) {
        st.frag6_bad_end++;
        return this.poison(d);
      }
      d.total = end;
    } else if (d.total >= 0 && end > d.total) {
      st.frag6_bad_end++;
      return this.poison(d);
    }
    // Where it goes, and whether it overlaps anything held.
    let at = 0;
    while (at < d.starts.length && d.starts[at]! < offset) at++;
    for (let k = 0; k < d.starts.length; k++) {
      const s = d.starts[k]!;
      const e = d.ends[k]!;
      if (s === offset && e === end) {
        st.frag6_duplicates++;
        return -1;
      }
      if (offset < e && s < end) {
        st.frag6_overlaps++;
        return this.poison(d);
      }
    }
    if (d.starts.length >= this.config.maxFragments) {
      st.frag6_too_many++;
      return this.poison(d);
    }
    while (this.held + dataLen > this.config.maxBytes && this.datagrams.size > 1) {
      if (!this.evictOldest(d)) break;
    }
    if (this.held + dataLen > this.config.maxBytes) {
      st.frag6_memory_drops++;
      this.remove(d);
      return -1;
    }
    d.starts.splice(at, 0, offset);
    d.ends.splice(at, 0, end);
    d.data.splice(at, 0, buf.slice(dataOff, dataOff + dataLen));
    d.bytes += dataLen;
    this.held += dataLen;
    if (offset === 0) {
      d.head = buf.slice(ipOff, fragAt);
      d.nextHeaderAt = nextHeaderAt - ipOff;
      d.nextHeader = buf[fragAt]!;
    }
    if (d.total < 0 || d.head === null) return -1;
    // Complete when the pieces run from 0 to total without a gap.
    let reach = 0;
    for (let k = 0; k < d.starts.length; k++) {
      if (d.starts[k]! !== reach) return -1;
      reach = d.ends[k]!;
    }
    if (reach !== d.total) return -1;
    return this.rebuild(d);
  }

  /** The rebuilt packet of the last completed datagram. */
  get packet(): Uint8Array {
    return this.out!;
  }

  private rebuild(d: Datagram6): number {
    const head = d.head!;
    const len = head.length + d.total;
    if (this.out === null) this.out = new Uint8Array(IPV6_HEADER_LEN + 2048 + 65535 + FRAGMENT_HEADER_LEN);
    const out = this.out;
    if (len > out.length || len - IPV6_HEADER_LEN > 65535) {
      this.stats.frag6_bad_length++;
      this.remove(d);
      return -1;
    }
    out.set(head, 0);
    out[d.nextHeaderAt] = d.nextHeader;
    const payload = len - IPV6_HEADER_LEN;
    out[4] = payload >>> 8;
    out[5] = payload & 0xff;
    let o = head.length;
    for (const piece of d.data) {
      out.set(piece, o);
      o += piece.length;
    }
    this.stats.frag6_reassembled++;
    this.remove(d);
    return len;
  }

  private poison(d: Datagram6): number {
    d.poisoned = true;
    this.held -= d.bytes;
    d.bytes = 0;
    d.starts.length = 0;
    d.ends.length = 0;
    d.data.length = 0;
    d.head = null;
    return -1;
  }

  private evictOldest(except?: Datagram6): boolean {
    for (const d of this.datagrams.values()) {
      if (d === except) continue;
      this.stats.frag6_evicted++;
      this.remove(d);
      return true;
    }
    return false;
  }

  private remove(d: Datagram6): void {
    this.wheel.disarm(d.timer);
    this.datagrams.delete(d.key);
    this.held -= d.bytes;
    d.bytes = 0;
  }

  clear(): void {
    for (const d of [...this.datagrams.values()]) this.remove(d);
  }
}
