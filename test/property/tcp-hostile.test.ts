/**
 * Hostile input: random segments (any flags, sequence and ACK numbers near
 * or far from the window, random SACK blocks, timestamps, payloads) mixed
 * with application calls and time must never throw, and memory stays bounded
 * (receive ring, out-of-order data, SACK scoreboard). The seed is in every
 * failure message (fast-check prints it; reproduce with USTACK_PROP_SEED).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConnScript, pattern } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

const segArb = fc.record({
  flags: fc.constantFrom('A', 'PA', 'FA', 'R', 'RA', 'S', 'SA', '', 'F', 'SFRPA', 'A', 'A', 'PA'),
  seqMode: fc.constantFrom('exact', 'near', 'far', 'old'),
  seqDelta: fc.integer({ min: -70000, max: 70000 }),
  ackMode: fc.constantFrom('una', 'near', 'far'),
  ackDelta: fc.integer({ min: -70000, max: 70000 }),
  window: fc.integer({ min: 0, max: 65535 }),
  len: fc.integer({ min: 0, max: 3000 }),
  sack: fc.option(fc.array(fc.integer({ min: -5000, max: 300000 }), { minLength: 2, maxLength: 8 }), { nil: undefined }),
  ts: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
});

const opArb = fc.oneof(
  fc.record({ k: fc.constant('seg' as const), s: segArb }),
  fc.record({ k: fc.constant('write' as const), n: fc.integer({ min: 1, max: 20000 }) }),
  fc.record({ k: fc.constant('read' as const), n: fc.integer({ min: 1, max: 20000 }) }),
  fc.record({ k: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 5000 }) }),
  fc.record({ k: fc.constant('shutdown' as const) }),
);

describe('tcp connection under hostile input', () => {
  it('never throws, stays bounded, keeps a valid state', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), fc.boolean(), fc.constantFrom(1000, 0xfffff000, 0x7ffff000), fc.constantFrom(5000, 0xffffff00), (ops, passive, iss, piss) => {
        const s = new ConnScript({
          iss,
          config: { recvBufferSize: 16384, sendBufferSize: 16384, maxOooRanges: 8, maxSackRanges: 8 },
        });
        if (passive) s.establishPassive({ iss: piss, sack: true, ts: true, windowScale: 2 });
        else s.establishActive({ iss: piss, sack: true, ts: true, windowScale: 2 });
        const buf = new Uint8Array(20000);
        const data = pattern(20000);
        let tsBase = 200;
        for (const op of ops) {
          const c = s.conn;
          switch (op.k) {
            case 'seg': {
              const g = op.s;
              const rn = c.rcvNxt;
              const seq =
                g.seqMode === 'exact' ? rn : g.seqMode === 'near' ? rn + (g.seqDelta % 20000) : g.seqMode === 'old' ? rn - 1 - Math.abs(g.seqDelta) : rn + g.seqDelta * 60000;
              const ack = g.ackMode === 'una' ? c.sndUna : g.ackMode === 'near' ? c.sndUna + (g.ackDelta % 20000) : c.sndUna + g.ackDelta * 60000;
              tsBase += 1;
              s.send({
                seq: seq >>> 0,
                ack: ack >>> 0,
                flags: g.flags,
                window: g.window,
                payload: pattern(g.len),
                sack: g.sack?.slice(0, g.sack.length & ~1).map((x) => (c.sndUna + x) >>> 0),
                tsVal: g.ts !== undefined ? tsBase - g.ts : undefined,
                tsEcr: g.ts !== undefined ? 0 : undefined,
              });
              break;
            }
            case 'write':
              c.write(data, 0, op.n);
              s.dispatch();
              break;
            case 'read':
              c.read(buf, 0, op.n);
              s.dispatch();
              break;
            case 'time':
              s.advance(op.ms);
              break;
            case 'shutdown':
              c.shutdown();
              s.dispatch();
              break;
          }
          expect(c.readable).toBeLessThanOrEqual(16384);
          expect(c.sendQueued).toBeLessThanOrEqual(16384);
          expect(c.debugSender().scoreboard.length).toBeLessThanOrEqual(16);
          expect(Number.isNaN(c.pollAt())).toBe(false);
          expect(c.state).toBeGreaterThanOrEqual(State.CLOSED);
          expect(c.state).toBeLessThanOrEqual(State.LAST_ACK);
          for (const o of s.recv()) {
            expect(o.len).toBeLessThanOrEqual(1460);
            expect(o.seq).toBeGreaterThanOrEqual(0);
          }
        }
      }),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 300), seed: process.env.USTACK_PROP_SEED ? Number(process.env.USTACK_PROP_SEED) : undefined },
    );
  });
});
