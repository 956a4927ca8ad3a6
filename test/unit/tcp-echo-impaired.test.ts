/**
 * A bidirectional bulk echo over an impaired link (loss and reordering) on
 * the virtual clock: the client writes 20 MB and reads the echo while the
 * server pipes it back, so both receive buffers fill and windows shrink
 * below what was already sent. Every seed completes with every byte back.
 *
 * Regression: with both buffers full, each end's pure ACKs carried its
 * highest sequence number sent, past the other's (shrunken, or zero) window;
 * the other's acceptability test (RFC 9293 §3.10.7.4) refused them with
 * their acknowledgment unread, its retransmissions drew the same ACK, and
 * both ends backed off forever (seeds 2, 4, 6 and 7 stalled at 3-6 MB). Now
 * a pure ACK never goes past the peer's window edge (Linux
 * tcp_acceptable_seq), and a segment with no text is accepted up to and
 * including the right edge we last advertised (Linux tcp_sequence).
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type * as nodeNet from 'node:net';
import { SocketPair } from '../helpers/socket-pair.js';

describe('bidirectional echo over a lossy, reordering link', () => {
  for (const seed of [2, 4, 6, 7, 11]) {
    it(`seed ${seed}: 20 MB piped back, every byte`, async () => {
      const pair = new SocketPair({ seeds: [seed, seed + 10], impair: { loss: 0.01, reorder: 0.02, seed } });
      try {
        const netA = pair.a.net as unknown as typeof nodeNet;
        const netB = pair.b.net as unknown as typeof nodeNet;
        netB.createServer({ allowHalfOpen: true }, (c: nodeNet.Socket) => c.pipe(c)).listen(7, pair.b.address);
        const total = 20 << 20;
        const data = randomBytes(total);
        const h = createHash('sha256');
        let got = 0;
        let ended = false;
        const s = netA.connect({ port: 7, host: pair.b.address, allowHalfOpen: true });
        s.on('data', (d: Buffer) => {
          got += d.length;
          h.update(d);
        });
        s.on('end', () => (ended = true));
        s.on('connect', () => {
          let off = 0;
          const pump = (): void => {
            while (off < total) {
              const n = Math.min(65536, total - off);
              const more = s.write(data.subarray(off, off + n));
              off += n;
              if (!more) {
                s.once('drain', pump);
                return;
              }
            }
            s.end();
          };
          pump();
        });
        await pair.run(() => ended, 600_000);
        expect(got, `seed ${seed}`).toBe(total);
        expect(h.digest('hex'), `seed ${seed}`).toBe(createHash('sha256').update(data).digest('hex'));
      } finally {
        pair.close();
      }
    }, 120_000);
  }
});
