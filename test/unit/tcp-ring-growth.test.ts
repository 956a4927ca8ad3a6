/**
 * Lazy TCP buffers (issue 6): rings that hold nothing while empty, grow by
 * doubling up to the configured size, give their storage back to a pool,
 * and never change the advertised window (which follows the configured
 * size, not what happens to be allocated). Virtual clock throughout.
 */
import { describe, expect, it } from 'vitest';
import { ByteRing, RING_MIN_CAPACITY, RingPool } from '../../src/stack/tcp/ring-buffer.js';
import { ConnScript, pattern } from '../helpers/tcp-script.js';

const NO_OPTS = { timestamps: false, sack: false, windowScaling: false };
const PEER = 5001; // the peer's first data sequence number (peer ISS 5000)

/** Reads everything readable from a ring. */
function drain(r: ByteRing): Uint8Array {
  const out = new Uint8Array(r.length);
  expect(r.read(out, 0, out.length)).toBe(out.length);
  return out;
}

describe('ByteRing, lazy', () => {
  it('allocates at the first write, grows by doubling while wrapped, keeps readable and placed bytes, stops at the limit', () => {
    const pool = new RingPool();
    const r = new ByteRing(100_000, { lazy: true, pool });
    expect(r.capacity).toBe(0);
    expect(r.free).toBe(100_000);
    const src = pattern(100_000, 3);
    expect(r.write(src, 0, 3000)).toBe(3000);
    expect(r.capacity).toBe(RING_MIN_CAPACITY);
    // Move the head so that the data wraps around the end of the storage.
    const head = new Uint8Array(2500);
    expect(r.read(head, 0, 2500)).toBe(2500);
    expect(head).toEqual(src.subarray(0, 2500));
    expect(r.write(src, 3000, 3000)).toBe(3000); // 500 + 3000 readable, wrapped
    expect(r.capacity).toBe(RING_MIN_CAPACITY);
    // Out-of-order bytes placed beyond what is allocated force a growth that
    // must carry the wrapped readable bytes and the placed ones.
    r.writeAt(2000, src, 8000, 1000); // logical [5500, 6500)
    expect(r.capacity).toBe(2 * RING_MIN_CAPACITY);
    r.writeAt(0, src, 6000, 2000); // fills the gap [3500, 5500)
    r.commit(3000);
    expect(r.length).toBe(6500);
    expect(drain(r)).toEqual(src.subarray(2500, 9000));
    // Fill to the limit: capacity is capped at the (non power of two) limit.
    let off = 0;
    while (r.free > 0) off += r.write(src, off, Math.min(7000, src.length - off));
    expect(r.length).toBe(100_000);
    expect(r.capacity).toBe(100_000);
    expect(drain(r)).toEqual(src);
  });

  it('gives storage back only when empty, and the pool hands it out again without allocating', () => {
    const pool = new RingPool();
    const r = new ByteRing(1 << 20, { lazy: true, pool });
    const src = pattern(40_000, 1);
    r.write(src, 0, src.length);
    const cap = r.capacity;
    expect(cap).toBe(65536);
    expect(r.release()).toBe(false); // still holds data
    expect(drain(r)).toEqual(src);
    expect(r.release()).toBe(true);
    expect(r.capacity).toBe(0);
    expect(pool.retainedBytes).toBe(cap);
    const allocations = pool.allocations;
    // Next tenure: starts at the size the last one needed, from the pool.
    r.write(src, 0, 100);
    expect(r.capacity).toBe(cap);
    expect(pool.allocations).toBe(allocations);
    expect(pool.retainedBytes).toBe(0);
  });

  it('halves its next size after eight tenures in a row that used under a quarter of it', () => {
    const pool = new RingPool();
    const r = new ByteRing(1 << 20, { lazy: true, pool });
    const src = pattern(65536);
    r.write(src, 0, src.length);
    drain(r);
    r.release();
    for (let tenure = 1; tenure <= 8; tenure++) {
      r.write(src, 0, 100);
      expect(r.capacity).toBe(65536);
      drain(r);
      r.release();
    }
    r.write(src, 0, 100);
    expect(r.capacity).toBe(32768);
  });

  it('ring objects go back to the pool with their sizing memory', () => {
    const pool = new RingPool();
    const a = pool.takeRing(1 << 20, 0);
    a.write(pattern(20_000), 0, 20_000);
    expect(a.capacity).toBe(32768);
    drain(a);
    const state = pool.giveRing(a);
    const b = pool.takeRing(1 << 19, state);
    expect(b).toBe(a); // the object itself is reused
    expect(b.capacity).toBe(0);
    expect(b.limit).toBe(1 << 19);
    b.write(pattern(10), 0, 10);
    expect(b.capacity).toBe(32768);
  });
});

describe('connection buffers', () => {
  function established(config: Record<string, unknown>): ConnScript {
    const s = new ConnScript({ iss: 1000, config: { ...NO_OPTS, ...config } });
    s.establishPassive({ iss: 5000, mss: 1460 });
    return s;
  }

  it('receive: the advertised edge follows the configured buffer while the ring grows; out-of-order data survives growth; drained = nothing held', () => {
    const s = established({ recvBufferSize: 60_000 });
    expect(s.conn.debugMemory()).toEqual({ ringBytes: 0, ringObjects: 0, coldState: false, assembler: false });
    const data = pattern(40 * 1460, 9);
    // Odd segments first (out of order, placed further and further past an
    // empty ring), then the even ones.
    const order: number[] = [];
    for (let i = 1; i < 40; i += 2) order.push(i);
    for (let i = 0; i < 40; i += 2) order.push(i);
    const capacities: number[] = [];
    let acks = 0;
    for (const i of order) {
      s.send({ seq: PEER + i * 1460, ack: 1001, flags: 'A', payload: data.subarray(i * 1460, (i + 1) * 1460) });
      s.advance(40); // delayed ACKs go out
      for (const a of s.recv()) {
        // Nothing was read: the right edge stays where the 60,000-byte buffer put it.
        expect(a.ack + a.window).toBe(PEER + 60_000);
        acks++;
      }
      capacities.push(s.conn.debugMemory().ringBytes);
    }
    expect(acks).toBeGreaterThan(20);
    expect(s.conn.debugMemory().assembler).toBe(true);
    // The receive ring grew in steps, never beyond the configured size.
    expect(capacities[0]).toBeGreaterThan(0);
    expect(Math.max(...capacities)).toBe(60_000);
    expect(new Set(capacities).size).toBeGreaterThan(2);
    expect(s.conn.readable).toBe(data.length);
    const got = new Uint8Array(data.length);
    expect(s.conn.read(got, 0, got.length)).toBe(data.length);
    expect(got).toEqual(data);
    expect(s.conn.debugMemory().ringBytes).toBe(0);
    expect(s.conn.debugMemory().ringObjects).toBe(0);
    // The window update after the read: the edge moved by what was read.
    s.dispatch();
    const upd = s.recv().pop()!;
    expect(upd.ack + upd.window).toBe(PEER + data.length + 60_000);
  });

  it('send: the ring grows with what is queued, up to sendBufferSize; acknowledged = nothing held', () => {
    const s = established({ sendBufferSize: 50_000 });
    expect(s.conn.writable).toBe(50_000);
    const data = pattern(60_000, 4);
    expect(s.conn.write(data, 0, 3000)).toBe(3000);
    expect(s.conn.debugMemory().ringBytes).toBe(RING_MIN_CAPACITY);
    expect(s.conn.writable).toBe(47_000);
    expect(s.conn.write(data, 3000, 57_000)).toBe(47_000);
    expect(s.conn.debugMemory().ringBytes).toBe(50_000);
    expect(s.conn.writable).toBe(0);
    // The peer acknowledges everything as it arrives (window 65535).
    const sent: Uint8Array[] = [];
    let acked = 1001;
    for (let round = 0; round < 100 && acked < 1001 + 50_000; round++) {
      s.dispatch();
      for (const seg of s.recv()) {
        if (seg.len > 0) sent.push(seg.payload);
        acked = Math.max(acked, seg.seq + seg.len);
      }
      s.send({ seq: PEER, ack: acked, flags: 'A' });
    }
    expect(Buffer.concat(sent)).toEqual(Buffer.from(data.subarray(0, 50_000)));
    expect(s.conn.sendQueued).toBe(0);
    expect(s.conn.debugMemory()).toEqual({ ringBytes: 0, ringObjects: 0, coldState: false, assembler: false });
    expect(s.conn.writable).toBe(50_000);
  });
});
