/**
 * MLDv2 on one interface, as a host (RFC 3810): the groups it listens to
 * are the solicited-node groups of its addresses (all-nodes is never
 * reported, §6); joining or leaving one sends a State-Change Report
 * (CHANGE_TO_EXCLUDE {} / CHANGE_TO_INCLUDE {}) at once and once more after
 * a random delay below the Unsolicited Report Interval (Robustness 2);
 * a general query is answered with a Current-State Report of every group
 * (MODE_IS_EXCLUDE {}), a group-specific one with that group's, a
 * group-and-source-specific one with MODE_IS_INCLUDE of the sources asked
 * (our filter is EXCLUDE {}: every source is wanted), each after a random
 * delay below the query's Maximum Response Delay. Reports go to ff02::16
 * with hop limit 1 and a Router Alert (RFC 2711), from the link-local
 * address or :: while it is tentative (§5.2.13). Queries not from a
 * link-local source or with another hop limit are dropped and counted.
 * MLDv1 compatibility (§8.2): for 260 s after an MLDv1 query (24 bytes)
 * the host speaks MLDv1 (RFC 2710): a Report (131) to each group instead of
 * its v2 records, a Done (132) to ff02::2 when it leaves one.
 */
import type { TimerWheel } from '../../time/timer-wheel.js';
import { Timer } from '../../time/timer-wheel.js';
import { ETH_HEADER_LEN, writeMac } from '../../wire/ethernet.js';
import {
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPV6_UNSPECIFIED,
  IPV6_ALL_ROUTERS,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  ipv6MulticastMac,
  isIpv6LinkLocal,
  isIpv6Unspecified,
  ipv6Equal,
  solicitedNodeMulticast,
} from '../../wire/ipv6.js';
import { ICMPV6_MLD_QUERY, fillIcmpv6Checksum } from '../../wire/icmpv6.js';
import { WireError } from '../../wire/errors.js';
import {
  MLD2_CHANGE_TO_EXCLUDE,
  MLD1_QUERY_LEN,
  MLD2_CHANGE_TO_INCLUDE,
  MLD2_MODE_IS_EXCLUDE,
  MLD2_MODE_IS_INCLUDE,
  MLD2_RECORD_HEADER_LEN,
  MLD2_REPORT_HEADER_LEN,
  emitMld2Report,
  mld2MaxResponseMs,
  parseMldQuery,
  type Mld2Record,
  type MldQuery,
} from '../../wire/mld.js';
import { ipv6Key } from './nd-cache.js';
import type { Ipv6Addresses } from './ipv6-addresses.js';
import type { Ipv6Output } from './ipv6-output.js';
import type { Ipv6LinkHost } from './ipv6-types.js';

/** ff02::16, all MLDv2-capable routers: where reports go. */
export const IPV6_ALL_MLDV2_ROUTERS = Uint8Array.of(0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x16);
/** RFC 3810 §9: Robustness Variable and Unsolicited Report Interval. */
const ROBUSTNESS = 2;
const UNSOLICITED_REPORT_INTERVAL_MS = 1_000;
/** §9.12 Older Version Querier Present Timeout: Robustness x Query Interval (125 s) + Query Response Interval (10 s). */
const OLDER_VERSION_QUERIER_TIMEOUT_MS = ROBUSTNESS * 125_000 + 10_000;
/** MLDv1 (RFC 2710) message types. */
const MLD1_REPORT = ICMPV6_MLD_QUERY + 1;
const MLD1_DONE = ICMPV6_MLD_QUERY + 2;
/** Hop-by-hop header: next header ICMPv6, length 0 (8 bytes), Router Alert (type 5, 2 bytes, value 0: MLD), PadN of 2. */
const HOP_BY_HOP_ROUTER_ALERT = Uint8Array.of(IPPROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0);
/** The bytes of records one report carries in a minimum-MTU packet (after the IPv6, hop-by-hop and report headers). */
const REPORT_BUDGET = IPV6_MIN_MTU - IPV6_HEADER_LEN - 8 - MLD2_REPORT_HEADER_LEN;
/** Sources one record may name and still fit a report alone. */
const MAX_SOURCES = Math.floor((REPORT_BUDGET - MLD2_RECORD_HEADER_LEN) / 16);

export interface MldStats {
  mld_groups: number;
  mld_tx_reports: number;
  mld_tx_records: number;
  mld_rx_queries: number;
  /** MLDv1 queries (each puts the host in MLDv1 compatibility mode for 260 s). */
  mld_rx_v1_queries: number;
  /** MLDv1 Reports and Dones sent in compatibility mode. */
  mld_tx_v1_reports: number;
  mld_tx_v1_dones: number;
  mld_rx_drop_invalid: number;
  /** Other listeners' reports (a host does nothing with them in MLDv2). */
  mld_rx_reports_ignored: number;
  /** Sources of source-specific queries beyond what one record can name (neither read nor answered). */
  mld_rx_sources_ignored: number;
}

interface Pending {
  group: Uint8Array;
  type: number;
  sources: Uint8Array[];
}

export class Ipv6Mld {
  readonly stats: MldStats = {
    mld_groups: 0, mld_tx_reports: 0, mld_tx_records: 0, mld_rx_queries: 0, mld_rx_v1_queries: 0, mld_tx_v1_reports: 0, mld_tx_v1_dones: 0,
    mld_rx_drop_invalid: 0, mld_rx_reports_ignored: 0,
    mld_rx_sources_ignored: 0,
  };
  /** The groups listened to, by key, with how many addresses need each. */
  private readonly groups = new Map<string, { group: Uint8Array; refs: number }>();
  /** State changes still to be sent again (retransmissions left), by group key. */
  private readonly changes = new Map<string, { record: Pending; left: number }>();
  private readonly changeTimer: Timer;
  /** Answers to queries, by group key; `general`: every group. */
  private readonly answers = new Map<string, Pending>();
  private general = false;
  private readonly answerTimer: Timer;
  private answerAt = Infinity;
  /** Until when an MLDv1 querier is present (§8.2.1): the host speaks MLDv1 before it. */
  private v1Until = -Infinity;

  constructor(
    private readonly host: Ipv6LinkHost,
    private readonly wheel: TimerWheel,
    private readonly addrs: Ipv6Addresses,
    private readonly output: Ipv6Output,
    private readonly random: () => number = Math.random,
  ) {
    this.changeTimer = new Timer((now) => this.sendChanges(false, now));
    this.answerTimer = new Timer((now) => this.sendAnswers(now));
  }

  /** The groups listened to (solicited-node groups of the addresses). */
  joined(): Uint8Array[] {
    return [...this.groups.values()].map((g) => g.group);
  }

  /** Brings the groups in line with the addresses (an address was added, became duplicate or expired). */
  sync(now: number): void {
    const want = new Map<string, { group: Uint8Array; refs: number }>();
    for (const a of this.addrs.list) {
      if (a.state === 'duplicate') continue;
      const group = solicitedNodeMulticast(a.address);
      const key = ipv6Key(group);
      const g = want.get(key);
      if (g === undefined) want.set(key, { group, refs: 1 });
      else g.refs++;
    }
    let changed = false;
    for (const [key, g] of want) {
      if (this.groups.has(key)) continue;
      this.changes.set(key, { record: { group: g.group, type: MLD2_CHANGE_TO_EXCLUDE, sources: [] }, left: ROBUSTNESS });
      changed = true;
    }
    for (const [key, g] of this.groups) {
      if (want.has(key)) continue;
      this.changes.set(key, { record: { group: g.group, type: MLD2_CHANGE_TO_INCLUDE, sources: [] }, left: ROBUSTNESS });
      this.answers.delete(key);
      changed = true;
    }
    this.groups.clear();
    for (const [key, g] of want) this.groups.set(key, g);
    this.stats.mld_groups = this.groups.size;
    if (changed) this.sendChanges(true, now);
  }

  /**
   * A Multicast Listener Query (ICMPv6 type 130, checksum verified) at
   * buf[off, off + len) of the packet at buf[ipOff].
   */
  query(buf: Uint8Array, ipOff: number, off: number, len: number, now: number): void {
    const st = this.stats;
    // §5.1.14 / §6.2: from a link-local router, hop limit 1.
    if (!isIpv6LinkLocal(buf, ipOff + 8) || buf[ipOff + 7] !== 1) {
      st.mld_rx_drop_invalid++;
      return;
    }
    let q: MldQuery;
    try {
      // A record names at most MAX_SOURCES: more are never copied out nor compared.
      q = parseMldQuery(buf, off, len, MAX_SOURCES);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      st.mld_rx_drop_invalid++;
      return;
    }
    st.mld_rx_queries++;
    st.mld_rx_sources_ignored += q.sourcesSkipped ?? 0;
    if (q.version === 1) {
      st.mld_rx_v1_queries++;
      this.v1Until = now + OLDER_VERSION_QUERIER_TIMEOUT_MS;
    }
    const delay = Math.floor(this.random() * Math.max(1, mld2MaxResponseMs(q.maxResponseCode)));
    if (isIpv6Unspecified(q.group)) {
      // A general query: one answer for every group (§6.2 case 1); it replaces pending group answers.
      this.general = true;
      this.answers.clear();
    } else {
      const key = ipv6Key(q.group);
      if (!this.groups.has(key)) return;
      if (!this.general) {
        const prev = this.answers.get(key);
        if (q.sources.length === 0 || (prev !== undefined && prev.type === MLD2_MODE_IS_EXCLUDE)) {
          this.answers.set(key, { group: this.groups.get(key)!.group, type: MLD2_MODE_IS_EXCLUDE, sources: [] });
        } else {
          // Our filter is EXCLUDE {}: every source asked about is wanted (§6.3).
          // The merge stops at MAX_SOURCES: at most MAX_SOURCES x MAX_SOURCES compares per query.
          const sources = prev?.sources ?? [];
          for (const s of q.sources) {
            if (sources.length >= MAX_SOURCES) {
              st.mld_rx_sources_ignored++;
              continue;
            }
            if (!sources.some((x) => ipv6Equal(x, 0, s))) sources.push(s);
          }
          this.answers.set(key, { group: this.groups.get(key)!.group, type: MLD2_MODE_IS_INCLUDE, sources });
        }
      }
    }
    const at = now + delay;
    if (at < this.answerAt) {
      this.answerAt = at;
      this.wheel.arm(this.answerTimer, at);
    }
  }

  /** Another listener's report (types 131, 132, 143): nothing for an MLDv2 host to do (§6.2). */
  otherReport(): void {
    this.stats.mld_rx_reports_ignored++;
  }

  private sendAnswers(now: number): void {
    this.answerAt = Infinity;
    const records: Pending[] = [];
    if (this.general) {
      for (const g of this.groups.values()) records.push({ group: g.group, type: MLD2_MODE_IS_EXCLUDE, sources: [] });
    } else {
      for (const r of this.answers.values()) records.push(r);
    }
    this.general = false;
    this.answers.clear();
    this.send(records, now);
  }

  /** Sends the pending state changes (each once more later while retransmissions are left). */
  private sendChanges(first: boolean, now: number): void {
    const records: Pending[] = [];
    for (const [key, c] of this.changes) {
      records.push(c.record);
      if (--c.left <= 0) this.changes.delete(key);
    }
    this.send(records, now);
    if (this.changes.size > 0 && (first || !this.changeTimer.armed)) {
      this.wheel.arm(this.changeTimer, now + 1 + Math.floor(this.random() * UNSOLICITED_REPORT_INTERVAL_MS));
    }
  }

  /**
   * Sends the records in as many reports as it takes, each within the
   * minimum MTU (no fragments); in MLDv1 compatibility mode as MLDv1
   * Reports (a join or a current state) and Dones (a leave).
   */
  private send(records: Pending[], now: number): void {
    if (now < this.v1Until) {
      for (const r of records) this.sendV1(r.type === MLD2_CHANGE_TO_INCLUDE ? MLD1_DONE : MLD1_REPORT, r.group);
      return;
    }
    let batch: Pending[] = [];
    let bytes = 0;
    for (const r of records) {
      const size = MLD2_RECORD_HEADER_LEN + 16 * r.sources.length;
      if (bytes + size > REPORT_BUDGET && batch.length > 0) {
        this.sendReport(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(r);
      bytes += size;
    }
    this.sendReport(batch);
  }

  private sendReport(records: Pending[]): void {
    if (records.length === 0) return;
    const ll = this.addrs.list[0]!;
    const src = ll.usable ? ll.address : IPV6_UNSPECIFIED;
    const dst = IPV6_ALL_MLDV2_ROUTERS;
    const recs: Mld2Record[] = records.map((r) => ({ type: r.type, group: r.group, sources: r.sources, auxData: new Uint8Array(0) }));
    let len = MLD2_REPORT_HEADER_LEN;
    for (const r of recs) len += MLD2_RECORD_HEADER_LEN + 16 * r.sources.length;
    const base = this.output.buildFrame(src, dst, IPPROTO_HOPOPTS, HOP_BY_HOP_ROUTER_ALERT.length + len, 1);
    if (base < 0) return;
    const pool = this.host.pool;
    const at = base + ETH_HEADER_LEN + IPV6_HEADER_LEN;
    pool.set(HOP_BY_HOP_ROUTER_ALERT, at);
    emitMld2Report({ records: recs }, pool, at + HOP_BY_HOP_ROUTER_ALERT.length, src, dst);
    writeMac(pool, base, ipv6MulticastMac(dst));
    this.stats.mld_tx_reports++;
    this.stats.mld_tx_records += recs.length;
    this.host.queueTxSlot(base / this.host.slotSize, ETH_HEADER_LEN + IPV6_HEADER_LEN + HOP_BY_HOP_ROUTER_ALERT.length + len);
  }

  /** An MLDv1 message (RFC 2710 §3): a Report to the group itself, a Done to all routers. */
  private sendV1(type: number, group: Uint8Array): void {
    const ll = this.addrs.list[0]!;
    const src = ll.usable ? ll.address : IPV6_UNSPECIFIED;
    const dst = type === MLD1_DONE ? IPV6_ALL_ROUTERS : group;
    const base = this.output.buildFrame(src, dst, IPPROTO_HOPOPTS, HOP_BY_HOP_ROUTER_ALERT.length + MLD1_QUERY_LEN, 1);
    if (base < 0) return;
    const pool = this.host.pool;
    const at = base + ETH_HEADER_LEN + IPV6_HEADER_LEN;
    pool.set(HOP_BY_HOP_ROUTER_ALERT, at);
    const m = at + HOP_BY_HOP_ROUTER_ALERT.length;
    pool.fill(0, m, m + MLD1_QUERY_LEN);
    pool[m] = type;
    pool.set(group.subarray(0, 16), m + 8);
    fillIcmpv6Checksum(pool, m, MLD1_QUERY_LEN, src, dst);
    writeMac(pool, base, ipv6MulticastMac(dst));
    if (type === MLD1_DONE) this.stats.mld_tx_v1_dones++;
    else this.stats.mld_tx_v1_reports++;
    this.host.queueTxSlot(base / this.host.slotSize, ETH_HEADER_LEN + IPV6_HEADER_LEN + HOP_BY_HOP_ROUTER_ALERT.length + MLD1_QUERY_LEN);
  }

  /** Disarms the timers. */
  shutdown(): void {
    this.wheel.disarm(this.changeTimer);
    this.wheel.disarm(this.answerTimer);
  }
}
