/**
 * The in-process link with veth-like offloads (Stack.pair({ offloads: true })):
 * TCP crosses it in super-frames up to 64 KiB with partial checksums that the
 * receiving end takes as verified, and the bytes arrive intact.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '../../src/driver/pcap.js';
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/ustack.js';

async function transfer(
  offloads: boolean,
  bytes: number,
  capture?: string,
): Promise<{ ok: boolean; framesOut: number; bytesOut: number; badChecksums: number }> {
  const [a, b] = await Stack.pair(undefined, { offloads });
  if (capture) a.capture(capture);
  try {
    const data = randomBytes(bytes);
    const got = createHash('sha256');
    let n = 0;
    const server = b.net.createServer((s) => {
      s.on('data', (d: Buffer) => {
        got.update(d);
        n += d.length;
      });
      s.on('end', () => s.end());
    });
    await new Promise<void>((res) => server.listen(7000, res));
    await new Promise<void>((res, rej) => {
      const c = a.net.connect(7000, '10.0.0.2', () => c.end(data));
      c.on('error', rej);
      c.resume();
      c.on('close', () => res());
    });
    server.close();
    const link = a.stats()['nic.mem0']!;
    const tcp = b.stats()['tcp']!;
    const badChecksums = Object.entries(tcp).filter(([k]) => /checksum/i.test(k)).reduce((s, [, v]) => s + v, 0);
    return {
      ok: n === bytes && got.digest('hex') === createHash('sha256').update(data).digest('hex'),
      framesOut: link.tx_frames!,
      bytesOut: link.tx_bytes!,
      badChecksums,
    };
  } finally {
    a.close();
    b.close();
  }
}

describe('MemoryNic offloads', () => {
  it('moves TCP in super-frames larger than the MTU, intact', async () => {
    const r = await transfer(true, 8 << 20);
    expect(r.ok).toBe(true);
    expect(r.badChecksums).toBe(0);
    // Far fewer, far larger frames than 1514-byte ones: TSO super-frames.
    expect(r.bytesOut / r.framesOut).toBeGreaterThan(8000);
  });

  it('a super-frame takes one IP ID per segment it will be cut into (no ID reused by the next frame)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-ipid-'));
    try {
      const file = join(dir, 'a.pcap');
      const r = await transfer(true, 2 << 20, file);
      expect(r.ok).toBe(true);
      let checked = 0;
      let prev: { id: number; segments: number } | null = null;
      for (const { data: f } of readPcap(new Uint8Array(readFileSync(file)))) {
        if (f.length < 54 || f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) continue;
        const src = (f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!;
        if (src >>> 0 !== 0x0a000001) continue; // a's frames only
        const ipLen = (f[16]! << 8) | f[17]!;
        const id = (f[18]! << 8) | f[19]!;
        const tcpHeader = (f[14 + 20 + 12]! >>> 4) * 4;
        const payload = ipLen - 20 - tcpHeader;
        const segments = payload > 1500 - 20 - tcpHeader ? Math.ceil(payload / (1500 - 20 - tcpHeader)) : 1;
        if (prev !== null && prev.segments > 1) {
          expect((id - prev.id) & 0xffff).toBeGreaterThanOrEqual(prev.segments);
          checked++;
        }
        prev = { id, segments };
      }
      expect(checked).toBeGreaterThan(10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without offloads every frame fits the MTU', async () => {
    const r = await transfer(false, 2 << 20);
    expect(r.ok).toBe(true);
    expect(r.bytesOut / r.framesOut).toBeLessThanOrEqual(1514);
  });

  it('refuses offloads together with the corrupt impairment', async () => {
    await expect(Stack.pair({ corrupt: 0.01 }, { offloads: true })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
