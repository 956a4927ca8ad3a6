/**
 * Bulk transfers between two TcpLayers over an in-memory impaired link on a
 * virtual clock (test/helpers/tcp-link.ts): SHA-256 of each direction must
 * match and both ends must reach CLOSED (after TIME_WAIT). Every assertion
 * message carries the seed so a failure replays exactly.
 *
 * 64 MB each way runs in a few seconds per profile, so it is the default.
 */
import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { runBulk, type Impairments } from '../helpers/tcp-link.js';
import { IsnGenerator } from '../../src/stack/tcp/isn.js';

const MB = 1024 * 1024;
const SIZE = Number(process.env.USTACK_BULK_MB ?? 64) * MB;

const PROFILES: [string, Impairments][] = [
  ['clean', {}],
  ['1% loss', { loss: 0.01 }],
  ['5% loss + 5% reorder + 1% dup', { loss: 0.05, reorder: 0.05, duplicate: 0.01 }],
  ['0.1% corruption', { corrupt: 0.001 }],
  ['50 ms delay at 10 Mbit/s', { delayMs: 50, rateBps: 10_000_000 }],
];

describe('tcp bulk transfer between two stacks', () => {
  for (const [name, imp] of PROFILES) {
    it(`${SIZE / MB} MB each way: ${name}`, () => {
      const seed = 1;
      const r = runBulk(seed, imp, SIZE, SIZE, { maxVirtualMs: 24 * 3600_000 });
      const msg = `seed=${seed} profile=${JSON.stringify(imp)} a=${r.aState}/${r.aError} b=${r.bState}/${r.bError} t=${r.virtualMs}`;
      expect(r.aToB.bytes, msg).toBe(SIZE);
      expect(r.bToA.bytes, msg).toBe(SIZE);
      expect(r.aToB.rxHash, msg).toBe(r.aToB.txHash);
      expect(r.bToA.rxHash, msg).toBe(r.bToA.txHash);
      expect(r.aState, msg).toBe('CLOSED');
      expect(r.bState, msg).toBe('CLOSED');
      expect(r.aError, msg).toBeUndefined();
      expect(r.bError, msg).toBeUndefined();
      expect(r.remaining, msg).toBe(0);
      // No RST ended a connection abnormally (aError/bError above). With
      // duplication, a stray copy of the last ACK can reach the peer after it
      // closed and draw a RST into our TIME_WAIT, which RFC 9293 allows.
      const st = r.net.a.stats;
      if (!imp.duplicate && !imp.reorder) expect(st.conn.resetsIn + r.net.b.stats.conn.resetsIn, msg).toBe(0);
      if (imp.corrupt && SIZE >= 16 * MB) expect(st.badChecksum + r.net.b.stats.badChecksum, msg).toBeGreaterThan(0);
    });
  }

  it('property: random buffer sizes, MTUs and options under impairments', () => {
    const cfg = fc.record({
      recvBufferSize: fc.constantFrom(2048, 5000, 16384, 65535, 262144, 1 << 20),
      sendBufferSize: fc.constantFrom(1000, 4096, 65536, 262144),
      noDelay: fc.boolean(),
      delayedAck: fc.boolean(),
      windowScaling: fc.boolean(),
      sack: fc.boolean(),
      timestamps: fc.boolean(),
      congestion: fc.constantFrom<'cubic' | 'newreno'>('cubic', 'newreno'),
      rack: fc.boolean(),
    });
    const profile = fc.record({
      loss: fc.constantFrom(0, 0.01, 0.05),
      reorder: fc.constantFrom(0, 0.05),
      duplicate: fc.constantFrom(0, 0.02),
      corrupt: fc.constantFrom(0, 0.005),
      delayMs: fc.constantFrom(0.1, 3, 25),
      rateBps: fc.constantFrom(0, 5_000_000),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        profile,
        cfg,
        fc.constantFrom(576, 1280, 1500, 9000),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        (seed, imp, config, mtu, ab, ba) => {
          const r = runBulk(seed, imp, ab, ba, { config, mtu, maxVirtualMs: 6 * 3600_000 });
          const msg = `seed=${seed} profile=${JSON.stringify(imp)} config=${JSON.stringify(config)} mtu=${mtu} ab=${ab} ba=${ba} a=${r.aState}/${r.aError} b=${r.bState}/${r.bError} t=${r.virtualMs}`;
          expect(r.aToB.bytes, msg).toBe(ab);
          expect(r.bToA.bytes, msg).toBe(ba);
          expect(r.aToB.rxHash, msg).toBe(r.aToB.txHash);
          expect(r.bToA.rxHash, msg).toBe(r.bToA.txHash);
          expect(r.remaining, msg).toBe(0);
        },
      ),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 100), seed: process.env.USTACK_PROP_SEED ? Number(process.env.USTACK_PROP_SEED) : undefined },
    );
  });

  it('sequence numbers wrapping past 2^32 mid-transfer (ISNs just below 2^32)', () => {
    let k = 0;
    const spy = vi.spyOn(IsnGenerator.prototype, 'next').mockImplementation(() => (0xffffffff - 300_000 + 7919 * k++) >>> 0);
    try {
      for (const seed of [3, 4]) {
        const r = runBulk(seed, { loss: 0.02, reorder: 0.05 }, 2_000_000, 1_500_000);
        const msg = `seed=${seed} a=${r.aState}/${r.aError} b=${r.bState}/${r.bError}`;
        expect(r.aToB.rxHash, msg).toBe(r.aToB.txHash);
        expect(r.bToA.rxHash, msg).toBe(r.bToA.txHash);
        expect(r.aToB.bytes, msg).toBe(2_000_000);
        expect(r.bToA.bytes, msg).toBe(1_500_000);
        expect(r.remaining, msg).toBe(0);
      }
    } finally {
      spy.mockRestore();
    }
  });

  it('property: random seeds and impairment profiles deliver intact, in order, without hanging', () => {
    const profile = fc.record({
      loss: fc.constantFrom(0, 0.005, 0.02, 0.08),
      reorder: fc.constantFrom(0, 0.03, 0.1),
      duplicate: fc.constantFrom(0, 0.01, 0.05),
      corrupt: fc.constantFrom(0, 0.002, 0.01),
      delayMs: fc.constantFrom(0.2, 5, 40),
      rateBps: fc.constantFrom(0, 2_000_000, 50_000_000),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        profile,
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 0, max: 300_000 }),
        fc.constantFrom<'cubic' | 'newreno'>('cubic', 'newreno'),
        fc.boolean(),
        fc.boolean(),
        (seed, imp, ab, ba, congestion, sack, timestamps) => {
          const r = runBulk(seed, imp, ab, ba, { config: { congestion, sack, timestamps }, maxVirtualMs: 6 * 3600_000 });
          const msg = `seed=${seed} profile=${JSON.stringify(imp)} ab=${ab} ba=${ba} cc=${congestion} sack=${sack} ts=${timestamps} a=${r.aState}/${r.aError} b=${r.bState}/${r.bError} t=${r.virtualMs}`;
          expect(r.aToB.bytes, msg).toBe(ab);
          expect(r.bToA.bytes, msg).toBe(ba);
          expect(r.aToB.rxHash, msg).toBe(r.aToB.txHash);
          expect(r.bToA.rxHash, msg).toBe(r.bToA.txHash);
          expect(r.remaining, msg).toBe(0);
          expect(r.aState, msg).toBe('CLOSED');
          expect(r.bState, msg).toBe('CLOSED');
        },
      ),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 200), seed: process.env.USTACK_PROP_SEED ? Number(process.env.USTACK_PROP_SEED) : undefined },
    );
  });
});
