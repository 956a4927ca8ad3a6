/**
 * The `ustack/dgram` drop-in on the default stack: loopback-only without
 * USTACK_NIC, same exports as node:dgram, and the process-lifetime rules
 * (a bound socket keeps the process alive; an unref'd one or the default
 * stack alone does not), checked in child processes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import nodeDgram from 'node:dgram';
import { describe, expect, it } from 'vitest';
import * as entry from '../../src/entry/dgram-entry.js';
import { defaultStackOptions } from '../../src/entry/default-stack.js';

const execFileAsync = promisify(execFile);

async function child(code: string): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    cwd: process.cwd(),
    env: { ...process.env, USTACK_NIC: '', USTACK_DNS: '' },
    timeout: 30_000,
  });
  return stdout;
}

const src = new URL('../../src/entry/dgram-entry.ts', import.meta.url).pathname;

describe('ustack/dgram drop-in', () => {
  it('has the same exports as node:dgram', () => {
    expect(Object.keys(entry).filter((k) => k !== 'default').sort()).toEqual(['Socket', 'createSocket']);
    expect(Object.keys(nodeDgram).sort()).toEqual(expect.arrayContaining(['Socket', 'createSocket']));
    const s = entry.createSocket('udp4');
    expect(s).toBeInstanceOf(entry.Socket);
    s.close();
  });

  it('reads the environment', () => {
    expect(defaultStackOptions({})).toEqual({});
    expect(
      defaultStackOptions({ USTACK_NIC: 'tap:x', USTACK_ADDRESS: 'dhcp', USTACK_GATEWAY: '10.0.0.1', USTACK_HOST_ADDRESS: '10.0.0.1/24', USTACK_DNS: '10.0.0.53' }),
    ).toEqual({ nic: 'tap:x', address: 'dhcp', gateway: '10.0.0.1', hostAddress: '10.0.0.1/24', dns: '10.0.0.53' });
  });

  it('echoes over localhost with no device, then the process exits once sockets close', async () => {
    const out = await child(`
      import { createSocket } from ${JSON.stringify(src)};
      const srv = createSocket('udp4', (m, r) => srv.send(m, r.port, r.address));
      srv.bind(41234, 'localhost', () => {
        const c = createSocket('udp4');
        c.on('message', (m) => { console.log('echo:' + m); c.close(); srv.close(); });
        c.send('hi', 41234, 'localhost');
      });
    `);
    expect(out.trim()).toBe('echo:hi');
  });

  it('an unref()d bound socket does not keep the process alive; a ref()d one does until closed', async () => {
    const out = await child(`
      import { createSocket } from ${JSON.stringify(src)};
      const a = createSocket('udp4');
      a.bind(0, () => { a.unref(); console.log('bound'); });
      const b = createSocket('udp4');
      b.bind(0, () => setTimeout(() => { console.log('closing'); b.close(); }, 50));
      process.on('exit', () => console.log('exit'));
    `);
    expect(out.trim().split('\n')).toEqual(['bound', 'closing', 'exit']);
  });
});
