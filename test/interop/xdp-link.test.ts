/**
 * ustack on AF_XDP (nic 'xdp:IF') against the Linux kernel over a veth pair,
 * the kernel's tools in the peer's namespace: ping (and a fragmented 6,000-
 * byte ping), UDP echo, curl downloading 100 MB from node:http on ustack;
 * meanwhile the kernel's own address on the same interface still answers
 * ping and serves a kernel TCP listener, because the XDP program passes
 * everything that is not the stack's. After close() no program is left.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, serveHttp, type UstackServer } from '../../src/index.js';
import { ensureTools, run } from '../helpers/netns.js';
import { writeBlocks } from '../helpers/http-load.js';
import { createVethNs, listenKernelHello, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { startChild, waitForOutput } from '../helpers/children.js';
import { withTimeout } from '../helpers/wait.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'curl', 'ethtool']);
if (skipReason !== undefined) console.log(`[xdp-link.test] skipping: ${skipReason}`);

const peerScript = join(import.meta.dirname, '..', 'fixtures', 'ns-peer.mjs');
const MB = 1024 * 1024;

describe.skipIf(skipReason !== undefined).each(['native', 'generic'])('ustack on AF_XDP (mode=%s) against the kernel on a veth pair', (mode) => {
  let v: VethNs;
  let stack: Stack;
  let httpServer: http.Server;
  let tcp: UstackServer;
  let kernelServer: nodeNet.Server;
  let kernelPort: number;

  beforeAll(async () => {
    v = createVethNs('uxdp');
    stack = await Stack.open({ nic: `xdp:${v.host}?mode=${mode}`, address: `${v.ustackAddr}/24` });
    // UDP echo on port 7.
    const udp = stack.dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((r) => udp.bind(7, () => r()));
    const big = Buffer.alloc(MB, 0x5a);
    httpServer = http.createServer((req, res) => {
      res.writeHead(200, { 'content-length': String(100 * MB) });
      writeBlocks(res, big, 100);
    });
    tcp = await serveHttp(stack.net, httpServer, 8080);
    // A kernel TCP listener on the kernel's own address of the same interface.
    ({ server: kernelServer, port: kernelPort } = await listenKernelHello(v.kernelAddr));
  });

  afterAll(async () => {
    kernelServer?.close();
    tcp?.close();
    httpServer?.close();
    await stack?.close();
    v?.remove();
  });

  it('attaches its program to the interface through a bpf_link', () => {
    const nic = stack.stats()[`nic.${v.host}`]!;
    console.log(`[xdp-link] mode native=${nic.native} zerocopy=${nic.zerocopy} program ${nic.programId} link ${nic.linkId}`);
    expect(v.xdpAttached()).toBe(true);
    expect(nic.native).toBe(mode === 'native' ? 1 : 0);
    expect(run('ip', ['-d', 'link', 'show', 'dev', v.host])).toMatch(mode === 'native' ? /prog\/xdp id/ : /prog\/xdp(generic)? id/);
    expect(nic.programId).toBeGreaterThan(0);
    expect(nic.linkId).toBeGreaterThan(0);
  });

  it('answers ping, and a 6,000-byte ping in fragments', async () => {
    const { stdout } = await v.inNs('ping', [...pingUntil(3), '-i', '0.2', v.ustackAddr]);
    expectReplies(stdout, 3);
    const frag = await v.inNs('ping', [...pingUntil(3), '-i', '0.2', '-s', '6000', v.ustackAddr]);
    expectReplies(frag.stdout, 3);
    expect(frag.stdout).toMatch(/6008 bytes from/);
  });

  it('echoes UDP datagrams, fragmented ones too', async () => {
    const { stdout } = await v.inNs(process.execPath, [peerScript, 'udp-echo', v.ustackAddr, '7', '60']);
    expect(JSON.parse(stdout)).toEqual({ sent: 60, echoed: 60, largest: 8000 });
  });

  it("leaves the kernel's own address on the same interface to the kernel: ping and a kernel TCP listener", async () => {
    const before = stack.stats()[`nic.${v.host}`]!.framesIn!;
    const { stdout } = await v.inNs('ping', [...pingUntil(3), '-i', '0.2', v.kernelAddr]);
    expectReplies(stdout, 3);
    const hello = await v.inNs(process.execPath, [peerScript, 'tcp-hello', v.kernelAddr, String(kernelPort)]);
    expect(JSON.parse(hello.stdout)).toEqual({ reply: 'kernel got hello' });
    // Every one of those frames went to the kernel (the replies prove it);
    // ustack's socket saw at most the peer's ARP probes for its own address
    // meanwhile — the 3 pings and the TCP exchange (at least 5 frames) would
    // be 8 or more.
    const after = stack.stats()[`nic.${v.host}`]!.framesIn!;
    expect(after - before).toBeLessThan(6);
  });

  it('serves 100 MB to curl from node:http on ustack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-xdp-'));
    try {
      const out = join(dir, 'big');
      const { stdout } = await v.inNs(
        'curl',
        ['-sS', '--max-time', '120', '-w', '%{http_code} %{size_download}\n', '-o', out, `http://${v.ustackAddr}:8080/big`],
        { timeoutMs: 130_000 },
      );
      expect(stdout.trim()).toBe(`200 ${100 * MB}`);
      expect(statSync(out).size).toBe(100 * MB);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const nic = stack.stats()[`nic.${v.host}`]!;
    console.log(`[xdp-link] ${mode}, after 100 MB: ${JSON.stringify(nic)}`);
    expect(nic.framesOut).toBeGreaterThan((100 * MB) / 1500);
    expect(nic.txKicks).toBeGreaterThan(0);
    expect(nic.rxBadDescriptor).toBe(0);
  }, 150_000);

  it('close() leaves no XDP program on the interface, and the closed NIC lends no slot', async () => {
    expect(v.xdpAttached()).toBe(true);
    const peer = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-listen', v.peerAddr, '5204', '1'], {
      what: "the namespace's listener",
    });
    await waitForOutput(peer, 'listening');
    const client = stack.net.connect({ port: 5204, host: v.peerAddr });
    await withTimeout(new Promise<void>((r) => client.once('connect', () => r())), { timeoutMs: 10_000, what: 'the connection to the namespace' });
    await stack.close();
    expect(v.xdpAttached()).toBe(false);
    // The pool is gone with the socket: the NIC lends no slot to send from
    // (a slot of a detached pool made the stack throw from the socket's stream).
    expect(stack.iface.nic.alloc()).toBe(-1);
    expect(stack.iface.nic.availableSlots).toBe(0);
    expect(() => client.write(Buffer.alloc(1000, 1))).not.toThrow();
    client.destroy();
    await peer.stop();
    // The interface and the kernel's address carry on.
    const { stdout } = await v.inNs('ping', ['-c', '1', '-W', '2', v.kernelAddr]);
    expect(stdout).toMatch(/1 packets transmitted, 1 received/);
  });
});
