/**
 * `ustack echo --nic xdp:IF` (the CLI) on a veth pair: it answers from the
 * peer's namespace; SIGKILL leaves no XDP program on the interface (the
 * bpf_link dies with the process's file descriptors); a restart on the same
 * interface works; Ctrl-C (SIGINT) stops it cleanly, again leaving nothing.
 * A stack whose interface is deleted under it goes quiet.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { ensureTools } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

const bin = join(packageRoot(), 'bin', 'ustack.js');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[xdp-crash.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('ustack echo on AF_XDP: SIGKILL, restart, SIGINT', () => {
  let v: VethNs;

  beforeAll(() => {
    v = createVethNs('uxcr');
  });
  afterAll(() => v?.remove());

  async function startEcho(): Promise<TrackedChild> {
    const child = startChild(process.execPath, [bin, 'echo', '--nic', `xdp:${v.host}`, '--address', `${v.ustackAddr}/24`, '--port', '7'], {
      what: `ustack echo on xdp:${v.host}`,
    });
    await waitForOutput(child, `ustack echo listening on ${v.ustackAddr}:7`);
    return child;
  }

  async function answersPing(): Promise<void> {
    const { stdout } = await v.inNs('ping', [...pingUntil(2), '-i', '0.2', v.ustackAddr]);
    expectReplies(stdout, 2);
  }

  it('after SIGKILL no XDP program is left; a restart attaches again and answers', async () => {
    const first = await startEcho();
    expect(v.xdpAttached()).toBe(true);
    await answersPing();
    first.kill('SIGKILL');
    const res = await withTimeout(first.done, { timeoutMs: 10_000, what: 'the killed ustack echo to exit' });
    expect(res.signal).toBe('SIGKILL');
    // The process's fds are closed by the time it is reaped; the link goes with the last one.
    await waitFor(() => !v.xdpAttached(), { timeoutMs: 5_000, what: `the XDP program on ${v.host} to go after SIGKILL` });
    expect(v.xdpAttached()).toBe(false);

    const second = await startEcho();
    try {
      expect(v.xdpAttached()).toBe(true);
      await answersPing();
    } finally {
      second.kill('SIGINT');
      const r2 = await withTimeout(second.done, { timeoutMs: 10_000, what: 'ustack echo to stop on SIGINT' });
      expect(r2.code).toBe(0);
    }
    expect(v.xdpAttached()).toBe(false);
  });
});

describe.skipIf(skipReason !== undefined)('AF_XDP: the interface deleted under a running stack', () => {
  it('goes quiet (a handful of wake-ups and polls, no loop), and close() still works', async () => {
    const v = createVethNs('uxgone');
    // The pair and its namespace go even when the stack does not open.
    onTestFinished(() => v.remove());
    const { Stack } = await import('../../src/index.js');
    const stack = await Stack.open({ nic: `xdp:${v.host}`, address: `${v.ustackAddr}/24` });
    try {
      const { stdout } = await v.inNs('ping', ['-c', '1', '-W', '2', v.ustackAddr]);
      expect(stdout).toMatch(/1 packets transmitted, 1 received/);
      v.remove();
      await new Promise((r) => setTimeout(r, 100));
      const a = stack.stats().poll!;
      await new Promise((r) => setTimeout(r, 1000));
      const b = stack.stats().poll!;
      console.log(`[xdp-crash] in the second after the interface went: ${b.wakeups! - a.wakeups!} wake-ups, ${b.polls! - a.polls!} polls`);
      // The engine's own timers (ARP, TCP) wake it a few times at most; a
      // socket reporting readiness for ever would wake it thousands of times.
      expect(b.wakeups! - a.wakeups!).toBeLessThanOrEqual(20);
      expect(b.polls! - a.polls!).toBeLessThanOrEqual(80);
    } finally {
      await stack.close();
    }
  });
});
