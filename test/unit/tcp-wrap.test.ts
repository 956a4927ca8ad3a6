/** Sequence numbers wrapping past 2^32 (all comparisons are mod 2^32, RFC 9293 §3.4). */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';

describe('tcp sequence wrap-around', () => {
  it('sends, receives out of order, SACKs and recovers across 2^32', () => {
    const ISS = 0xffffff00;
    const PISS = 0xfffffe00;
    const s = new ConnScript({ iss: ISS, config: { timestamps: false, windowScaling: false } });
    s.establishPassive({ iss: PISS, mss: 1000, sack: true });
    const P = (PISS + 1) >>> 0;
    const add = (a: number, n: number) => (a + n) >>> 0;
    // Receive: a segment beyond a hole that straddles the wrap, then the hole.
    s.send({ seq: add(P, 1000), ack: add(ISS, 1), flags: 'A', payload: pattern(1000, 2) });
    expect(s.recvOne()).toMatchObject({ ack: P, sack: [add(P, 1000), add(P, 2000)] });
    s.send({ seq: P, ack: add(ISS, 1), flags: 'A', payload: pattern(1000, 1) });
    expect(s.recvOne()).toMatchObject({ ack: add(P, 2000) });
    expect(add(P, 2000)).toBeLessThan(P); // wrapped
    const buf = new Uint8Array(2000);
    expect(s.conn.read(buf, 0, 2000)).toBe(2000);
    expect(Buffer.from(buf.subarray(0, 1000))).toEqual(Buffer.from(pattern(1000, 1)));
    // Send across the wrap with a hole recovered by SACK.
    s.conn.write(pattern(5000), 0, 5000);
    s.dispatch();
    const out = s.recv();
    expect(out.map((x) => x.seq)).toEqual([0, 1, 2, 3, 4].map((i) => add(ISS, 1 + i * 1000)));
    const base = add(ISS, 1);
    s.now = 5;
    s.send({ seq: add(P, 2000), ack: base, flags: 'A', sack: [add(base, 1000), add(base, 2000)] });
    s.send({ seq: add(P, 2000), ack: base, flags: 'A', sack: [add(base, 1000), add(base, 3000)] });
    s.send({ seq: add(P, 2000), ack: base, flags: 'A', sack: [add(base, 1000), add(base, 4000)] });
    expect(s.recv().map((x) => x.seq)).toContain(base);
    s.send({ seq: add(P, 2000), ack: add(base, 5000), flags: 'A' });
    expect(s.conn.sendQueued).toBe(0);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
  });
});
