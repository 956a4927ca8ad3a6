/**
 * The MLD codec (src/wire/mld.ts, RFC 3810): queries (MLDv1's 24 bytes and
 * MLDv2's with sources) and Version 2 reports round trip at random offsets
 * with a valid ICMPv6 checksum; arbitrary bytes and mutated messages either
 * parse or throw WireError, and what parses stays inside the message. The
 * Maximum Response Code decodes as RFC 3810 §5.1.3 says. fast-check prints
 * the failing seed; FC_SEED replays it.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  emitMld2Report,
  emitMldQuery,
  mld2MaxResponseMs,
  mld2ReportLength,
  mldQueryLength,
  parseMld2Report,
  parseMldQuery,
  type Mld2Record,
  type Mld2Report,
  type MldQuery,
} from '../../src/wire/mld.js';
import { parseIcmpv6 } from '../../src/wire/icmpv6.js';
import { parseIpv6Address } from '../../src/wire/ipv6.js';
import { fcParams, u8, u16, rawInput, mutations, applyMutations, onlyWireError } from './wire-arbitraries.js';

const pool = new Uint8Array(70_000);
const offset = fc.integer({ min: 0, max: 255 });
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
const SRC = parseIpv6Address('fe80::1');
const DST = parseIpv6Address('ff02::16');

const query: fc.Arbitrary<MldQuery> = fc.oneof(
  fc.record({ maxResponseCode: u16, group: addr }).map(({ maxResponseCode, group }): MldQuery => ({
    version: 1, maxResponseCode, group, suppress: false, qrv: 0, qqic: 0, sources: [],
  })),
  fc.record({ maxResponseCode: u16, group: addr, suppress: fc.boolean(), qrv: fc.integer({ min: 0, max: 7 }), qqic: u8, sources: fc.array(addr, { maxLength: 8 }) })
    .map((q): MldQuery => ({ version: 2, ...q })),
);

const record: fc.Arbitrary<Mld2Record> = fc.record({
  type: fc.oneof(fc.integer({ min: 1, max: 6 }), u8),
  group: addr,
  sources: fc.array(addr, { maxLength: 6 }),
  auxData: fc.integer({ min: 0, max: 3 }).chain((words) => fc.uint8Array({ minLength: 4 * words, maxLength: 4 * words })),
}).map((r) => ({ ...r }));
const report: fc.Arbitrary<Mld2Report> = fc.array(record, { maxLength: 10 }).map((records) => ({ records }));

describe('MLD codec round trips', () => {
  it('queries: MLDv1 and MLDv2 with sources, checksummed', () => {
    fc.assert(
      fc.property(query, offset, (q, off) => {
        const len = emitMldQuery(q, pool, off, SRC, DST);
        expect(len).toBe(mldQueryLength(q));
        expect(parseMldQuery(pool, off, len)).toStrictEqual(q);
        // A valid ICMPv6 message (parseIcmpv6 verifies the checksum).
        expect(parseIcmpv6(pool, off, len, SRC, DST).type).toBe(130);
      }),
      fcParams(),
    );
  });

  it('Version 2 reports with records, sources and aux data, checksummed', () => {
    fc.assert(
      fc.property(report, offset, (r, off) => {
        const len = emitMld2Report(r, pool, off, SRC, DST);
        expect(len).toBe(mld2ReportLength(r));
        expect(parseMld2Report(pool, off, len)).toStrictEqual(r);
        expect(parseIcmpv6(pool, off, len, SRC, DST).type).toBe(143);
      }),
      fcParams(),
    );
  });

  it('Maximum Response Code: linear below 32768, else (mant | 0x1000) << (exp + 3)', () => {
    expect(mld2MaxResponseMs(10_000)).toBe(10_000);
    expect(mld2MaxResponseMs(0x7fff)).toBe(0x7fff);
    expect(mld2MaxResponseMs(0x8000)).toBe(0x1000 << 3);
    expect(mld2MaxResponseMs(0xffff)).toBe(0x1fff << 10);
    fc.assert(
      fc.property(u16, (c) => {
        const ms = mld2MaxResponseMs(c);
        expect(Number.isInteger(ms)).toBe(true);
        expect(ms).toBeGreaterThanOrEqual(c < 0x8000 ? c : 32768);
      }),
      fcParams(2_000),
    );
  });
});

describe('MLD hostile input', () => {
  function exercise(buf: Uint8Array, off: number, len: number): void {
    onlyWireError(() => {
      const q = parseMldQuery(buf, off, len);
      expect(28 + 16 * q.sources.length).toBeLessThanOrEqual(Math.max(len, 28));
    });
    onlyWireError(() => {
      const r = parseMld2Report(buf, off, len);
      expect(mld2ReportLength(r)).toBeLessThanOrEqual(len);
    });
  }

  it('arbitrary bytes at arbitrary offsets, with the type byte forced or not, never throw anything but WireError', () => {
    fc.assert(
      fc.property(rawInput, fc.constantFrom(-1, 130, 143), ({ buf, off, len }, type) => {
        if (type >= 0 && off < buf.length) buf[off] = type;
        exercise(buf, off, len);
      }),
      fcParams(),
    );
  });

  it('mutated valid queries and reports (counts, lengths, cuts) never throw anything but WireError', () => {
    fc.assert(
      fc.property(query, report, mutations, (q, r, m) => {
        const buf = new Uint8Array(4096);
        exercise(buf, 0, applyMutations(buf, 0, emitMldQuery(q, buf, 0), m));
        exercise(buf, 0, applyMutations(buf, 0, emitMld2Report(r, buf, 0), m));
      }),
      fcParams(),
    );
  });

  it('a query names up to ~4,090 sources: parseMldQuery copies out at most maxSources and counts the rest', () => {
    const big = new Uint8Array(65_535);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_093 }), fc.integer({ min: 0, max: 200 }), (n, max) => {
        const sources = Array.from({ length: n }, (_, i) => Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 0xff));
        const len = emitMldQuery({ version: 2, maxResponseCode: 1, group: SRC, suppress: false, qrv: 2, qqic: 125, sources }, big, 0);
        const q = parseMldQuery(big, 0, len, max);
        expect(q.sources).toStrictEqual(sources.slice(0, max));
        expect(q.sourcesSkipped ?? 0).toBe(Math.max(0, n - max));
      }),
      fcParams(50),
    );
  });

  it('a record count or a source count the message cannot hold is refused before any work', () => {
    const buf = new Uint8Array(64);
    buf[0] = 143;
    buf[6] = 0xff;
    buf[7] = 0xff;
    expect(() => parseMld2Report(buf, 0, 64)).toThrow(/65535 records/);
    const q = new Uint8Array(28);
    q[0] = 130;
    q[26] = 0xff;
    q[27] = 0xff;
    expect(() => parseMldQuery(q, 0, 28)).toThrow(/65535 sources/);
    expect(() => parseMldQuery(q, 0, 26)).toThrow(/neither MLDv1/);
  });
});
