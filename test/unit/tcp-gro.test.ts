/**
 * Receive segment merging (src/stack/tcp/gro.ts), segment by segment on a
 * virtual clock (test/helpers/tcp-script.ts LayerScript): consecutive
 * in-order data segments of one connection in one receive burst go through
 * TCP input once; a PSH, a FIN, another flow, a gap, other timestamps or a
 * shorter segment end the run; a corrupt segment is dropped and the run goes
 * on; and without the native kernels (no fused placement) or with
 * mergeSegments: false every segment is processed on its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerScript, pattern, type SegIn } from '../helpers/tcp-script.js';
import { Connection } from '../../src/stack/tcp/connection.js';
import { installByteKernels } from '../../src/wire/kernels.js';
import { nativeByteKernels } from '../../src/driver/addon.js';

const kernels = nativeByteKernels();
const PEER_ISS = 5000;
const MSS = 1000;
const TS = 77_000;

let processCalls = 0;
const origProcess = Connection.prototype.process;
beforeAll(() => {
  installByteKernels(kernels);
  Connection.prototype.process = function (this: Connection, ...args: Parameters<typeof origProcess>) {
    processCalls++;
    return origProcess.apply(this, args);
  };
});
afterAll(() => {
  Connection.prototype.process = origProcess;
  installByteKernels(null);
});

interface Peer {
  t: LayerScript;
  conn: Connection;
  /** Our ISN + 1: what the peer acknowledges. */
  ack: number;
  /** Next sequence number the peer sends. */
  seq: number;
  port: number;
}

/** An ESTABLISHED connection accepted from a scripted peer that uses timestamps. */
const acceptedBy = new WeakMap<LayerScript, Connection[]>();
function establish(t: LayerScript, port = 49500): Peer {
  let accepted = acceptedBy.get(t);
  if (accepted === undefined) {
    const list: Connection[] = [];
    accepted = list;
    acceptedBy.set(t, list);
    t.layer.listen(80, 0, 8, (c) => list.push(c));
  }
  const n = accepted.length;
  t.inject({ seq: PEER_ISS, flags: 'S', mss: MSS, tsVal: TS, sackPermitted: true, windowScale: 7, srcPort: port });
  const sa = t.take().find((s) => s.flags === 'SA' && s.dstPort === port)!;
  t.inject({ seq: PEER_ISS + 1, ack: sa.seq + 1, flags: 'A', tsVal: TS, tsEcr: sa.tsVal!, srcPort: port });
  expect(accepted.length).toBe(n + 1);
  return { t, conn: accepted[n]!, ack: sa.seq + 1, seq: PEER_ISS + 1, port };
}

/** The peer's next data segment (not injected): `len` bytes of the stream's pattern. */
function data(p: Peer, len = MSS, extra: Partial<SegIn> & { corrupt?: boolean } = {}): SegIn & { srcPort: number; corrupt?: boolean } {
  const payload = pattern(len, p.seq);
  const s = { seq: p.seq, ack: p.ack, flags: 'A', tsVal: TS, tsEcr: 0, payload, srcPort: p.port, ...extra };
  if (!extra.corrupt && extra.seq === undefined) p.seq += len;
  return s;
}

/** Injects the segments as one receive burst; returns the TCP input calls and the segments sent in answer. */
function burst(t: LayerScript, segs: (SegIn & { srcPort?: number; corrupt?: boolean })[]): { inputs: number; sent: ReturnType<LayerScript['take']> } {
  const before = processCalls;
  t.layer.rxBurstStart();
  for (const s of segs) t.inject(s);
  t.layer.rxBurstEnd(t.clock.now());
  return { inputs: processCalls - before, sent: t.take() };
}

/** Everything readable on conn, and whether it is the pattern the peer sent from `from` on. */
function drain(conn: Connection, from: number, chunks: number[]): boolean {
  const total = chunks.reduce((a, b) => a + b, 0);
  const got = new Uint8Array(total);
  const n = conn.read(got, 0, total);
  if (n !== total) return false;
  let off = 0;
  let seq = from;
  for (const len of chunks) {
    const want = pattern(len, seq);
    for (let i = 0; i < len; i++) if (got[off + i] !== want[i]) return false;
    off += len;
    seq += len;
  }
  return true;
}

describe.skipIf(kernels === null)('receive segment merging (native byte kernels built)', () => {
  it('consecutive in-order segments of one flow in a burst: one TCP input, one ACK, the bytes intact', () => {
    const t = new LayerScript();
    const p = establish(t);
    const start = p.seq;
    const r = burst(t, Array.from({ length: 8 }, () => data(p)));
    expect(r.inputs).toBe(1);
    expect(t.layer.stats.segmentsMerged).toBe(7);
    expect(t.layer.stats.conn.segmentsIn).toBeGreaterThanOrEqual(8);
    const acks = r.sent.filter((s) => s.payload.length === 0);
    expect(acks.length).toBe(1);
    expect(acks[0]!.ack).toBe((start + 8 * MSS) >>> 0);
    expect(p.conn.readable).toBe(8 * MSS);
    expect(drain(p.conn, start, Array(8).fill(MSS))).toBe(true);
  });

  it('a PSH ends the run (merged into it); a FIN segment is processed on its own', () => {
    const t = new LayerScript();
    const p = establish(t);
    const start = p.seq;
    const segs = [data(p), data(p), data(p, MSS, { flags: 'PA' }), data(p), data(p)];
    const r = burst(t, segs);
    expect(r.inputs).toBe(2); // [A A PA] [A A]
    expect(t.layer.stats.segmentsMerged).toBe(3);
    expect(drain(p.conn, start, Array(5).fill(MSS))).toBe(true);
    const s2 = p.seq;
    const r2 = burst(t, [data(p), data(p), data(p, MSS, { flags: 'FA' })]);
    expect(r2.inputs).toBe(2); // [A A] [FA]
    expect(t.layer.stats.segmentsMerged).toBe(4);
    expect(p.conn.peerFinished).toBe(true);
    expect(drain(p.conn, s2, Array(3).fill(MSS))).toBe(true);
  });

  it('segments of different flows are never merged with each other', () => {
    const t = new LayerScript();
    const p1 = establish(t, 49500);
    const p2 = establish(t, 49501);
    const s1 = p1.seq;
    const s2 = p2.seq;
    // 1 1 2 2 1 1: three runs.
    const r = burst(t, [data(p1), data(p1), data(p2), data(p2), data(p1), data(p1)]);
    expect(r.inputs).toBe(3);
    expect(t.layer.stats.segmentsMerged).toBe(3);
    expect(drain(p1.conn, s1, Array(4).fill(MSS))).toBe(true);
    expect(drain(p2.conn, s2, Array(2).fill(MSS))).toBe(true);
  });

  it('an out-of-order segment is not merged: it waits in the assembler, and the gap filled delivers all in order', () => {
    const t = new LayerScript();
    const p = establish(t);
    const start = p.seq;
    const a = data(p);
    const gap = data(p);
    const c = data(p);
    const d = data(p);
    const r = burst(t, [a, c, d]);
    expect(r.inputs).toBe(3); // a held alone (c does not continue it), then c and d out of order
    expect(t.layer.stats.segmentsMerged).toBe(0);
    expect(p.conn.readable).toBe(MSS);
    expect(r.sent.some((s) => s.sack !== undefined)).toBe(true);
    burst(t, [gap]);
    expect(drain(p.conn, start, Array(4).fill(MSS))).toBe(true);
  });

  it('a corrupt segment inside a run is dropped and counted; its retransmission continues the run', () => {
    const t = new LayerScript();
    const p = establish(t);
    const start = p.seq;
    const first = data(p);
    const bad = data(p, MSS, { corrupt: true });
    const good = data(p);
    const third = data(p);
    const r = burst(t, [first, bad, good, third]);
    expect(t.layer.stats.badChecksum).toBe(1);
    expect(r.inputs).toBe(1);
    expect(t.layer.stats.segmentsMerged).toBe(2);
    expect(drain(p.conn, start, Array(3).fill(MSS))).toBe(true);
  });

  it('other timestamps, another ACK number or a shorter segment end the run', () => {
    const t = new LayerScript();
    const p = establish(t);
    const start = p.seq;
    const r = burst(t, [data(p), data(p, MSS, { tsVal: TS + 1 }), data(p, MSS, { tsVal: TS + 1 }), data(p, 300, { tsVal: TS + 1 }), data(p, MSS, { tsVal: TS + 1 })]);
    // [ts] [ts+1 ts+1 short] [ts+1]
    expect(r.inputs).toBe(3);
    expect(t.layer.stats.segmentsMerged).toBe(2);
    expect(drain(p.conn, start, [MSS, MSS, MSS, 300, MSS])).toBe(true);
  });

  it('mergeSegments: false processes every segment on its own', () => {
    const t = new LayerScript({ mergeSegments: false });
    const p = establish(t);
    const start = p.seq;
    const r = burst(t, Array.from({ length: 6 }, () => data(p)));
    expect(r.inputs).toBe(6);
    expect(t.layer.stats.segmentsMerged).toBe(0);
    expect(drain(p.conn, start, Array(6).fill(MSS))).toBe(true);
  });

  it('outside a receive burst nothing is held', () => {
    const t = new LayerScript();
    const p = establish(t);
    const before = processCalls;
    for (let i = 0; i < 4; i++) t.inject(data(p));
    expect(processCalls - before).toBe(4);
    expect(t.layer.stats.segmentsMerged).toBe(0);
  });

  it('the application reading while a run is held (from another flow\'s callback) sees the run processed first', () => {
    const t = new LayerScript();
    const p1 = establish(t, 49500);
    const p2 = establish(t, 49501);
    const s1 = p1.seq;
    let seen = -1;
    t.layer.rxBurstStart();
    t.inject(data(p1));
    t.inject(data(p1));
    // As a callback run mid-burst would: read p1 while its run is held.
    const buf = new Uint8Array(4 * MSS);
    seen = p1.conn.read(buf, 0, buf.length);
    t.inject(data(p2));
    t.layer.rxBurstEnd(t.clock.now());
    expect(seen).toBe(2 * MSS);
    const want = new Uint8Array(2 * MSS);
    want.set(pattern(MSS, s1), 0);
    want.set(pattern(MSS, s1 + MSS), MSS);
    expect(Buffer.from(buf.subarray(0, seen)).equals(Buffer.from(want))).toBe(true);
  });
});
