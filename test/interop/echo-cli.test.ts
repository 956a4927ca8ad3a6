/**
 * The README's main job, end to end: `ustack echo` on a TAP device, driven
 * from the host kernel's own sockets (node:net / node:dgram here are kernel
 * sockets) and ping; Ctrl-C (SIGINT) stops it cleanly and removes the TAP.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { ensureTools, freeSubnet24, linkExists, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';

const execFileAsync = promisify(execFile);
const bin = join(packageRoot(), 'bin', 'ustack.js');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
const skipReason = tunUnavailableReason() ?? ensureTools(['ping']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[echo-cli.test] skipping: ${skipReason}`);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe.skipIf(skipReason !== undefined)('ustack echo on a TAP device', () => {
  let child: ChildProcess;
  let ifname: string;
  let ours: string;
  let output = '';

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    ifname = uniqueIfName('uecho');
    child = spawn(process.execPath, [bin, 'echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `10.11.${subnet}.1/24`, '--port', '7'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stderr!.on('data', (d) => (output += d));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => {
        output += d;
        if (output.includes(`ustack echo listening on ${ours}:7`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`ustack echo exited with ${code}: ${output}`)));
    });
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('answers ping', async () => {
    const { stdout } = await execFileAsync('ping', ['-c', '3', '-i', '0.1', '-W', '2', ours]);
    expect(stdout).toMatch(/3 packets transmitted, 3 received/);
  });

  it('echoes 4 MB over TCP byte for byte', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(7, ours, () => {
        s.end(data);
      });
      s.on('data', (d) => chunks.push(d));
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    const back = Buffer.concat(chunks);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
  });

  it('echoes UDP datagrams', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const reply = await new Promise<Buffer>((resolve) => {
        sock.on('message', (m) => resolve(m));
        sock.send('hello ustack', 7, ours);
      });
      expect(reply.toString()).toBe('hello ustack');
    } finally {
      sock.close();
    }
  });

  it('stops cleanly on SIGINT and removes its TAP device', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).toContain('ustack echo stopped');
    expect(linkExists(ifname)).toBe(false);
  });
});
