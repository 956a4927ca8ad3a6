import { describe, expect, it } from 'vitest';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import type { Nic } from '../../src/driver/nic.js';
import { Prng } from '../../src/driver/prng.js';
import { bytesCopied } from '../../src/wire/bytes.js';

/** Counts free slots by allocating until -1, then gives them all back. */
function countFree(nic: Nic): number {
  const taken: number[] = [];
  for (;;) {
    const s = nic.alloc();
    if (s < 0) break;
    taken.push(s);
    // A pool that never runs dry would keep this loop going: it holds slotCount slots.
    if (taken.length > nic.slotCount) throw new Error(`alloc() handed out more than slotCount (${nic.slotCount}) slots`);
  }
  for (const s of taken) nic.release(s);
  return taken.length;
}

function send(nic: Nic, payloads: Uint8Array[]): number {
  const slots = new Uint32Array(payloads.length);
  const lens = new Uint32Array(payloads.length);
  payloads.forEach((p, i) => {
    const s = nic.alloc();
    expect(s).toBeGreaterThanOrEqual(0);
    nic.pool.set(p, s * nic.slotSize);
    slots[i] = s;
    lens[i] = p.length;
  });
  return nic.txBurst(slots, lens, payloads.length);
}

function receive(nic: Nic, max = 64): Uint8Array[] {
  const slots = new Uint32Array(max);
  const lens = new Uint32Array(max);
  const n = nic.rxBurst(slots, lens, max);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const off = slots[i]! * nic.slotSize;
    out.push(nic.pool.slice(off, off + lens[i]!));
    nic.release(slots[i]!);
  }
  return out;
}

function frame(len: number, seed: number): Uint8Array {
  const p = new Prng(seed);
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = p.nextInt(256);
  return f;
}

describe('MemoryNic', () => {
  it('has sensible defaults', () => {
    const [a, b] = MemoryNic.pair();
    expect(a.mac).toBe(0x020000000001);
    expect(b.mac).toBe(0x020000000002);
    expect(a.mtu).toBe(1500);
    expect(a.slotSize).toBe(2048);
    expect(a.slotCount).toBe(1024);
    // One pool for the pair: each end owns 1,024 of its 2,048 slots.
    expect(a.pool.byteLength).toBe(2048 * 1024 * 2);
    expect(a.pool).toBe(b.pool);
    expect(a.offloads).toEqual({ txChecksum: false, tso: false, rxChecksumVerified: false });
    expect(a.pollAt()).toBe(Infinity);
    expect(a.name).not.toBe(b.name);
    expect(countFree(a)).toBe(1024);
  });

  it('grows the slot size for a jumbo MTU and honours options', () => {
    const [a, b] = MemoryNic.pair({ mtu: 9000, slotCount: 16, names: ['x', 'y'], macA: 0x0a, macB: 0x0b });
    expect(a.slotSize).toBeGreaterThanOrEqual(9018);
    expect(a.slotSize % 8).toBe(0);
    expect(a.slotCount).toBe(16);
    expect([a.name, b.name]).toEqual(['x', 'y']);
    expect([a.mac, b.mac]).toEqual([0x0a, 0x0b]);
    expect(() => MemoryNic.pair({ mtu: -1 })).toThrow(RangeError);
  });

  it('carries frames byte-exactly in both directions, in order, and frees slots', () => {
    const [a, b] = MemoryNic.pair({ slotCount: 64 });
    const sizes = [60, 61, 62, 63, 64, 1514, 1518, 1];
    const fa = sizes.map((n, i) => frame(n, i));
    const fb = sizes.map((n, i) => frame(n, 100 + i));
    expect(send(a, fa)).toBe(sizes.length);
    expect(send(b, fb)).toBe(sizes.length);
    expect(countFree(a)).toBe(64 - sizes.length); // b's frames are waiting in a's ring
    expect(receive(b)).toEqual(fa);
    expect(receive(a)).toEqual(fb);
    expect(countFree(a)).toBe(64);
    expect(countFree(b)).toBe(64);
    const sa = a.stats();
    expect(sa.tx_frames).toBe(sizes.length);
    expect(sa.tx_bytes).toBe(sizes.reduce((x, y) => x + y, 0));
    expect(sa.rx_frames).toBe(sizes.length);
  });

  it('hands frames over by slot: the receiver gets the sender\'s slot, no byte is copied, each end keeps its slot count', () => {
    const [a, b] = MemoryNic.pair({ slotCount: 16 });
    const f = frame(1514, 7);
    const slot = a.alloc();
    a.pool.set(f, slot * a.slotSize);
    const copied = bytesCopied();
    expect(a.txBurst(Uint32Array.of(slot), Uint32Array.of(f.length), 1)).toBe(1);
    expect(bytesCopied()).toBe(copied);
    // a gave its slot away and got one of b's in exchange.
    expect(a.availableSlots).toBe(16);
    expect(b.availableSlots).toBe(15);
    const slots = new Uint32Array(4);
    const lens = new Uint32Array(4);
    expect(b.rxBurst(slots, lens, 4)).toBe(1);
    expect(slots[0]).toBe(slot);
    expect(b.pool.slice(slot * b.slotSize, slot * b.slotSize + lens[0]!)).toEqual(f);
    b.release(slots[0]!);
    expect(countFree(a)).toBe(16);
    expect(countFree(b)).toBe(16);
    // Slots move between the ends but never leave the pair's pool.
    const seen = new Set<number>();
    for (const nic of [a, b]) {
      const taken: number[] = [];
      for (let s = nic.alloc(); s >= 0; s = nic.alloc()) taken.push(s);
      for (const s of taken) {
        expect(s).toBeLessThan(32);
        expect(seen.has(s)).toBe(false);
        seen.add(s);
        nic.release(s);
      }
    }
    expect(seen.size).toBe(32);
  });

  it('rejects oversize frames but still takes (and frees) their slots', () => {
    const [a, b] = MemoryNic.pair({ slotCount: 8 });
    expect(send(a, [frame(1519, 1), frame(100, 2)])).toBe(2);
    expect(a.stats().tx_dropped_oversize).toBe(1);
    expect(receive(b).map((f) => f.length)).toEqual([100]);
    expect(countFree(a)).toBe(8);
    expect(countFree(b)).toBe(8);
  });

  it('drops and counts rx_no_buffer when the peer pool or ring is full', () => {
    const [a, b] = MemoryNic.pair({ slotCount: 8, rxRingSize: 4 });
    const frames = Array.from({ length: 6 }, (_, i) => frame(80, i));
    expect(send(a, frames)).toBe(6);
    expect(b.stats().rx_no_buffer).toBe(2);
    expect(receive(b)).toEqual(frames.slice(0, 4));
    // Pool exhaustion: the receiver holds all but one of its slots.
    const held: number[] = [];
    for (let i = 0; i < 7; i++) held.push(b.alloc());
    expect(send(a, frames.slice(0, 3))).toBe(3);
    expect(b.stats().rx_no_buffer).toBe(4);
    expect(receive(b)).toEqual(frames.slice(0, 1));
    for (const s of held) b.release(s);
    expect(countFree(a)).toBe(8);
    expect(countFree(b)).toBe(8);
  });

  it('wakes an armed peer once, asynchronously, and never inside txBurst', async () => {
    const [a, b] = MemoryNic.pair({ slotCount: 16 });
    let wakes = 0;
    b.setWakeHandler(() => wakes++);
    b.armWake();
    send(a, [frame(64, 1), frame(64, 2)]);
    expect(wakes).toBe(0);
    await Promise.resolve();
    expect(wakes).toBe(1);
    send(a, [frame(64, 3)]);
    await Promise.resolve();
    expect(wakes).toBe(1); // not re-armed
    // Arming with frames already waiting wakes at once (asynchronously).
    b.armWake();
    expect(wakes).toBe(1);
    await Promise.resolve();
    expect(wakes).toBe(2);
    expect(receive(b)).toHaveLength(3);
  });

  it('returns 0 from bursts after close and frees what was waiting', async () => {
    const [a, b] = MemoryNic.pair({ slotCount: 8 });
    send(a, [frame(64, 1)]);
    await b.close();
    expect(countFree(b)).toBe(8);
    const slots = new Uint32Array(4);
    const lens = new Uint32Array(4);
    expect(b.rxBurst(slots, lens, 4)).toBe(0);
    slots[0] = b.alloc();
    lens[0] = 64;
    expect(b.txBurst(slots, lens, 1)).toBe(0);
    b.release(slots[0]!);
    // Sending towards a closed peer: taken, dropped, counted.
    expect(send(a, [frame(64, 2)])).toBe(1);
    expect(a.stats().tx_no_carrier).toBe(1);
    expect(countFree(a)).toBe(8);
  });

  it('survives a long random exchange with exact slot accounting', () => {
    const seed = 1234;
    const prng = new Prng(seed);
    const [a, b] = MemoryNic.pair({ slotCount: 64, rxRingSize: 32 });
    let sent = 0;
    let received = 0;
    const slots = new Uint32Array(40);
    const lens = new Uint32Array(40);
    for (let round = 0; round < 2000; round++) {
      const [src, dst] = prng.next() < 0.5 ? [a, b] : [b, a];
      const n = prng.nextInt(40);
      let k = 0;
      for (; k < n; k++) {
        const s = src.alloc();
        if (s < 0) break;
        const len = 14 + prng.nextInt(1500);
        src.pool[s * src.slotSize] = k;
        slots[k] = s;
        lens[k] = len;
      }
      expect(src.txBurst(slots, lens, k)).toBe(k);
      sent += k;
      const r = dst.rxBurst(slots, lens, prng.nextInt(41));
      for (let i = 0; i < r; i++) dst.release(slots[i]!);
      received += r;
    }
    received += receive(a, 1000).length + receive(b, 1000).length;
    const drops = a.stats().rx_no_buffer + b.stats().rx_no_buffer;
    expect(received + drops, `seed ${seed}`).toBe(sent);
    expect(countFree(a), `seed ${seed}`).toBe(64);
    expect(countFree(b), `seed ${seed}`).toBe(64);
  });
});
