/**
 * A TAP device deleted while in use (`ip link del`). The kernel detaches the
 * fd: every read, write and ioctl answers EBADFD and epoll reports POLLERR
 * for ever, so a driver that re-arms its wake-up on each error wakes tens of
 * thousands of times a second. These tests delete the link under a bare
 * TapDevice, a TapNic and a whole Stack, and count what happens afterwards:
 * the wake-ups stop, the NIC says it is down (once), the stack goes idle and
 * still closes; `ustack echo` logs it under NODE_DEBUG=ustack.
 *
 * Counts, not timings: each window below would hold thousands of wake-ups or
 * polls if the fd were still polled, and holds a handful at most when not.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { loadAddon, packageRoot } from '../../src/driver/addon.js';
import { TapNic } from '../../src/driver/tap-nic.js';
import { startChild, waitForOutput } from '../helpers/children.js';
import { freeSubnet24, linkExists, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason();
if (skipReason !== undefined) console.log(`[tap-gone.test] skipping: ${skipReason}`);

/** Upper bound on `ip link del` and on each wait for the deletion to be noticed. */
const WAIT_MS = 10_000;
/** How long the counters are watched after the deletion was noticed. */
const WINDOW_MS = 500;
/**
 * Most wake-ups (and polls) allowed in the window: the engine's own timers
 * may wake a stack a few times; a stack still polling the fd would wake
 * thousands of times.
 */
const FEW = 25;

async function deleteLink(name: string): Promise<void> {
  await runBounded('ip', ['link', 'del', 'dev', name], { timeoutMs: WAIT_MS });
  expect(linkExists(name)).toBe(false);
}

describe.skipIf(skipReason !== undefined)('a TAP device deleted while in use', () => {
  it('TapDevice: the wake-up that finds the device gone is the last one', async () => {
    const { TapDevice } = loadAddon();
    const name = uniqueIfName('ugone');
    const dev = new TapDevice(name);
    try {
      dev.attachPool(new ArrayBuffer(2048 * 8), 2048);
      dev.configureHost({ up: true });
      const slots = Uint32Array.from({ length: 8 }, (_, i) => i);
      const lens = new Uint32Array(8);
      let wakes = 0;
      const reads: number[] = [];
      // What a poll loop does: drain, then re-arm.
      dev.setWakeCallback(() => {
        wakes++;
        reads.push(dev.readBurst(slots, lens, 8));
        dev.armWake();
      });
      dev.armWake();
      await deleteLink(name);
      await waitFor(() => dev.deviceGone, { timeoutMs: WAIT_MS, what: `TapDevice ${name} to report deviceGone`, detail: () => JSON.stringify(dev.stats()) });
      const before = wakes;
      await sleep(WINDOW_MS);
      const st = dev.stats();
      console.log(`[tap-gone.test] TapDevice: ${wakes} wake-ups in all, ${wakes - before} in the ${WINDOW_MS} ms after; reads ${JSON.stringify(reads.slice(-3))}; wakeErrors ${st.wakeErrors}`);
      expect(wakes - before).toBe(0);
      expect(st.wakeErrors).toBeLessThanOrEqual(1);
      expect(st.deviceGone).toBe(1);
      expect(st.goneErrno).toBeGreaterThan(0);
      // Bursts still answer, without throwing: -errno on read, every frame taken (and counted) on write.
      expect(dev.readBurst(slots, lens, 8)).toBe(-st.goneErrno);
      const txErrors = st.txErrors;
      lens.fill(60);
      expect(dev.writeBurst(slots, lens, 3)).toBe(3);
      expect(dev.stats().txErrors).toBe(txErrors + 3);
      dev.armWake(); // a no-op, not a throw
    } finally {
      dev.close();
    }
    expect(dev.fd).toBe(-1);
  });

  it('TapNic: goes down once, drops what it is given, and no wake-up comes after', async () => {
    const name = uniqueIfName('ugone');
    const nic = TapNic.open({ name });
    try {
      let wakes = 0;
      nic.setWakeHandler(() => {
        wakes++;
        nic.armWake();
      });
      nic.armWake();
      await deleteLink(name);
      const slots = new Uint32Array(32);
      const lens = new Uint32Array(32);
      // The wake-up marks it down; a receive poll would too.
      await waitFor(() => nic.isDown || (nic.rxBurst(slots, lens, 32), nic.isDown), {
        timeoutMs: WAIT_MS,
        what: `TapNic ${name} to go down`,
        detail: () => JSON.stringify(nic.stats()),
      });
      const err = nic.downError as (Error & { code?: string; errno?: number }) | null;
      expect(err?.code).toBe('ERR_USTACK_DEVICE_GONE');
      expect(err?.errno).toBeLessThan(0);
      const before = wakes;
      await sleep(WINDOW_MS);
      expect(wakes - before).toBe(0);

      expect(nic.rxBurst(slots, lens, 32)).toBe(0);
      const free = nic.availableSlots;
      const s = nic.alloc();
      slots[0] = s;
      lens[0] = 60;
      expect(nic.txBurst(slots, lens, 1)).toBe(1); // taken and dropped: the slot is free again
      expect(nic.availableSlots).toBe(free);
      const st = nic.stats();
      expect(st).toMatchObject({ down: 1, deviceGone: 1, txDropDown: 1 });
      expect(st.wakeErrors).toBeLessThanOrEqual(1);
    } finally {
      await nic.close();
    }
    expect(nic.isClosed).toBe(true);
  });

  it('Stack: reports the NIC down in stats(), stops polling, and still closes', async () => {
    const net = freeSubnet24();
    const name = uniqueIfName('ugone');
    const stack = await Stack.open({ nic: `tap:${name}`, address: `10.11.${net}.2/24`, hostAddress: `10.11.${net}.1/24` });
    let closed = false;
    try {
      // Traffic first, so the stack has been through its wake-ups and sleeps.
      await stack.ping(`10.11.${net}.1`, { timeoutMs: WAIT_MS });
      await deleteLink(name);
      const nicStats = (): Record<string, number> => stack.stats()[`nic.${name}`]!;
      await waitFor(() => nicStats().down === 1, { timeoutMs: WAIT_MS, what: `stack.stats()['nic.${name}'].down to be 1`, detail: () => JSON.stringify(stack.stats().poll) });
      expect(nicStats().deviceGone).toBe(1);
      const a = stack.stats().poll!;
      await sleep(WINDOW_MS);
      const b = stack.stats().poll!;
      const wakeups = b.wakeups! - a.wakeups!;
      const polls = b.polls! - a.polls!;
      console.log(`[tap-gone.test] Stack: in the ${WINDOW_MS} ms after the device went: ${wakeups} wake-ups, ${polls} polls, ${b.sleeps! - a.sleeps!} sleeps; nic ${JSON.stringify(nicStats())}`);
      expect(wakeups).toBeLessThanOrEqual(FEW);
      expect(polls).toBeLessThanOrEqual(FEW * 4);
      expect(nicStats().wakeErrors).toBeLessThanOrEqual(1);
      await withTimeout(stack.close(), { timeoutMs: WAIT_MS, what: 'stack.close() on a deleted TAP' });
      closed = true;
    } finally {
      if (!closed) await stack.close();
    }
  });

  const bin = join(packageRoot(), 'bin', 'ustack.js');
  const built = existsSync(join(packageRoot(), 'dist', 'cli', 'echo.js'));
  it.skipIf(!built)('ustack echo logs the device going away under NODE_DEBUG=ustack', async () => {
    const net = freeSubnet24();
    const name = uniqueIfName('ugone');
    const ours = `10.11.${net}.2`;
    const child = startChild(process.execPath, [bin, 'echo', '--nic', `tap:${name}`, '--address', `${ours}/24`, '--host-address', `10.11.${net}.1/24`, '--port', '7'], {
      what: `ustack echo on ${name} (NODE_DEBUG=ustack)`,
      env: { ...process.env, NODE_DEBUG: 'ustack' },
    });
    await waitForOutput(child, `ustack echo listening on ${ours}:7`);
    await deleteLink(name);
    await waitForOutput(child, `nic ${name}: device gone`, WAIT_MS);
    const result = await child.stop();
    expect(result.stderr.split(`nic ${name}: device gone`).length - 1, child.describe()).toBe(1);
  });
});
