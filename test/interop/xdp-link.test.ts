/**
 * ustack on AF_XDP (nic 'xdp:IF') against the Linux kernel over a veth pair,
 * the kernel's tools in the peer's namespace: ping (and a fragmented 6,000-
 * byte ping), UDP echo, curl downloading 100 MB from node:http on ustack;
 * meanwhile the kernel's own address on the same interface still answers
 * ping and serves a kernel TCP listener, because the XDP program passes
 * everything that is not the stack's. After close() no program is left.
 * IPv6 on AF_XDP: ping -6 to the stack's global and link-local addresses
 * (neighbour discovery both ways through the program's IPv6 rules), a
 * fragmented ping -6, UDP over IPv6 echoed, the stack pinging the peer —
 * while the kernel's own IPv6 address on the interface still answers.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as http from 'node:http';
import * as nodeNet from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, serveHttp, type UstackServer } from '../../src/index.js';
import { assertRouteOver, ensureTools, run } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait.js';
import { ipv6ToString, parseIpv6Address } from '../../src/wire/ipv6.js';
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

describe.skipIf(skipReason !== undefined).each(['native', 'generic'])('IPv6 on AF_XDP (mode=%s) against the kernel on a veth pair', (mode) => {
  let v: VethNs;
  let stack: Stack;
  let p6: string;

  beforeAll(async () => {
    v = createVethNs('ux6');
    p6 = `fd00:1d:${v.subnet.toString(16)}`;
    // The kernel's own IPv6 address on the host end, and the peer's (no DAD: both are this test's).
    run('ip', ['-6', 'addr', 'add', `${p6}::1/64`, 'dev', v.host, 'nodad']);
    run('ip', ['-n', v.ns, '-6', 'addr', 'add', `${p6}::3/64`, 'dev', v.peer, 'nodad']);
    for (const dst of [`${p6}::2`, `${p6}::1`]) {
      const route = run('ip', ['-n', v.ns, '-6', 'route', 'get', dst]);
      if (!route.includes(`dev ${v.peer}`)) throw new Error(`route to ${dst} in ${v.ns} does not leave over ${v.peer}: ${route}`);
    }
    assertRouteOver(`${p6}::3`, v.host);
    stack = await Stack.open({ nic: `xdp:${v.host}?mode=${mode}`, address: [`${v.ustackAddr}/24`, `${p6}::2/64`] });
    const v6 = stack.iface.v6!;
    await waitFor(() => v6.addresses().every((a) => a.state === 'preferred'), { timeoutMs: 10_000, what: `DAD of ${v6.describe()}` });
    const echo = stack.engine.udp6.bind(7, { onDatagram: (src, srcPort, buf, off, len) => echo.send(src.slice(), srcPort, buf, off, len) });
  });

  afterAll(async () => {
    await stack?.close();
    v?.remove();
  });

  it('has a link-local address of its own (RFC 7217), not the kernel\'s EUI-64 one on the same MAC', () => {
    const ll = ipv6ToString(stack.iface.v6!.linkLocal);
    const kernel = JSON.parse(run('ip', ['-j', '-6', 'addr', 'show', 'dev', v.host, 'scope', 'link'])) as Array<{ addr_info: Array<{ local: string }> }>;
    const kernelLl = kernel[0]!.addr_info.map((a) => a.local);
    expect(kernelLl.length).toBeGreaterThan(0);
    expect(kernelLl).not.toContain(ll);
    expect(ll.startsWith('fe80::')).toBe(true);
  });

  it('answers ping -6 to its global and link-local addresses, and a 6,000-byte ping -6 in fragments', async () => {
    const g = await v.inNs('ping', ['-6', ...pingUntil(3), '-i', '0.2', `${p6}::2`]);
    expectReplies(g.stdout, 3);
    const ll = ipv6ToString(stack.iface.v6!.linkLocal);
    const l = await v.inNs('ping', ['-6', ...pingUntil(3), '-i', '0.2', `${ll}%${v.peer}`]);
    expectReplies(l.stdout, 3);
    const frag = await v.inNs('ping', ['-6', ...pingUntil(3), '-i', '0.2', '-s', '6000', `${p6}::2`]);
    expectReplies(frag.stdout, 3);
    expect(frag.stdout).toMatch(/6008 bytes from/);
    const st = stack.stats()[`ip6.${v.host}`]!;
    expect(st.nd_rx_ns).toBeGreaterThanOrEqual(1);
    expect(st.icmp6_tx_echo_replies).toBeGreaterThanOrEqual(9);
    expect(stack.stats()[`frag6.${v.host}`]!.frag6_reassembled).toBeGreaterThanOrEqual(3);
  });

  it('echoes UDP over IPv6, fragmented datagrams too', async () => {
    const { stdout } = await v.inNs(process.execPath, [peerScript, 'udp-echo', `${p6}::2`, '7', '30']);
    expect(JSON.parse(stdout)).toEqual({ sent: 30, echoed: 30, largest: 8000 });
    expect(stack.stats().udp6!.udp6_rx_delivered).toBeGreaterThanOrEqual(30);
  });

  it('pings the peer (its NA to the stack\'s address comes through the program)', async () => {
    expect(await stack.ping(`${p6}::3`, { timeoutMs: 5000 })).toBeGreaterThanOrEqual(0);
  });

  it("leaves the kernel's own IPv6 address on the same interface to the kernel", async () => {
    const before = stack.stats()[`nic.${v.host}`]!.framesIn!;
    const { stdout } = await v.inNs('ping', ['-6', ...pingUntil(3), '-i', '0.2', `${p6}::1`]);
    expectReplies(stdout, 3);
    // The kernel's NS/NA for its own address and the echoes went to the kernel; the stack
    // may see a stray frame meanwhile (an NS for its own address from the peer), never 6 echoes.
    expect(stack.stats()[`nic.${v.host}`]!.framesIn! - before).toBeLessThan(6);
  });

  it("puts the stack's solicited-node groups in the interface's multicast list while it runs (a real NIC filters by it), and takes them out at close", async () => {
    const groups = (): string[] => [...run('ip', ['maddr', 'show', 'dev', v.host]).matchAll(/link\s+(33:33:ff:[0-9a-f:]+)/g)].map((m) => m[1]!);
    const macOf = (a: Uint8Array): string => `33:33:ff:${[a[13]!, a[14]!, a[15]!].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    const v6 = stack.iface.v6!;
    const ours = [macOf(v6.linkLocal), macOf(parseIpv6Address(`${p6}::2`))];
    expect(groups()).toEqual(expect.arrayContaining(ours));
    // Closing the stack closes the device's AF_PACKET socket: the kernel drops its memberships (the kernel's own groups stay).
    const kernelGroups = JSON.parse(run('ip', ['-j', '-6', 'addr', 'show', 'dev', v.host])) as Array<{ addr_info: Array<{ local: string }> }>;
    const kernelMacs = kernelGroups[0]!.addr_info.map((a) => macOf(parseIpv6Address(a.local)));
    const onlyOurs = ours.filter((g) => !kernelMacs.includes(g));
    expect(onlyOurs.length).toBeGreaterThan(0);
    await stack.close();
    const after = groups();
    for (const g of onlyOurs) expect(after).not.toContain(g);
  });
});
