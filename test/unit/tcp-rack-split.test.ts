/**
 * RACK records of TSO / software-GSO segments (several MSS each) split by
 * SACK (recovery/rack.ts rsOnSack): on whole-frame boundaries only, so a
 * lost frame is resent alone, and never past rsSplitCap, so a hostile
 * receiver SACKing scattered single bytes cannot fragment the log ("SACK
 * Panic", CVE-2019-11477/11478). Segment scripts on a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';

const PEER = 5001;
const MSS = 1000;

/** SACK connection with TSO (64 KB segments), MSS 1000, one 50 ms RTT sample: SND.UNA = 1101 at t = 50. */
function tsoConn(config = {}): ConnScript {
  const s = new ConnScript({ iss: 1000, mmsS: MSS + 20, tsoMaxS: 64_020, config: { timestamps: false, windowScaling: false, ...config } });
  s.establishPassive({ iss: 5000, mss: MSS, sack: true });
  s.conn.write(pattern(100), 0, 100);
  s.dispatch();
  s.recv();
  s.now = 50;
  s.send({ seq: PEER, ack: 1101, flags: 'A' });
  s.recvNone();
  return s;
}

/** Writes `data` at time t; returns what left (one segment of 10 frames with the initial window of 10 MSS). */
function sendTso(s: ConnScript, t: number, data: Uint8Array): { seq: number; len: number }[] {
  s.now = t;
  s.conn.write(data, 0, data.length);
  s.dispatch();
  return s.recv().map((x) => ({ seq: x.seq, len: x.len }));
}

/** Every record starts a whole number of MSS after the segment's first byte (or ends the segment). */
function expectFrameAligned(s: ConnScript, first: number, last: number): void {
  for (const [st, end] of s.conn.debugRack().records) {
    if (st !== first) expect((st - first) % MSS, `record start ${st}`).toBe(0);
    if (end !== last) expect((end - first) % MSS, `record end ${end}`).toBe(0);
  }
}

describe('RACK record splits by SACK', () => {
  it('a lost frame of a GSO segment is resent alone (the SACKed frames are records of their own)', () => {
    const s = tsoConn();
    const data = pattern(10 * MSS, 3);
    expect(sendTso(s, 100, data)).toEqual([{ seq: 1101, len: 10 * MSS }]);
    expect(s.conn.debugRack().records.length).toBe(1);
    // Frames 0-2 arrive, frame 3 (bytes 3000-4000) is lost, frames 4-9 are SACKed.
    s.now = 150;
    s.send({ seq: PEER, ack: 1101 + 3 * MSS, flags: 'A' });
    s.send({ seq: PEER, ack: 1101 + 3 * MSS, flags: 'A', sack: [1101 + 4 * MSS, 1101 + 10 * MSS] });
    expect(s.conn.debugRack().records.map(([st, end]) => [st, end])).toEqual([
      [1101 + 3 * MSS, 1101 + 4 * MSS],
      [1101 + 4 * MSS, 1101 + 10 * MSS],
    ]);
    s.advance(1000);
    // Only frame 3 is ever resent (again by the RTO, as this peer never acknowledges it).
    const rtx = s.recv().filter((x) => x.len > 0);
    expect(rtx.length).toBeGreaterThan(0);
    for (const x of rtx) expect([x.seq, x.len]).toEqual([1101 + 3 * MSS, MSS]);
    expect(Buffer.from(rtx[0]!.payload).equals(Buffer.from(data.subarray(3 * MSS, 4 * MSS)))).toBe(true);
  });

  it('a block not on frame boundaries splits at the whole frames inside it', () => {
    const s = tsoConn();
    sendTso(s, 100, pattern(10 * MSS));
    s.now = 150;
    // Bytes 2500-7300 of the segment: the whole frames inside are bytes 3000-7000.
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [1101 + 2500, 1101 + 7300] });
    expect(s.conn.debugRack().records.map(([st, end, , fl]) => [st - 1101, end - 1101, fl & 1])).toEqual([
      [0, 3000, 0],
      [3000, 7000, 1],
      [7000, 10_000, 0],
    ]);
  });

  it('a hostile receiver SACKing scattered single bytes: the record log stays bounded and the transfer completes with the right bytes', () => {
    const s = tsoConn();
    const maxSackRanges = s.conn.config.maxSackRanges;
    const data = pattern(10 * MSS, 5);
    s.now = 100;
    s.conn.write(data, 0, data.length);
    s.dispatch();
    const orig = s.recv();
    expect(orig.map((x) => [x.seq, x.len])).toEqual([[1101, 10 * MSS]]);
    const first = 1101;
    // The receiver's copy: the bytes it SACKs (from the original transmission), then what is resent.
    const got = new Uint8Array(10 * MSS);
    const have = new Uint8Array(10 * MSS);
    const last = 1101 + 10 * MSS;
    const cap = 2 * 10 + maxSackRanges;
    // 200 ACKs of four 1-byte blocks each at scattered offsets (a fixed LCG: reproducible).
    let x = 12345;
    const next = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x;
    };
    let t = 150;
    let most = 0;
    for (let a = 0; a < 200; a++) {
      const sack: number[] = [];
      for (let b = 0; b < 4; b++) {
        const off = 1 + (next() % (10 * MSS - 1));
        sack.push(first + off, first + off + 1);
        got[off] = orig[0]!.payload[off]!;
        have[off] = 1;
      }
      s.now = t;
      s.send({ seq: PEER, ack: first, flags: 'A', sack });
      t += 0.01;
      most = Math.max(most, s.conn.debugRack().records.length);
      expectFrameAligned(s, first, last);
    }
    expect(most).toBeLessThanOrEqual(cap);
    // The sender recovers the data; the receiver acknowledges what it holds in order.
    let acked = 0;
    for (let round = 0; round < 100 && acked < 10 * MSS; round++) {
      s.advance(200);
      for (const seg of s.recv()) {
        if (seg.len === 0) continue;
        const off = seg.seq - first;
        expect(off).toBeGreaterThanOrEqual(0);
        expect(off + seg.len).toBeLessThanOrEqual(10 * MSS);
        got.set(seg.payload, off);
        have.fill(1, off, off + seg.len);
      }
      while (acked < 10 * MSS && have[acked] === 1) acked++;
      s.send({ seq: PEER, ack: first + acked, flags: 'A' });
      most = Math.max(most, s.conn.debugRack().records.length);
    }
    expect(acked, 'every byte delivered').toBe(10 * MSS);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(most).toBeLessThanOrEqual(cap);
    expect(s.conn.debugRack().records.length).toBe(0);
    expect(s.conn.debugSender().inRecovery).toBe(false);
  });

  it('a block the scoreboard dropped (maxSackRanges) splits nothing', () => {
    const s = tsoConn({ maxSackRanges: 4 });
    sendTso(s, 100, pattern(10 * MSS));
    s.now = 150;
    // Four single bytes fill the scoreboard; a whole frame above them is then dropped by it.
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [1111, 1112, 1121, 1122, 1131, 1132, 1141, 1142] });
    const before = s.conn.debugRack().records;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [1101 + 5 * MSS, 1101 + 6 * MSS] });
    expect(s.conn.debugSender().scoreboard).toEqual([1111, 1112, 1121, 1122, 1131, 1132, 1141, 1142]);
    const after = s.conn.debugRack().records;
    expect(after).toEqual(before);
    expect(after.filter(([st, end]) => st === 1101 + 5 * MSS || end === 1101 + 6 * MSS)).toEqual([]);
  });

  it('past the cap (2 per MSS in flight + maxSackRanges) a record stays partly SACKed instead of splitting', () => {
    const s = tsoConn({ maxSackRanges: 4, noDelay: true });
    // 40 small segments (40 records), then one GSO segment of 6 frames: 41 records, 10 MSS in flight, cap 24.
    for (let i = 0; i < 40; i++) sendTso(s, 100, pattern(100, i));
    expect(sendTso(s, 100, pattern(6 * MSS))).toEqual([{ seq: 5101, len: 6 * MSS }]);
    expect(s.conn.debugRack().records.length).toBe(41);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [5101 + 2 * MSS, 5101 + 4 * MSS] });
    expect(s.conn.debugSender().scoreboard).toEqual([5101 + 2 * MSS, 5101 + 4 * MSS]);
    // No record was split at the block's frame boundaries, none is SACKed.
    const recs = s.conn.debugRack().records;
    expect(recs.filter(([st, end]) => st === 5101 + 2 * MSS || end === 5101 + 4 * MSS)).toEqual([]);
    expect(recs.filter(([, , , fl]) => (fl & 1) !== 0)).toEqual([]);
  });
});
