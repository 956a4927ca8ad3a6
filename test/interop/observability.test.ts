/**
 * Observability against outside tools: pcap files from stack.capture() and
 * USTACK_PCAP read by `tcpdump -r`; NODE_DEBUG=ustack log lines; `ustack
 * stats <pid>` on a running `ustack echo` (TAP, kernel as the client).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

/** Upper bound on one tcpdump -r / ustack stats run. */
const TOOL_MS = 30_000;
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
      const echoed = await withTimeout(
        new Promise<string>((resolve, reject) => {
          let got = '';
          const c = b.net.connect(7, a.address, () => c.end('hello pcap'));
          c.on('data', (d) => (got += d));
          c.on('end', () => resolve(got));
          c.on('error', reject);
        }),
        { timeoutMs: 10_000, what: 'the echo of "hello pcap" between two stacks' },
      );
      expect(echoed).toBe('hello pcap');
      await new Promise<void>((r) => server.close(() => r()));
      await a.close();
      await b.close();
      const { stdout } = await runBounded('tcpdump', ['-nn', '-r', join(dir, 'a.pcap')], { timeoutMs: TOOL_MS });
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
  let child: TrackedChild;
  let ours: string;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ustack-obs-'));
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    const ifname = uniqueIfName('uobs');
    child = startChild(
      process.execPath,
      [bin, 'echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `10.11.${subnet}.1/24`, '--port', '7'],
      {
        what: `ustack echo on ${ifname} (NODE_DEBUG=ustack, USTACK_PCAP)`,
        env: { ...process.env, NODE_DEBUG: 'ustack', USTACK_PCAP: join(dir, 'echo.pcap'), USTACK_RUN_DIR: dir },
      },
    );
    await waitForOutput(child, `ustack echo listening on ${ours}:7`);
  });

  afterAll(async () => {
    await child?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves a TCP echo, then `ustack stats <pid>` prints its per-layer counters', async () => {
    const got = await withTimeout(
      new Promise<string>((resolve, reject) => {
        let s = '';
        const c = net.connect(7, ours, () => c.end('observe me'));
        c.on('data', (d) => (s += d));
        c.on('end', () => resolve(s));
        c.on('error', reject);
      }),
      { timeoutMs: 10_000, what: `the echo of "observe me" from ${ours}:7`, detail: () => child.describe() },
    );
    expect(got).toBe('observe me');
    const pid = child.process.pid!;
    const env = { ...process.env, USTACK_RUN_DIR: dir };
    const { stdout: out } = await runBounded(process.execPath, [bin, 'stats', String(pid)], { timeoutMs: TOOL_MS, env });
    const doc = JSON.parse(out) as { pid: number; stats: Record<string, Record<string, number>> };
    console.log(`[observability] ustack stats ${pid}: link ${JSON.stringify(doc.stats.link)} tcp.passiveOpens=${doc.stats.tcp!.passiveOpens}`);
    expect(doc.pid).toBe(pid);
    expect(doc.stats.tcp!.passiveOpens).toBeGreaterThanOrEqual(1);
    expect(doc.stats.link!.frames_in).toBeGreaterThan(0);
    expect(doc.stats.arp).toBeDefined();
    // Without a pid it finds the only running server in the run dir.
    const { stdout: out2 } = await runBounded(process.execPath, [bin, 'stats'], { timeoutMs: TOOL_MS, env });
    expect((JSON.parse(out2) as { pid: number }).pid).toBe(pid);
  });

  it('NODE_DEBUG=ustack logs interface up, ARP and TCP state changes; USTACK_PCAP is read by tcpdump after exit', async () => {
    child.kill('SIGINT');
    await withTimeout(child.done, { timeoutMs: 20_000, what: 'ustack echo to exit after SIGINT', detail: () => child.describe() });
    const log = child.stderr().split('\n').filter((l) => l.startsWith('USTACK '));
    console.log(`[observability] NODE_DEBUG=ustack: ${log.length} lines, e.g.\n  ${log.slice(0, 6).join('\n  ')}`);
    expect(log.some((l) => /iface .* up: /.test(l))).toBe(true);
    expect(log.some((l) => /tcp .* SYN_RECEIVED -> ESTABLISHED/.test(l))).toBe(true);
    expect(existsSync(join(dir, `${child.process.pid}.json`))).toBe(false); // removed on exit
    const { stdout: dump } = await runBounded('tcpdump', ['-nn', '-r', join(dir, 'echo.pcap')], { timeoutMs: TOOL_MS });
    expect(dump).toMatch(new RegExp(`${ours.replace(/\./g, '\\.')}\\.7 > [0-9.]+: Flags \\[S\\.\\]`));
  });
});
