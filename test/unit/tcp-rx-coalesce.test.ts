/**
 * Receive-burst coalescing (TcpLayer.rxBurstStart/End): segments that arrive
 * in one receive burst are processed before the connection's output runs, so
 * in-order data draws one cumulative ACK per burst (as Linux's GRO makes)
 * instead of one per two segments — while every ACK a peer counts one by
 * one (duplicate ACKs for data out of order, challenge ACKs) still goes out
 * per segment. Frames on the wire through the Interface, virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { RawPeer } from '../helpers/hostile.js';
import { State, type Connection } from '../../src/stack/tcp/connection.js';
import { TCP_ACK, TCP_SYN, TCP_PSH } from '../../src/wire/tcp.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';
import { Stack } from '../../src/index.js';

const PEER = parseIpv4Address('10.0.0.77');
const SEG = 1000;

/** A sink on A's port 80 (reads everything, never writes) and a raw peer connected to it. */
function connected(): { sim: Sim; peer: RawPeer; conn: () => Connection; read: () => number; snd: number; rcv: number; sport: number } {
  const sim = new Sim();
  let conn: Connection | null = null;
  let read = 0;
  sim.a.stack.tcp.listen(80, 0, 16, (c) => {
    conn = c;
    c.events.onReadable = () => {
      const b = new Uint8Array(1 << 16);
      let n: number;
      while ((n = c.read(b, 0, b.length)) > 0) read += n;
    };
  });
  const peer = new RawPeer(sim, PEER);
  const sport = 40080;
  peer.send({ srcPort: sport, dstPort: 80, seq: 1000, flags: TCP_SYN, window: 65535, mss: SEG });
  sim.settle();
  const sa = peer.take().find((s) => (s.flags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK));
  expect(sa, 'SYN-ACK').toBeDefined();
  const rcv = (sa!.seq + 1) >>> 0;
  peer.send({ srcPort: sport, dstPort: 80, seq: 1001, ack: rcv, flags: TCP_ACK, window: 65535 });
  sim.settle();
  peer.take();
  expect(conn).not.toBeNull();
  return { sim, peer, conn: () => conn!, read: () => read, snd: 1001, rcv, sport };
}

const payload = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

describe('receive-burst coalescing', () => {
  it('in-order segments of one burst draw one cumulative ACK (not one per two segments), advertising the window after the read', () => {
    const { sim, peer, conn, read, snd, rcv, sport } = connected();
    const N = 20;
    for (let i = 0; i < N; i++) peer.send({ srcPort: sport, dstPort: 80, seq: snd + i * SEG, ack: rcv, flags: TCP_ACK | TCP_PSH }, payload(SEG, i));
    sim.settle(); // A takes all 20 frames in one receive burst (RX_BURST 64)
    const acks = peer.take().filter((s) => s.flags === TCP_ACK && s.payload.length === 0);
    expect(read()).toBe(N * SEG);
    expect(acks.map((s) => s.ack >>> 0)).toEqual([(snd + N * SEG) >>> 0]);
    // The application read everything before the ACK was built: the whole
    // (unscaled: the peer offered no window scaling) window is offered again.
    expect(acks[0]!.window).toBe(65535);
    expect(conn().state).toBe(State.ESTABLISHED);
  });

  it('segments beyond a hole each draw a duplicate ACK at once (a NewReno peer needs three to retransmit)', () => {
    const { sim, peer, read, snd, rcv, sport } = connected();
    // Segment 0 is lost; 1..5 arrive in one burst.
    for (let i = 1; i <= 5; i++) peer.send({ srcPort: sport, dstPort: 80, seq: snd + i * SEG, ack: rcv, flags: TCP_ACK }, payload(SEG, i));
    sim.settle();
    const dups = peer.take().filter((s) => s.flags === TCP_ACK && s.payload.length === 0);
    expect(dups.length).toBe(5);
    expect(dups.every((s) => s.ack >>> 0 === snd >>> 0)).toBe(true);
    // The retransmitted segment fills the gap: one ACK for everything, nothing lost.
    peer.send({ srcPort: sport, dstPort: 80, seq: snd, ack: rcv, flags: TCP_ACK }, payload(SEG, 0));
    sim.settle();
    const after = peer.take().filter((s) => s.flags === TCP_ACK);
    expect(after.map((s) => s.ack >>> 0)).toEqual([(snd + 6 * SEG) >>> 0]);
    expect(read()).toBe(6 * SEG);
  });

  it('in-order data followed by data out of order in the same burst: the ACKs after the hole are not folded away', () => {
    const { sim, peer, snd, rcv, sport } = connected();
    for (let i = 0; i < 4; i++) peer.send({ srcPort: sport, dstPort: 80, seq: snd + i * SEG, ack: rcv, flags: TCP_ACK }, payload(SEG, i));
    // Segment 4 lost; 5..7 out of order.
    for (let i = 5; i < 8; i++) peer.send({ srcPort: sport, dstPort: 80, seq: snd + i * SEG, ack: rcv, flags: TCP_ACK }, payload(SEG, i));
    sim.settle();
    const acks = peer.take().filter((s) => s.flags === TCP_ACK && s.payload.length === 0).map((s) => (s.ack - snd) >>> 0);
    // Three duplicates of the cumulative ACK for 4 segments (one per out-of-order segment).
    expect(acks.filter((a) => a === 4 * SEG).length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...acks)).toBe(4 * SEG);
  });

  it('a bulk transfer between two stacks sends far fewer ACKs than segments and arrives intact', async () => {
    const [a, b] = await Stack.pair();
    try {
      const total = 4 << 20;
      const got = new Promise<number>((resolve) => {
        const srv = b.net.createServer((s) => {
          let n = 0;
          let bad = 0;
          s.on('data', (d: Buffer) => {
            for (let i = 0; i < d.length; i += 997) if (d[i] !== ((n + i) * 7) % 251) bad++;
            n += d.length;
          });
          s.on('end', () => resolve(bad === 0 ? n : -bad));
        });
        srv.listen(7000, b.address);
      });
      const block = Buffer.alloc(total);
      for (let i = 0; i < total; i++) block[i] = (i * 7) % 251;
      const c = a.net.connect(7000, b.address, () => c.end(block));
      expect(await got).toBe(total);
      const segsToB = b.stats().tcp!.segmentsReceived!;
      const acksToA = a.stats().tcp!.segmentsReceived!;
      console.log(`[coalesce] 4 MiB over Stack.pair: ${segsToB} segments to the receiver, ${acksToA} segments back (one per two segments would be ${Math.floor(segsToB / 2)})`);
      expect(acksToA).toBeLessThan(segsToB / 4);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
