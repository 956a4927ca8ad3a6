/**
 * DNS replies built from chained compression pointers: every pointer points
 * one pointer back, and hundreds of names point at the end of the chain.
 * Each pointer going strictly backwards keeps a walk finite, but with no
 * other bound N names over a chain of K pointers cost N x K steps —
 * quadratic in the message length — and the resolver used to pay that
 * before it compared the transaction ID.
 *
 * Work is measured in decoding steps (labels read plus pointers followed),
 * never in time. A failing property prints its seed (FC_SEED replays).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim } from '../helpers/sim.js';
import {
  DNS_CLASS_IN,
  DNS_TYPE_A,
  DnsFormatError,
  MAX_NAME_POINTERS,
  Resolver,
  decodeMessage,
  encodeMessage,
  nameStepBudget,
  type DnsDecodeWork,
} from '../../src/stack/services/dns.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

const TYPE_UNKNOWN = 99;

/**
 * A response with ID `id` to a query for "a": one answer whose RDATA (of a
 * type the codec does not interpret) holds `chain` pointers, each to the one
 * before (the first to the question's name), then `names` answers whose
 * owner name is a pointer to the last pointer of the chain.
 */
function chainMessage(id: number, chain: number, names: number): Uint8Array {
  const len = 12 + 7 + 12 + 2 * chain + 12 * names;
  const b = new Uint8Array(len);
  const u16 = (o: number, v: number): void => {
    b[o] = v >>> 8;
    b[o + 1] = v & 0xff;
  };
  u16(0, id);
  u16(2, 0x8180); // response, RD, RA
  u16(4, 1);
  u16(6, 1 + names);
  b.set([1, 0x61, 0], 12); // "a"
  u16(15, DNS_TYPE_A);
  u16(17, DNS_CLASS_IN);
  let o = 19;
  u16(o, 0xc000 | 12);
  u16(o + 2, TYPE_UNKNOWN);
  u16(o + 4, DNS_CLASS_IN);
  u16(o + 10, 2 * chain);
  o += 12;
  const first = o;
  for (let i = 0; i < chain; i++, o += 2) u16(o, 0xc000 | (i === 0 ? 12 : o - 2));
  const last = first + 2 * (chain - 1);
  for (let i = 0; i < names; i++, o += 12) {
    u16(o, 0xc000 | last);
    u16(o + 2, TYPE_UNKNOWN);
    u16(o + 4, DNS_CLASS_IN);
  }
  expect(o).toBe(len);
  expect(last).toBeLessThan(0x4000);
  return b;
}

/** Steps decodeMessage takes on `buf`, and whether it rejected it. */
function decodeWork(buf: Uint8Array, budget?: number): { steps: number; rejected: boolean } {
  const work: DnsDecodeWork = budget === undefined ? { steps: 0 } : { steps: 0, budget };
  try {
    decodeMessage(buf, work);
    return { steps: work.steps, rejected: false };
  } catch (e) {
    if (!(e instanceof DnsFormatError)) throw e;
    return { steps: work.steps, rejected: true };
  }
}

describe('decoding names is bounded', () => {
  it('a name behind a long pointer chain is rejected within MAX_NAME_POINTERS steps', () => {
    // 5,000 pointers, 2,000 names on them: 10 million steps without the bound.
    const msg = chainMessage(1, 5_000, 2_000);
    const r = decodeWork(msg);
    console.log(`[dns] ${msg.length}-byte reply, 2,000 names over a 5,000-pointer chain: rejected after ${r.steps} steps (unbounded: ${2_000 * 5_001 + 1})`);
    expect(r.rejected).toBe(true);
    expect(r.steps).toBeLessThanOrEqual(MAX_NAME_POINTERS + 4);
  });

  it('chains within the per-name limit decode in work linear in the message', () => {
    const chain = MAX_NAME_POINTERS - 1; // plus the name's own pointer: exactly the limit
    const names = Math.floor((65_000 - 31 - 2 * chain) / 12);
    const msg = chainMessage(1, chain, names);
    const r = decodeWork(msg);
    expect(r.rejected).toBe(false);
    // The question and the chain's own record: 3 steps; each name: its pointers and the label "a".
    expect(r.steps).toBe(3 + names * (MAX_NAME_POINTERS + 1));
    expect(r.steps).toBeLessThanOrEqual(nameStepBudget(msg.length));
    // One pointer more per name is over the limit.
    expect(decodeWork(chainMessage(1, chain + 1, 3)).rejected).toBe(true);
  });

  it('the per-message budget stops decoding at exactly its number of steps', () => {
    const msg = chainMessage(1, 10, 50);
    const need = decodeWork(msg).steps;
    expect(decodeWork(msg, need)).toEqual({ steps: need, rejected: false });
    const short = decodeWork(msg, need - 1);
    expect(short.rejected).toBe(true);
    expect(short.steps).toBe(need);
  });

  it('property: any chain shape decodes or is rejected within the linear budget', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_000 }), fc.integer({ min: 0, max: 4_000 }), (chain, names) => {
        const msg = chainMessage(1, chain, names);
        const r = decodeWork(msg);
        expect(r.steps).toBeLessThanOrEqual(nameStepBudget(msg.length));
        // Per name: at most MAX_NAME_POINTERS pointers and its one label.
        expect(r.steps).toBeLessThanOrEqual((names + 2) * (MAX_NAME_POINTERS + 2));
        expect(r.rejected).toBe(chain + 1 > MAX_NAME_POINTERS && names > 0);
      }),
      { numRuns: 200 },
    );
  });

  it('property: arbitrary bytes never take more than the budget', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 12, maxLength: 2_000 }), (bytes) => {
        expect(decodeWork(bytes).steps).toBeLessThanOrEqual(nameStepBudget(bytes.length) + 1);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('the resolver checks the ID before decoding', () => {
  it('a spoofed pointer-chain reply with the wrong ID costs no decoding; one with our ID is rejected cheaply; the real answer wins', async () => {
    const sim = new Sim();
    const ep = sim.b.stack.udp.bind(0, 53, {
      onDatagram(src, srcPort, _dst, buf, off, len) {
        const q = decodeMessage(buf.slice(off, off + len));
        // 2,000 names over a 2,000-pointer chain: 4 million steps unbounded (8 KB, fragmented).
        const wrongId = chainMessage((q.id + 1) & 0xffff, 2_000, 2_000);
        const ourId = chainMessage(q.id, 2_000, 2_000);
        const real = encodeMessage({ ...q, response: true, recursionAvailable: true, answers: [{ name: q.questions[0]!.name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 60, data: '10.9.8.7' }] });
        for (const m of [wrongId, ourId, real]) ep.send(src, srcPort, m, 0, m.length);
      },
    });
    const r = new Resolver({ udp: sim.a.stack.udp, wheel: sim.a.stack.wheel, clock: sim.clock, server: () => '10.0.0.2' });
    let out: { err: unknown; addrs: string[] } | undefined;
    r.resolve4('a', (err, addrs) => (out = { err, addrs }));
    sim.runFor(100);
    await new Promise((res) => setImmediate(res));
    console.log(`[dns] resolver stats: ${JSON.stringify(r.stats)}`);
    expect(out).toEqual({ err: null, addrs: ['10.9.8.7'] });
    expect(r.stats).toMatchObject({ dns_ignored: 2, dns_ignored_id: 1, dns_ignored_malformed: 1, dns_answers: 1 });
    // The rejected reply with our ID stopped at the pointer limit; the real answer took 2 steps.
    expect(r.stats.dns_decode_steps).toBeLessThanOrEqual(MAX_NAME_POINTERS + 4 + 2);
  });
});
