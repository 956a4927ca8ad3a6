/**
 * TCP over IPv6 at the stack level (virtual clock, in-process link): the
 * same TcpLayer behind the IPv6 adapter (src/stack/tcp6/). Bulk data both
 * ways with SHA-256, clean and through the impairment layer; SYN cookies;
 * RST for a closed port; ICMPv6 errors; the address table empty again after
 * many connections.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Sim, inject, type SimOptions } from '../helpers/sim.js';
import { ipv6Frame } from '../helpers/frames6.js';
import { parseIpv6Address as a6, ipv6PseudoSum } from '../../src/wire/ipv6.js';
import { internetChecksum } from '../../src/wire/checksum.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import type { TcpErrorCode } from '../../src/stack/tcp/types.js';

const A = a6('fd00:6::1');
const B = a6('fd00:6::2');

function sim(opts: SimOptions = {}): Sim {
  const s = new Sim({
    ...opts,
    ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
  });
  s.runFor(1_500); // DAD
  return s;
}

/** Deterministic pseudo-random bytes (xorshift32). */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** One end of a transfer: writes `data` then FIN, reads everything the peer sends into a SHA-256. */
class Endpoint {
  readonly hash = createHash('sha256');
  received = 0;
  peerDone = false;
  closed = false;
  error: TcpErrorCode | undefined;
  private sent = 0;
  private readonly buf = new Uint8Array(65536);

  constructor(readonly conn: Connection, private readonly data: Uint8Array) {
    conn.events = {
      onConnected: () => this.pump(),
      onWritable: () => this.pump(),
      onReadable: () => this.drain(),
      onPeerClosed: () => {
        this.drain();
        this.peerDone = true;
      },
      onClosed: (e) => {
        this.closed = true;
        this.error = e;
      },
    };
  }

  pump(): void {
    while (this.sent < this.data.length) {
      const n = this.conn.write(this.data, this.sent, Math.min(65536, this.data.length - this.sent));
      if (n === 0) return;
      this.sent += n;
    }
    this.conn.shutdown();
  }

  /** While set, nothing is read (the receive window fills and closes). */
  paused = false;

  drain(): void {
    if (this.paused) return;
    for (;;) {
      const n = this.conn.read(this.buf, 0, this.buf.length);
      if (n <= 0) return;
      this.hash.update(this.buf.subarray(0, n));
      this.received += n;
    }
  }
}

const sha = (d: Uint8Array): string => createHash('sha256').update(d).digest('hex');

/** [B]:client -> [A]:port, `size` bytes each way; returns both ends once both saw the other's FIN. */
function exchange(s: Sim, size: number, seed: number, port = 5001): { client: Endpoint; server: Endpoint; up: Uint8Array; down: Uint8Array } {
  const up = bytes(size, seed);
  const down = bytes(size, seed + 1);
  let server: Endpoint | null = null;
  const l = s.a.stack.tcp6Adapter.listen(port, null, 16, (c) => {
    server = new Endpoint(c, down);
    server.pump();
  });
  const client = new Endpoint(s.b.stack.tcp6Adapter.connect(A, port), up);
  const done = s.runUntil(() => client.peerDone && server !== null && server.peerDone, 600_000);
  expect(done, `transfer of ${size} bytes each way finished (client got ${client.received}, server got ${server === null ? 'no connection' : (server as Endpoint).received})`).toBe(true);
  l.close();
  return { client, server: server!, up, down };
}

describe('TCP over IPv6 (stack level)', () => {
  it('carries 4 MB each way between two IPv6 stacks, SHA-256 equal, MSS from the IPv6 path (MTU − 60)', () => {
    const s = sim();
    const { client, server, up, down } = exchange(s, 4 << 20, 1);
    expect(server.received).toBe(up.length);
    expect(server.hash.digest('hex')).toBe(sha(up));
    expect(client.received).toBe(down.length);
    expect(client.hash.digest('hex')).toBe(sha(down));
    // 1500 − 40 (IPv6) − 20 (TCP): both ends advertise it.
    expect(client.conn.advMss).toBe(1440);
    expect(server.conn.advMss).toBe(1440);
    const st = s.a.stack.stats();
    expect(st.tcp6!.badChecksum).toBe(0);
    expect(st.tcp6!.passiveOpens).toBe(1);
    expect(st.tcp!.segmentsReceived).toBe(0); // nothing went over the IPv4 layer
  });

  for (const seed of [3, 8, 21]) {
    it(`seed ${seed}: 2 MB each way through 2% loss, 3% reordering, 1% duplication, SHA-256 equal`, () => {
      console.log(`tcp6 impaired exchange: impairment seed ${seed}`);
      const s = sim({ impair: { loss: 0.02, reorder: 0.03, duplicate: 0.01, seed } });
      const { client, server, up, down } = exchange(s, 2 << 20, seed);
      expect(server.hash.digest('hex'), `seed ${seed}`).toBe(sha(up));
      expect(client.hash.digest('hex'), `seed ${seed}`).toBe(sha(down));
      expect(s.a.stack.stats().tcp6!.retransmits + s.b.stack.stats().tcp6!.retransmits, `seed ${seed}: loss made retransmissions`).toBeGreaterThan(0);
    });
  }

  // Software GSO (the in-process link has no offloads): TCP hands IPv6 output
  // segments of up to 64 KiB, which it cuts into frames within the MTU; with
  // gso off every segment is one frame. The link drops a frame above its MTU
  // (tx_dropped_oversize), so a frame cut wrong shows there, in a checksum
  // drop or in the SHA-256.
  for (const gso of [true, false]) {
    for (const impair of [undefined, { loss: 0.02, reorder: 0.03, duplicate: 0.01, seed: 5 }]) {
      it(`gso ${gso ? 'on' : 'off'}${impair ? ', impaired (2% loss, 3% reordering, 1% duplication)' : ''}: 3 MB each way, SHA-256 equal, every frame within the MTU`, () => {
        const s = sim({ iface: { gso }, ...(impair ? { impair } : {}) });
        const { client, server, up, down } = exchange(s, 3 << 20, 40 + (gso ? 1 : 0));
        expect(server.hash.digest('hex')).toBe(sha(up));
        expect(client.hash.digest('hex')).toBe(sha(down));
        expect(client.conn.advMss).toBe(1440);
        expect(server.conn.advMss).toBe(1440);
        for (const n of [s.a, s.b]) {
          const v6 = n.iface.v6!.stats;
          const st = n.stack.stats();
          expect(st.tcp6!.badChecksum).toBe(0);
          expect(n.raw.stats().tx_dropped_oversize).toBe(0);
          expect(v6.ip6_tx_fragmented).toBe(0);
          if (gso) {
            // Bulk data left in bursts: several frames per send on average.
            expect(v6.ip6_tx_gso).toBeGreaterThan(20);
            expect(v6.ip6_tx).toBeGreaterThan(st.tcp6!.segmentsOut);
          } else {
            expect(v6.ip6_tx_gso).toBe(0);
          }
        }
      });
    }
  }

  // A link that offloads (MemoryNic's offloads: IPv4 and IPv6 checksums and
  // TSO, as a veth): TCP leaves the checksum to the NIC (the pseudo-header
  // sum in the field) and hands it segments of several MSS whole; the
  // receiving end is told the checksums are verified. So frames above the
  // MTU cross the link, none is cut here, and the bytes arrive exactly.
  for (const impair of [undefined, { loss: 0.02, reorder: 0.03, duplicate: 0.01, seed: 9 }]) {
    it(`offloads (checksum, TSO over IPv6)${impair ? ', impaired' : ''}: 3 MB each way, SHA-256 equal, super-frames on the link`, () => {
      const s = sim({ offloads: true, ...(impair ? { impair } : {}) });
      const { client, server, up, down } = exchange(s, 3 << 20, 60);
      expect(server.hash.digest('hex')).toBe(sha(up));
      expect(client.hash.digest('hex')).toBe(sha(down));
      expect(client.conn.advMss).toBe(1440);
      for (const n of [s.a, s.b]) {
        const v6 = n.iface.v6!.stats;
        expect(v6.ip6_tx_gso).toBe(0);
        expect(v6.ip6_tx_fragmented).toBe(0);
        const link = n.raw.stats();
        // Above the largest MTU-sized frame on average (ACKs included): super-frames crossed the link.
        expect(link.tx_bytes! / link.tx_frames!).toBeGreaterThan(1514);
        expect(link.tx_dropped_oversize).toBe(0);
      }
    });
  }

  it('offloads: TCP over IPv6 leaves checksums to a NIC that completes them (txChecksum6), and only to such a NIC', () => {
    const s = sim({ offloads: true });
    expect(s.a.stack.tcp6Adapter.checksumOffloadFor(s.a.stack.tcp6Adapter.addressIds.intern(B, 0))).toBe(true);
    const plain = sim();
    expect(plain.a.stack.tcp6Adapter.checksumOffloadFor(plain.a.stack.tcp6Adapter.addressIds.intern(B, 0))).toBe(false);
  });

  it('connects within one stack to ::1 and to its own global address through lo (from that address), none of it on the link', () => {
    const s = sim({ loopback: true });
    const a = s.a.stack;
    const linkFramesBefore = s.a.iface.stats.tx_frames;
    for (const [dst, port] of [[a6('::1'), 7001], [A, 7002]] as const) {
      let server: Endpoint | null = null;
      a.tcp6Adapter.listen(port, null, 4, (c) => {
        server = new Endpoint(c, bytes(300_000, port + 1));
        server.pump();
      });
      const client = new Endpoint(a.tcp6Adapter.connect(dst, port), bytes(300_000, port));
      expect(s.runUntil(() => client.peerDone && server !== null && (server as Endpoint).peerDone, 30_000), `to ${port}`).toBe(true);
      expect(client.hash.digest('hex')).toBe(sha(bytes(300_000, port + 1)));
      expect((server as unknown as Endpoint).hash.digest('hex')).toBe(sha(bytes(300_000, port)));
      expect(a.tcp6Adapter.addressText(client.conn.localAddr)).toBe(dst === A ? 'fd00:6::1' : '::1');
      expect(a.tcp6Adapter.addressText(client.conn.remoteAddr)).toBe(dst === A ? 'fd00:6::1' : '::1');
    }
    expect(s.a.iface.stats.tx_frames - linkFramesBefore).toBe(0);
  });

  it('answers SYNs with cookies when the SYN queue is full, and the cookie ACKs make working connections', () => {
    const s = sim({ limits: { maxBacklog: 1 } });
    const accepted: Endpoint[] = [];
    s.a.stack.tcp6Adapter.listen(80, null, 1, (c) => {
      const e = new Endpoint(c, bytes(10_000, accepted.length + 100));
      accepted.push(e);
      e.pump();
    });
    const clients: Endpoint[] = [];
    for (let i = 0; i < 8; i++) clients.push(new Endpoint(s.b.stack.tcp6Adapter.connect(A, 80), bytes(5_000, i)));
    expect(s.runUntil(() => clients.every((c) => c.peerDone) && accepted.length === 8 && accepted.every((e) => e.peerDone), 60_000)).toBe(true);
    const st = s.a.stack.stats().tcp6!;
    expect(st.synCookiesSent).toBeGreaterThan(0);
    expect(st.synCookiesAccepted).toBe(st.synCookiesSent);
    expect(st.synCookiesRejected).toBe(0);
    for (const c of clients) expect(c.received).toBe(10_000);
    expect(accepted.map((e) => e.received)).toStrictEqual(new Array(8).fill(5_000));
  });

  it('rejects a cookie ACK whose addresses differ from the SYN it answers', () => {
    const s = sim({ limits: { maxBacklog: 1 } });
    s.a.stack.tcp6Adapter.listen(80, null, 1, () => {});
    // Raw SYNs in one burst: the first fills the SYN queue, the second is answered with a cookie.
    const syn = (src: Uint8Array, sport: number, seq: number, flags: number, ack = 0): Uint8Array =>
      ipv6Frame(s.a.iface.mac, s.b.iface.mac, src, A, 6, tcpSegment(src, A, sport, 80, seq, ack, flags));
    const captured: Uint8Array[] = [];
    const raw = s.b.raw;
    const origRx = raw.rxBurst.bind(raw);
    raw.rxBurst = (slots, lens, max) => {
      const n = origRx(slots, lens, max);
      for (let k = 0; k < n; k++) captured.push(raw.pool.slice(slots[k]! * raw.slotSize, slots[k]! * raw.slotSize + lens[k]!));
      return n;
    };
    inject(s.b.raw, syn(B, 1111, 1000, 0x02));
    inject(s.b.raw, syn(B, 2222, 5000, 0x02));
    s.settle();
    expect(s.a.stack.stats().tcp6!.synCookiesSent).toBe(1);
    const synAck = captured.map((f) => parseTcp6(f)).find((t) => t !== null && t.dport === 2222 && t.flags === 0x12);
    expect(synAck).toBeDefined();
    // The ACK from another address (same ports, same numbers) fails; from B it succeeds.
    const other = a6('fd00:6::99');
    inject(s.b.raw, syn(other, 2222, 5001, 0x10, (synAck!.seq + 1) >>> 0));
    s.settle();
    expect(s.a.stack.stats().tcp6!.synCookiesRejected).toBe(1);
    inject(s.b.raw, syn(B, 2222, 5001, 0x10, (synAck!.seq + 1) >>> 0));
    s.settle();
    expect(s.a.stack.stats().tcp6!.synCookiesAccepted).toBe(1);
  });

  it('answers a SYN to a closed port with RST (ECONNREFUSED at the client), and checksums are checked over the IPv6 pseudo-header', () => {
    const s = sim();
    const client = new Endpoint(s.b.stack.tcp6Adapter.connect(A, 4444), new Uint8Array(0));
    expect(s.runUntil(() => client.closed, 10_000)).toBe(true);
    expect(client.error).toBe('ECONNREFUSED');
    expect(s.a.stack.stats().tcp6!.noSocket).toBe(1);
    expect(s.a.stack.stats().tcp6!.resetsSent).toBe(1);
    // A segment whose checksum is right for IPv4's pseudo-header but not IPv6's is dropped.
    const seg = tcpSegment(B, A, 1234, 4444, 1, 0, 0x02);
    seg[16] ^= 0x10;
    inject(s.b.raw, ipv6Frame(s.a.iface.mac, s.b.iface.mac, B, A, 6, seg));
    s.settle();
    expect(s.a.stack.stats().tcp6!.badChecksum).toBe(1);
    expect(s.a.stack.stats().tcp6!.resetsSent).toBe(1);
  });

  it('leaves the address table empty after 300 connections from many source addresses come and go', () => {
    const s = sim();
    const a = s.a.stack;
    const table = a.tcp6Adapter.addressIds;
    const l = a.tcp6Adapter.listen(7, null, 64, (c) => {
      const e = new Endpoint(c, bytes(100, 7));
      e.pump();
    });
    for (let round = 0; round < 3; round++) {
      const clients: Endpoint[] = [];
      for (let i = 0; i < 100; i++) clients.push(new Endpoint(s.b.stack.tcp6Adapter.connect(A, 7), bytes(300, i)));
      expect(s.runUntil(() => clients.every((c) => c.closed), 120_000), `round ${round}`).toBe(true);
      expect(clients.every((c) => c.error === undefined && c.received === 100)).toBe(true);
      // Connections in TIME_WAIT (on whichever side closed first) still hold their addresses.
      const held = table.holds + s.b.stack.tcp6Adapter.addressIds.holds;
      expect(held, `round ${round}: ids held by TIME_WAIT connections`).toBeGreaterThanOrEqual(200);
    }
    // Raw SYNs and junk from 500 other addresses: each answered or dropped, none kept.
    for (let i = 0; i < 500; i++) {
      const src = a6(`fd00:6::${(0x1000 + i).toString(16)}`);
      inject(s.b.raw, ipv6Frame(s.a.iface.mac, s.b.iface.mac, src, A, 6, tcpSegment(src, A, 1000 + i, i % 2 === 0 ? 7 : 9, i, 0, 0x10)));
    }
    s.settle();
    s.runFor(130_000); // TIME_WAIT (60 s) on either side
    expect(a.tcp6.connections().length).toBe(0);
    expect(s.b.stack.tcp6.connections().length).toBe(0);
    // The listener binds :: (id 0): nothing is held, nothing is left.
    expect(table.holds).toBe(0);
    expect(table.size).toBe(0);
    expect(s.b.stack.tcp6Adapter.addressIds.size).toBe(0);
    l.close();
    // A listener on an address holds it until it closes.
    const bound = a.tcp6Adapter.listen(8, A, 1, null);
    expect(table.size).toBe(1);
    expect(table.holds).toBe(1);
    bound.close();
    s.settle();
    expect(table.size).toBe(0);
  });

  for (const [code, want] of [[4, 'ECONNREFUSED'], [1, 'ECONNREFUSED'], [3, 'EHOSTUNREACH']] as const) {
    it(`ICMPv6 destination unreachable code ${code} quoting our SYN: ${code === 3 ? 'a soft error, reported when the connection times out' : 'a hard error while connecting'} (${want})`, () => {
      const s = sim();
      // To an address nobody has: the SYN waits for neighbour discovery, nothing answers but the error below.
      const client = new Endpoint(s.b.stack.tcp6Adapter.connect(a6('fd00:6::77'), 9), new Uint8Array(0));
      s.runFor(100);
      const conn = client.conn;
      const quoted = tcpSegment(B, a6('fd00:6::77'), conn.localPort, 9, conn.sndUna, 0, 0x02);
      const ip6 = new Uint8Array(40 + quoted.length);
      ip6[0] = 0x60;
      ip6[5] = quoted.length;
      ip6[6] = 6;
      ip6[7] = 64;
      ip6.set(B, 8);
      ip6.set(a6('fd00:6::77'), 24);
      ip6.set(quoted, 40);
      const icmp = new Uint8Array(8 + ip6.length);
      icmp[0] = 1; // destination unreachable
      icmp[1] = code;
      icmp.set(ip6, 8);
      const c = internetChecksum(icmp, 0, icmp.length, ipv6PseudoSum(A, B, icmp.length, 58));
      icmp[2] = c >>> 8;
      icmp[3] = c & 0xff;
      inject(s.a.raw, ipv6Frame(s.b.iface.mac, s.a.iface.mac, A, B, 58, icmp));
      s.settle();
      if (code === 3) {
        // Soft (RFC 1122 §4.2.3.9): the connection keeps trying; its timeout reports the error.
        expect(client.closed).toBe(false);
        expect(s.runUntil(() => client.closed, 600_000)).toBe(true);
      } else {
        expect(client.closed).toBe(true);
      }
      expect(client.error).toBe(want);
      expect(s.b.stack.stats().tcp6!.icmpErrors).toBe(1);
    });
  }

  it('a Packet Too Big quoting a segment in flight shrinks the connection’s segments to the path MTU, and the transfer completes', () => {
    const s = sim();
    let server: Endpoint | null = null;
    s.a.stack.tcp6Adapter.listen(9000, null, 4, (c) => {
      server = new Endpoint(c, new Uint8Array(0));
      server.paused = true; // the client's data waits in its send ring
    });
    const data = bytes(4_000_000, 5);
    const client = new Endpoint(s.b.stack.tcp6Adapter.connect(A, 9000), data);
    expect(s.runUntil(() => server !== null, 5_000)).toBe(true);
    const conn = client.conn;
    expect(conn.sendQueued, 'data waits for the window').toBeGreaterThan(0);
    // 1440 less the timestamp option's 12 bytes.
    const before = conn.sndMss();
    expect(before).toBe(1428);
    // Quote a segment in flight: its header rebuilt from the connection's numbers.
    const quoted = tcpSegment(B, A, conn.localPort, 9000, conn.sndUna, 0, 0x10);
    const ip6 = new Uint8Array(40 + quoted.length);
    ip6[0] = 0x60;
    ip6[5] = quoted.length;
    ip6[6] = 6;
    ip6[7] = 64;
    ip6.set(B, 8);
    ip6.set(A, 24);
    ip6.set(quoted, 40);
    const mtu = 1300;
    const icmp = new Uint8Array(8 + ip6.length);
    icmp[0] = 2; // Packet Too Big
    icmp[6] = mtu >>> 8;
    icmp[7] = mtu & 0xff;
    icmp.set(ip6, 8);
    const c = internetChecksum(icmp, 0, icmp.length, ipv6PseudoSum(A, B, icmp.length, 58));
    icmp[2] = c >>> 8;
    icmp[3] = c & 0xff;
    inject(s.a.raw, ipv6Frame(s.b.iface.mac, s.a.iface.mac, A, B, 58, icmp));
    s.settle();
    expect(s.b.iface.v6!.stats.icmp6_rx_pmtu_updates).toBe(1);
    expect(conn.sndMss()).toBe(before - (1440 - (mtu - 60)));
    const srv = server as unknown as Endpoint;
    srv.paused = false;
    srv.drain();
    expect(s.runUntil(() => server !== null && (server as Endpoint).peerDone, 60_000)).toBe(true);
    expect((server as unknown as Endpoint).hash.digest('hex')).toBe(sha(data));
  });
});

/** A TCP header (no options) with its checksum over the IPv6 pseudo-header. */
function tcpSegment(src: Uint8Array, dst: Uint8Array, sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const t = new Uint8Array(20);
  t[0] = sport >>> 8; t[1] = sport & 0xff; t[2] = dport >>> 8; t[3] = dport & 0xff;
  t[4] = seq >>> 24; t[5] = (seq >>> 16) & 0xff; t[6] = (seq >>> 8) & 0xff; t[7] = seq & 0xff;
  t[8] = ack >>> 24; t[9] = (ack >>> 16) & 0xff; t[10] = (ack >>> 8) & 0xff; t[11] = ack & 0xff;
  t[12] = 5 << 4;
  t[13] = flags;
  t[14] = 0xff; t[15] = 0xff;
  const c = internetChecksum(t, 0, 20, ipv6PseudoSum(src, dst, 20, 6));
  t[16] = c >>> 8;
  t[17] = c & 0xff;
  return t;
}

/** Ports, sequence number and flags of a TCP-over-IPv6 Ethernet frame (no extension headers), or null. */
function parseTcp6(f: Uint8Array): { sport: number; dport: number; seq: number; flags: number } | null {
  if (f.length < 14 + 40 + 20 || f[12] !== 0x86 || f[13] !== 0xdd || f[14 + 6] !== 6) return null;
  const t = 14 + 40;
  return {
    sport: (f[t]! << 8) | f[t + 1]!,
    dport: (f[t + 2]! << 8) | f[t + 3]!,
    seq: ((f[t + 4]! << 24) | (f[t + 5]! << 16) | (f[t + 6]! << 8) | f[t + 7]!) >>> 0,
    flags: f[t + 13]!,
  };
}
