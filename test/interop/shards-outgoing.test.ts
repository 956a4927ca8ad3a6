/**
 * Shard workers opening connections and sending datagrams out: every reply
 * must come back to the worker that asked, though the owner steers by hash.
 *
 * Two fixture workers (test/fixtures/shard-worker.mjs) behind an owner in
 * this process, over a TAP; the kernel side runs a TCP echo and a UDP echo
 * server on its own address. Each worker opens 24 TCP connections and 24
 * UDP sockets to them, all at once:
 *  - every TCP exchange completes, and each connection's local port is one
 *    whose reply hashes (Toeplitz, RETA) to the worker that opened it
 *    (tcp-layer's acceptsLocalPort) — predicted here from the RETA;
 *  - every UDP reply arrives, and each socket's ephemeral port is one of
 *    the worker's own: (port - 49152) % 2 == its place (udp-layer's
 *    acceptsEphemeralPort, the owner's port rule).
 * And a worker that dies while starting makes ShardOwner.open() fail
 * cleanly: its error, no TAP left behind.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import * as dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { ShardOwner } from '../../src/shard/owner.js';
import { assertRouteOver, freeSubnet24, linkExists, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { ipv4, rssHashIpv4 } from '../helpers/toeplitz.js';
import { waitFor } from '../helpers/wait.js';

const fixture = join(packageRoot(), 'test', 'fixtures', 'shard-worker.mjs');
const built = existsSync(join(packageRoot(), 'dist', 'index.js'));
const skipReason = tunUnavailableReason() ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[shards-outgoing.test] skipping: ${skipReason}`);

type FixtureMessage = { fixture: string; ok?: number; ports?: number[] };
const TCP_PORT = 7777;
const UDP_PORT = 7778;

describe.skipIf(skipReason !== undefined)('shards: replies to what a worker opens come back to it', () => {
  let owner: ShardOwner;
  let ours: string;
  let host: string;
  let tcpServer: net.Server;
  let udpServer: dgram.Socket;
  const inbox: FixtureMessage[][] = [[], []];

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    host = `10.11.${subnet}.1`;
    const ifname = uniqueIfName('usho');
    owner = await ShardOwner.open({
      nic: `tap:${ifname}`,
      address: `${ours}/24`,
      hostAddress: `${host}/24`,
      workers: 2,
      exec: fixture,
      args: [],
      execArgv: [],
      env: { ...process.env, SHARD_TEST_WORKERS: '2', SHARD_TEST_ADDRESS: `${ours}/24` },
    });
    for (const w of owner.workers.values()) {
      w.process.on('message', (m: FixtureMessage) => {
        if (typeof m?.fixture === 'string') inbox[w.place]!.push(m);
      });
    }
    assertRouteOver(ours, ifname);
    tcpServer = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => tcpServer.listen(TCP_PORT, host, r));
    udpServer = dgram.createSocket('udp4');
    udpServer.on('message', (msg, from) => udpServer.send(msg, from.port, from.address));
    await new Promise<void>((r) => udpServer.bind(UDP_PORT, host, r));
  });

  afterAll(async () => {
    await owner?.close();
    tcpServer?.close();
    udpServer?.close();
  });

  async function ask(place: number, message: object, reply: string): Promise<FixtureMessage> {
    const from = inbox[place]!.length;
    owner.workers.get(place)!.process.send(message);
    return waitFor(() => inbox[place]!.slice(from).find((m) => m.fixture === reply), { timeoutMs: 30_000, what: `worker ${place}'s '${reply}'` });
  }

  it('TCP: every connection a worker opens completes, on a local port whose replies hash to it', async () => {
    const reta = owner.pump.stats().reta;
    const results = await Promise.all([0, 1].map((place) => ask(place, { fixture: 'tcp-out', host, port: TCP_PORT, count: 24 }, 'tcp-out')));
    results.forEach((r, place) => {
      const predicted = r.ports!.map((p) => reta[rssHashIpv4(ipv4(host), ipv4(ours), TCP_PORT, p) & 127]);
      console.log(`[shards-outgoing] worker ${place}: ${r.ok}/24 TCP exchanges, local ports ${r.ports!.slice(0, 6).join(', ')}...`);
      expect(r.ok).toBe(24);
      expect(predicted).toEqual(r.ports!.map(() => place));
    });
  });

  it('UDP: every reply reaches the worker that asked, on one of its own ephemeral ports', async () => {
    const results = await Promise.all([0, 1].map((place) => ask(place, { fixture: 'udp-out', host, port: UDP_PORT, count: 24 }, 'udp-out')));
    results.forEach((r, place) => {
      console.log(`[shards-outgoing] worker ${place}: ${r.ok}/24 UDP replies, ports ${r.ports!.slice(0, 6).join(', ')}...`);
      expect(r.ok).toBe(24);
      for (const p of r.ports!) expect((p - 49152) % 2).toBe(place);
    });
  });
});

describe.skipIf(skipReason !== undefined)('shards: a worker that dies while starting', () => {
  it('ShardOwner.open rejects with ERR_USTACK_SHARD_WORKER_EXITED and leaves no TAP behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-shards-'));
    const exec = join(dir, 'dies.mjs');
    writeFileSync(exec, 'process.exit(3);\n');
    const subnet = freeSubnet24();
    const ifname = uniqueIfName('ushd');
    try {
      await expect(
        ShardOwner.open({ nic: `tap:${ifname}`, address: `10.11.${subnet}.2/24`, hostAddress: `10.11.${subnet}.1/24`, workers: 2, exec, args: [], execArgv: [] }),
      ).rejects.toMatchObject({ code: 'ERR_USTACK_SHARD_WORKER_EXITED' });
      expect(linkExists(ifname)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
