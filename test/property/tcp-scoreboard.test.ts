/** The sender's SACK scoreboard equals the union of valid SACK blocks (RFC 2018 §5), bounded. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConnScript, pattern } from '../helpers/tcp-script.js';

describe('tcp SACK scoreboard', () => {
  it('matches a byte-set model for random blocks and cumulative ACKs', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            blocks: fc.array(fc.tuple(fc.integer({ min: -2000, max: 52000 }), fc.integer({ min: 0, max: 6000 })), { maxLength: 4 }),
            ackAdv: fc.integer({ min: 0, max: 3000 }),
          }),
          { minLength: 1, maxLength: 30 },
        ),
        fc.constantFrom(0, 0x7fffff00, 0xffffff00),
        (acks, iss) => {
          const s = new ConnScript({ iss, config: { timestamps: false, windowScaling: false, maxSackRanges: 64, tailLossProbe: false } });
          s.establishPassive({ iss: 5000, mss: 1000, sack: true, window: 65535 });
          s.conn.write(pattern(50000), 0, 50000);
          s.dispatch();
          s.recv();
          const base = (iss + 1) >>> 0;
          const model = new Uint8Array(60000);
          let una = 0;
          for (const a of acks) {
            // SND.MAX moves (limited transmit, recovery): validity is judged against it at arrival.
            const sent = (s.conn.sndMax - base) >>> 0;
            una = Math.min(sent, una + a.ackAdv);
            const flat: number[] = [];
            for (const [l, len] of a.blocks) flat.push((base + l) >>> 0, (base + l + len) >>> 0);
            s.send({ seq: 5001, ack: (base + una) >>> 0, flags: 'A', sack: flat });
            for (const [l, len] of a.blocks) {
              const r = l + len;
              // Valid: non-empty, right edge above SND.UNA and not beyond SND.MAX.
              if (len <= 0 || r <= una || r > sent) continue;
              for (let x = Math.max(l, una); x < r; x++) model[x] = 1;
            }
            for (let x = 0; x < una; x++) model[x] = 0;
            // Model ranges.
            const want: number[] = [];
            for (let x = una; x < 60000; ) {
              if (!model[x]) {
                x++;
                continue;
              }
              const st = x;
              while (x < 60000 && model[x]) x++;
              want.push((base + st) >>> 0, (base + x) >>> 0);
            }
            const got = s.conn.debugSender().scoreboard.map((v) => v >>> 0);
            expect(got, `iss=${iss}`).toEqual(want);
            s.recv();
          }
        },
      ),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 200) },
    );
  });
});
