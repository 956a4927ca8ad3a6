/**
 * TSO sends limited by the receive window (or cwnd): the NIC cuts a
 * super-frame into MTU-sized segments, so a payload that is not a whole
 * number of MSS leaves a short last segment on the wire (36, 59, 107 bytes
 * in the e1000 VM echo). As Linux (tcp_mss_split_point), a multi-MSS send
 * that does not end the queued data is cut to whole segments; what is left
 * of the window then follows the sender's SWS rules like any small segment.
 * A short segment at the end of the data is fine. With SACK blocks in the
 * header the NIC's segments are smaller (MTU minus the longer header): the
 * unit is that size then.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DataSource, SimNet } from '../helpers/tcp-link.js';
import { State, type Connection, type TcpConfig } from '../../src/stack/tcp/connection.js';
import { parseTcp } from '../../src/wire/tcp.js';
import { seqDiff } from '../../src/wire/seq.js';

const TSO_MAX = 65535 - 20;

interface Sent {
  off: number; // stream offset of the first payload byte
  len: number;
  /** Payload a NIC cutting at the MTU would put in one segment, for this header. */
  unit: number;
}

/**
 * A sends `total` bytes to B over a TSO route; B reads at most `readBytes`
 * every `readEveryMs` (the window keeps closing and reopening by amounts
 * that are not multiples of the MSS).
 */
function windowLimitedTransfer(total: number, config: Partial<TcpConfig>, readBytes: number, readEveryMs: number) {
  const net = new SimNet(11, { delayMs: 1 }, { delayMs: 1 }, config);
  net.endA.tsoMax = net.endB.tsoMax = TSO_MAX;
  let rx: Connection | null = null;
  net.b.listen(9, 0, 8, (c) => {
    rx = c;
  });
  const tx = net.a.connect(net.addrB, 9);
  const sent: Sent[] = [];
  const sendA = net.endA.send.bind(net.endA);
  const mtuPayload = net.mtu - 20; // TCP header + payload per wire segment
  net.endA.send = (src, dst, proto, len, write) =>
    sendA(src, dst, proto, len, (buf, off) => {
      write(buf, off);
      const seg = parseTcp(buf, off, len, src, dst, false);
      if (seg.payloadLength === 0) return;
      const headerLen = len - seg.payloadLength;
      sent.push({ off: seqDiff(seg.seq, tx.iss) - 1, len: seg.payloadLength, unit: mtuPayload - headerLen });
    });
  const src = new DataSource(total, 11);
  const txHash = createHash('sha256');
  const rxHash = createHash('sha256');
  const buf = new Uint8Array(65536);
  let written = 0;
  let received = 0;
  let lastRead = -Infinity;
  while (net.clock.now() < 600_000) {
    while (written < total) {
      const [chunk, off] = src.at(written);
      const n = tx.write(chunk, off, Math.min(chunk.length - off, total - written));
      if (n <= 0) break;
      txHash.update(chunk.subarray(off, off + n));
      written += n;
    }
    if (written === total && tx.state === State.ESTABLISHED) tx.shutdown();
    const r = rx as Connection | null;
    if (r !== null && net.clock.now() - lastRead >= readEveryMs) {
      lastRead = net.clock.now();
      const n = r.read(buf, 0, readBytes);
      if (n > 0) {
        rxHash.update(buf.subarray(0, n));
        received += n;
      }
    }
    if (received === total) break;
    if (!net.step()) {
      // Nothing scheduled: the reader's next read.
      const t = Math.max(net.clock.now(), lastRead + readEveryMs);
      net.clock.advanceTo(t);
      net.wheel.advance(t);
    }
  }
  return { sent, received, intact: txHash.digest('hex') === rxHash.digest('hex'), mss: tx.mss };
}

/** Multi-segment sends whose payload is not whole NIC segments, other than the one ending the data. */
function shortTails(sent: Sent[], total: number): Sent[] {
  return sent.filter((s) => s.len > s.unit && s.len % s.unit !== 0 && s.off + s.len !== total);
}

describe('TSO sends limited by the window are cut to whole segments', () => {
  for (const [name, config] of [
    ['timestamps (MSS 1448)', {}],
    ['no options (MSS 1460)', { timestamps: false, sack: false, windowScaling: false }],
  ] as [string, Partial<TcpConfig>][]) {
    it(`${name}: no short last segment except at the end of the data, data intact`, () => {
      const total = 3_000_001;
      const r = windowLimitedTransfer(total, { recvBufferSize: 50_000, ...config }, 7_001, 3);
      expect(r.received).toBe(total);
      expect(r.intact).toBe(true);
      // TSO was in use and the window limited it (not only full 64 KiB frames).
      const multi = r.sent.filter((s) => s.len > r.mss);
      expect(multi.length).toBeGreaterThan(10);
      expect(multi.some((s) => s.len < Math.floor((TSO_MAX - 40) / r.mss) * r.mss)).toBe(true);
      expect(shortTails(r.sent, total)).toEqual([]);
    });
  }

  it('a lone short segment still goes at the end of the data (and when the window allows nothing more)', () => {
    const total = 100_000 + 123;
    const r = windowLimitedTransfer(total, { recvBufferSize: 1 << 20 }, 1 << 20, 1);
    expect(r.received).toBe(total);
    expect(r.intact).toBe(true);
    const last = r.sent[r.sent.length - 1]!;
    expect(last.off + last.len).toBe(total);
    expect(shortTails(r.sent, total)).toEqual([]);
  });
});
