/**
 * TAP offloads (IFF_VNET_HDR with TUN_F_CSUM | TUN_F_TSO4): TCP against the
 * Linux kernel moves 64 KiB segments across the TAP fd in both directions.
 *
 *  - 50 MB each way at once, in both directions of connection set-up,
 *    SHA-256 verified on both ends, no RST; the TapNic counters show GSO
 *    super-frames (> 60,000 bytes) written and read, and the kernel's
 *    partial checksums arriving (completed by the driver or flagged).
 *  - The same transfer with `tapOffloads: false` for comparison: throughput
 *    of both is printed (no timing assertion).
 *  - A capture taken during an offloaded transfer holds the super-frames
 *    as-is (one pcap record per 64 KiB frame).
 *  - UDP (small and fragmented datagrams, both ways) and ICMP (the kernel's
 *    ping) stay correct with checksum offload.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import hostDgram from 'node:dgram';
import * as nodeNet from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { TapNic } from '../../src/driver/tap-nic.js';
import { exchange, repeatedHash, type ExchangeResult as Side } from '../helpers/exchange.js';
import { ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['ping']);
if (skipReason !== undefined) console.log(`[tap-offload.test] skipping: ${skipReason}`);

const MB = 1024 * 1024;
const SIZE_MB = Number(process.env.USTACK_INTEROP_MB ?? 50);
const block = randomBytes(MB);
const expected = repeatedHash(block, SIZE_MB);

async function openStack(tapOffloads?: boolean): Promise<{ stack: Stack; host: string; ours: string; ifname: string }> {
  const subnet = freeSubnet24();
  const host = `10.11.${subnet}.1`;
  const ours = `10.11.${subnet}.2`;
  const ifname = uniqueIfName('uoff');
  const stack = await Stack.open({
    nic: `tap:${ifname}`,
    address: `${ours}/24`,
    hostAddress: `${host}/24`,
    ...(tapOffloads !== undefined ? { tapOffloads } : {}),
  });
  return { stack, host, ours, ifname };
}

function nicStats(stack: Stack, ifname: string): Record<string, number> {
  return stack.stats()[`nic.${ifname}`]!;
}

/** Upper bounds (below the test timeout) on connecting, one transfer, and one tool run. */
const CONNECT_MS = 10_000;
const EXCHANGE_MS = 50_000;
const TOOL_MS = 30_000;

function bounded<T>(p: Promise<T>, what: string, stack: Stack): Promise<T> {
  return withTimeout(p, {
    timeoutMs: EXCHANGE_MS,
    what,
    detail: () => `tcp ${JSON.stringify(stack.stats().tcp)}`,
  });
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

/** The kernel connects to ustack; both send SIZE_MB at once. Returns MB/s (both directions counted). */
async function kernelConnects(stack: Stack, ours: string, port: number, blocks = SIZE_MB): Promise<number> {
  let serverSide: Promise<Side> | null = null;
  const server = stack.net.createServer({ allowHalfOpen: true }, (s) => {
    serverSide = exchange(s as unknown as nodeNet.Socket, block, blocks);
  });
  await new Promise<void>((r) => server.listen(port, '0.0.0.0', () => r()));
  const t0 = performance.now();
  const client = nodeNet.connect({ port, host: ours, allowHalfOpen: true });
  await connected(client, `the kernel's connection to ${ours}:${port}`);
  const kernel = await bounded(exchange(client, block, blocks), `the kernel's side of ${blocks} MB each way`, stack);
  const ustack = await bounded(serverSide!, `ustack's side of ${blocks} MB each way`, stack);
  const secs = (performance.now() - t0) / 1000;
  server.close();
  if (blocks === SIZE_MB) {
    expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
    expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
  } else {
    expect(kernel.error).toBeNull();
    expect(ustack.bytes).toBe(blocks * MB);
  }
  return (2 * blocks) / secs;
}

/** ustack connects to the kernel; both send SIZE_MB at once. */
async function ustackConnects(stack: Stack, host: string): Promise<number> {
  let serverSide: Promise<Side> | null = null;
  const server = nodeNet.createServer({ allowHalfOpen: true }, (s) => {
    serverSide = exchange(s, block, SIZE_MB);
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as nodeNet.AddressInfo).port;
  const t0 = performance.now();
  const client = stack.net.connect({ port, host, allowHalfOpen: true });
  await connected(client, `ustack's connection to ${host}:${port}`);
  const ustack = await bounded(exchange(client as unknown as nodeNet.Socket, block, SIZE_MB), `ustack's side of ${SIZE_MB} MB each way`, stack);
  const kernel = await bounded(serverSide!, `the kernel's side of ${SIZE_MB} MB each way`, stack);
  const secs = (performance.now() - t0) / 1000;
  server.close();
  expect(ustack).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
  expect(kernel).toEqual({ received: expected, bytes: SIZE_MB * MB, error: null });
  return (2 * SIZE_MB) / secs;
}

const pick = (n: Record<string, number>): Record<string, number> =>
  Object.fromEntries(
    ['framesOut', 'gsoFramesOut', 'largestFrameOut', 'csumOffloadOut', 'framesIn', 'gsoFramesIn', 'largestFrameIn', 'csumPartialIn', 'csumCompletedIn']
      .map((k) => [k, n[k]!]),
  );

describe.skipIf(skipReason !== undefined)(`TAP offloads (virtio_net_hdr, checksum + TSO/GSO), TCP ${SIZE_MB} MB each way against the kernel`, () => {
  const stacks: Stack[] = [];
  const rates: Record<string, number> = {};
  afterAll(async () => {
    for (const s of stacks) await s.close();
    if (Object.keys(rates).length > 0) {
      console.log(`[tap-offload] throughput (MB/s, both directions summed): ${JSON.stringify(rates)}`);
    }
  });

  it('a TapNic opened with offloads has 64 KiB slots and says so', async () => {
    const subnet = freeSubnet24();
    const nic = TapNic.open({ name: uniqueIfName('uofn'), hostAddress: `10.11.${subnet}.1/24` });
    try {
      expect(nic.offloads).toEqual({ txChecksum: true, tso: true, rxChecksumVerified: false, txChecksum6: true, tso6: true });
      expect(nic.rxPerFrameFlags).toBe(true);
      expect(nic.slotSize).toBeGreaterThanOrEqual(65535 + 14);
      expect(nic.stats().offloads).toBe(1);
      const { stdout } = await runBounded('ethtool', ['-k', nic.name], { timeoutMs: TOOL_MS }).catch(() => ({ stdout: '' }));
      if (stdout !== '') expect(stdout).toMatch(/tcp-segmentation-offload: on/);
    } finally {
      await nic.close();
    }
    const plain = TapNic.open({ name: uniqueIfName('uofp'), offloads: false });
    try {
      expect(plain.offloads).toEqual({ txChecksum: false, tso: false, rxChecksumVerified: false, txChecksum6: false, tso6: false });
      expect(plain.slotSize).toBe(2048);
    } finally {
      await plain.close();
    }
  });

  it('the kernel connects to ustack: 64 KiB segments both ways, data verified', async () => {
    const { stack, ours, ifname } = await openStack();
    stacks.push(stack);
    rates['offloads, kernel connects'] = await kernelConnects(stack, ours, 5301);
    const n = nicStats(stack, ifname);
    console.log(`[tap-offload] kernel -> ustack connection: nic ${JSON.stringify(pick(n))}`);
    expect(n.gsoFramesOut).toBeGreaterThan(0);
    expect(n.gsoFramesIn).toBeGreaterThan(0);
    expect(n.largestFrameOut).toBeGreaterThan(60000);
    expect(n.largestFrameIn).toBeGreaterThan(60000);
    // Most of the data moved in super-frames, in both directions.
    expect(n.gsoBytesOut).toBeGreaterThan(SIZE_MB * MB * 0.5);
    expect(n.gsoBytesIn).toBeGreaterThan(SIZE_MB * MB * 0.5);
    expect(n.csumPartialIn).toBeGreaterThan(0);
    expect(n.writeErrors).toBe(0); // the kernel accepted every virtio_net_hdr we built
    expect(n.rxTruncated).toBe(0); // every super-frame fit its slot
    expect(stack.stats().tcp!.badChecksum).toBe(0);
    expect(liveResets(stack)).toBe(0);
  });

  it('ustack connects to the kernel: 64 KiB segments both ways, data verified', async () => {
    const { stack, host, ifname } = await openStack();
    stacks.push(stack);
    rates['offloads, ustack connects'] = await ustackConnects(stack, host);
    const n = nicStats(stack, ifname);
    console.log(`[tap-offload] ustack -> kernel connection: nic ${JSON.stringify(pick(n))}`);
    expect(n.gsoFramesOut).toBeGreaterThan(0);
    expect(n.gsoFramesIn).toBeGreaterThan(0);
    expect(n.largestFrameOut).toBeGreaterThan(60000);
    expect(n.largestFrameIn).toBeGreaterThan(60000);
    expect(stack.stats().tcp!.badChecksum).toBe(0);
    expect(liveResets(stack)).toBe(0);
  });

  it('the same without offloads (tapOffloads: false), for comparison', async () => {
    const { stack, ours, host, ifname } = await openStack(false);
    stacks.push(stack);
    rates['no offloads, kernel connects'] = await kernelConnects(stack, ours, 5302);
    rates['no offloads, ustack connects'] = await ustackConnects(stack, host);
    const n = nicStats(stack, ifname);
    expect(n.offloads).toBe(0);
    expect(n.largestFrameOut).toBeLessThanOrEqual(1514);
    expect(n.largestFrameIn).toBeLessThanOrEqual(1514);
  });

  it('a capture holds the 64 KiB frames as-is', async () => {
    const { stack, ours } = await openStack();
    stacks.push(stack);
    const dir = mkdtempSync(join(tmpdir(), 'ustack-offcap-'));
    const pcap = join(dir, 'gso.pcap');
    try {
      stack.capture(pcap);
      await kernelConnects(stack, ours, 5303, 4);
      stack.capture(null);
      // pcap: 24-byte file header, then 16-byte record headers (incl_len at +8, little-endian).
      const f = readFileSync(pcap);
      let big = 0;
      let records = 0;
      for (let o = 24; o + 16 <= f.length; ) {
        const incl = f.readUInt32LE(o + 8);
        const orig = f.readUInt32LE(o + 12);
        records++;
        expect(incl).toBe(orig); // never truncated
        if (incl > 60000) big++;
        o += 16 + incl;
      }
      console.log(`[tap-offload] capture: ${records} frames, ${big} larger than 60,000 bytes`);
      expect(big).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('UDP (small and fragmented, both ways) and ICMP stay correct with checksum offload', async () => {
    const { stack, host, ours, ifname } = await openStack();
    stacks.push(stack);
    const kernel = hostDgram.createSocket('udp4');
    await new Promise<void>((r) => kernel.bind(0, host, () => r()));
    const kport = kernel.address().port;
    kernel.on('message', (m, rinfo) => kernel.send(m, rinfo.port, rinfo.address)); // echo
    const sock = stack.dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, ours, () => r()));
    try {
      for (const size of [1, 1472, 1473, 8000, 30000]) {
        const msg = randomBytes(size);
        const back = new Promise<Buffer>((r) => sock.once('message', (m: Buffer) => r(m)));
        sock.send(msg, kport, host);
        const echoed = await withTimeout(back, { timeoutMs: 10_000, what: `the kernel's echo of a ${size}-byte datagram` });
        expect(echoed.equals(msg)).toBe(true);
      }
      const { stdout } = await runBounded('ping', ['-n', '-c', '3', '-i', '0.2', '-s', '4000', '-W', '2', '-I', ifname, ours], { timeoutMs: TOOL_MS });
      expect(stdout).toMatch(/3 received/);
      const s = stack.stats();
      expect(s.udp!.udp_rx_drop_bad_checksum).toBe(0);
      expect(s.icmp!.drop_bad_checksum).toBe(0);
      expect(nicStats(stack, ifname).csumOffloadOut).toBeGreaterThan(0);
    } finally {
      sock.close();
      kernel.close();
    }
  });
});
