/**
 * ustack's TCP on AF_XDP against the Linux kernel's in the peer's namespace
 * of a veth pair: 50 MB each way at once, SHA-256 on both ends, with the
 * kernel connecting to ustack and ustack to the kernel, clean and through
 * the impairment layer on ustack's NIC (2% loss, 5% reordering, 5 ms delay,
 * both directions). The kernel's side is test/fixtures/ns-peer.mjs in the
 * namespace (kernel sockets).
 */
import { join } from 'node:path';
import type * as nodeNet from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Stack, type ImpairOptions } from '../../src/index.js';
import { startChild, waitForOutput } from '../helpers/children.js';
import { exchange, repeatedHash, type ExchangeResult } from '../helpers/exchange.js';
import { ensureTools } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { withTimeout } from '../helpers/wait.js';
// @ts-expect-error -- a plain .mjs fixture without types
import { patternBlock } from '../fixtures/ns-peer.mjs';

const skipReason = xdpUnavailableReason() ?? ensureTools(['ethtool']);
if (skipReason !== undefined) console.log(`[xdp-tcp.test] skipping: ${skipReason}`);

const peerScript = join(import.meta.dirname, '..', 'fixtures', 'ns-peer.mjs');
const SIZE_MB = Number(process.env.USTACK_INTEROP_MB ?? 50);
const EXCHANGE_MS = 120_000;
const block = patternBlock() as Buffer;
const expected = repeatedHash(block, SIZE_MB);
const whole = { received: expected, bytes: SIZE_MB * 1024 * 1024, error: null };

const profiles: Array<[string, ImpairOptions | undefined]> = [
  ['clean', undefined],
  ['2% loss, 5% reordering, 5 ms delay', { loss: 0.02, reorder: 0.05, delay: 5, seed: 11 }],
];

function tcpCounters(stack: Stack): string {
  const t = stack.stats().tcp!;
  return JSON.stringify({ segmentsIn: t.segmentsIn, segmentsOut: t.segmentsOut, retransmits: t.retransmits, resetsOut: t.resetsOut, connectionsReset: t.connectionsReset });
}

describe.skipIf(skipReason !== undefined)(`TCP on AF_XDP against the kernel, ${SIZE_MB} MB each way`, () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function open(impair?: ImpairOptions): Promise<{ v: VethNs; stack: Stack }> {
    const v = createVethNs('uxtcp');
    cleanups.push(() => v.remove());
    const stack = await Stack.open({ nic: `xdp:${v.host}`, address: `${v.ustackAddr}/24`, ...(impair ? { impair } : {}) });
    cleanups.push(() => stack.close());
    return { v, stack };
  }

  for (const [name, impair] of profiles) {
    it(`${name}: the kernel connects to ustack`, async () => {
      const { v, stack } = await open(impair);
      let ours: Promise<ExchangeResult> | null = null;
      const server = stack.net.createServer({ allowHalfOpen: true }, (s) => {
        ours = exchange(s as unknown as nodeNet.Socket, block, SIZE_MB);
      });
      await new Promise<void>((r) => server.listen(5201, () => r()));
      const peer = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-connect', v.ustackAddr, '5201', String(SIZE_MB)], {
        what: `the kernel's side of ${SIZE_MB} MB each way (${name})`,
      });
      const res = await withTimeout(peer.done, { timeoutMs: EXCHANGE_MS, what: peer.what, detail: () => `${peer.describe()} tcp ${tcpCounters(stack)}` });
      const mine = await withTimeout(ours!, { timeoutMs: EXCHANGE_MS, what: `ustack's side (${name})` });
      server.close();
      console.log(`[xdp-tcp] ${name}, kernel -> ustack: tcp ${tcpCounters(stack)} nic ${JSON.stringify(stack.stats()[`nic.${v.host}`])}`);
      expect(JSON.parse(res.stdout)).toEqual(whole);
      expect(mine).toEqual(whole);
      expect(stack.stats().tcp!.resetsOut ?? 0).toBe(0);
    }, EXCHANGE_MS + 20_000);
  }

  it('clean: ustack connects to the kernel', async () => {
    const { v, stack } = await open();
    const peer = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-listen', v.peerAddr, '5202', String(SIZE_MB)], {
      what: `the kernel's listener for ${SIZE_MB} MB each way`,
    });
    await waitForOutput(peer, 'listening');
    const client = stack.net.connect({ port: 5202, host: v.peerAddr, allowHalfOpen: true });
    const mine = await withTimeout(exchange(client as unknown as nodeNet.Socket, block, SIZE_MB), {
      timeoutMs: EXCHANGE_MS,
      what: "ustack's side (ustack connects)",
      detail: () => `tcp ${tcpCounters(stack)}`,
    });
    const res = await withTimeout(peer.done, { timeoutMs: EXCHANGE_MS, what: peer.what, detail: () => peer.describe() });
    console.log(`[xdp-tcp] clean, ustack -> kernel: tcp ${tcpCounters(stack)} nic ${JSON.stringify(stack.stats()[`nic.${v.host}`])}`);
    expect(mine).toEqual(whole);
    expect(JSON.parse(res.stdout.trim().split('\n').pop()!)).toEqual(whole);
  }, EXCHANGE_MS + 20_000);
});
