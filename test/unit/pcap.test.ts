import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, readPcap } from '../../src/driver/pcap.js';
import { WireError } from '../../src/wire/errors.js';

const kernelPath = new URL('../data/kernel-frames.pcap', import.meta.url);
const kernelFrames = readPcap(new Uint8Array(readFileSync(kernelPath)));

function hasTcpdump(): boolean {
  try {
    execFileSync('tcpdump', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'ustack-pcap-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('pcap', () => {
  it('writes frames that read back identically (offsets inside a pool, µs timestamps)', () => {
    withTmp((dir) => {
      const path = join(dir, 'a.pcap');
      const w = PcapWriter.open(path);
      const pool = new Uint8Array(4096);
      const sent: { timeMs: number; data: Uint8Array }[] = [];
      for (let i = 0; i < 50; i++) {
        const len = 14 + ((i * 37) % 1500);
        const off = (i * 61) % (pool.length - len);
        for (let j = 0; j < len; j++) pool[off + j] = (i + j) & 0xff;
        const timeMs = 1_700_000_000_000 + i * 1.5 + 0.001;
        w.write(pool, off, len, timeMs);
        sent.push({ timeMs, data: pool.slice(off, off + len) });
      }
      w.close();
      w.close(); // idempotent
      expect(() => w.write(pool, 0, 14, 0)).toThrow();
      const got = readPcap(new Uint8Array(readFileSync(path)));
      expect(got).toHaveLength(sent.length);
      for (let i = 0; i < sent.length; i++) {
        expect(got[i]!.timeMs).toBeCloseTo(sent[i]!.timeMs, 6);
        expect(Array.from(got[i]!.data)).toEqual(Array.from(sent[i]!.data));
      }
    });
  });

  it('flushes when the buffer fills and truncates to snaplen', () => {
    withTmp((dir) => {
      const path = join(dir, 'b.pcap');
      const w = PcapWriter.open(path, { snaplen: 100 });
      const frame = new Uint8Array(1514).map((_, i) => i & 0xff);
      const n = 5000; // ~580 KB of records: several buffer flushes
      for (let i = 0; i < n; i++) w.write(frame, 0, i % 2 === 0 ? 1514 : 60, i);
      w.flush();
      w.close();
      const bytes = new Uint8Array(readFileSync(path));
      const got = readPcap(bytes);
      expect(got).toHaveLength(n);
      expect(got[0]!.data.length).toBe(100);
      expect(got[1]!.data.length).toBe(60);
      expect(got[4999]!.timeMs).toBe(4999);
      // orig_len of the first record is the full frame length.
      expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(24 + 12, true)).toBe(1514);
    });
  });

  it('reads big-endian and nanosecond files; ignores a partial trailing record; rejects junk', () => {
    const rec = [1, 2, 3, 4];
    const build = (little: boolean, magic: number, frac: number): Uint8Array => {
      const b = new Uint8Array(24 + 16 + rec.length + 5);
      const dv = new DataView(b.buffer);
      dv.setUint32(0, magic, little);
      dv.setUint16(4, 2, little);
      dv.setUint16(6, 4, little);
      dv.setUint32(16, 65535, little);
      dv.setUint32(20, 1, little);
      dv.setUint32(24, 10, little);
      dv.setUint32(28, frac, little);
      dv.setUint32(32, rec.length, little);
      dv.setUint32(36, rec.length, little);
      b.set(rec, 40);
      return b; // 5 trailing bytes: a partial record header
    };
    for (const little of [true, false]) {
      const us = readPcap(build(little, 0xa1b2c3d4, 250_000));
      expect(us).toHaveLength(1);
      expect(us[0]!.timeMs).toBe(10_250);
      expect(Array.from(us[0]!.data)).toEqual(rec);
      const ns = readPcap(build(little, 0xa1b23c4d, 250_000_000));
      expect(ns[0]!.timeMs).toBe(10_250);
    }
    expect(() => readPcap(new Uint8Array(10))).toThrow(WireError);
    expect(() => readPcap(new Uint8Array(24))).toThrow(WireError);
  });

  it.skipIf(!hasTcpdump())('tcpdump reads our file exactly as it reads its own', () => {
    withTmp((dir) => {
      const path = join(dir, 'c.pcap');
      const w = PcapWriter.open(path);
      for (const f of kernelFrames) w.write(f.data, 0, f.data.length, f.timeMs);
      w.close();
      const args = ['-nn', '-vv', '-tt', '-r'];
      const ours = execFileSync('tcpdump', [...args, path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      const theirs = execFileSync('tcpdump', [...args, kernelPath.pathname], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      expect(ours.length).toBeGreaterThan(0);
      expect(ours).toBe(theirs);
    });
  });
});
