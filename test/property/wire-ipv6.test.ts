/**
 * The IPv6 codecs (ipv6.ts, ipv6-ext.ts, icmpv6.ts, ndp.ts): round trips with
 * fast-check reprs at random offsets, address text against node's own URL
 * serialiser (RFC 5952), and arbitrary bytes / mutated packets that either
 * parse or throw WireError (the walk: returns a reason), never anything else.
 * fast-check prints the failing seed; FC_SEED replays it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import {
  Ipv6Packet,
  parseIpv6,
  emitIpv6,
  parseIpv6Address,
  tryParseIpv6,
  ipv6ToString,
  ipv6PseudoSum,
  ipv6PrefixMatch,
  ipv6Prefix,
  IPV6_HEADER_LEN,
  IPPROTO_ICMPV6,
  type Ipv6Repr,
} from '../../src/wire/ipv6.js';
import { ExtWalk, walkExtensionHeaders, DEFAULT_EXT_LIMITS } from '../../src/wire/ipv6-ext.js';
import { Icmpv6Packet, parseIcmpv6, emitIcmpv6, ICMPV6_HEADER_LEN, type Icmpv6Repr } from '../../src/wire/icmpv6.js';
import { parseNdp, emitNdp, ndpLength, type NdRepr, type NdOptions } from '../../src/wire/ndp.js';
import { onesSum } from '../../src/wire/checksum.js';
import { fcParams, u8, u16, u32, mac, rawInput, mutations, applyMutations, onlyWireError, touchView } from './wire-arbitraries.js';

const pool = new Uint8Array(70_000);
const offset = fc.integer({ min: 0, max: 255 });
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
/** Addresses with runs of zero words, where '::' compression matters. */
const sparseAddr = fc.array(fc.oneof(fc.constant(0), fc.constant(0), u16), { minLength: 8, maxLength: 8 }).map((ws) => {
  const a = new Uint8Array(16);
  ws.forEach((w, i) => {
    a[i * 2] = w >>> 8;
    a[i * 2 + 1] = w & 0xff;
  });
  return a;
});
const anyAddr = fc.oneof(addr, sparseAddr);

const ipv6Repr: fc.Arbitrary<Ipv6Repr> = fc
  .record({
    src: anyAddr,
    dst: anyAddr,
    nextHeader: u8,
    hopLimit: u8,
    trafficClass: u8,
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    payloadLength: fc.integer({ min: 0, max: 1460 }),
  })
  .map((r) => ({ ...r }));

const icmpv6Case: fc.Arbitrary<{ repr: Icmpv6Repr; payload: Uint8Array; src: Uint8Array; dst: Uint8Array }> = fc
  .tuple(fc.oneof(fc.constantFrom(1, 2, 3, 4, 128, 129), u8), u8, u16, u16, u32, fc.uint8Array({ maxLength: 300 }), anyAddr, anyAddr)
  .map(([type, code, ident, seqNo, word, payload, src, dst]) => {
    const repr: Icmpv6Repr = { type, code, payloadLength: payload.length };
    if (type === 128 || type === 129) {
      repr.ident = ident;
      repr.seqNo = seqNo;
    } else if (type === 2) repr.mtu = word;
    else if (type === 4) repr.pointer = word;
    return { repr, payload, src, dst };
  });

const prefixInfo = fc
  .record({
    prefix: addr,
    prefixLength: fc.integer({ min: 0, max: 128 }),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    validLifetime: u32,
    preferredLifetime: u32,
  })
  .map((p) => ({ ...p }));

const ndOptions: fc.Arbitrary<NdOptions> = fc
  .record(
    {
      sourceMac: mac,
      targetMac: mac,
      mtu: u32,
      prefixes: fc.array(prefixInfo, { minLength: 1, maxLength: 4 }),
      redirected: fc.integer({ min: 0, max: 8 }).chain((n) => fc.uint8Array({ minLength: n * 8, maxLength: n * 8 })),
    },
    { requiredKeys: [] },
  )
  .map((o) => ({ ...o }));

const ndRepr: fc.Arbitrary<NdRepr> = fc.oneof(
  ndOptions.map((options): NdRepr => ({ kind: 'rs', options })),
  fc
    .record({ curHopLimit: u8, managed: fc.boolean(), other: fc.boolean(), routerLifetime: u16, reachableTime: u32, retransTimer: u32, options: ndOptions })
    .map((r): NdRepr => ({ kind: 'ra', ...r })),
  fc.record({ target: addr, options: ndOptions }).map((r): NdRepr => ({ kind: 'ns', ...r })),
  fc
    .record({ router: fc.boolean(), solicited: fc.boolean(), override: fc.boolean(), target: addr, options: ndOptions })
    .map((r): NdRepr => ({ kind: 'na', ...r })),
  fc.record({ target: addr, destination: addr, options: ndOptions }).map((r): NdRepr => ({ kind: 'redirect', ...r })),
);

/** A chain of extension headers (types and sizes) ending in an upper-layer protocol. */
const extChain = fc.record({
  headers: fc.array(fc.record({ type: fc.constantFrom(0, 43, 60), units: fc.integer({ min: 0, max: 3 }) }), { maxLength: 6 }),
  fragment: fc.option(fc.record({ offset: fc.integer({ min: 0, max: 8191 }), more: fc.boolean(), id: u32 }), { nil: undefined }),
  upper: fc.constantFrom(6, 17, 58, 59),
  upperLen: fc.integer({ min: 0, max: 100 }),
});

/** Builds the chain into buf at off; returns [first next header, total length, expected upper offset]. */
type Chain = { headers: { type: number; units: number }[]; fragment?: { offset: number; more: boolean; id: number } | undefined; upper: number; upperLen: number };

function buildChain(c: Chain, buf: Uint8Array, off: number): { first: number; len: number; upperAt: number } {
  // Hop-by-hop only first: drop later ones.
  const hs = c.headers.filter((h, i) => h.type !== 0 || i === 0);
  const types = hs.map((h) => h.type);
  if (c.fragment !== undefined) types.push(44);
  let i = off;
  const next = (k: number): number => (k + 1 < types.length ? types[k + 1]! : c.upper);
  for (let k = 0; k < hs.length; k++) {
    const len = (hs[k]!.units + 1) * 8;
    buf.fill(0, i, i + len);
    buf[i] = next(k);
    buf[i + 1] = hs[k]!.units;
    if (hs[k]!.type === 43) {
      buf[i + 2] = 4; // routing type, segments left 0
    } else {
      // One PadN covering the rest.
      buf[i + 2] = 1;
      buf[i + 3] = len - 4;
    }
    i += len;
  }
  if (c.fragment !== undefined) {
    buf[i] = c.upper;
    buf[i + 1] = 0;
    const fo = (c.fragment.offset << 3) | (c.fragment.more ? 1 : 0);
    buf[i + 2] = fo >>> 8;
    buf[i + 3] = fo & 0xff;
    buf[i + 4] = c.fragment.id >>> 24;
    buf[i + 5] = (c.fragment.id >>> 16) & 0xff;
    buf[i + 6] = (c.fragment.id >>> 8) & 0xff;
    buf[i + 7] = c.fragment.id & 0xff;
    i += 8;
  }
  const upperAt = i;
  buf.fill(0xab, i, i + c.upperLen);
  return { first: types.length > 0 ? types[0]! : c.upper, len: i + c.upperLen - off, upperAt };
}

describe('IPv6 round trips', () => {
  it('address text: parse(toString(a)) === a, and toString agrees with node (URL, RFC 5952) and isIPv6', () => {
    fc.assert(
      fc.property(anyAddr, (a) => {
        const s = ipv6ToString(a);
        expect(isIPv6(s)).toBe(true);
        expect(parseIpv6Address(s)).toStrictEqual(a);
        const mapped = a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
        if (!mapped) expect(`[${s}]`).toBe(new URL(`http://[${s}]/`).hostname);
      }),
      fcParams(),
    );
  });

  it('address text: parseIpv6Address accepts exactly what node.isIPv6 accepts (zone-less)', () => {
    const text = fc.oneof(
      anyAddr.map((a) => ipv6ToString(a)),
      fc.stringMatching(/^[0-9a-fA-F:.]{0,45}$/),
    );
    fc.assert(
      fc.property(text, (s) => {
        let ok = true;
        try {
          parseIpv6Address(s);
        } catch {
          ok = false;
        }
        expect(ok).toBe(isIPv6(s));
        // tryParseIpv6: the same bytes, or null where parseIpv6Address throws.
        const t = tryParseIpv6(s);
        expect(t === null ? null : Array.from(t)).toStrictEqual(ok ? Array.from(parseIpv6Address(s)) : null);
      }),
      fcParams(),
    );
  });

  it('prefixes: ipv6Prefix(a, n) matches a for n bits and is zero after', () => {
    fc.assert(
      fc.property(addr, fc.integer({ min: 0, max: 128 }), (a, n) => {
        const p = ipv6Prefix(a, n);
        expect(ipv6PrefixMatch(a, 0, p, 0, n)).toBe(true);
        for (let bit = n; bit < 128; bit++) expect((p[bit >>> 3]! >>> (7 - (bit & 7))) & 1).toBe(0);
      }),
      fcParams(2_000),
    );
  });

  it('IPv6 header', () => {
    const view = new Ipv6Packet();
    fc.assert(
      fc.property(ipv6Repr, offset, (repr, off) => {
        expect(emitIpv6(repr, pool, off)).toBe(IPV6_HEADER_LEN);
        expect(parseIpv6(pool, off, IPV6_HEADER_LEN + repr.payloadLength)).toStrictEqual(repr);
        view.wrap(pool, off, IPV6_HEADER_LEN + repr.payloadLength + 3);
        expect(view.payloadOffset).toBe(off + 40);
        expect(view.payloadLength).toBe(repr.payloadLength);
      }),
      fcParams(),
    );
  });

  it('ICMPv6 with the pseudo-header checksum; a flipped bit fails it', () => {
    const view = new Icmpv6Packet();
    fc.assert(
      fc.property(icmpv6Case, offset, fc.nat(), (c, off, flip) => {
        pool.set(c.payload, off + ICMPV6_HEADER_LEN);
        expect(emitIcmpv6(c.repr, pool, off, c.src, c.dst)).toBe(ICMPV6_HEADER_LEN);
        const len = ICMPV6_HEADER_LEN + c.payload.length;
        expect(parseIcmpv6(pool, off, len, c.src, c.dst)).toStrictEqual(c.repr);
        view.wrap(pool, off, len);
        const pseudo = ipv6PseudoSum(c.src, c.dst, len, IPPROTO_ICMPV6);
        expect(onesSum(pool, off, len, pseudo)).toBe(0xffff);
        const bit = flip % (len * 8);
        pool[off + (bit >>> 3)]! ^= 1 << (bit & 7);
        expect(view.verifyChecksum(pseudo)).toBe(false);
      }),
      fcParams(),
    );
  });

  it('Neighbor Discovery messages and options', () => {
    const src = parseIpv6Address('fe80::1');
    const dst = parseIpv6Address('ff02::1');
    fc.assert(
      fc.property(ndRepr, offset, (repr, off) => {
        const len = emitNdp(repr, pool, off, src, dst);
        expect(len).toBe(ndpLength(repr));
        expect(len % 8).toBe(0);
        expect(parseNdp(pool, off, len)).toStrictEqual(repr);
        expect(parseIcmpv6(pool, off, len, src, dst).type).toBe(pool[off]);
      }),
      fcParams(),
    );
  });

  it('extension-header walk finds the upper layer and the fragment header', () => {
    const w = new ExtWalk();
    fc.assert(
      fc.property(extChain, offset, (c, off) => {
        const { first, len, upperAt } = buildChain(c, pool, off);
        const why = walkExtensionHeaders(pool, off, len, first, w);
        expect(why).toBeNull();
        expect(w.fragment).toBe(c.fragment !== undefined);
        expect(w.offset).toBe(upperAt);
        expect(w.protocol).toBe(c.upper);
        expect(w.length).toBe(c.upperLen);
        if (c.fragment !== undefined) {
          expect(w.fragmentOffset).toBe(c.fragment.offset * 8);
          expect(w.moreFragments).toBe(c.fragment.more);
          expect(w.fragmentId).toBe(c.fragment.id);
        }
      }),
      fcParams(),
    );
  });
});

describe('IPv6 hostile input', () => {
  const views = { ip: new Ipv6Packet(), icmp: new Icmpv6Packet() };
  const w = new ExtWalk();
  const src = parseIpv6Address('fe80::1');
  const dst = parseIpv6Address('fe80::2');

  function exerciseAll(buf: Uint8Array, off: number, len: number, nh: number): void {
    onlyWireError(() => parseIpv6(buf, off, len));
    onlyWireError(() => touchView(views.ip.wrap(buf, off, len)));
    onlyWireError(() => parseIcmpv6(buf, off, len, src, dst));
    onlyWireError(() => touchView(views.icmp.wrap(buf, off, len)));
    onlyWireError(() => parseNdp(buf, off, len));
    const why = walkExtensionHeaders(buf, off, len, nh, w);
    if (why === null) {
      expect(w.offset).toBeGreaterThanOrEqual(off);
      expect(w.offset + w.length).toBe(off + len);
      expect(w.headers).toBeLessThanOrEqual(DEFAULT_EXT_LIMITS.maxHeaders);
      expect(w.offset - off).toBeLessThanOrEqual(DEFAULT_EXT_LIMITS.maxBytes);
    }
  }

  it('arbitrary bytes at arbitrary offsets never throw anything but WireError', () => {
    fc.assert(
      fc.property(rawInput, fc.constantFrom(0, 43, 44, 60, 58, 6), ({ buf, off, len }, nh) => {
        exerciseAll(buf, off, len, nh);
      }),
      fcParams(),
    );
  });

  it('mutated valid ND messages and chains never throw anything but WireError', () => {
    fc.assert(
      fc.property(ndRepr, extChain, mutations, (repr, chain, m) => {
        const buf = new Uint8Array(2048);
        const len = emitNdp(repr, buf, 0);
        exerciseAll(buf, 0, applyMutations(buf, 0, len, m), 58);
        const c = buildChain(chain, buf, 0);
        exerciseAll(buf, 0, applyMutations(buf, 0, c.len, m), c.first);
      }),
      fcParams(),
    );
  });

  it('an ND option of length zero is malformed (bad-option), first or after valid options', () => {
    const fixedLength = { rs: 8, ra: 16, ns: 24, na: 24, redirect: 40 } as const;
    fc.assert(
      fc.property(ndRepr, u8, fc.boolean(), (repr, type, first) => {
        const buf = new Uint8Array(2048);
        const len = emitNdp(repr, buf, 0);
        const fixed = fixedLength[repr.kind];
        const at = first && len > fixed ? fixed : len;
        buf[at] = type;
        buf[at + 1] = 0;
        expect(() => parseNdp(buf, 0, Math.max(len, at + 8))).toThrow(/length 0/);
      }),
      fcParams(2_000),
    );
  });

  it('a chain past the header cap or byte cap is refused, not walked', () => {
    const buf = new Uint8Array(4096);
    // Nine destination-options headers of 8 bytes each.
    for (let k = 0; k < 9; k++) {
      buf[k * 8] = k < 8 ? 60 : 17;
      buf[k * 8 + 1] = 0;
      buf[k * 8 + 2] = 1;
      buf[k * 8 + 3] = 4;
    }
    expect(walkExtensionHeaders(buf, 0, 9 * 8 + 8, 60, w)).toBe('bad-length');
    expect(walkExtensionHeaders(buf, 8, 8 * 8 + 8, 60, w)).toBeNull();
    // One 2,048-byte destination options header: past maxBytes.
    buf.fill(0, 0, 2048);
    buf[0] = 17;
    buf[1] = 255;
    expect(walkExtensionHeaders(buf, 0, 2048 + 8, 60, w)).toBe('bad-length');
    // Hop-by-hop not first; a routing header with segments left; an unknown option asking for a discard.
    buf.fill(0, 0, 64);
    buf[0] = 0;
    expect(walkExtensionHeaders(buf, 0, 16, 60, w)).toBe('bad-option');
    buf.fill(0, 0, 64);
    buf[0] = 17;
    buf[3] = 1;
    expect(walkExtensionHeaders(buf, 0, 16, 43, w)).toBe('unsupported');
    buf.fill(0, 0, 64);
    buf[0] = 17;
    buf[2] = 0x80;
    buf[3] = 4;
    expect(walkExtensionHeaders(buf, 0, 16, 60, w)).toBe('bad-option');
  });
});
