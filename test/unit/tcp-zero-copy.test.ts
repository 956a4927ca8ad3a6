/**
 * The zero-copy paths of a connection (src/stack/tcp/app-io.ts): a lent
 * buffer is sent, and retransmitted, straight from the lender's memory and
 * goes back once acknowledged; in-order payload goes straight into the
 * reader's memory (the read target) while the receive ring is empty, and
 * into the ring otherwise, in stream order either way.
 *
 * Two NetStacks on a MemoryNic pair on a virtual clock (test/helpers/sim.ts),
 * clean and with seeded loss, reordering, duplication and corruption: the
 * bytes arrive exact and in order, and on the clean link each byte is copied
 * exactly twice (lent buffer -> frame, frame -> reader's memory).
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { bytesCopied } from '../../src/wire/bytes.js';
import { Prng } from '../../src/driver/prng.js';
import type { ImpairOptions } from '../../src/driver/impair.js';

interface Run {
  sim: Sim;
  client: Connection;
  server: Connection;
}

function open(impair?: ImpairOptions): Run {
  const sim = new Sim(impair ? { impair } : {});
  let server: Connection | null = null;
  sim.b.stack.tcp.listen(7000, 0, 16, (c) => {
    server = c;
  });
  const client = sim.a.stack.tcp.connect(sim.b.address, 7000);
  expect(sim.runUntil(() => server !== null && client.stateName === 'ESTABLISHED', 10_000)).toBe(true);
  return { sim, client, server: server! };
}

/** Byte-exact comparison that reports the first difference (expect().toEqual is slow on megabytes). */
function expectSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const i = got.findIndex((b, k) => b !== want[k]);
  expect(i, `${what}: first differing byte`).toBe(-1);
}

function pattern(len: number, seed: number): Uint8Array {
  const p = new Prng(seed);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = p.nextInt(256);
  return b;
}

/**
 * A reader as the socket layer's: slabs of `slab` bytes as the read target,
 * a fresh one when TCP asks for room (onReadTargetFull), and on each
 * readable report the target's fill first, then the ring.
 */
class SlabReader {
  readonly chunks: Uint8Array[] = [];
  received = 0;
  fromTarget = 0;
  fromRing = 0;
  private buf: Uint8Array;
  private start = 0;

  constructor(
    private readonly conn: Connection,
    private readonly slab: number,
  ) {
    this.buf = new Uint8Array(slab);
    conn.setReadTarget(this.buf, 0, slab);
    conn.events.onReadTargetFull = (need) => {
      this.takeFill();
      this.buf = new Uint8Array(Math.max(need, slab));
      this.start = 0;
      conn.setReadTarget(this.buf, 0, this.buf.length);
    };
    conn.events.onReadable = () => this.pull();
  }

  private takeFill(): void {
    const n = this.conn.takeReadTarget();
    if (n === 0) return;
    this.chunks.push(this.buf.slice(this.start, this.start + n));
    this.start += n;
    this.received += n;
    this.fromTarget += n;
  }

  pull(): void {
    this.takeFill();
    for (;;) {
      const tmp = new Uint8Array(4096);
      const n = this.conn.read(tmp, 0, tmp.length);
      if (n === 0) break;
      this.chunks.push(tmp.subarray(0, n));
      this.received += n;
      this.fromRing += n;
    }
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.received);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/**
 * A writer that lends every chunk of at least `lendMin` bytes and copies the
 * others, one after another in stream order; counts loans and write() calls
 * refused while a loan was out.
 */
function send(r: Run, data: Uint8Array, sizes: number[], lendMin: number): { loans: number; refusedDuringLoan: number; done: () => boolean } {
  let off = 0;
  let k = 0;
  let loans = 0;
  let refusedDuringLoan = 0;
  let pendingCopy = 0;
  const c = r.client;
  const next = (): void => {
    for (;;) {
      if (c.lent > 0) {
        if (c.write(data, off, 1) !== 0) throw new Error('write() accepted bytes while a loan was out');
        refusedDuringLoan++;
        return;
      }
      if (pendingCopy > 0) {
        const n = c.write(data, off, pendingCopy);
        off += n;
        pendingCopy -= n;
        if (pendingCopy > 0) return;
      }
      if (off >= data.length) return;
      const len = Math.min(sizes[k++ % sizes.length]!, data.length - off);
      if (len >= lendMin) {
        expect(c.lend(data, off, len)).toBe(true);
        loans++;
        off += len;
      } else {
        pendingCopy = len;
      }
    }
  };
  c.events.onWritable = next;
  next();
  return {
    get loans() {
      return loans;
    },
    get refusedDuringLoan() {
      return refusedDuringLoan;
    },
    done: () => off >= data.length && pendingCopy === 0 && c.lent === 0,
  };
}

const PROFILES: Array<[string, ImpairOptions | undefined]> = [
  ['clean', undefined],
  ['3% loss', { loss: 0.03, seed: 11 }],
  ['reorder + duplicate', { reorder: 0.05, duplicate: 0.02, seed: 12 }],
  ['corrupt + loss + delay', { corrupt: 0.01, loss: 0.01, delay: 2, jitter: 1, seed: 13 }],
];

describe('tcp zero-copy paths: send loans and read targets', () => {
  for (const [name, impair] of PROFILES) {
    it(`${name}: lent and copied writes arrive exact and in order through read targets and the ring`, () => {
      const r = open(impair);
      const data = pattern(3 * 1024 * 1024 + 777, 5);
      const reader = new SlabReader(r.server, 64 * 1024);
      const copied0 = bytesCopied();
      const w = send(r, data, [300_000, 1000, 70_000, 5, 1 << 20, 40_000], 32 * 1024);
      const ok = r.sim.runUntil(() => reader.received === data.length && w.done(), 120_000);
      expect(ok, `${name}: received ${reader.received} of ${data.length}, lent ${r.client.lent}`).toBe(true);
      expectSameBytes(reader.bytes(), data, name);
      expect(w.loans).toBeGreaterThan(0);
      expect(reader.fromTarget).toBeGreaterThan(0);
      const copies = (bytesCopied() - copied0) / data.length;
      console.log(`[tcp-zero-copy] ${name}: ${w.loans} loans, ${w.refusedDuringLoan} writes refused during a loan; ` +
        `${reader.fromTarget} B into read targets, ${reader.fromRing} B through the ring; ${copies.toFixed(3)} copies per byte`);
      if (impair === undefined) {
        // Clean: every byte is copied twice, lent buffer -> frame and frame -> target,
        // except what the copied writes put through the send ring (one copy more each).
        expect(reader.fromRing).toBe(0);
        expect(copies).toBeLessThan(2.01);
      }
      expect(r.client.lent).toBe(0);
    });
  }

  it('a loan ends with the connection: RST while lent drops it and nothing more is sent from it', () => {
    const r = open({ delay: 5, seed: 3 });
    const data = pattern(512 * 1024, 9);
    let closedWith: string | undefined = 'not closed';
    r.client.events.onClosed = (e) => {
      closedWith = e;
    };
    expect(r.client.lend(data, 0, data.length)).toBe(true);
    expect(r.client.lent).toBe(data.length);
    // A second loan (or a copy) is refused while one is out.
    expect(r.client.lend(data, 0, 10)).toBe(false);
    expect(r.client.write(data, 0, 10)).toBe(0);
    r.sim.runFor(3);
    r.server.abort();
    r.sim.runFor(50);
    expect(closedWith).toBe('ECONNRESET');
    expect(r.client.lent).toBe(0);
    expect(r.client.sendQueued).toBe(0);
  });

  it('in-order bytes go to the ring while it holds bytes, and to the target again once it is read empty', () => {
    const r = open();
    const data = pattern(800_000, 21); // more than the send and receive buffers hold together
    // A target too small for everything and no onReadTargetFull: the rest goes to the ring.
    const target = new Uint8Array(10_000);
    r.server.setReadTarget(target, 0, target.length);
    let readable = 0;
    r.server.events.onReadable = () => readable++;
    let off = 0;
    const push = (): void => {
      off += r.client.write(data, off, data.length - off);
    };
    r.client.events.onWritable = push;
    push();
    r.sim.runFor(200); // until the receive window is closed
    expect(readable).toBeGreaterThan(0);
    expect(r.server.readable).toBeGreaterThan(100_000);
    const room = r.server.readTargetRoom;
    expect(room).toBeGreaterThan(0); // left over: the ring held bytes when more came
    const filled = r.server.takeReadTarget();
    expect(filled).toBe(target.length - room);
    const out = new Uint8Array(data.length);
    out.set(target.subarray(0, filled), 0);
    let got = filled;
    const big = new Uint8Array(data.length);
    const drain = (): void => {
      for (let n = r.server.read(big, 0, big.length); n > 0; n = r.server.read(big, 0, big.length)) {
        out.set(big.subarray(0, n), got);
        got += n;
      }
    };
    // A fresh target, then the ring read empty: what comes next goes to the target.
    const second = new Uint8Array(data.length);
    let secondStart = 0;
    r.server.setReadTarget(second, 0, second.length);
    r.server.events.onReadable = () => {
      const n = r.server.takeReadTarget();
      out.set(second.subarray(secondStart, secondStart + n), got);
      secondStart += n;
      got += n;
      drain();
    };
    drain();
    expect(r.sim.runUntil(() => got === data.length, 10_000)).toBe(true);
    expect(secondStart).toBeGreaterThan(100_000);
    expectSameBytes(out, data, 'stream');
  });
});

describe('a loan taken back before it is over (Connection.returnLoan)', () => {
  it('keeps the bytes already sent, drops the rest; the peer never sees the buffer reused after it', () => {
    const r = open({ delay: 2, seed: 8 });
    const data = pattern(2 * 1024 * 1024, 33);
    const lentBuf = Uint8Array.from(data);
    const got: Uint8Array[] = [];
    let received = 0;
    const tmp = new Uint8Array(64 * 1024);
    let peerClosed = false;
    r.server.events.onReadable = () => {
      for (let n = r.server.read(tmp, 0, tmp.length); n > 0; n = r.server.read(tmp, 0, tmp.length)) {
        got.push(tmp.slice(0, n));
        received += n;
      }
    };
    r.server.events.onPeerClosed = () => {
      peerClosed = true;
    };
    expect(r.client.lend(lentBuf, 0, lentBuf.length)).toBe(true);
    r.sim.runFor(4); // some of it sent, some acknowledged, most of it not sent yet
    const sentBefore = r.client.stats.bytesOut;
    expect(r.client.lent).toBeGreaterThan(0);
    expect(sentBefore).toBeLessThan(lentBuf.length);
    r.client.returnLoan();
    expect(r.client.lent).toBe(0);
    // The application reuses its buffer at once.
    lentBuf.fill(0xee);
    r.client.close();
    expect(r.sim.runUntil(() => peerClosed, 10_000)).toBe(true);
    const out = new Uint8Array(received);
    let o = 0;
    for (const g of got) {
      out.set(g, o);
      o += g.length;
    }
    // Exactly what had been sent when the loan went back, unchanged.
    expect(received).toBe(sentBefore);
    expectSameBytes(out, data.subarray(0, received), 'kept prefix');
  });
});
