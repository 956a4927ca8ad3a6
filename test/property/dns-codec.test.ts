/**
 * DNS codec properties: round trip (with name compression) on arbitrary
 * messages; arbitrary and mutated bytes never throw anything but
 * DnsFormatError; compression makes repeated names cheap.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DNS_CLASS_IN,
  DNS_TYPE_A,
  DNS_TYPE_AAAA,
  DNS_TYPE_CNAME,
  DnsFormatError,
  MAX_ANSWER_ADDRESSES,
  extractAddresses,
  buildQuery,
  decodeMessage,
  encodeMessage,
  type DnsMessage,
  type DnsRecord,
} from '../../src/stack/services/dns.js';
import { ipv6ToString, parseIpv6Address } from '../../src/wire/ipv6.js';

const label = fc.stringMatching(/^[a-zA-Z0-9_-]{1,20}$/);
const name = fc.array(label, { minLength: 0, maxLength: 5 }).map((ls) => ls.join('.'));
const ipv4 = fc.tuple(...Array.from({ length: 4 }, () => fc.integer({ min: 0, max: 255 }))).map((o) => o.join('.'));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6ToString(b));
const ttl = fc.integer({ min: 0, max: 0xffffffff });
const record: fc.Arbitrary<DnsRecord> = fc.oneof(
  fc.record({ name, type: fc.constant(DNS_TYPE_A), class: fc.constant(DNS_CLASS_IN), ttl, data: ipv4 }),
  fc.record({ name, type: fc.constant(DNS_TYPE_AAAA), class: fc.constant(DNS_CLASS_IN), ttl, data: ipv6 }),
  // An AAAA whose RDATA is not 16 bytes stays raw (the resolver counts and skips it).
  fc.record({ name, type: fc.constant(DNS_TYPE_AAAA), class: fc.constant(DNS_CLASS_IN), ttl, rdata: fc.uint8Array({ maxLength: 40 }).filter((b) => b.length !== 16) }),
  fc.record({ name, type: fc.constantFrom(DNS_TYPE_CNAME, 2, 12), class: fc.constant(DNS_CLASS_IN), ttl, data: name }),
  fc.record({
    name,
    type: fc.integer({ min: 0, max: 0xffff }).filter((t) => ![1, 2, 5, 12, 28].includes(t)),
    class: fc.integer({ min: 0, max: 0xffff }),
    ttl,
    rdata: fc.uint8Array({ maxLength: 40 }),
  }),
);
const message: fc.Arbitrary<DnsMessage> = fc.record({
  id: fc.integer({ min: 0, max: 0xffff }),
  response: fc.boolean(),
  opcode: fc.integer({ min: 0, max: 15 }),
  authoritative: fc.boolean(),
  truncated: fc.boolean(),
  recursionDesired: fc.boolean(),
  recursionAvailable: fc.boolean(),
  z: fc.integer({ min: 0, max: 7 }),
  rcode: fc.integer({ min: 0, max: 15 }),
  questions: fc.array(fc.record({ name, type: fc.integer({ min: 0, max: 0xffff }), class: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: 3 }),
  answers: fc.array(record, { maxLength: 5 }),
  authorities: fc.array(record, { maxLength: 3 }),
  additionals: fc.array(record, { maxLength: 3 }),
});

/** Names compare case-insensitively after compression may reuse another spelling. */
function lowerNames(m: DnsMessage): DnsMessage {
  const r = (x: DnsRecord): DnsRecord => ({ ...x, name: x.name.toLowerCase(), ...(x.data !== undefined && x.type !== DNS_TYPE_A && x.type !== DNS_TYPE_AAAA ? { data: x.data.toLowerCase() } : {}) });
  return {
    ...m,
    questions: m.questions.map((q) => ({ ...q, name: q.name.toLowerCase() })),
    answers: m.answers.map(r),
    authorities: m.authorities.map(r),
    additionals: m.additionals.map(r),
  };
}

function onlyFormatErrors(buf: Uint8Array): void {
  try {
    const m = decodeMessage(buf);
    expect(lowerNames(decodeMessage(encodeMessage(m)))).toEqual(lowerNames(m));
  } catch (e) {
    if (!(e instanceof DnsFormatError)) throw e;
  }
}

describe('DNS codec', () => {
  it('round-trips arbitrary messages (names up to case, which compression may share)', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(lowerNames(decodeMessage(encodeMessage(m)))).toEqual(lowerNames(m));
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips exactly when names are lower-case', () => {
    fc.assert(
      fc.property(message.map(lowerNames), (m) => {
        expect(decodeMessage(encodeMessage(m))).toEqual(m);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes decode or throw DnsFormatError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), onlyFormatErrors), { numRuns: 3000 });
  });

  it('mutated valid messages decode or throw DnsFormatError only', () => {
    fc.assert(
      fc.property(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat(), (m, flips, cut) => {
        const wire = encodeMessage(m);
        for (const [i, v] of flips) wire[i % wire.length] = v;
        onlyFormatErrors(wire);
        onlyFormatErrors(wire.subarray(0, cut % (wire.length + 1)));
      }),
      { numRuns: 1000 },
    );
  });

  it('AAAA answers: every record of the name is an address (RFC 5952 text), malformed (counted), or beyond the cap (counted)', () => {
    const aaaa = fc.oneof(
      ipv6.map((data) => ({ data })),
      fc.uint8Array({ maxLength: 40 }).filter((b) => b.length !== 16).map((rdata) => ({ rdata })),
    );
    fc.assert(
      fc.property(fc.array(aaaa, { maxLength: 100 }), fc.array(record, { maxLength: 5 }), (mine, others) => {
        const m = decodeMessage(buildQuery(1, 'h.test', DNS_TYPE_AAAA));
        m.response = true;
        m.answers = [...others.filter((r) => r.name.toLowerCase() !== 'h.test'), ...mine.map((x) => ({ name: 'h.test', type: DNS_TYPE_AAAA, class: DNS_CLASS_IN, ttl: 5, ...x }))];
        const got = extractAddresses(decodeMessage(encodeMessage(m)), 'h.test', DNS_TYPE_AAAA);
        const good = mine.filter((x) => 'data' in x).map((x) => (x as { data: string }).data);
        expect(got.addresses).toEqual(good.slice(0, MAX_ANSWER_ADDRESSES));
        expect(got.capped).toBe(Math.max(0, good.length - MAX_ANSWER_ADDRESSES));
        expect(got.malformed).toBe(mine.length - good.length);
        for (const a of got.addresses) expect(ipv6ToString(parseIpv6Address(a))).toBe(a);
      }),
      { numRuns: 300 },
    );
  });

  it('compresses repeated names with pointers', () => {
    const m = decodeMessage(buildQuery(7, 'www.example.com'));
    m.response = true;
    m.answers = [
      { name: 'www.example.com', type: DNS_TYPE_CNAME, class: DNS_CLASS_IN, ttl: 60, data: 'web.example.com' },
      { name: 'web.example.com', type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 60, data: '192.0.2.1' },
    ];
    const wire = encodeMessage(m);
    // header 12 + question 17+4 + rr1 (2 ptr + 10 + 'web' 4 + ptr 2) + rr2 (2 + 10 + 4)
    expect(wire.length).toBe(12 + 21 + 18 + 16);
    expect(decodeMessage(wire)).toEqual(m);
  });

  it('rejects pointer loops and forward pointers', () => {
    const loop = Uint8Array.of(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1);
    expect(() => decodeMessage(loop)).toThrow(DnsFormatError);
    const fwd = Uint8Array.of(0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 14, 0, 0, 1, 0, 1);
    expect(() => decodeMessage(fwd)).toThrow(DnsFormatError);
  });
});
