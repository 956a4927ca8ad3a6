/**
 * A slow reader: the peer's application reads nothing for 2 s, then
 * everything (the e1000 VM echo test against QEMU's slirp). The sender must
 * never put data on the wire that the receiver has already acknowledged.
 *
 * The cause found: BSD stacks (slirp is one) put their FIN on every segment
 * they send in FIN_WAIT_1, pure ACKs included (seq = the FIN's sequence
 * number, i.e. RCV.NXT - 1 once we have the FIN). We rejected those as
 * wholly old and dropped their ACK and window, so once a window's worth of
 * ACKs arrived that way the sender sat until the RTO and then resent from a
 * SND.UNA the peer had long acknowledged. Such old segments are now
 * acceptable when they reach our last ACK (Linux tcp_sequence: end_seq >=
 * rcv_wup), their text is discarded and the ACK and window are used.
 *
 * Segment scripts for the exact pattern, then two layers on the virtual
 * clock (test/helpers/tcp-link.ts) running the echo with a stalled reader,
 * with and without a peer that behaves like slirp, counting every data
 * segment sent whose range the receiver had already acknowledged.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern, type Seg } from '../helpers/tcp-script.js';
import { DataSource, SimNet, type Impairments } from '../helpers/tcp-link.js';
import { State, type Connection, type TcpConfig } from '../../src/stack/tcp/connection.js';
import { emitTcp, parseTcp, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from '../../src/wire/tcp.js';
import { seqGt, seqLe } from '../../src/wire/seq.js';

const PEER = 5001;
/** The peer's FIN follows 3 bytes of data: it sits at PEER + 3, RCV.NXT becomes PEER + 4. */
const PEER_FIN = PEER + 3;

/** Passive connection from a slirp-like peer (no SACK, timestamps or window scaling), peer FIN received: CLOSE_WAIT. */
function closeWait(): ConnScript {
  const s = new ConnScript({ iss: 1000, config: { sack: false, timestamps: false, windowScaling: false } });
  s.establishPassive({ iss: 5000, mss: 1460 });
  s.send({ seq: PEER, ack: 1001, flags: 'FPA', payload: 'bye' });
  expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER_FIN + 1 });
  expect(s.conn.state).toBe(State.CLOSE_WAIT);
  return s;
}

describe('ACKs carried on a retransmitted FIN (BSD / slirp FIN_WAIT_1)', () => {
  it('are used: the window moves on, nothing the peer acknowledged is sent again, the data go out once', () => {
    const s = closeWait();
    const total = 200_000;
    const data = pattern(total);
    let written = s.conn.write(data, 0, total);
    s.dispatch();
    const sent: Seg[] = [];
    let acked = 1001;
    let resentAcked = 0;
    const take = (segs: Seg[]) => {
      for (const g of segs) {
        if (g.len === 0) continue;
        if (seqLe(g.seq + g.len, acked)) resentAcked++;
        sent.push(g);
      }
    };
    take(s.recv());
    // The peer acknowledges every segment, each ACK with its FIN again
    // (seq = its FIN's sequence number), until everything written is acknowledged.
    let cursor = 0;
    while (acked !== 1001 + total) {
      if (cursor >= sent.length) {
        s.advance(10); // would be an RTO stall: recorded by resentAcked below
        take(s.recv());
        if (s.now > 60_000) break;
        continue;
      }
      const g = sent[cursor++]!;
      s.now += 0.01;
      if (seqGt(g.seq + g.len, acked)) acked = g.seq + g.len;
      s.send({ seq: PEER_FIN, ack: acked, flags: 'FA', window: 65535 });
      take(s.recv());
      if (written < total) {
        written += s.conn.write(data, written, total - written);
        s.dispatch();
        take(s.recv());
      }
    }
    expect(acked).toBe(1001 + total);
    expect(s.conn.sndUna).toBe(1001 + total);
    // Long after: no retransmission timer left, nothing resent.
    s.advance(10_000);
    take(s.recv());
    expect(resentAcked).toBe(0);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
    expect(s.conn.stats.retransmits).toBe(0);
    // Every byte went out exactly once, in order, intact.
    const out = new Uint8Array(total);
    let pos = 0;
    for (const g of sent) {
      expect(g.seq).toBe(1001 + pos);
      out.set(g.payload, pos);
      pos += g.len;
    }
    expect(pos).toBe(total);
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
  });

  it('a window update on such a segment reopens a zero window at once (no wait for the persist timer)', () => {
    const s = closeWait();
    s.conn.write(pattern(20_000), 0, 20_000);
    s.dispatch();
    const first = s.recv().filter((g) => g.len > 0);
    const end = first[first.length - 1]!.seq + first[first.length - 1]!.len;
    // The slow reader: everything acknowledged, window 0.
    s.now = 5;
    s.send({ seq: PEER_FIN, ack: end, flags: 'FA', window: 0 });
    expect(s.conn.sndUna).toBe(end);
    expect(s.recv().filter((g) => g.len > 0)).toEqual([]);
    // The application reads: the window update carries the FIN again.
    s.now = 2005;
    s.send({ seq: PEER_FIN, ack: end, flags: 'FA', window: 65535 });
    const more = s.recv().filter((g) => g.len > 0);
    expect(more.length).toBeGreaterThan(0);
    expect(more[0]).toMatchObject({ seq: end, t: 2005 });
  });

  it('is still answered with an ACK (the peer may not have our ACK of its FIN)', () => {
    const s = closeWait();
    s.now = 1;
    s.send({ seq: PEER_FIN, ack: 1001, flags: 'FA' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1001, ack: PEER_FIN + 1 });
    expect(s.conn.state).toBe(State.CLOSE_WAIT);
    // The old data of that segment again: an ACK too, nothing delivered twice.
    s.send({ seq: PEER, ack: 1001, flags: 'FPA', payload: 'bye' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER_FIN + 1 });
    expect(s.conn.readable).toBe(3);
  });

  it('old data ending at RCV.NXT carries a usable ACK in ESTABLISHED as well (and is not delivered twice)', () => {
    const s = new ConnScript({ iss: 1000, config: { sack: false, timestamps: false, windowScaling: false, delayedAck: false } });
    s.establishPassive({ iss: 5000, mss: 1460 });
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: 'hello' });
    s.recv();
    s.conn.write(pattern(1000), 0, 1000);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ seq: 1001, len: 1000 });
    // The peer resends its last segment with a newer ACK.
    s.now = 1;
    s.send({ seq: PEER, ack: 2001, flags: 'PA', payload: 'hello' });
    expect(s.conn.sndUna).toBe(2001);
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 5 });
    expect(s.conn.readable).toBe(5);
    expect(s.conn.stats.duplicateBytes).toBe(5);
  });
});

// ---------------------------------------------------------------------------
// Two layers: an echo whose client stops reading for 2 s

interface EchoRun {
  ok: boolean;
  /** Data segments A sent whose end the receiver had already acknowledged (any ACK B had sent by then). */
  resentAcked: number;
  /** Of those, covered by SND.UNA at the time (the sender knew). */
  belowUna: number;
  dataSegments: number;
  rtoTimeouts: number;
}

/**
 * B (the "host") writes `total` bytes to A's echo and closes, but reads
 * nothing until `stallMs`, then everything. A echoes with backpressure (it
 * reads only what it can write back), so both windows close. With `bsdFin`,
 * B's pure ACKs carry its FIN again while it is in FIN_WAIT_1, as slirp's do.
 */
function slowReaderEcho(o: {
  total: number;
  stallMs: number;
  config: Partial<TcpConfig>;
  imp?: Impairments;
  tsoMax?: number;
  bsdFin: boolean;
  seed?: number;
}): EchoRun {
  const seed = o.seed ?? 1;
  const net = new SimNet(seed, o.imp ?? {}, o.imp ?? {}, o.config);
  if (o.tsoMax !== undefined) net.endA.tsoMax = net.endB.tsoMax = o.tsoMax;
  let echo: Connection | null = null;
  net.a.listen(7, 0, 8, (c) => {
    echo = c;
  });
  const client = net.b.connect(net.addrA, 7);
  const r: EchoRun = { ok: false, resentAcked: 0, belowUna: 0, dataSegments: 0, rtoTimeouts: 0 };
  let ackedByB = -1; // highest ACK B has sent (uint32), -1 before any
  const sendB = net.endB.send.bind(net.endB);
  net.endB.send = (src, dst, proto, len, write) =>
    sendB(src, dst, proto, len, (buf, off) => {
      write(buf, off);
      const seg = parseTcp(buf, off, len, src, dst, false);
      if (o.bsdFin && seg.payloadLength === 0 && (seg.flags & (TCP_SYN | TCP_FIN | TCP_RST)) === 0 && client.state === State.FIN_WAIT_1) {
        seg.seq = (client.sndMax - 1) >>> 0; // the FIN's sequence number
        seg.flags |= TCP_FIN;
        emitTcp(seg, buf, off, src, dst);
      }
      if ((seg.flags & TCP_ACK) !== 0 && (ackedByB < 0 || seqGt(seg.ack, ackedByB))) ackedByB = seg.ack >>> 0;
    });
  const sendA = net.endA.send.bind(net.endA);
  net.endA.send = (src, dst, proto, len, write) =>
    sendA(src, dst, proto, len, (buf, off) => {
      write(buf, off);
      const seg = parseTcp(buf, off, len, src, dst, false);
      if (seg.payloadLength === 0 || echo === null) return;
      r.dataSegments++;
      const end = (seg.seq + seg.payloadLength) >>> 0;
      if (ackedByB >= 0 && seqLe(end, ackedByB)) r.resentAcked++;
      if (seqLe(end, (echo as Connection).sndUna)) r.belowUna++;
    });

  const src = new DataSource(o.total, seed);
  const txHash = createHash('sha256');
  const rxHash = createHash('sha256');
  const buf = new Uint8Array(65536);
  let pending = new Uint8Array(0);
  let written = 0;
  let received = 0;
  let clientShut = false;
  let echoShut = false;
  while (net.clock.now() < 600_000) {
    while (written < o.total) {
      const [chunk, off] = src.at(written);
      const n = client.write(chunk, off, Math.min(chunk.length - off, o.total - written));
      if (n <= 0) break;
      txHash.update(chunk.subarray(off, off + n));
      written += n;
    }
    if (!clientShut && written === o.total && client.state === State.ESTABLISHED) {
      clientShut = true;
      client.shutdown();
    }
    if (net.clock.now() >= o.stallMs) {
      for (;;) {
        const n = client.read(buf, 0, buf.length);
        if (n <= 0) break;
        rxHash.update(buf.subarray(0, n));
        received += n;
      }
    }
    const e = echo as Connection | null;
    if (e !== null) {
      for (;;) {
        if (pending.length > 0) {
          const n = e.write(pending, 0, pending.length);
          pending = pending.subarray(n);
          if (pending.length > 0) break;
        }
        const n = e.read(buf, 0, buf.length);
        if (n <= 0) break;
        pending = buf.slice(0, n);
      }
      if (!echoShut && e.peerFinished && e.readable === 0 && pending.length === 0) {
        echoShut = true;
        e.shutdown();
      }
    }
    if (received === o.total && net.a.stats.currentConnections === 0 && net.b.stats.currentConnections === 0) break;
    if (!net.step()) break;
  }
  r.ok = received === o.total && txHash.digest('hex') === rxHash.digest('hex');
  r.rtoTimeouts = net.a.stats.conn.rtoTimeouts;
  return r;
}

const SLIRP_LIKE: Partial<TcpConfig> = { sack: false, timestamps: false, windowScaling: false };
const TSO_MAX = 65535 - 20;

describe('echo to a reader that stalls for 2 s: no data the receiver acknowledged is sent again', () => {
  const cases: [string, Partial<TcpConfig>, Impairments, number | undefined, boolean][] = [
    // The report: slirp's peer (FIN on every ACK in FIN_WAIT_1, no SACK/timestamps/window scaling).
    ['slirp-like peer', SLIRP_LIKE, {}, undefined, true],
    ['slirp-like peer, 1 ms each way', SLIRP_LIKE, { delayMs: 1 }, undefined, true],
    ['slirp-like peer, TSO', SLIRP_LIKE, {}, TSO_MAX, true],
    ['slirp-like peer, all options', {}, { delayMs: 1 }, undefined, true],
    // Zero window, persist probes, reopening, with a peer that does not repeat its FIN.
    ['plain peer, all options', {}, {}, undefined, false],
    ['plain peer, all options, TSO', {}, { delayMs: 1 }, TSO_MAX, false],
    ['plain peer, no options, 5 ms each way', SLIRP_LIKE, { delayMs: 5 }, undefined, false],
    ['plain peer, 20 Mbit/s link (ACKs spread out)', {}, { delayMs: 2, rateBps: 20_000_000, queuePackets: 10_000 }, undefined, false],
  ];
  for (const [name, config, imp, tsoMax, bsdFin] of cases) {
    it(name, () => {
      const r = slowReaderEcho({ total: 2 << 20, stallMs: 2000, config, imp, tsoMax, bsdFin });
      expect(r.ok).toBe(true);
      expect(r.dataSegments).toBeGreaterThan(0);
      expect(r.belowUna).toBe(0);
      expect(r.resentAcked).toBe(0);
      expect(r.rtoTimeouts).toBe(0);
    });
  }
});
