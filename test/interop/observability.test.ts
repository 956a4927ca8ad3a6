/**
 * Observability against outside tools: pcap files from stack.capture() and
 * USTACK_PCAP read by `tcpdump -r`; NODE_DEBUG=ustack log lines; `ustack
 * stats <pid>` on a running `ustack echo` (TAP, kernel as the client).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { packageRoot } from '../../src/driver/addon.js';
import { ensureTools, freeSubnet24, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';

const execFileAsync = promisify(execFile);
const tcpdumpMissing = ensureTools(['tcpdump']);
if (tcpdumpMissing !== undefined) console.log(`[observability.test] tcpdump tests skip: ${tcpdumpMissing}`);

describe.skipIf(tcpdumpMissing !== undefined)('stack.capture() files are read by tcpdump', () => {
  it('a TCP exchange between two stacks, captured on both, decodes in tcpdump -r', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-pcap-'));
    try {
      const [a, b] = await Stack.pair();
      a.capture(join(dir, 'a.pcap'));
      const server = a.net.createServer((s) => s.pipe(s));
      await new Promise<void>((r) => server.listen(7, r));
      const echoed = await new Promise<string>((resolve, reject) => {
        let got = '';
        const c = b.net.connect(7, a.address, () => c.end('hello pcap'));
        c.on('data', (d) => (got += d));
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
      expect(echoed).toBe('hello pcap');
      await new Promise<void>((r) => server.close(() => r()));
      await a.close();
      await b.close();
      const { stdout } = await execFileAsync('tcpdump', ['-nn', '-r', join(dir, 'a.pcap')]);
      const lines = stdout.trim().split('\n');
      console.log(`[observability] tcpdump -r a.pcap: ${lines.length} packets, e.g. ${lines.find((l) => l.includes('Flags [S]'))}`);
      expect(lines.some((l) => /ARP, Request who-has/.test(l))).toBe(true);
      expect(lines.some((l) => /10\.0\.0\.2\.\d+ > 10\.0\.0\.1\.7: Flags \[S\]/.test(l))).toBe(true);
      expect(lines.some((l) => /10\.0\.0\.1\.7 > 10\.0\.0\.2\.\d+: Flags \[S\.\]/.test(l))).toBe(true);
      expect(lines.some((l) => /length 10/.test(l))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const bin = join(packageRoot(), 'bin', 'ustack.js');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'stats.js'));
const tapSkip = tunUnavailableReason() ?? tcpdumpMissing ?? (built ? undefined : 'dist/ not built (npm run build)');
if (tapSkip !== undefined) console.log(`[observability.test] ustack echo tests skip: ${tapSkip}`);

describe.skipIf(tapSkip !== undefined)('ustack echo: USTACK_PCAP, NODE_DEBUG=ustack, ustack stats', () => {
  let child: ChildProcess;
  let ours: string;
  let dir: string;
  let stderr = '';
  let stdout = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-obs-'));
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    const ifname = uniqueIfName('uobs');
    child = spawn(process.execPath, [bin, 'echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `10.11.${subnet}.1/24`, '--port', '7'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_DEBUG: 'ustack', USTACK_PCAP: join(dir, 'echo.pcap'), USTACK_RUN_DIR: dir },
    });
    child.stderr!.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        stdout += d;
        if (stdout.includes(`ustack echo listening on ${ours}:7`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`ustack echo exited with ${code}: ${stdout}${stderr}`)));
    });
  });

  afterAll(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves a TCP echo, then `ustack stats <pid>` prints its per-layer counters', async () => {
    const got = await new Promise<string>((resolve, reject) => {
      let s = '';
      const c = net.connect(7, ours, () => c.end('observe me'));
      c.on('data', (d) => (s += d));
      c.on('end', () => resolve(s));
      c.on('error', reject);
    });
    expect(got).toBe('observe me');
    const { stdout: out } = await execFileAsync(process.execPath, [bin, 'stats', String(child.pid)], { env: { ...process.env, USTACK_RUN_DIR: dir } });
    const doc = JSON.parse(out) as { pid: number; stats: Record<string, Record<string, number>> };
    console.log(`[observability] ustack stats ${child.pid}: link ${JSON.stringify(doc.stats.link)} tcp.passiveOpens=${doc.stats.tcp!.passiveOpens}`);
    expect(doc.pid).toBe(child.pid);
    expect(doc.stats.tcp!.passiveOpens).toBeGreaterThanOrEqual(1);
    expect(doc.stats.link!.frames_in).toBeGreaterThan(0);
    expect(doc.stats.arp).toBeDefined();
    // Without a pid it finds the only running server in the run dir.
    const { stdout: out2 } = await execFileAsync(process.execPath, [bin, 'stats'], { env: { ...process.env, USTACK_RUN_DIR: dir } });
    expect((JSON.parse(out2) as { pid: number }).pid).toBe(child.pid);
  });

  it('NODE_DEBUG=ustack logs interface up, ARP and TCP state changes; USTACK_PCAP is read by tcpdump after exit', async () => {
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGINT');
    });
    const log = stderr.split('\n').filter((l) => l.startsWith('USTACK '));
    console.log(`[observability] NODE_DEBUG=ustack: ${log.length} lines, e.g.\n  ${log.slice(0, 6).join('\n  ')}`);
    expect(log.some((l) => /iface .* up: /.test(l))).toBe(true);
    expect(log.some((l) => /tcp .* SYN_RECEIVED -> ESTABLISHED/.test(l))).toBe(true);
    expect(existsSync(join(dir, `${child.pid}.json`))).toBe(false); // removed on exit
    const { stdout: dump } = await execFileAsync('tcpdump', ['-nn', '-r', join(dir, 'echo.pcap')]);
    expect(dump).toMatch(new RegExp(`${ours.replace(/\./g, '\\.')}\\.7 > [0-9.]+: Flags \\[S\\.\\]`));
  });
});
