/**
 * Fused copy-and-checksum on the TCP data path: with the native byte kernels
 * (installed by ustack.ts unless USTACK_NATIVE_BYTES=0) the transmit path
 * sums the payload while copying it out of the send ring (all the frames of
 * a segment cut in software in one call), and the receive
 * path copies in-order payload into the receive ring while summing it,
 * committing it only when the checksum verifies. Without the kernels the
 * same tests run the JavaScript paths. Run both ways:
 *   npx vitest run test/unit/tcp-fused-checksum.test.ts
 *   USTACK_NATIVE_BYTES=0 npx vitest run test/unit/tcp-fused-checksum.test.ts
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readPcap } from '../../src/driver/pcap.js';
import { Stack } from '../../src/ustack.js';
import { addPartSum, onesSum } from '../../src/wire/checksum.js';
import { byteKernelsInstalled } from '../../src/wire/kernels.js';
import { Connection } from '../../src/stack/tcp/connection.js';

/**
 * Counts the fused calls that did their work (a sum, not -1), so the tests
 * show they ran the fused paths when the kernels are installed, and never
 * when they are not (the JavaScript paths stay as they were).
 */
const fused = { tx: 0, rx: 0 };
const origTx = Connection.prototype.copyPayloadSum;
/** A segment cut into frames in software (GSO) has all its frames' payloads copied and summed in one call. */
const origTxScatter = Connection.prototype.copyPayloadSumScatter;
const origRx = Connection.prototype.placeInOrder;
/** Segments merged into a held run (src/stack/tcp/gro.ts) are placed, and summed, by placeAfter. */
const origRxAfter = Connection.prototype.placeAfter;
beforeEach(() => {
  fused.tx = 0;
  fused.rx = 0;
  Connection.prototype.copyPayloadSum = function (this: Connection, ...args: Parameters<typeof origTx>) {
    const r = origTx.apply(this, args);
    if (r >= 0) fused.tx++;
    return r;
  };
  Connection.prototype.copyPayloadSumScatter = function (this: Connection, ...args: Parameters<typeof origTxScatter>) {
    origTxScatter.apply(this, args);
    if (byteKernelsInstalled()) fused.tx += args[3];
  };
  Connection.prototype.placeInOrder = function (this: Connection, ...args: Parameters<typeof origRx>) {
    const r = origRx.apply(this, args);
    if (r >= 0) fused.rx++;
    return r;
  };
  Connection.prototype.placeAfter = function (this: Connection, ...args: Parameters<typeof origRxAfter>) {
    const r = origRxAfter.apply(this, args);
    if (r >= 0) fused.rx++;
    return r;
  };
});
afterEach(() => {
  Connection.prototype.copyPayloadSum = origTx;
  Connection.prototype.copyPayloadSumScatter = origTxScatter;
  Connection.prototype.placeInOrder = origRx;
  Connection.prototype.placeAfter = origRxAfter;
});

function expectFusedPaths(): void {
  if (byteKernelsInstalled()) {
    expect(fused.tx).toBeGreaterThan(100);
    expect(fused.rx).toBeGreaterThan(100);
  } else {
    expect(fused).toEqual({ tx: 0, rx: 0 });
  }
}

/**
 * Buffer sizes that are not powers of two and odd: the lazy rings end up
 * with odd capacities, so wrapped spans have odd lengths and the second span
 * of a payload starts at an odd offset (the byte-swapped case).
 */
const TCP = { sendBufferSize: 12_347, recvBufferSize: 9_999 };

/** Deterministic bytes (no two 64 KiB blocks alike). */
function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Write sizes: odd ones, tiny to several segments, so segment boundaries fall everywhere. */
const WRITES = [1, 3, 777, 1459, 4099, 63, 65, 12_001, 97, 2921, 5];

interface Result {
  intact: boolean;
  badChecksum: number;
}

/**
 * Sends `total` bytes from a to b in odd-sized writes with Nagle off; the
 * reader pauses now and then so the receive ring fills and wraps.
 */
async function transfer(a: Stack, b: Stack, total: number): Promise<Result> {
  const data = pattern(total, total);
  const got = createHash('sha256');
  let n = 0;
  const done = new Promise<void>((res, rej) => {
    const server = b.net.createServer((s) => {
      let chunks = 0;
      s.on('data', (d: Buffer) => {
        got.update(d);
        n += d.length;
        if (++chunks % 7 === 0) {
          s.pause();
          setTimeout(() => s.resume(), 2);
        }
      });
      s.on('end', () => {
        s.end();
        server.close();
        res();
      });
      s.on('error', rej);
    });
    server.listen(7100, () => {
      const c = a.net.connect(7100, '10.0.0.2', () => {
        c.setNoDelay(true);
        let off = 0;
        let k = 0;
        const pump = (): void => {
          while (off < total) {
            const len = Math.min(WRITES[k++ % WRITES.length]!, total - off);
            const more = c.write(data.subarray(off, off + len));
            off += len;
            if (!more) {
              c.once('drain', pump);
              return;
            }
          }
          c.end();
        };
        pump();
      });
      c.on('error', rej);
      c.resume();
    });
  });
  await done;
  return {
    intact: n === total && got.digest('hex') === createHash('sha256').update(data).digest('hex'),
    badChecksum: b.stats()['tcp']!['badChecksum']! + a.stats()['tcp']!['badChecksum']!,
  };
}

/** RFC 1071 over a captured TCP/IPv4 frame, written out here independently of the stack's code. */
function tcpChecksumOk(f: Uint8Array): boolean {
  const ip = 14;
  const ihl = (f[ip]! & 0x0f) * 4;
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  const tcpLen = total - ihl;
  let sum = 6 + tcpLen;
  for (let i = 12; i < 20; i += 2) sum += (f[ip + i]! << 8) | f[ip + i + 1]!;
  const t = ip + ihl;
  for (let i = 0; i < tcpLen; i += 2) sum += (f[t + i]! << 8) | (i + 1 < tcpLen ? f[t + i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

describe(`fused copy and checksum (native kernels ${byteKernelsInstalled() ? 'installed' : 'not installed'})`, () => {
  it('addPartSum: summing a buffer in pieces at any split equals summing it whole', () => {
    const buf = pattern(301, 7);
    const whole = onesSum(buf, 0, buf.length);
    for (const cut of [0, 1, 2, 3, 100, 151, 300, 301]) {
      let s = onesSum(buf, 0, cut);
      s = addPartSum(s, onesSum(buf, cut, buf.length - cut), cut);
      expect(onesSum(buf, 0, 0, s), `cut ${cut}`).toBe(whole);
    }
  });

  it('moves odd-sized writes through wrapping rings intact, every frame with a valid TCP checksum', async () => {
    const [a, b] = await Stack.pair(undefined, { tcp: TCP });
    const dir = mkdtempSync(join(tmpdir(), 'ustack-fused-'));
    try {
      // Each capture sees its stack's frames before the link: both directions' transmit paths.
      a.capture(join(dir, 'a.pcap'));
      b.capture(join(dir, 'b.pcap'));
      const r = await transfer(a, b, 600_000);
      expect(r.intact).toBe(true);
      expect(r.badChecksum).toBe(0);
      expectFusedPaths();
      a.capture(null);
      b.capture(null);
      let checked = 0;
      let payloadFrames = 0;
      let bad = 0;
      for (const name of ['a.pcap', 'b.pcap']) {
        for (const { data: f } of readPcap(new Uint8Array(readFileSync(join(dir, name))))) {
          if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) continue;
          checked++;
          const ihl = (f[14]! & 0x0f) * 4;
          if (((f[16]! << 8) | f[17]!) - ihl - (f[14 + ihl + 12]! >>> 4) * 4 >= 64) payloadFrames++;
          if (!tcpChecksumOk(f)) bad++;
        }
      }
      expect(bad).toBe(0);
      expect(payloadFrames).toBeGreaterThan(400);
      expect(checked).toBeGreaterThan(payloadFrames);
    } finally {
      await a.close();
      await b.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('drops segments whose payload was corrupted on the link, counts them, and the data still arrives intact', async () => {
    // One random bit flipped in 3% of frames (seeded): mostly payload bits of
    // in-order data segments, which the fused receive path must refuse to commit.
    const [a, b] = await Stack.pair({ corrupt: 0.03, seed: 11 }, { tcp: TCP });
    try {
      const r = await transfer(a, b, 400_000);
      expect(r.intact).toBe(true);
      expect(r.badChecksum).toBeGreaterThan(0);
      expectFusedPaths();
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);
});
