/**
 * Capture files hold every byte of traffic and their path may come from the
 * environment (USTACK_PCAP) of a root process: created mode 0600, never
 * written through a symbolic link, an existing file replaced only when it is
 * a regular file of ours with a single link. Refusals are coded errors.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, readPcap } from '../../src/driver/pcap.js';
import { CaptureNic } from '../../src/driver/capture-nic.js';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { Stack } from '../../src/index.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ustack-pcap-safety-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  delete process.env.USTACK_PCAP;
});

const mode = (p: string): number => statSync(p).mode & 0o777;

describe('PcapWriter.open', () => {
  it('creates the capture mode 0600 (whatever the umask allows)', () => {
    const path = join(tmp(), 'new.pcap');
    const old = process.umask(0);
    try {
      PcapWriter.open(path).close();
    } finally {
      process.umask(old);
    }
    expect(mode(path)).toBe(0o600);
    expect(readPcap(new Uint8Array(readFileSync(path)))).toEqual([]);
  });

  it('refuses a symbolic link (ERR_USTACK_PCAP_SYMLINK) and leaves its target untouched', () => {
    const d = tmp();
    const target = join(d, 'victim');
    writeFileSync(target, 'do not touch', { mode: 0o644 });
    const link = join(d, 'trace.pcap');
    symlinkSync(target, link);
    expect(() => PcapWriter.open(link)).toThrow(expect.objectContaining({ code: 'ERR_USTACK_PCAP_SYMLINK', path: link }));
    expect(() => PcapWriter.open(link)).toThrow(/symbolic link/);
    expect(readFileSync(target, 'utf8')).toBe('do not touch');
    expect(mode(target)).toBe(0o644);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('refuses a dangling symbolic link without creating its target', () => {
    const d = tmp();
    const target = join(d, 'would-be-created');
    const link = join(d, 'trace.pcap');
    symlinkSync(target, link);
    expect(() => PcapWriter.open(link)).toThrow(expect.objectContaining({ code: 'ERR_USTACK_PCAP_SYMLINK' }));
    expect(existsSync(target)).toBe(false);
  });

  it('replaces an existing regular file of ours, truncated and made 0600', () => {
    const path = join(tmp(), 'old.pcap');
    writeFileSync(path, 'x'.repeat(10_000), { mode: 0o644 });
    const w = PcapWriter.open(path);
    w.write(new Uint8Array(60), 0, 60, 1);
    w.close();
    expect(mode(path)).toBe(0o600);
    expect(readPcap(new Uint8Array(readFileSync(path)))).toHaveLength(1);
  });

  it('refuses a file with another hard link (ERR_USTACK_PCAP_UNSAFE_FILE), untouched', () => {
    const d = tmp();
    const other = join(d, 'other');
    writeFileSync(other, 'keep');
    const path = join(d, 'trace.pcap');
    linkSync(other, path);
    expect(() => PcapWriter.open(path)).toThrow(expect.objectContaining({ code: 'ERR_USTACK_PCAP_UNSAFE_FILE', path }));
    expect(readFileSync(other, 'utf8')).toBe('keep');
  });

  it('a directory fails with fs\'s own coded error', () => {
    const path = join(tmp(), 'dir');
    mkdirSync(path);
    expect(() => PcapWriter.open(path)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
  });
});

describe('captures through the stack', () => {
  it('CaptureNic.start on a symbolic link throws and captures nothing', async () => {
    const d = tmp();
    const target = join(d, 'victim');
    writeFileSync(target, 'secret');
    const link = join(d, 'cap.pcap');
    symlinkSync(target, link);
    const [a, b] = MemoryNic.pair();
    const nic = new CaptureNic(a, () => 0);
    expect(() => nic.start(link)).toThrow(expect.objectContaining({ code: 'ERR_USTACK_PCAP_SYMLINK' }));
    expect(nic.capturing).toBe(false);
    expect(readFileSync(target, 'utf8')).toBe('secret');
    await nic.close();
    await b.close();
  });

  it('USTACK_PCAP naming a symbolic link fails the open with the coded error', async () => {
    const d = tmp();
    const target = join(d, 'victim');
    writeFileSync(target, 'secret');
    const link = join(d, 'env.pcap');
    symlinkSync(target, link);
    process.env.USTACK_PCAP = link;
    await expect(Stack.pair()).rejects.toMatchObject({ code: 'ERR_USTACK_PCAP_SYMLINK' });
    expect(readFileSync(target, 'utf8')).toBe('secret');
  });

  it('USTACK_PCAP naming a fresh path captures to a 0600 file', async () => {
    const path = join(tmp(), 'env.pcap');
    process.env.USTACK_PCAP = path;
    const [a, b] = await Stack.pair();
    await a.close();
    await b.close();
    expect(mode(path)).toBe(0o600);
    expect(readPcap(new Uint8Array(readFileSync(path))).length).toBeGreaterThan(0);
  });
});
