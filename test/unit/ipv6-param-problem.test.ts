/**
 * ICMPv6 Parameter Problem (RFC 8200 §4, §4.2, §4.4; RFC 4443 §3.4, §2.4 e)
 * on the virtual clock and in-process link: what A sends back for an
 * unrecognised next header, an option whose type asks for an answer, a
 * routing header it cannot process, and a misplaced hop-by-hop header — the
 * code and the pointer read off the frames on the wire, and nothing in
 * reply to a group unless §4.2 asks for it.
 */
import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { echo6Message, ipv6Frame } from '../helpers/frames6.js';
import { parseIpv6Address as a6, ipv6ToString, IPV6_ALL_NODES, ipv6MulticastMac } from '../../src/wire/ipv6.js';
import type { MemoryNic } from '../../src/driver/memory-nic.js';

const A = a6('fd00::1');
const B = a6('fd00::2');

interface Icmp6Seen {
  src: string;
  dst: string;
  type: number;
  code: number;
  word: number;
  /** The quoted packet's first 40 bytes' next header (the invoking packet's). */
  quotedNextHeader: number;
}

function sim(): Sim {
  const s = new Sim({
    ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
  });
  s.runFor(1_500);
  resolveEachOther(s);
  return s;
}

/** Each side learns the other's MAC (an echo both ways), so A's answers leave at once instead of waiting for ND. */
function resolveEachOther(s: Sim): void {
  let replies = 0;
  s.a.stack.onEchoReply6(() => replies++);
  s.b.stack.onEchoReply6(() => replies++);
  s.a.stack.ping6(B, 1, 1);
  s.b.stack.ping6(A, 1, 1);
  expect(s.runUntil(() => replies === 2, 5_000)).toBe(true);
}

/** Lets A handle what was injected, then takes the ICMPv6 messages it put on the wire before B sees them. */
function answersFromA(s: Sim): Icmp6Seen[] {
  s.a.stack.poll();
  const raw: MemoryNic = s.b.raw;
  const slots = new Uint32Array(64);
  const lens = new Uint32Array(64);
  const out: Icmp6Seen[] = [];
  for (;;) {
    const n = raw.rxBurst(slots, lens, 64);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      const f = raw.pool.subarray(slots[i]! * raw.slotSize, slots[i]! * raw.slotSize + lens[i]!);
      // ICMPv6 other than ND (types 133-137, which A sends on its own as the neighbour states move); MLD reports come behind a hop-by-hop header.
      if (((f[12]! << 8) | f[13]!) === 0x86dd && f[14 + 6] === 58 && (f[54]! < 133 || f[54]! > 137)) {
        const icmp = 54;
        out.push({
          src: ipv6ToString(f, 22),
          dst: ipv6ToString(f, 38),
          type: f[icmp]!,
          code: f[icmp + 1]!,
          word: ((f[icmp + 4]! << 24) | (f[icmp + 5]! << 16) | (f[icmp + 6]! << 8) | f[icmp + 7]!) >>> 0,
          quotedNextHeader: f[icmp + 8 + 6]!,
        });
      }
      raw.release(slots[i]!);
    }
  }
  return out;
}

/** A destination options header (next header `nh`) holding one option of `type` with 2 data bytes, padded to 8. */
function dstOpts(nh: number, type: number): Uint8Array {
  return Uint8Array.of(nh, 0, type, 2, 0xaa, 0xbb, 1, 0);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const PARAM_PROBLEM = 4;

describe('ICMPv6 Parameter Problem', () => {
  it('unrecognised next header: code 1 pointing at the byte that names it (the IPv6 header\'s or the last extension header\'s); none to a group', () => {
    const s = sim();
    const am = s.a.iface.mac;
    const bm = s.b.iface.mac;
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 253, new Uint8Array(16)));
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(253, 0x1e), new Uint8Array(8))));
    inject(s.b.raw, ipv6Frame(ipv6MulticastMac(IPV6_ALL_NODES), bm, B, IPV6_ALL_NODES, 253, new Uint8Array(16)));
    const seen = answersFromA(s);
    expect(seen).toStrictEqual([
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 1, word: 6, quotedNextHeader: 253 },
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 1, word: 40, quotedNextHeader: 60 },
    ]);
    expect(s.a.iface.v6!.stats.ip6_rx_drop_unknown_protocol).toBe(3);
  });

  it('an unrecognised option: top bits 00 skipped (the echo is answered), 01 dropped silently, 10 code 2 even to a group, 11 code 2 only to unicast', () => {
    const s = sim();
    const am = s.a.iface.mac;
    const bm = s.b.iface.mac;
    const allNodesMac = ipv6MulticastMac(IPV6_ALL_NODES);
    const echo = (dst: Uint8Array): Uint8Array => echo6Message(B, dst, 1, 1, new Uint8Array(8));
    const repliesBefore = s.a.iface.v6!.stats.icmp6_tx_echo_replies;
    // Option types 0x1e (00: skip), 0x5e (01), 0x9e (10), 0xde (11) in front of an echo request.
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(58, 0x1e), echo(A))));
    expect(answersFromA(s).map((m) => m.type)).toStrictEqual([129]);
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(58, 0x5e), echo(A))));
    inject(s.b.raw, ipv6Frame(allNodesMac, bm, B, IPV6_ALL_NODES, 60, concat(dstOpts(58, 0x5e), echo(IPV6_ALL_NODES))));
    expect(answersFromA(s)).toStrictEqual([]);
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(58, 0x9e), echo(A))));
    inject(s.b.raw, ipv6Frame(allNodesMac, bm, B, IPV6_ALL_NODES, 60, concat(dstOpts(58, 0x9e), echo(IPV6_ALL_NODES))));
    // Hop-by-hop options are walked the same way.
    inject(s.b.raw, ipv6Frame(allNodesMac, bm, B, IPV6_ALL_NODES, 0, concat(dstOpts(58, 0x9e), echo(IPV6_ALL_NODES))));
    const ten = answersFromA(s);
    // To the group the answer comes from A's unicast address (RFC 4443 §2.2), pointing at the option type (40 + 2).
    expect(ten).toStrictEqual([
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 2, word: 42, quotedNextHeader: 60 },
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 2, word: 42, quotedNextHeader: 60 },
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 2, word: 42, quotedNextHeader: 0 },
    ]);
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(58, 0xde), echo(A))));
    inject(s.b.raw, ipv6Frame(allNodesMac, bm, B, IPV6_ALL_NODES, 60, concat(dstOpts(58, 0xde), echo(IPV6_ALL_NODES))));
    expect(answersFromA(s)).toStrictEqual([{ src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 2, word: 42, quotedNextHeader: 60 }]);
    // Only the skipped option's echo was answered.
    expect(s.a.iface.v6!.stats.icmp6_tx_echo_replies).toBe(repliesBefore + 1);
  });

  it('a routing header with segments left is answered with code 0 at its routing type; a misplaced hop-by-hop header with code 1 at the byte naming it', () => {
    const s = sim();
    const am = s.a.iface.mac;
    const bm = s.b.iface.mac;
    const echo = echo6Message(B, A, 1, 1, new Uint8Array(8));
    // Routing header: next header 58, length 2 (24 bytes), type 4 (segment routing), segments left 1.
    const rh = new Uint8Array(24);
    rh.set([58, 2, 4, 1]);
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 43, concat(rh, echo)));
    // Segments left 0 is processed as if the header were not there (§4.4).
    const rh0 = rh.slice();
    rh0[3] = 0;
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 43, concat(rh0, echo)));
    // Destination options, then a hop-by-hop header: the dst-opts header's next header byte (offset 40) names it.
    inject(s.b.raw, ipv6Frame(am, bm, B, A, 60, concat(dstOpts(0, 0x1e), dstOpts(58, 0x1e), echo)));
    expect(answersFromA(s)).toStrictEqual([
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 0, word: 42, quotedNextHeader: 43 },
      { src: 'fd00::1', dst: 'fd00::2', type: 129, code: 0, word: 0x0001_0001, quotedNextHeader: 0 },
      { src: 'fd00::1', dst: 'fd00::2', type: PARAM_PROBLEM, code: 1, word: 40, quotedNextHeader: 60 },
    ]);
  });

  it('Parameter Problems are rate limited with the other errors', () => {
    const s = new Sim({
      ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }], icmpErrorRate: { perSecond: 10, burst: 3 } } },
      ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
    });
    s.runFor(1_500);
    resolveEachOther(s);
    for (let i = 0; i < 20; i++) inject(s.b.raw, ipv6Frame(s.a.iface.mac, s.b.iface.mac, B, A, 60, concat(dstOpts(58, 0xde), echo6Message(B, A, 1, i, new Uint8Array(8)))));
    expect(answersFromA(s)).toHaveLength(3);
    expect(s.a.iface.v6!.stats.icmp6_tx_rate_limited).toBe(17);
  });
});
