/**
 * TCP over IPv6 against the Linux kernel over TAP: 50 MB each way in both
 * directions of connection set-up, clean and through ustack's impairment
 * layer (2% loss, 5% reordering, 5 ms delay on ustack's NIC, both
 * directions), SHA-256 on both ends and no RST on a live connection; curl -6
 * downloads 100 MB from node:http on ustack (listenOn); a dual-stack `::`
 * listener on ustack is reached by both curl -4 and curl -6, and names each
 * peer as node does (::ffff:a.b.c.d for IPv4).
 *
 * The kernel's side is node:net / curl on kernel sockets. Unique names and
 * prefixes per process: the TAP from uniqueIfName, fd00:11:X::/64 from the
 * /24 claim for 10.11.X.0/24 (as ipv6-tap.test.ts). Before sending to a test
 * address the test checks with `ip route get` / `ip -6 route get` that it
 * leaves over its own TAP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Stack, listenOn, type ImpairOptions } from '../../src/index.js';
import { exchange, repeatedHash, type ExchangeResult as Side } from '../helpers/exchange.js';
import { writeBlocks } from '../helpers/http-load.js';
import { assertRouteOver, ensureTools, freeSubnet24, run, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['ip', 'curl', 'sha256sum']);
if (skipReason !== undefined) console.log(`[tcp6-tap.test] skipping: ${skipReason}`);

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.USTACK_INTEROP_MB ?? 50);
const CONNECT_MS = 10_000;
const EXCHANGE_MS = 250_000;
/** Per test: two exchanges of SIZE_MB each way on a shared machine. */
const TEST_MS = 300_000;

interface Opened {
  stack: Stack;
  ifname: string;
  host4: string;
  ours4: string;
  host6: string;
  ours6: string;
}

/** A stack on its own TAP with IPv4 and IPv6 addresses; resolves once both ends' IPv6 addresses passed DAD. */
async function openStack(impair?: ImpairOptions): Promise<Opened> {
  const net = freeSubnet24();
  const p6 = `fd00:11:${net.toString(16)}`;
  const o: Omit<Opened, 'stack'> = { ifname: uniqueIfName('utcp6'), host4: `10.11.${net}.1`, ours4: `10.11.${net}.2`, host6: `${p6}::1`, ours6: `${p6}::2` };
  const stack = await Stack.open({
    nic: `tap:${o.ifname}`,
    address: [`${o.ours4}/24`, `${o.ours6}/64`],
    hostAddress: [`${o.host4}/24`, `${o.host6}/64`],
    ...(impair ? { impair } : {}),
  });
  await waitFor(() => stack.iface.v6!.addresses().every((a) => a.state === 'preferred'), { timeoutMs: 10_000, what: `DAD of ${stack.iface.v6!.describe()}` });
  // The kernel uses (and binds) its address only once its own DAD is done.
  await waitFor(
    () => {
      const out = JSON.parse(run('ip', ['-j', '-6', 'addr', 'show', 'dev', o.ifname])) as Array<{ addr_info: Array<{ local?: string; tentative?: boolean }> }>;
      return out[0]?.addr_info.some((a) => a.local === o.host6 && a.tentative !== true) === true;
    },
    { timeoutMs: 10_000, what: `the kernel's DAD of ${o.host6} on ${o.ifname}` },
  );
  assertRouteOver(o.ours6, o.ifname);
  assertRouteOver(o.ours4, o.ifname);
  return { stack, ...o };
}

function bounded(side: Promise<Side>, what: string, stack: Stack): Promise<Side> {
  return withTimeout(side, { timeoutMs: EXCHANGE_MS, what, detail: () => `tcp6 ${JSON.stringify(pick(stack.stats().tcp6 ?? {}))}` });
}

function connected(sock: { once(ev: 'connect', f: () => void): unknown }, what: string): Promise<void> {
  return withTimeout(new Promise<void>((r) => sock.once('connect', () => r())), { timeoutMs: CONNECT_MS, what });
}

/** RSTs that hit a live connection (see tcp-kernel.test.ts: RSTs after a clean close are not counted). */
function liveResets(stack: Stack): number {
  const t = stack.stats().tcp6!;
  return (t.resetsOut ?? 0) + (t.connectionsReset ?? 0);
}

function pick(t: Record<string, number>): Record<string, number> {
  const keys = ['activeOpens', 'passiveOpens', 'retransmits', 'fastRetransmits', 'rtoTimeouts', 'sackRecoveries', 'resetsSent', 'resetsIn', 'resetsOut', 'connectionsReset', 'noSocket', 'badChecksum', 'addressIds'];
  return Object.fromEntries(keys.filter((k) => k in t).map((k) => [k, t[k]!]));
}

const block = randomBytes(MB);
const expected = repeatedHash(block, SIZE_MB);

const profiles: Array<[string, ImpairOptions | undefined]> = [
  ['clean', undefined],
  ['2% loss, 5% reordering, 5 ms delay', { loss: 0.02, reorder: 0.05, delay: 5, seed: 11 }],
];

describe.skipIf(skipReason !== undefined)(`TCP over IPv6 against the Linux kernel over TAP`, () => {
  const stacks: Stack[] = [];
  afterAll(async () => {
    for (const s of stacks) await s.close();
  });

  for (const [name, impair] of profiles) {
    it(`${name}: the kernel connects to ustack over IPv6, ${SIZE_MB} MB each way`, async () => {
      const o = await openStack(impair);
      stacks.push(o.stack);
      let serverSide: Promise<Side> | null = null;
      let seen: string | null = null;
      const server = o.stack.net.createServer({ allowHalfOpen: true }, (s) => {
        seen = `${s.remoteAddress} ${s.remoteFamily} ${s.localAddress}`;
        serverSide = exchange(s as unknown as nodeNet.Socket, block, SIZE_MB);
      });
      await new Promise<void>((r) => server.listen(5201, o.ours6, () => r()));
      const client = nodeNet.connect({ port: 5201, host: o.ours6, allowHalfOpen: true });
      await connected(client, `the kernel's connection to [${o.ours6}]:5201`);
      expect(`${client.remoteAddress} ${client.remoteFamily}`).toBe(`${o.ours6} IPv6`);
      const kernel = await bounded(exchange(client, block, SIZE_MB), `the kernel's side of ${SIZE_MB} MB each way (${name})`, o.stack);
      const ustack = await bounded(serverSide!, `ustack's side of ${SIZE_MB} MB each way (${name})`, o.stack);
      server.close();
      console.log(`[tcp6-tap] ${name}, kernel -> ustack: tcp6 ${JSON.stringify(pick(o.stack.stats().tcp6!))}`);
      expect(seen).toBe(`${o.host6} IPv6 ${o.ours6}`);
      expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(liveResets(o.stack)).toBe(0);
      expect(o.stack.stats().tcp!.segmentsReceived, 'nothing over IPv4').toBe(0);
    }, TEST_MS);

    it(`${name}: ustack connects to the kernel over IPv6, ${SIZE_MB} MB each way`, async () => {
      const o = await openStack(impair);
      stacks.push(o.stack);
      let serverSide: Promise<Side> | null = null;
      const server = nodeNet.createServer({ allowHalfOpen: true }, (s) => {
        serverSide = exchange(s, block, SIZE_MB);
      });
      await new Promise<void>((r) => server.listen(0, o.host6, () => r()));
      const port = (server.address() as nodeNet.AddressInfo).port;
      const client = o.stack.net.connect({ port, host: o.host6, allowHalfOpen: true });
      await connected(client, `ustack's connection to [${o.host6}]:${port}`);
      expect(`${client.localAddress} ${client.localFamily} ${client.remoteAddress}`).toBe(`${o.ours6} IPv6 ${o.host6}`);
      const ustack = await bounded(exchange(client as unknown as nodeNet.Socket, block, SIZE_MB), `ustack's side of ${SIZE_MB} MB each way (${name})`, o.stack);
      const kernel = await bounded(serverSide!, `the kernel's side of ${SIZE_MB} MB each way (${name})`, o.stack);
      server.close();
      console.log(`[tcp6-tap] ${name}, ustack -> kernel: tcp6 ${JSON.stringify(pick(o.stack.stats().tcp6!))}`);
      expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
      expect(liveResets(o.stack)).toBe(0);
    }, TEST_MS);
  }

  describe('node:http on ustack (listenOn) and curl', () => {
    const BIG_BLOCKS = 100;
    const bigHash = repeatedHash(block, BIG_BLOCKS);

    it('curl -6 downloads 100 MB from node:http on ustack; a dual-stack :: listener is reached by curl -4 and curl -6', async () => {
      const o = await openStack();
      stacks.push(o.stack);
      const httpServer = http.createServer((req, res) => {
        if (req.url === '/big') {
          res.writeHead(200, { 'content-length': String(BIG_BLOCKS * MB), 'content-type': 'application/octet-stream' });
          writeBlocks(res, block, BIG_BLOCKS);
        } else {
          res.end(`${req.socket.remoteAddress} ${req.socket.remoteFamily} ${req.socket.localAddress}`);
        }
      });
      // No address: :: dual-stack, as node's listen(port).
      listenOn(o.stack.net, httpServer, 8080);
      await withTimeout(new Promise((r) => httpServer.once('listening', r)), { timeoutMs: 10_000, what: 'node:http on ustack to listen' });
      expect(httpServer.address()).toEqual({ address: '::', family: 'IPv6', port: 8080 });
      const dir = mkdtempSync(join(tmpdir(), 'ustack-curl6-'));
      try {
        const url6 = `http://[${o.ours6}]:8080`;
        const { stdout } = await runBounded('curl', ['-6', '-g', '-sS', '--max-time', '100', '-w', '%{http_code} %{size_download} %{remote_ip}\n', '-o', join(dir, 'big'), `${url6}/big`], {
          timeoutMs: 110_000,
          what: `curl -6 to download 100 MB from ${url6}`,
        });
        expect(stdout.trim()).toBe(`200 ${BIG_BLOCKS * MB} ${o.ours6}`);
        const { stdout: sum } = await runBounded('sha256sum', [join(dir, 'big')], { timeoutMs: 60_000 });
        expect(sum.split(' ')[0]).toBe(bigHash);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const who6 = await runBounded('curl', ['-6', '-g', '-sS', '--max-time', '20', `http://[${o.ours6}]:8080/who`], { timeoutMs: 30_000, what: 'curl -6 /who' });
      expect(who6.stdout).toBe(`${o.host6} IPv6 ${o.ours6}`);
      const who4 = await runBounded('curl', ['-4', '-sS', '--max-time', '20', `http://${o.ours4}:8080/who`], { timeoutMs: 30_000, what: 'curl -4 /who' });
      expect(who4.stdout).toBe(`::ffff:${o.host4} IPv6 ::ffff:${o.ours4}`);
      const st = o.stack.stats();
      expect(st.tcp6!.passiveOpens).toBeGreaterThanOrEqual(2);
      expect(st.tcp!.passiveOpens).toBeGreaterThanOrEqual(1);
      await new Promise((r) => httpServer.close(r));
    }, TEST_MS);
  });
});
