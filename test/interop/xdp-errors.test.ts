/**
 * The clear errors of the AF_XDP backend, each on the case that causes it,
 * and what is (and is not) left on the interface after each: no such
 * interface, no native XDP on the interface (a bridge) and no zero-copy on a
 * veth, a queue the interface does not have, a foreign XDP program already
 * attached (left in place), another ustack on the interface, not permitted
 * (an unprivileged child). A ustack program left attached without a link
 * (as a process attaching through netlink would leave it) is replaced.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { loadAddon, packageRoot } from '../../src/driver/addon.js';
import { ensureTools, run, runBounded, uniqueIfName, which } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { startChild } from '../helpers/children.js';
import { waitFor } from '../helpers/wait.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

const peerScript = join(import.meta.dirname, '..', 'fixtures', 'ns-peer.mjs');
const cc = which('cc') ?? which('gcc');
const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']) ?? (cc ? undefined : 'no C compiler for the foreign-program fixture');
if (skipReason !== undefined) console.log(`[xdp-errors.test] skipping: ${skipReason}`);

async function openError(nic: string, address: string): Promise<{ code?: string; message: string }> {
  try {
    const s = await Stack.open({ nic, address });
    await s.close();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error(`Stack.open({ nic: '${nic}' }) succeeded`);
}

// The constructor's argument checks come before any system call: they need the addon, not XDP.
describe('XdpDevice argument checks', () => {
  const bad: [string, unknown[], string][] = [
    ['no ifname', [], 'ERR_INVALID_ARG_TYPE'],
    ['an empty ifname', [''], 'ERR_INVALID_ARG_VALUE'],
    ['an ifname longer than IFNAMSIZ', ['a'.repeat(16)], 'ERR_INVALID_ARG_VALUE'],
    ['an ifname with a NUL', ['lo\0x'], 'ERR_INVALID_ARG_VALUE'],
    ['options that are not an object', ['lo', 3], 'ERR_INVALID_ARG_TYPE'],
    ['a mode that is not a string', ['lo', { mode: 1 }], 'ERR_INVALID_ARG_TYPE'],
    ['an unknown mode', ['lo', { mode: 'fast' }], 'ERR_INVALID_ARG_VALUE'],
    ['a zerocopy that is not a string', ['lo', { zerocopy: true }], 'ERR_INVALID_ARG_TYPE'],
    ['shared that is not a boolean', ['lo', { shared: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
    ['busyPoll that is not a boolean', ['lo', { busyPoll: 1 }], 'ERR_INVALID_ARG_TYPE'],
    ['a negative queue', ['lo', { queue: -1 }], 'ERR_OUT_OF_RANGE'],
    ['a fractional slotCount', ['lo', { slotCount: 1.5 }], 'ERR_OUT_OF_RANGE'],
  ];
  for (const [what, args, code] of bad) {
    it(`refuses ${what} with ${code}`, () => {
      const { XdpDevice } = loadAddon();
      const Ctor = XdpDevice as unknown as new (...a: unknown[]) => unknown;
      expect(() => new Ctor(...args)).toThrow(expect.objectContaining({ code }));
    });
  }
});

describe.skipIf(skipReason !== undefined)('AF_XDP errors', () => {
  let v: VethNs;
  let foreign: string;
  const extraLinks: string[] = [];
  const tempDirs: string[] = [];

  beforeAll(() => {
    v = createVethNs('uxerr');
    const dir = mkdtempSync(join(tmpdir(), 'ustack-xdp-foreign-'));
    tempDirs.push(dir);
    foreign = join(dir, 'xdp-foreign');
    execFileSync(cc!, ['-O1', '-o', foreign, join(import.meta.dirname, '..', 'fixtures', 'xdp-foreign.c')]);
  });

  afterAll(() => {
    for (const l of extraLinks) {
      try {
        run('ip', ['link', 'del', l]);
      } catch {
        // gone
      }
    }
    v?.remove();
    for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  });

  it('no such interface: ERR_USTACK_NO_DEVICE', async () => {
    const e = await openError(`xdp:${uniqueIfName('nosuch')}`, '10.11.0.2/24');
    expect(e.code).toBe('ERR_USTACK_NO_DEVICE');
    expect(e.message).toMatch(/no interface named/);
  });

  it('no native XDP on the interface: ERR_USTACK_XDP_UNSUPPORTED (mode=native on a bridge)', async (ctx) => {
    const br = uniqueIfName('uxbr');
    try {
      run('ip', ['link', 'add', br, 'type', 'bridge']);
    } catch (err) {
      // Only a kernel without the bridge driver skips; any other failure is the test's.
      const message = (err as Error).message;
      if (!/Unknown device type|not supported/i.test(message)) throw err;
      ctx.skip(`this kernel has no bridge driver: ${message}`);
    }
    extraLinks.push(br);
    const e = await openError(`xdp:${br}?mode=native`, '10.11.0.2/24');
    expect(e.code).toBe('ERR_USTACK_XDP_UNSUPPORTED');
    expect(e.message).toMatch(/native/);
    expect(run('ip', ['-d', 'link', 'show', 'dev', br])).not.toMatch(/prog\/xdp/);
  });

  it('no zero-copy on a veth: ERR_USTACK_XDP_UNSUPPORTED (zerocopy=on), and nothing left attached', async () => {
    const e = await openError(`xdp:${v.host}?zerocopy=on`, `${v.ustackAddr}/24`);
    expect(e.code).toBe('ERR_USTACK_XDP_UNSUPPORTED');
    expect(e.message).toMatch(/zero-copy/);
    expect(v.xdpAttached()).toBe(false);
  });

  it("the kernel's own address without shared=1: ERR_INVALID_ARG_VALUE, before anything is attached", async () => {
    const e = await openError(`xdp:${v.host}`, `${v.kernelAddr}/24`);
    expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(e.message).toMatch(/kernel's own address/);
    expect(e.message).toMatch(/shared=1/);
    expect(v.xdpAttached()).toBe(false);
  });

  it('a queue the interface does not have: ERR_USTACK_QUEUE_OUT_OF_RANGE', async () => {
    const e = await openError(`xdp:${v.host}?queue=4`, `${v.ustackAddr}/24`);
    expect(e.code).toBe('ERR_USTACK_QUEUE_OUT_OF_RANGE');
    expect(e.message).toMatch(/has 1 receive queue/);
    expect(v.xdpAttached()).toBe(false);
  });

  // The argument check the XDP, e1000 and virtio bindings share (addon/napi/buffers.h ReadMulticastGroups); the XDP device is the one a test here can open.
  it('setMulticast takes whole 6-byte group addresses, at most 1,024, and refuses anything else with ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE', () => {
    const { XdpDevice } = loadAddon();
    const dev = new XdpDevice(v.host, { slotCount: 256, ringSize: 64 });
    const codeOf = (macs: unknown): string => {
      try {
        (dev.setMulticast as (m: unknown) => void)(macs);
      } catch (err) {
        return (err as { code?: string }).code ?? `no code: ${String(err)}`;
      }
      return 'taken';
    };
    const groups = (n: number): Uint8Array => {
      const b = new Uint8Array(6 * n);
      for (let k = 0; k < n; k++) b.set([0x33, 0x33, 0xff, 0x00, k >> 8, k & 0xff], 6 * k);
      return b;
    };
    try {
      expect(codeOf(undefined)).toBe('ERR_INVALID_ARG_TYPE');
      expect(codeOf([0x33, 0x33, 0, 0, 0, 1])).toBe('ERR_INVALID_ARG_TYPE');
      expect(codeOf(new Uint16Array(3))).toBe('ERR_INVALID_ARG_TYPE');
      expect(codeOf(groups(1).subarray(0, 5))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(groups(1025))).toBe('ERR_INVALID_ARG_VALUE');
      // The second address is unicast (group bit clear).
      expect(codeOf(Uint8Array.of(0x33, 0x33, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 1))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(groups(1024))).toBe('taken');
      expect(codeOf(Uint8Array.of(0x33, 0x33, 0xff, 0x00, 0x00, 0x42))).toBe('taken');
      // The kernel holds the one group now taken, none of the refused lists'.
      const maddr = run('ip', ['maddr', 'show', 'dev', v.host]);
      expect(maddr).toMatch(/33:33:ff:00:00:42/);
      expect(maddr).not.toMatch(/33:33:ff:00:00:01\b/);
      expect(maddr).not.toMatch(/02:00:00:00:00:01/);
    } finally {
      dev.close();
    }
  });

  it('another ustack on the interface: ERR_USTACK_XDP_IN_USE, the first one undisturbed', async () => {
    const first = await Stack.open({ nic: `xdp:${v.host}`, address: `${v.ustackAddr}/24` });
    try {
      const e = await openError(`xdp:${v.host}`, `${v.ustackAddr}/24`);
      expect(e.code).toBe('ERR_USTACK_XDP_IN_USE');
      expect(e.message).toMatch(/another ustack process/);
      const { stdout } = await v.inNs('ping', [...pingUntil(2), '-i', '0.2', v.ustackAddr]);
      expectReplies(stdout, 2);
    } finally {
      await first.close();
    }
    expect(v.xdpAttached()).toBe(false);
  });

  it('opens again at once after close() (the kernel frees the queue a moment after the socket closes)', async () => {
    const open = (): Promise<Stack> => Stack.open({ nic: `xdp:${v.host}`, address: `${v.ustackAddr}/24` });
    let s = await open();
    for (let i = 0; i < 3; i++) {
      // Data flowing when close() comes: frames the socket sent hold it (and
      // its queue) until the kernel frees them.
      const server = s.net.createServer((c) => c.pipe(c));
      await new Promise<void>((r) => server.listen(7, () => r()));
      const peer = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-connect', v.ustackAddr, '7', '64'], {
        what: 'a connection open when close() comes',
      });
      const current = s;
      await waitFor(() => current.stats().tcp!.bytesIn! > 1_000_000, { timeoutMs: 10_000, what: 'data flowing on the connection' });
      await s.close();
      s = await open();
      await peer.stop();
    }
    try {
      const { stdout } = await v.inNs('ping', ['-c', '1', '-W', '2', v.ustackAddr]);
      expect(stdout).toMatch(/1 packets transmitted, 1 received/);
    } finally {
      await s.close();
    }
    expect(v.xdpAttached()).toBe(false);
  });

  it('a foreign XDP program attached: ERR_USTACK_XDP_BUSY, and the program stays', async () => {
    run(foreign, [v.host, 'foreign_pass']);
    try {
      expect(run('ip', ['-d', 'link', 'show', 'dev', v.host])).toMatch(/name foreign_pass/);
      const e = await openError(`xdp:${v.host}`, `${v.ustackAddr}/24`);
      expect(e.code).toBe('ERR_USTACK_XDP_BUSY');
      expect(e.message).toMatch(/foreign_pass/);
      expect(e.message).toMatch(/xdp off/);
      expect(run('ip', ['-d', 'link', 'show', 'dev', v.host])).toMatch(/name foreign_pass/);
    } finally {
      run('ip', ['link', 'set', 'dev', v.host, 'xdpgeneric', 'off']);
    }
    expect(v.xdpAttached()).toBe(false);
  });

  it('a stale ustack program attached without a link is found and replaced', async () => {
    run(foreign, [v.host, 'ustack_xdp']);
    expect(run('ip', ['-d', 'link', 'show', 'dev', v.host])).toMatch(/name ustack_xdp/);
    const stack = await Stack.open({ nic: `xdp:${v.host}`, address: `${v.ustackAddr}/24` });
    try {
      expect(stack.stats()[`nic.${v.host}`]!.staleProgramsReplaced).toBe(1);
      const { stdout } = await v.inNs('ping', [...pingUntil(2), '-i', '0.2', v.ustackAddr]);
      expectReplies(stdout, 2);
    } finally {
      await stack.close();
    }
    expect(v.xdpAttached()).toBe(false);
  });

  it('not permitted (an unprivileged process): ERR_USTACK_NO_PERMISSION', async (ctx) => {
    if (!existsSync('/usr/bin/setpriv')) ctx.skip('no setpriv to drop privileges');
    // uid 65534 may not read the checkout (a clone under /root): it loads a copy of the addon from a directory it can read.
    if ((statSync(process.execPath).mode & 0o001) === 0) ctx.skip(`${process.execPath} is not executable by other users`);
    const dir = mkdtempSync(join(tmpdir(), 'ustack-xdp-eperm-'));
    tempDirs.push(dir);
    chmodSync(dir, 0o755);
    const addon = join(dir, 'ustack.node');
    copyFileSync(join(packageRoot(), 'build', 'Release', 'ustack.node'), addon);
    chmodSync(addon, 0o755);
    const script = `try { new (require(${JSON.stringify(addon)}).XdpDevice)(${JSON.stringify(v.host)}); console.log('opened'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    const { stdout } = await runBounded('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', script], { timeoutMs: 20_000 });
    const e = JSON.parse(stdout) as { code: string; message: string };
    expect(e.code).toBe('ERR_USTACK_NO_PERMISSION');
    expect(e.message).toMatch(/CAP_NET_ADMIN/);
    expect(v.xdpAttached()).toBe(false);
  });
});
