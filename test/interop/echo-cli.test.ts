/**
 * The README's main job, end to end: its first command (`npm ci && node
 * bin/ustack.js echo ...`, read from README.md and run with this test's own
 * TAP name and subnet), driven from the host kernel's own sockets (node:net /
 * node:dgram here are kernel sockets) and ping; Ctrl-C (SIGINT) stops it
 * cleanly and removes the TAP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { assertRouteOver, ensureTools, freeSubnet24, linkExists, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const bin = join(packageRoot(), 'bin', 'ustack.js');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
const skipReason = tunUnavailableReason() ?? ensureTools(['ping']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[echo-cli.test] skipping: ${skipReason}`);

/**
 * The arguments of the README's first command after `node bin/ustack.js`,
 * with its TAP name and 10.11.0.0/24 addresses replaced by this run's.
 */
function readmeEchoArgs(ifname: string, subnet: number): string[] {
  const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');
  const first = /```sh\n(.*)\n/.exec(readme)?.[1] ?? '';
  const m = /^npm ci && node bin\/ustack\.js (echo .*)$/.exec(first);
  if (m === null) throw new Error(`README's first command is not 'npm ci && node bin/ustack.js echo ...': ${first}`);
  return m[1]!.split(/\s+/).map((a) => a.replace(/^tap:ustack0$/, `tap:${ifname}`).replace(/^10\.11\.0\./, `10.11.${subnet}.`));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Sends `size` random bytes to [host]:7 over the kernel's TCP, half-closes, and checks the echo by SHA-256. */
async function tcpEchoChecked(host: string, size: number, describe: () => string): Promise<void> {
  const data = randomBytes(size);
  const chunks: Buffer[] = [];
  let got = 0;
  const s = net.connect(7, host, () => {
    s.end(data);
  });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        s.on('data', (d: Buffer) => {
          chunks.push(d);
          got += d.length;
        });
        s.on('end', () => resolve());
        s.on('error', reject);
      }),
      { timeoutMs: 60_000, what: `${size} bytes echoed back by ${host}:7`, detail: () => `${got} bytes back; ${describe()}` },
    );
  } finally {
    s.destroy();
  }
  const back = Buffer.concat(chunks);
  expect(back.length).toBe(data.length);
  expect(sha(back)).toBe(sha(data));
}

describe.skipIf(skipReason !== undefined)('ustack echo on a TAP device', () => {
  let child: TrackedChild;
  let ifname: string;
  let ours: string;

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    ifname = uniqueIfName('uecho');
    const args = readmeEchoArgs(ifname, subnet);
    expect(args).toEqual(['echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `10.11.${subnet}.1/24`]);
    child = startChild(process.execPath, [bin, ...args], { what: `ustack echo on ${ifname} (README's first command)` });
    await waitForOutput(child, `ustack echo listening on ${ours}:7`);
  });

  afterAll(async () => {
    await child?.stop();
  });

  it('answers ping', async () => {
    const { stdout } = await runBounded('ping', ['-c', '3', '-i', '0.1', '-W', '2', ours], { timeoutMs: 20_000 });
    expect(stdout).toMatch(/3 packets transmitted, 3 received/);
  });

  it('echoes 4 MB over TCP byte for byte', async () => {
    await tcpEchoChecked(ours, 4 * 1024 * 1024, () => child.describe());
  });

  it('echoes UDP datagrams', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const reply = await withTimeout(
        new Promise<Buffer>((resolve) => {
          sock.on('message', (m) => resolve(m));
          sock.send('hello ustack', 7, ours);
        }),
        { timeoutMs: 10_000, what: `a UDP echo from ${ours}:7`, detail: () => child.describe() },
      );
      expect(reply.toString()).toBe('hello ustack');
    } finally {
      sock.close();
    }
  });

  it('stops cleanly on SIGINT and removes its TAP device', async () => {
    child.kill('SIGINT');
    const res = await withTimeout(child.done, {
      timeoutMs: 20_000,
      what: 'ustack echo to exit after SIGINT',
      detail: () => child.describe(),
    });
    expect(res.code).toBe(0);
    expect(res.stdout + res.stderr).toContain('ustack echo stopped');
    expect(linkExists(ifname)).toBe(false);
  });
});

describe.skipIf(skipReason !== undefined)('ustack echo with --address and --host-address given for IPv4 and IPv6', () => {
  let child: TrackedChild;
  let ifname: string;
  let ours6: string;
  let ours4: string;

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours4 = `10.11.${subnet}.2`;
    const p6 = `fd00:11:${subnet.toString(16)}`;
    ours6 = `${p6}::2`;
    ifname = uniqueIfName('uech6');
    const args = ['echo', '--nic', `tap:${ifname}`, '--address', `10.11.${subnet}.2/24`, '--address', `${ours6}/64`, '--host-address', `10.11.${subnet}.1/24`, '--host-address', `${p6}::1/64`];
    child = startChild(process.execPath, [bin, ...args], { what: `ustack echo (dual stack) on ${ifname}` });
    // The ready line names every address: IPv4 first, then the IPv6 ones in brackets.
    await waitForOutput(child, `ustack echo listening on 10.11.${subnet}.2:7, `);
    await waitForOutput(child, `[${ours6}]:7`);
  });

  afterAll(async () => {
    await child?.stop();
  });

  it('answers ping -6 and echoes UDP over IPv6 once its addresses passed DAD', async () => {
    assertRouteOver(ours6, ifname);
    // DAD keeps the address tentative for a second: ping until it answers.
    await waitFor(async () => {
      const r = await runBounded('ping', ['-6', '-c', '1', '-W', '1', '-I', ifname, ours6], { timeoutMs: 10_000 }).catch(() => ({ stdout: '' }));
      return /1 received/.test(r.stdout);
    }, { timeoutMs: 15_000, what: `ping -6 ${ours6}`, detail: () => child.describe() });
    const sock = dgram.createSocket('udp6');
    try {
      const reply = await withTimeout(
        new Promise<Buffer>((resolve) => {
          sock.on('message', (m) => resolve(m));
          sock.send('hello ustack over IPv6', 7, ours6);
        }),
        { timeoutMs: 10_000, what: `a UDP echo from [${ours6}]:7`, detail: () => child.describe() },
      );
      expect(reply.toString()).toBe('hello ustack over IPv6');
    } finally {
      sock.close();
    }
  });

  it('echoes TCP over IPv6 and over IPv4 on the one dual-stack listener (::)', async () => {
    assertRouteOver(ours6, ifname);
    assertRouteOver(ours4, ifname);
    await tcpEchoChecked(ours6, 1024 * 1024, () => child.describe());
    await tcpEchoChecked(ours4, 1024 * 1024, () => child.describe());
  });
});
