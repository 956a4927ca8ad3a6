/**
 * AF_XDP binds one receive queue. On an interface with several, the stack's
 * frames that arrive on another queue find no socket there: the program
 * passes them to the kernel (which drops them: not its address) and counts
 * them (programNoSocketOnQueue), so a user sees why and steers the traffic.
 * A veth with two queues, the peer's transmit queue (= our receive queue)
 * pinned to 0 through XPS: ustack on queue 1 sees nothing and says so;
 * ustack on queue 0 answers. With queue=all (a socket on each queue,
 * sharing one UMEM) it answers whichever queue the frames take.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { ensureTools, run } from '../helpers/netns.js';
import { join } from 'node:path';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';

// @ts-expect-error -- a plain .mjs fixture without types
import { patternBlock } from '../fixtures/ns-peer.mjs';
import { repeatedHash } from '../helpers/exchange.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

const peerScript = join(import.meta.dirname, '..', 'fixtures', 'ns-peer.mjs');

const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']);
if (skipReason !== undefined) console.log(`[xdp-queues.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('AF_XDP on one queue of two', () => {
  let v: VethNs;
  /** Every CPU transmits on the peer's queue `q` (XPS), so every frame arrives on our queue `q`. */
  function steerTo(q: 0 | 1): void {
    const cpus = run('nproc').trim();
    const all = ((1n << BigInt(cpus)) - 1n).toString(16);
    const [on, off] = q === 0 ? [0, 1] : [1, 0];
    run('ip', ['netns', 'exec', v.ns, 'sh', '-c', `echo 0 > /sys/class/net/${v.peer}/queues/tx-${off}/xps_cpus; echo ${all} > /sys/class/net/${v.peer}/queues/tx-${on}/xps_cpus`]);
  }

  beforeAll(() => {
    v = createVethNs('uxq', 2);
    steerTo(0);
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
      const { stdout } = await v.inNs('ping', [...pingUntil(2), '-i', '0.2', v.ustackAddr]);
      expectReplies(stdout, 2);
      const s = right.stats()[`nic.${v.host}`]!;
      expect(s.programRedirected).toBeGreaterThanOrEqual(s.framesIn);
      expect(s.programNoSocketOnQueue).toBe(0);
    } finally {
      await right.close();
    }
  });

  it('queue=all: a socket on each queue answers whichever queue the frames take', async () => {
    const stack = await Stack.open({ nic: `xdp:${v.host}?queue=all`, address: `${v.ustackAddr}/24` });
    try {
      expect(stack.stats()[`nic.${v.host}`]!.queues).toBe(2);
      const echo = stack.net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
      await new Promise<void>((r) => echo.listen(7, () => r()));
      for (const q of [1, 0, 1] as const) {
        steerTo(q);
        const { stdout } = await v.inNs('ping', [...pingUntil(2), '-i', '0.2', v.ustackAddr]);
        expectReplies(stdout, 2);
      }
      // 5 MB each way arriving on queue 1, sent through queue 0's socket.
      const tcp = await v.inNs(process.execPath, [peerScript, 'tcp-connect', v.ustackAddr, '7', '5'], { timeoutMs: 60_000 });
      expect(JSON.parse(tcp.stdout.trim().split('\n').pop()!)).toEqual({ received: repeatedHash(patternBlock() as Buffer, 5), bytes: 5 * 1024 * 1024, error: null });
      const s = stack.stats()[`nic.${v.host}`]!;
      expect(s.programNoSocketOnQueue).toBe(0);
      expect(s.framesIn).toBeGreaterThan(3000);
    } finally {
      await stack.close();
    }
    expect(v.xdpAttached()).toBe(false);
    steerTo(0);
  });
});
