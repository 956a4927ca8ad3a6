/**
 * AF_XDP binds one receive queue. On an interface with several, the stack's
 * frames that arrive on another queue find no socket there: the program
 * passes them to the kernel (which drops them: not its address) and counts
 * them (programNoSocketOnQueue), so a user sees why and steers the traffic.
 * A veth with two queues, the peer's transmit queue (= our receive queue)
 * pinned to 0 through XPS: ustack on queue 1 sees nothing and says so;
 * ustack on queue 0 answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { ensureTools, run } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';

const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']);
if (skipReason !== undefined) console.log(`[xdp-queues.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('AF_XDP on one queue of two', () => {
  let v: VethNs;
  beforeAll(() => {
    v = createVethNs('uxq', 2);
    // Every CPU transmits on the peer's queue 0 (XPS), so every frame arrives on our queue 0.
    const cpus = run('nproc').trim();
    const all = ((1n << BigInt(cpus)) - 1n).toString(16);
    run('ip', ['netns', 'exec', v.ns, 'sh', '-c', `echo ${all} > /sys/class/net/${v.peer}/queues/tx-0/xps_cpus; echo 0 > /sys/class/net/${v.peer}/queues/tx-1/xps_cpus`]);
  });
  afterAll(() => v?.remove());

  it('frames on a queue without the socket are counted, not delivered; the right queue answers', async () => {
    const wrong = await Stack.open({ nic: `xdp:${v.host}?queue=1`, address: `${v.ustackAddr}/24` });
    let counted: Record<string, number>;
    try {
      await expect(v.inNs('ping', ['-c', '2', '-i', '0.2', '-W', '1', v.ustackAddr])).rejects.toThrow(/failed/);
      counted = wrong.stats()[`nic.${v.host}`]!;
    } finally {
      await wrong.close();
    }
    console.log(`[xdp-queues] queue 1: programNoSocketOnQueue ${counted.programNoSocketOnQueue}, programRedirected ${counted.programRedirected}, framesIn ${counted.framesIn}`);
    expect(counted.programNoSocketOnQueue).toBeGreaterThan(0);
    expect(counted.programRedirected).toBe(0);
    expect(counted.framesIn).toBe(0);

    const right = await Stack.open({ nic: `xdp:${v.host}?queue=0`, address: `${v.ustackAddr}/24` });
    try {
      const { stdout } = await v.inNs('ping', ['-c', '2', '-i', '0.2', '-W', '2', v.ustackAddr]);
      expect(stdout).toMatch(/2 packets transmitted, 2 received/);
      const s = right.stats()[`nic.${v.host}`]!;
      expect(s.programRedirected).toBeGreaterThanOrEqual(s.framesIn);
      expect(s.programNoSocketOnQueue).toBe(0);
    } finally {
      await right.close();
    }
  });
});
