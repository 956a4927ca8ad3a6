/**
 * The AF_XDP options that change how the socket runs, each working on a
 * veth: busy=1 (SO_PREFER_BUSY_POLL; a recvfrom on an empty RX ring drives
 * the kernel, counted in busyPolls), zerocopy=off (copy mode asked for) and
 * zerocopy=auto (a veth has no zero-copy: copy mode, reported as such).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { ensureTools } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']);
if (skipReason !== undefined) console.log(`[xdp-options.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('AF_XDP options on a veth', () => {
  let v: VethNs;
  beforeAll(() => {
    v = createVethNs('uxopt');
  });
  afterAll(() => v?.remove());

  for (const [query, check] of [
    ['busy=1', (n: Record<string, number>) => expect(n.busyPolls).toBeGreaterThan(0)],
    ['zerocopy=off', (n: Record<string, number>) => expect(n.zerocopy).toBe(0)],
    ['zerocopy=auto&mode=native', (n: Record<string, number>) => expect([n.zerocopy, n.native]).toEqual([0, 1])],
  ] as const) {
    it(`${query}: answers ping, and says how it runs`, async () => {
      const stack = await Stack.open({ nic: `xdp:${v.host}?${query}`, address: `${v.ustackAddr}/24` });
      try {
        const { stdout } = await v.inNs('ping', [...pingUntil(3), '-i', '0.2', v.ustackAddr]);
        expectReplies(stdout, 3);
        check(stack.stats()[`nic.${v.host}`]!);
      } finally {
        await stack.close();
      }
      expect(v.xdpAttached()).toBe(false);
    });
  }
});
