/**
 * ustack's TCP against the Linux kernel's over a TAP device: 50 MB each way
 * at once, in both directions of connection set-up, clean and through the
 * impairment layer on ustack's NIC (2% loss, 5% reordering, 5 ms delay, both
 * directions; the kernel here has no netem). SHA-256 on both ends, a clean
 * close (no RST anywhere), and a capture whose checksums tshark verifies.
 *
 * The kernel's side is node:net in this process (kernel sockets); ustack's
 * side is stack.net on the same event loop.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as nodeNet from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Stack, type ImpairOptions } from '../../src/index.js';
import { exchange, repeatedHash, type ExchangeResult as Side } from '../helpers/exchange.js';
import { ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['tshark']);
if (skipReason !== undefined) console.log(`[tcp-kernel.test] skipping: ${skipReason}`);

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.USTACK_INTEROP_MB ?? 50);

async function openStack(impair?: ImpairOptions, tapOffloads?: boolean): Promise<{ stack: Stack; host: string; ours: string }> {
  const subnet = freeSubnet24();
  const host = `10.11.${subnet}.1`;
  const ours = `10.11.${subnet}.2`;
  const stack = await Stack.open({
    nic: `tap:${uniqueIfName('utcp')}`,
    address: `${ours}/24`,
    hostAddress: `${host}/24`,
    ...(impair ? { impair } : {}),
    ...(tapOffloads !== undefined ? { tapOffloads } : {}),
  });
  return { stack, host, ours };
}

/** Upper bounds (below the test timeout) on connecting and on a whole exchange. */
const CONNECT_MS = 10_000;
const EXCHANGE_MS = 100_000;

/** `side` settled within EXCHANGE_MS, or an error naming it with ustack's TCP counters. */
function bounded(side: Promise<Side>, what: string, stack: Stack): Promise<Side> {
  return withTimeout(side, { timeoutMs: EXCHANGE_MS, what, detail: () => `tcp ${JSON.stringify(pick(stack.stats().tcp!))}` });
}

function connected(sock: { once(ev: 'connect', f: () => void): unknown }, what: string): Promise<void> {
  return withTimeout(new Promise<void>((r) => sock.once('connect', () => r())), { timeoutMs: CONNECT_MS, what });
}

/**
 * RSTs that hit a live connection: one a connection sent (an abort), or a
 * peer's RST that ended a connection before it closed. RSTs after a clean
 * close are not counted: RFC 9293 (§3.10.7.1, §3.10.7.4) and Linux answer a
 * segment that arrives after LAST_ACK -> CLOSED with a RST (stateless
 * `resetsSent`), and a peer that closed second may reset our TIME_WAIT after
 * we acknowledge its retransmitted FIN (`resetsIn`, not `connectionsReset`);
 * test/unit/tcp-close-late-segments.test.ts pins those sequences.
 */
function liveResets(stack: Stack): number {
  const t = stack.stats().tcp!;
  return (t.resetsOut ?? 0) + (t.connectionsReset ?? 0);
}

const block = randomBytes(MB);
const expected = repeatedHash(block, SIZE_MB);

const profiles: Array<[string, ImpairOptions | undefined]> = [
  ['clean', undefined],
  ['2% loss, 5% reordering, 5 ms delay', { loss: 0.02, reorder: 0.05, delay: 5, seed: 7 }],
];

describe.skipIf(skipReason !== undefined)(`TCP against the Linux kernel, ${SIZE_MB} MB each way`, () => {
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.close();
  });

  for (const [name, impair] of profiles) {
    it(`${name}: the kernel connects to ustack`, async () => {
      const { stack, ours } = await openStack(impair);
      stacks.push(stack);
      let serverSide: Promise<Side> | null = null;
      const server = stack.net.createServer({ allowHalfOpen: true }, (s) => {
        serverSide = exchange(s as unknown as nodeNet.Socket, block, SIZE_MB);
      });
      await new Promise<void>((r) => server.listen(5201, '0.0.0.0', () => r()));
      const client = nodeNet.connect({ port: 5201, host: ours, allowHalfOpen: true });
      await connected(client, `the kernel's connection to ${ours}:5201`);
      const kernel = await bounded(exchange(client, block, SIZE_MB), `the kernel's side of ${SIZE_MB} MB each way (${name})`, stack);
      const ustack = await bounded(serverSide!, `ustack's side of ${SIZE_MB} MB each way (${name})`, stack);
      server.close();
      // Printed before the checks, so a failing run shows which counter moved.
      console.log(`[tcp-kernel] ${name}, kernel -> ustack: tcp ${JSON.stringify(pick(stack.stats().tcp!))}`);
      expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(liveResets(stack)).toBe(0);
    });

    it(`${name}: ustack connects to the kernel`, async () => {
      const { stack, host } = await openStack(impair);
      stacks.push(stack);
      let serverSide: Promise<Side> | null = null;
      const server = nodeNet.createServer({ allowHalfOpen: true }, (s) => {
        serverSide = exchange(s, block, SIZE_MB);
      });
      await new Promise<void>((r) => server.listen(0, host, () => r()));
      const port = (server.address() as nodeNet.AddressInfo).port;
      const client = stack.net.connect({ port, host, allowHalfOpen: true });
      await connected(client, `ustack's connection to ${host}:${port}`);
      const ustack = await bounded(exchange(client as unknown as nodeNet.Socket, block, SIZE_MB), `ustack's side of ${SIZE_MB} MB each way (${name})`, stack);
      const kernel = await bounded(serverSide!, `the kernel's side of ${SIZE_MB} MB each way (${name})`, stack);
      server.close();
      // Printed before the checks, so a failing run shows which counter moved.
      console.log(`[tcp-kernel] ${name}, ustack -> kernel: tcp ${JSON.stringify(pick(stack.stats().tcp!))}`);
      expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(liveResets(stack)).toBe(0);
    });
  }

  it('a capture of a transfer has no bad checksums and no RST before both FINs (tshark -o tcp.check_checksum:TRUE)', async () => {
    // Without TAP offloads: with them our transmitted frames carry partial
    // checksums (completed by the kernel after the capture point), which
    // tshark rightly flags, as on any Linux capture with checksum offload.
    // This test is about the checksums the stack computes itself.
    const { stack, ours } = await openStack(undefined, false);
    stacks.push(stack);
    const dir = mkdtempSync(join(tmpdir(), 'ustack-cap-'));
    const pcap = join(dir, 'tcp.pcap');
    try {
      stack.capture(pcap);
      let serverSide: Promise<Side> | null = null;
      const server = stack.net.createServer({ allowHalfOpen: true }, (s) => {
        serverSide = exchange(s as unknown as nodeNet.Socket, block, 4);
      });
      await new Promise<void>((r) => server.listen(5202, '0.0.0.0', () => r()));
      const client = nodeNet.connect({ port: 5202, host: ours, allowHalfOpen: true });
      const kernel = await bounded(exchange(client, block, 4), "the kernel's side of 4 MB each way (captured)", stack);
      await bounded(serverSide!, "ustack's side of 4 MB each way (captured)", stack);
      server.close();
      stack.capture(null);
      expect(kernel.error).toBeNull();
      const tshark = async (filter: string): Promise<number> => {
        const { stdout } = await runBounded('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-Y', filter], {
          timeoutMs: 30_000,
          what: `tshark -Y '${filter}' on the capture`,
        });
        return stdout.split('\n').filter((l) => l.trim() !== '').length;
      };
      const total = await tshark('tcp');
      expect(total).toBeGreaterThan(100);
      expect(await tshark('tcp.checksum.status == "Bad" || ip.checksum.status == "Bad"')).toBe(0);
      // No RST before both sides sent their FIN: a RST after that answers a
      // segment that crossed the close (see liveResets), not a live connection.
      const frames = async (filter: string): Promise<number[]> => {
        const { stdout } = await runBounded('tshark', ['-r', pcap, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], {
          timeoutMs: 30_000,
          what: `tshark -Y '${filter}' -T fields on the capture`,
        });
        return stdout.split('\n').filter((l) => l.trim() !== '').map(Number);
      };
      const finFromUs = await frames(`tcp.flags.fin == 1 && ip.src == ${ours}`);
      const finToUs = await frames(`tcp.flags.fin == 1 && ip.dst == ${ours}`);
      const rsts = await frames('tcp.flags.reset == 1');
      expect(finFromUs.length).toBeGreaterThan(0);
      expect(finToUs.length).toBeGreaterThan(0);
      const bothFinned = Math.max(finFromUs[0]!, finToUs[0]!);
      expect(rsts.filter((n) => n < bothFinned)).toEqual([]);
      expect(liveResets(stack)).toBe(0);
      console.log(`[tcp-kernel] capture: ${total} TCP frames, 0 bad checksums, ${rsts.length} RST (all after both FINs)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function pick(t: Record<string, number>): Record<string, number> {
  const keys = ['activeOpens', 'passiveOpens', 'retransmits', 'fastRetransmits', 'rtoTimeouts', 'sackRecoveries', 'resetsSent', 'resetsIn', 'resetsOut', 'connectionsReset', 'noSocket'];
  return Object.fromEntries(keys.filter((k) => k in t).map((k) => [k, t[k]!]));
}
