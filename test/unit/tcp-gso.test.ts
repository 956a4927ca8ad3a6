/**
 * Software GSO end to end: two stacks' sockets on the in-process link
 * (test/helpers/socket-pair.ts, virtual clock), plain MTU 1500 link (no
 * offloads). The sender's TCP hands IP output segments of several MSS and
 * IP output cuts them (Interface.sendSegmented): every frame on the wire is
 * checked as it leaves (at most the MTU, IPv4 and TCP checksums verified by
 * the wire codecs), the bytes arrive exactly, and the receiver drops
 * nothing for a bad checksum. The same transfer with `gso: false` moves the
 * same bytes with no segmented send; an impaired link (loss, reordering,
 * duplication, corruption) still delivers exactly.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type * as nodeNet from 'node:net';
import { SocketPair, type SocketPairOptions } from '../helpers/socket-pair.js';
import { CaptureNic } from '../../src/driver/capture-nic.js';
import type { Nic } from '../../src/driver/nic.js';
import { IPPROTO_TCP, parseIpv4 } from '../../src/wire/ipv4.js';
import { parseTcp } from '../../src/wire/tcp.js';

/** Checks every frame a NIC is handed before it goes: IPv4 header and TCP checksums, size. */
class FrameCheck extends CaptureNic {
  frames = 0;
  tcpFrames = 0;
  bad = 0;
  oversize = 0;
  constructor(inner: Nic, private readonly limit: number) {
    super(inner, () => 0);
  }
  override txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    const pool = this.pool;
    for (let i = 0; i < n; i++) {
      const base = slots[i]! * this.slotSize;
      const len = lens[i]!;
      this.frames++;
      if (len - 14 > this.limit) this.oversize++;
      if (((pool[base + 12]! << 8) | pool[base + 13]!) !== 0x0800) continue;
      try {
        const ip = parseIpv4(pool, base + 14, len - 14, true);
        if (ip.protocol !== IPPROTO_TCP) continue;
        this.tcpFrames++;
        parseTcp(pool, base + 34, ip.payloadLength, ip.src, ip.dst, true);
      } catch {
        this.bad++;
      }
    }
    return super.txBurst(slots, lens, n);
  }
}

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

interface Outcome {
  exact: boolean;
  segmented: number;
  framesOut: number;
  checks: FrameCheck[];
  badChecksumDrops: number;
}

/** `bytes` from a to b in 256 KiB writes, read by a 'data' reader; b answers 64 KiB back. */
async function transfer(bytes: number, opts: SocketPairOptions): Promise<Outcome> {
  const checks: FrameCheck[] = [];
  const pair = new SocketPair({
    ...opts,
    wrapNic: (nic) => {
      const c = new FrameCheck(nic, opts.mtu ?? 1500);
      checks.push(c);
      return c;
    },
  });
  try {
    const netA = pair.a.net as unknown as typeof nodeNet;
    const netB = pair.b.net as unknown as typeof nodeNet;
    const data = pattern(bytes, 7);
    const back = pattern(65536, 9);
    const got = createHash('sha256');
    const gotBack = createHash('sha256');
    let n = 0;
    let nBack = 0;
    let ended = false;
    netB
      .createServer((s: nodeNet.Socket) => {
        s.on('data', (d: Buffer) => {
          got.update(d);
          n += d.length;
        });
        s.on('end', () => {
          ended = true;
          s.end(back);
        });
      })
      .listen(9000, pair.b.address);
    const c = netA.connect(9000, pair.b.address);
    c.on('data', (d: Buffer) => {
      gotBack.update(d);
      nBack += d.length;
    });
    let off = 0;
    const pump = (): void => {
      while (off < data.length) {
        const k = Math.min(256 * 1024, data.length - off);
        const more = c.write(data.subarray(off, off + k));
        off += k;
        if (!more) {
          c.once('drain', pump);
          return;
        }
      }
      c.end();
    };
    pump();
    await pair.run(() => ended && nBack === back.length, 600_000);
    const sa = pair.a.engine.interfaces[0]!.stats;
    return {
      exact:
        n === bytes &&
        got.digest('hex') === createHash('sha256').update(data).digest('hex') &&
        gotBack.digest('hex') === createHash('sha256').update(back).digest('hex'),
      segmented: sa.ip_tx_gso,
      framesOut: sa.ip_tx,
      checks,
      badChecksumDrops: pair.b.engine.stats().tcp.badChecksum ?? 0,
    };
  } finally {
    pair.close();
  }
}

describe('software GSO on the plain in-process link', () => {
  it('TCP sends segments of several MSS, IP output cuts them into valid MTU-sized frames, the bytes arrive exactly', async () => {
    const r = await transfer(8 * 1024 * 1024, { mtu: 1500 });
    console.log(`[tcp-gso] ${r.segmented} segmented sends, ${r.framesOut} IP frames from a; frames checked: ${r.checks.map((c) => c.tcpFrames).join(' / ')}`);
    expect(r.exact).toBe(true);
    expect(r.segmented).toBeGreaterThan(0);
    // 8 MiB at 1,448 bytes per frame is at least 5,793 data frames, from far fewer sends.
    expect(r.framesOut).toBeGreaterThanOrEqual(Math.ceil((8 * 1024 * 1024) / 1448));
    expect(r.segmented).toBeLessThan(r.framesOut / 4);
    for (const c of r.checks) {
      expect(c.bad).toBe(0);
      expect(c.oversize).toBe(0);
    }
    expect(r.checks[0]!.tcpFrames).toBeGreaterThanOrEqual(Math.ceil((8 * 1024 * 1024) / 1448));
    expect(r.badChecksumDrops).toBe(0);
  });

  it('with gso: false the same transfer goes segment by segment', async () => {
    const r = await transfer(2 * 1024 * 1024, { mtu: 1500, gso: false });
    expect(r.exact).toBe(true);
    expect(r.segmented).toBe(0);
    for (const c of r.checks) expect(c.bad).toBe(0);
  });

  it('MTU 9000 and MTU 576 links: frames of their MTU, bytes exact', async () => {
    for (const mtu of [9000, 576]) {
      const r = await transfer(2 * 1024 * 1024, { mtu });
      expect(r.exact, `mtu ${mtu}`).toBe(true);
      expect(r.segmented, `mtu ${mtu}`).toBeGreaterThan(0);
      for (const c of r.checks) {
        expect(c.bad, `mtu ${mtu}`).toBe(0);
        expect(c.oversize, `mtu ${mtu}`).toBe(0);
      }
    }
  });

  it('an impaired link (loss, reordering, duplication, corruption): the bytes arrive exactly', async () => {
    for (const seed of [1, 2, 3]) {
      const r = await transfer(2 * 1024 * 1024, {
        mtu: 1500,
        impair: { loss: 0.02, reorder: 0.05, duplicate: 0.02, corrupt: 0.01, seed },
      });
      expect(r.exact, `seed ${seed}`).toBe(true);
      expect(r.segmented, `seed ${seed}`).toBeGreaterThan(0);
    }
  });
});
