import { describe, expect, it } from 'vitest';
import { ImpairedNic, REORDER_MAX_HOLD_MS, type ImpairOptions } from '../../src/driver/impair.js';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import type { Nic } from '../../src/driver/nic.js';
import { Prng } from '../../src/driver/prng.js';
import { VirtualClock } from '../../src/time/clock.js';

/**
 * Counts free slots by allocating until -1, then gives them all back. A pool
 * has slotCount slots: an alloc() that still succeeds after that many never
 * runs out, and the count fails with that rather than looping for ever.
 */
function countFree(nic: Nic): number {
  const taken: number[] = [];
  let exhausted = false;
  for (let i = 0; i <= nic.slotCount; i++) {
    const s = nic.alloc();
    if (s < 0) {
      exhausted = true;
      break;
    }
    taken.push(s);
  }
  for (const s of taken) nic.release(s);
  if (!exhausted) throw new Error(`countFree: ${nic.name} handed out more than its ${nic.slotCount} slots while waiting for alloc() to return -1`);
  return taken.length;
}

interface Received {
  seq: number;
  len: number;
  at: number;
  bytes: Uint8Array | null;
}

/** A link A <-> B where A is wrapped in an ImpairedNic. */
function setup(opts: ImpairOptions, pair: Parameters<typeof MemoryNic.pair>[0] = {}) {
  const clock = new VirtualClock(0);
  const [rawA, b] = MemoryNic.pair({ slotCount: 4096, rxRingSize: 4096, ...pair });
  const a = new ImpairedNic(rawA, clock, opts);
  const slots = new Uint32Array(64);
  const lens = new Uint32Array(64);
  /** Sends frames tagged with seq numbers [from, from+count), payload length `len`. */
  const send = (from: Nic, first: number, count: number, len = 100): void => {
    let k = 0;
    for (let i = 0; i < count; i++) {
      const s = from.alloc();
      if (s < 0) throw new Error('pool exhausted');
      const off = s * from.slotSize;
      new DataView(from.pool.buffer, from.pool.byteOffset + off, 8).setUint32(0, first + i);
      for (let j = 4; j < len; j++) from.pool[off + j] = (first + i + j) & 0xff;
      slots[k] = s;
      lens[k] = len;
      if (++k === slots.length || i === count - 1) {
        expect(from.txBurst(slots, lens, k)).toBe(k);
        k = 0;
      }
    }
  };
  /** Receives everything deliverable now on `to`, appending to out. */
  const recv = (to: Nic, out: Received[], keepBytes = false): number => {
    let total = 0;
    for (;;) {
      const n = to.rxBurst(slots, lens, slots.length);
      for (let i = 0; i < n; i++) {
        const off = slots[i]! * to.slotSize;
        const len = lens[i]!;
        const seq = new DataView(to.pool.buffer, to.pool.byteOffset + off, 8).getUint32(0);
        out.push({ seq, len, at: clock.now(), bytes: keepBytes ? to.pool.slice(off, off + len) : null });
        to.release(slots[i]!);
      }
      total += n;
      if (n === 0) return total;
    }
  };
  /** Pumps both directions (A.rxBurst flushes A's held TX) until nothing is held, jumping the clock. */
  const drainAll = (toB: Received[], toA: Received[], keepBytes = false): void => {
    for (let guard = 0; guard < 1_000_000; guard++) {
      recv(a, toA, keepBytes);
      recv(b, toB, keepBytes);
      const next = a.pollAt();
      if (next === Infinity) return;
      clock.advanceTo(next);
    }
    throw new Error('drainAll did not converge');
  };
  return { clock, a, rawA, b, send, recv, drainAll };
}

/** Expected count ± 6 standard deviations of a binomial. */
function expectBinomial(actual: number, n: number, p: number, msg: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(actual - n * p), `${msg}: got ${actual}, expected ${n * p} ± ${6 * sd}`).toBeLessThanOrEqual(6 * sd + 1);
}

describe('Prng', () => {
  it('is deterministic per (seed, stream) and stays in range', () => {
    const seq = (seed: number, stream = 0) => {
      const p = new Prng(seed, stream);
      return Array.from({ length: 20 }, () => p.nextU32());
    };
    expect(seq(1)).toEqual(seq(1));
    expect(seq(1)).not.toEqual(seq(2));
    expect(seq(1, 1)).not.toEqual(seq(1, 2));
    expect(seq(2 ** 40)).not.toEqual(seq(0));
    const p = new Prng(99);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const x = p.next();
      expect(x >= 0 && x < 1).toBe(true);
      const k = p.nextInt(10);
      expect(Number.isInteger(k) && k >= 0 && k < 10).toBe(true);
      buckets[k]!++;
    }
    for (const b of buckets) expectBinomial(b, 100_000, 0.1, 'seed 99');
    expect(() => p.nextInt(0)).toThrow(RangeError);
    expect(() => p.nextInt(1.5)).toThrow(RangeError);
  });
});

describe('ImpairedNic pass-through', () => {
  it('forwards everything unchanged when nothing is configured', () => {
    const { a, rawA, b, send, recv, drainAll } = setup({ seed: 3 });
    expect(a.mac).toBe(rawA.mac);
    expect(a.mtu).toBe(rawA.mtu);
    expect(a.pool).toBe(rawA.pool);
    expect(a.slotSize).toBe(rawA.slotSize);
    expect(a.slotCount).toBe(rawA.slotCount);
    expect(a.offloads).toBe(rawA.offloads);
    expect(a.name).toBe(rawA.name);
    send(a, 0, 10);
    const atB: Received[] = [];
    recv(b, atB); // no poll of A needed: frames went straight through
    expect(atB.map((r) => r.seq)).toEqual([...Array(10).keys()]);
    send(b, 100, 5);
    const atA: Received[] = [];
    recv(a, atA);
    expect(atA.map((r) => r.seq)).toEqual([100, 101, 102, 103, 104]);
    expect(a.pollAt()).toBe(Infinity);
    drainAll([], []);
    const s = a.stats();
    expect(s.tx_frames).toBe(10);
    expect(s.impair_tx_lost).toBe(0);
    expect(s.impair_rx_queue_drops).toBe(0);
  });

  it('forwards the wake handler to the inner NIC', async () => {
    const { a, b, send } = setup({ loss: 0.5 });
    let woke = 0;
    a.setWakeHandler(() => woke++);
    a.armWake();
    send(b, 0, 1);
    await Promise.resolve();
    expect(woke).toBe(1);
  });

  it('validates options', () => {
    const [x] = MemoryNic.pair({ slotCount: 8 });
    const clock = new VirtualClock();
    for (const bad of [{ loss: 2 }, { delay: -1 }, { rate: Infinity }, { queueLimit: 0 }, { seed: NaN }, { corrupt: NaN }]) {
      expect(() => new ImpairedNic(x, clock, bad as ImpairOptions), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
      );
    }
  });
});

describe('ImpairedNic loss', () => {
  for (const seed of [1, 2]) {
    it(`drops about loss * frames in each direction (seed ${seed})`, () => {
      const { a, b, send, recv } = setup({ loss: 0.1, seed });
      const N = 100_000;
      const atB: Received[] = [];
      const atA: Received[] = [];
      for (let i = 0; i < N; i += 50) {
        send(a, i, 50);
        recv(b, atB);
        send(b, i, 50);
        recv(a, atA);
      }
      const s = a.stats();
      expectBinomial(N - atB.length, N, 0.1, `tx seed ${seed}`);
      expectBinomial(N - atA.length, N, 0.1, `rx seed ${seed}`);
      expect(s.impair_tx_lost, `seed ${seed}`).toBe(N - atB.length);
      expect(s.impair_rx_lost, `seed ${seed}`).toBe(N - atA.length);
      // Different streams per direction: the loss patterns differ.
      const lostTx = new Set(atB.map((r) => r.seq));
      const lostRx = new Set(atA.map((r) => r.seq));
      let same = 0;
      for (let i = 0; i < 1000; i++) if (lostTx.has(i) === lostRx.has(i)) same++;
      expect(same, `seed ${seed}`).toBeLessThan(1000);
      // Order is preserved and nothing is invented.
      for (let i = 1; i < atB.length; i++) expect(atB[i]!.seq).toBeGreaterThan(atB[i - 1]!.seq);
      expect(countFree(a), `seed ${seed}`).toBe(4096);
      expect(countFree(b), `seed ${seed}`).toBe(4096);
    });
  }

  it('replays exactly with the same seed', () => {
    const run = (seed: number) => {
      const { a, b, send, recv } = setup({ loss: 0.3, duplicate: 0.1, corrupt: 0.1, seed });
      const atB: Received[] = [];
      send(a, 0, 2000);
      recv(b, atB, true);
      return atB.map((r) => Array.from(r.bytes!.subarray(0, 12)).join(','));
    };
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });
});

describe('ImpairedNic duplication and corruption', () => {
  it('duplicates into a fresh slot, byte-identical, about duplicate * frames', () => {
    const seed = 5;
    const { a, b, send, recv, drainAll } = setup({ duplicate: 0.2, seed });
    const N = 20_000;
    const atB: Received[] = [];
    for (let i = 0; i < N; i += 50) {
      send(a, i, 50);
      recv(b, atB, true);
    }
    drainAll(atB, []);
    const dups = atB.length - N;
    expectBinomial(dups, N, 0.2, `seed ${seed}`);
    expect(a.stats().impair_tx_duplicated).toBe(dups);
    const counts = new Map<number, Received[]>();
    for (const r of atB) counts.set(r.seq, [...(counts.get(r.seq) ?? []), r]);
    expect(counts.size, `seed ${seed}`).toBe(N);
    for (const [seq, rs] of counts) {
      expect(rs.length === 1 || rs.length === 2, `seq ${seq} seed ${seed}`).toBe(true);
      if (rs.length === 2) expect(rs[1]!.bytes).toEqual(rs[0]!.bytes);
    }
    expect(countFree(a)).toBe(4096);
    expect(countFree(b)).toBe(4096);
  });

  it('corrupts by flipping exactly one bit', () => {
    const seed = 11;
    const { a, b, send, recv } = setup({ corrupt: 0.05, seed });
    const N = 10_000;
    const atB: Received[] = [];
    const len = 64;
    for (let i = 0; i < N; i += 50) {
      send(a, i, 50, len);
      recv(b, atB, true);
    }
    expect(atB.length).toBe(N);
    let corrupted = 0;
    const expected = new Uint8Array(len);
    for (let i = 0; i < atB.length; i++) {
      // The seq field may itself be corrupted: use the position (order is kept).
      const r = atB[i]!;
      new DataView(expected.buffer).setUint32(0, i);
      for (let j = 4; j < len; j++) expected[j] = (i + j) & 0xff;
      let bits = 0;
      for (let j = 0; j < len; j++) {
        let x = expected[j]! ^ r.bytes![j]!;
        while (x) {
          bits += x & 1;
          x >>= 1;
        }
      }
      expect(bits === 0 || bits === 1, `frame ${i} seed ${seed}`).toBe(true);
      corrupted += bits;
    }
    expectBinomial(corrupted, N, 0.05, `seed ${seed}`);
    expect(a.stats().impair_tx_corrupted).toBe(corrupted);
  });
});

describe('ImpairedNic delay, jitter and rate', () => {
  it('holds transmitted frames until due and reports it in pollAt', () => {
    const { clock, a, b, send, recv } = setup({ delay: 5 });
    const atB: Received[] = [];
    clock.advanceTo(10);
    send(a, 0, 3);
    expect(recv(b, atB)).toBe(0);
    expect(a.pollAt()).toBe(15);
    clock.advanceTo(14.999);
    expect(a.rxBurst(new Uint32Array(8), new Uint32Array(8), 8)).toBe(0); // polls, moves nothing
    expect(recv(b, atB)).toBe(0);
    clock.advanceTo(15);
    send(a, 3, 1); // a txBurst also flushes due frames
    expect(recv(b, atB)).toBe(3);
    expect(atB.map((r) => r.seq)).toEqual([0, 1, 2]);
    expect(a.pollAt()).toBe(20);
    expect(a.stats().impair_tx_delayed).toBe(4);
  });

  it('holds received frames until due', () => {
    const { clock, a, b, send, recv } = setup({ delay: 2.5 });
    const atA: Received[] = [];
    send(b, 0, 4);
    expect(recv(a, atA)).toBe(0);
    expect(a.pollAt()).toBe(2.5);
    clock.advanceTo(2.4);
    expect(recv(a, atA)).toBe(0);
    clock.advanceTo(a.pollAt());
    expect(recv(a, atA)).toBe(4);
    expect(atA.map((r) => [r.seq, r.at])).toEqual([
      [0, 2.5],
      [1, 2.5],
      [2, 2.5],
      [3, 2.5],
    ]);
    expect(a.pollAt()).toBe(Infinity);
  });

  it('jitter spreads delay over [delay - jitter, delay + jitter] without reordering', () => {
    const seed = 21;
    const { clock, a, b, send, recv } = setup({ delay: 10, jitter: 4, seed });
    const atB: Received[] = [];
    const sentAt: number[] = [];
    const pump = (until: number) => {
      while (a.pollAt() <= until) {
        clock.advanceTo(a.pollAt());
        recv(a, []);
        recv(b, atB);
      }
      clock.advanceTo(until);
    };
    // Frames 10 ms apart (more than 2 * jitter): each shows its own jitter.
    for (let i = 0; i < 1000; i++) {
      sentAt.push(clock.now());
      send(a, i, 1);
      pump(clock.now() + 10);
    }
    pump(clock.now() + 100);
    expect(atB.map((r) => r.seq)).toEqual([...Array(1000).keys()]);
    const delays = atB.map((r) => r.at - sentAt[r.seq]!);
    for (const d of delays) {
      expect(d, `seed ${seed}`).toBeGreaterThanOrEqual(6);
      expect(d, `seed ${seed}`).toBeLessThanOrEqual(14);
    }
    expect(Math.min(...delays), `seed ${seed}`).toBeLessThan(6.5);
    expect(Math.max(...delays), `seed ${seed}`).toBeGreaterThan(13.5);
    const mean = delays.reduce((x, y) => x + y, 0) / delays.length;
    expect(Math.abs(mean - 10), `seed ${seed}`).toBeLessThan(0.5);
    // Back-to-back frames: never reordered by jitter.
    const t0 = clock.now();
    for (let i = 1000; i < 3000; i++) {
      send(a, i, 1);
      clock.advance(0.25);
      recv(a, []);
      recv(b, atB);
    }
    pump(t0 + 1000);
    expect(atB.map((r) => r.seq)).toEqual([...Array(3000).keys()]);
  });

  it('serialises frames at the configured rate', () => {
    // 8000 bit/s: a 100-byte frame takes 100 ms.
    const { clock, a, b, send, recv } = setup({ rate: 8000 });
    const atB: Received[] = [];
    send(a, 0, 5, 100);
    expect(recv(b, atB)).toBe(0);
    expect(a.pollAt()).toBe(100);
    for (let g = 0; g < 100 && a.pollAt() !== Infinity; g++) {
      clock.advanceTo(a.pollAt());
      recv(a, []);
      recv(b, atB);
    }
    expect(atB.map((r) => [r.seq, r.at])).toEqual([
      [0, 100],
      [1, 200],
      [2, 300],
      [3, 400],
      [4, 500],
    ]);
    // After an idle gap, a new frame departs from `now`, not from the last departure.
    clock.advanceTo(1000);
    send(a, 5, 1, 50);
    expect(a.pollAt()).toBe(1050);
  });

  it('combines rate and delay, and tail-drops beyond queueLimit', () => {
    const { clock, a, b, send, recv } = setup({ rate: 8000, delay: 7, queueLimit: 3 });
    const atB: Received[] = [];
    send(a, 0, 5, 100);
    expect(a.stats().impair_tx_queue_drops).toBe(2);
    expect(a.held).toBe(3);
    for (let g = 0; g < 100 && a.pollAt() !== Infinity; g++) {
      clock.advanceTo(a.pollAt());
      recv(a, []);
      recv(b, atB);
    }
    expect(atB.map((r) => [r.seq, r.at])).toEqual([
      [0, 107],
      [1, 207],
      [2, 307],
    ]);
    expect(countFree(a)).toBe(4096);
  });
});

describe('ImpairedNic reordering', () => {
  for (const seed of [1, 77, 4242]) {
    it(`reorders but delivers every frame exactly once when loss = 0 (seed ${seed})`, () => {
      const { clock, a, b, send, recv, drainAll } = setup({ reorder: 0.1, seed });
      const N = 10_000;
      const prng = new Prng(seed);
      const atB: Received[] = [];
      const atA: Received[] = [];
      let sent = 0;
      while (sent < N) {
        const k = Math.min(N - sent, 1 + prng.nextInt(8));
        send(a, sent, k);
        send(b, sent, k);
        sent += k;
        if (prng.next() < 0.3) clock.advance(prng.next() * 2);
        recv(b, atB);
        recv(a, atA);
      }
      drainAll(atB, atA);
      for (const [dir, got, key] of [
        ['tx', atB, 'impair_tx_reordered'],
        ['rx', atA, 'impair_rx_reordered'],
      ] as const) {
        const seqs = got.map((r) => r.seq);
        expect(seqs.length, `${dir} seed ${seed}`).toBe(N);
        expect([...seqs].sort((x, y) => x - y), `${dir} seed ${seed}`).toEqual([...Array(N).keys()]);
        let inversions = 0;
        for (let i = 1; i < N; i++) if (seqs[i]! < seqs[i - 1]!) inversions++;
        const reordered = a.stats()[key]!;
        expect(inversions, `${dir} seed ${seed}`).toBe(reordered);
        // Chosen with p = 0.1, at most one held back at a time: about p / (1 + p) of frames.
        expectBinomial(reordered, N, 0.1 / 1.1, `${dir} seed ${seed}`);
        // A reordered frame is swapped with its immediate successor only.
        for (let i = 1; i < N; i++) {
          if (seqs[i]! < seqs[i - 1]!) expect(seqs[i - 1]! - seqs[i]!, `${dir} seed ${seed}`).toBe(1);
        }
      }
      expect(countFree(a)).toBe(4096);
      expect(countFree(b)).toBe(4096);
    });
  }

  it('releases a held-back frame alone after REORDER_MAX_HOLD_MS when nothing follows', () => {
    const { clock, a, b, send, recv } = setup({ reorder: 1, seed: 1 });
    const atB: Received[] = [];
    send(a, 0, 1);
    expect(recv(b, atB)).toBe(0);
    expect(a.pollAt()).toBe(REORDER_MAX_HOLD_MS);
    clock.advanceTo(a.pollAt());
    recv(a, []);
    expect(recv(b, atB)).toBe(1);
    expect(a.stats().impair_tx_reordered).toBe(0);
  });
});

/** Delegates to a Nic but accepts at most `perBurst` frames per txBurst. */
class StingyNic implements Nic {
  constructor(
    readonly inner: Nic,
    public perBurst: number,
  ) {}
  get name() {
    return this.inner.name;
  }
  get mac() {
    return this.inner.mac;
  }
  get mtu() {
    return this.inner.mtu;
  }
  get pool() {
    return this.inner.pool;
  }
  get slotSize() {
    return this.inner.slotSize;
  }
  get slotCount() {
    return this.inner.slotCount;
  }
  get offloads() {
    return this.inner.offloads;
  }
  rxBurst(s: Uint32Array, l: Uint32Array, m: number) {
    return this.inner.rxBurst(s, l, m);
  }
  txBurst(s: Uint32Array, l: Uint32Array, n: number) {
    return this.inner.txBurst(s, l, Math.min(n, this.perBurst));
  }
  alloc() {
    return this.inner.alloc();
  }
  get availableSlots() {
    return this.inner.availableSlots;
  }
  release(s: number) {
    this.inner.release(s);
  }
  setWakeHandler(h: (() => void) | null) {
    this.inner.setWakeHandler(h);
  }
  armWake() {
    this.inner.armWake();
  }
  pollAt() {
    return this.inner.pollAt();
  }
  stats() {
    return this.inner.stats();
  }
  close() {
    return this.inner.close();
  }
}

describe('ImpairedNic slot accounting', () => {
  it('keeps frames the inner NIC refuses, in order, and retries them on later polls', () => {
    const clock = new VirtualClock();
    const [x, y] = MemoryNic.pair({ slotCount: 64 });
    const stingy = new StingyNic(x, 2);
    const a = new ImpairedNic(stingy, clock, { loss: 0.000001, seed: 1 });
    const slots = new Uint32Array(16);
    const lens = new Uint32Array(16);
    for (let i = 0; i < 10; i++) {
      slots[i] = a.alloc();
      a.pool[slots[i]! * a.slotSize] = i;
      lens[i] = 60;
    }
    expect(a.txBurst(slots, lens, 10)).toBe(10);
    expect(a.pollAt()).toBe(0); // backlog: poll again now
    const got: number[] = [];
    for (let g = 0; g < 20; g++) {
      a.rxBurst(slots, lens, 16);
      const n = y.rxBurst(slots, lens, 16);
      for (let i = 0; i < n; i++) {
        got.push(y.pool[slots[i]! * y.slotSize]!);
        y.release(slots[i]!);
      }
    }
    expect(got).toEqual([...Array(10).keys()]);
    expect(a.pollAt()).toBe(Infinity);
    expect(countFree(x)).toBe(64);
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`never loses a slot under every impairment at once, both ends impaired (seed ${seed})`, () => {
      const clock = new VirtualClock();
      const [rawA, rawB] = MemoryNic.pair({ slotCount: 512, rxRingSize: 128 });
      const opts: ImpairOptions = {
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.05,
        corrupt: 0.05,
        delay: 3,
        jitter: 2,
        rate: 5_000_000,
        queueLimit: 100,
      };
      const a = new ImpairedNic(rawA, clock, { ...opts, seed });
      const b = new ImpairedNic(rawB, clock, { ...opts, seed: seed + 1000 });
      const prng = new Prng(seed);
      const slots = new Uint32Array(64);
      const lens = new Uint32Array(64);
      let sent = 0;
      let received = 0;
      const rx = (n: Nic) => {
        const k = n.rxBurst(slots, lens, 1 + prng.nextInt(64));
        for (let i = 0; i < k; i++) n.release(slots[i]!);
        received += k;
      };
      for (let round = 0; round < 3000; round++) {
        const src = prng.next() < 0.5 ? a : b;
        const k = prng.nextInt(20);
        let m = 0;
        for (; m < k; m++) {
          const s = src.alloc();
          if (s < 0) break;
          slots[m] = s;
          lens[m] = 14 + prng.nextInt(1501);
        }
        expect(src.txBurst(slots, lens, m), `seed ${seed}`).toBe(m);
        sent += m;
        clock.advance(prng.next() * 0.5);
        rx(a);
        rx(b);
      }
      for (let g = 0; g < 100_000; g++) {
        rx(a);
        rx(b);
        const next = Math.min(a.pollAt(), b.pollAt());
        if (next === Infinity && rawA.rxPending === 0 && rawB.rxPending === 0) break;
        clock.advanceTo(next === Infinity ? clock.now() : next);
      }
      expect(a.held + b.held, `seed ${seed}`).toBe(0);
      expect(countFree(a), `seed ${seed}`).toBe(512);
      expect(countFree(b), `seed ${seed}`).toBe(512);
      const sa = a.stats();
      const sb = b.stats();
      const created = sa.impair_tx_duplicated! + sa.impair_rx_duplicated! + sb.impair_tx_duplicated! + sb.impair_rx_duplicated!;
      const dropped =
        sa.impair_tx_lost! + sa.impair_rx_lost! + sb.impair_tx_lost! + sb.impair_rx_lost! +
        sa.impair_tx_queue_drops! + sa.impair_rx_queue_drops! + sb.impair_tx_queue_drops! + sb.impair_rx_queue_drops! +
        sa.rx_no_buffer! + sb.rx_no_buffer!;
      expect(received + dropped, `seed ${seed}`).toBe(sent + created);
      for (const key of ['impair_tx_reordered', 'impair_tx_corrupted', 'impair_tx_delayed']) {
        expect(sa[key], `${key} seed ${seed}`).toBeGreaterThan(0);
      }
    });
  }

  it('close() returns held frames to the pool', async () => {
    const { a, rawA, send } = setup({ delay: 100 }, { slotCount: 32, rxRingSize: 32 });
    send(a, 0, 10);
    expect(a.held).toBe(10);
    await a.close();
    expect(rawA.isClosed).toBe(true);
    expect(countFree(rawA)).toBe(32);
    expect(a.rxBurst(new Uint32Array(4), new Uint32Array(4), 4)).toBe(0);
  });
});
