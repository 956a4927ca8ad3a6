/**
 * AF_XDP shared-address mode (`xdp:IF?shared=1`): ustack uses the address
 * the kernel already has on the interface, and the XDP program diverts only
 * TCP and UDP to ustack's ports (its listeners and its ephemeral range,
 * above the kernel's); the kernel keeps ARP, ICMP and every other port of
 * that same address. From the peer's namespace: ping and a kernel TCP
 * listener on the address still answer, while ustack's TCP and UDP echo on
 * the same address answer too; ustack connects out (its ARP answered from
 * the kernel's neighbour table) while the kernel connects out at the same
 * time.
 */
import { join } from 'node:path';
import * as nodeNet from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { startChild, waitForOutput } from '../helpers/children.js';
import { exchange, repeatedHash } from '../helpers/exchange.js';
import { ensureTools } from '../helpers/netns.js';
import { createVethNs, listenKernelHello, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { withTimeout } from '../helpers/wait.js';
// @ts-expect-error -- a plain .mjs fixture without types
import { patternBlock } from '../fixtures/ns-peer.mjs';

const skipReason = xdpUnavailableReason() ?? ensureTools(['ping', 'ethtool']);
if (skipReason !== undefined) console.log(`[xdp-shared.test] skipping: ${skipReason}`);

const peerScript = join(import.meta.dirname, '..', 'fixtures', 'ns-peer.mjs');
const MB = 5;
const block = patternBlock() as Buffer;
const whole = { received: repeatedHash(block, MB), bytes: MB * 1024 * 1024, error: null };
const lastJson = (out: string): unknown => JSON.parse(out.trim().split('\n').pop()!);

describe.skipIf(skipReason !== undefined)('AF_XDP shared-address mode: ustack and the kernel on one address', () => {
  let v: VethNs;
  let stack: Stack;
  let kernelServer: nodeNet.Server;
  let kernelPort: number;

  beforeAll(async () => {
    v = createVethNs('uxsh');
    stack = await Stack.open({ nic: `xdp:${v.host}?shared=1`, address: `${v.kernelAddr}/24` });
    const echo = stack.net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(7, () => r()));
    const udp = stack.dgram.createSocket('udp4');
    udp.on('message', (msg, rinfo) => udp.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((r) => udp.bind(7, () => r()));
    ({ server: kernelServer, port: kernelPort } = await listenKernelHello(v.kernelAddr));
  });

  afterAll(async () => {
    kernelServer?.close();
    await stack?.close();
    v?.remove();
  });

  it('refuses an address the interface does not have', async () => {
    await expect(Stack.open({ nic: `xdp:${v.host}?shared=1`, address: `${v.ustackAddr}/24` })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: expect.stringMatching(/shared mode uses an address/),
    });
  });

  it('the kernel keeps ICMP and its own ports on the address', async () => {
    const { stdout } = await v.inNs('ping', ['-c', '3', '-i', '0.2', '-W', '2', v.kernelAddr]);
    expect(stdout).toMatch(/3 packets transmitted, 3 received/);
    const hello = await v.inNs(process.execPath, [peerScript, 'tcp-hello', v.kernelAddr, String(kernelPort)]);
    expect(lastJson(hello.stdout)).toEqual({ reply: 'kernel got hello' });
  });

  it("ustack's listeners on the same address answer: TCP echo of 5 MB each way, UDP echo", async () => {
    const tcp = await v.inNs(process.execPath, [peerScript, 'tcp-connect', v.kernelAddr, '7', String(MB)], { timeoutMs: 60_000 });
    expect(lastJson(tcp.stdout)).toEqual(whole);
    // Unfragmented only: a later fragment carries no port, so it stays with the kernel.
    const udp = await v.inNs(process.execPath, [peerScript, 'udp-echo', v.kernelAddr, '7', '20', '1472']);
    expect(lastJson(udp.stdout)).toEqual({ sent: 20, echoed: 20, largest: 1472 });
    const nic = stack.stats()[`nic.${v.host}`]!;
    expect(nic.shared).toBe(1);
    expect(nic.programRedirected).toBeGreaterThan(0);
  });

  it('ustack connects out (ARP from the kernel) while the kernel connects out too', async () => {
    const peerU = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-listen', v.peerAddr, '5202', String(MB)], {
      what: "the namespace's listener for ustack",
    });
    const peerK = startChild('ip', ['netns', 'exec', v.ns, process.execPath, peerScript, 'tcp-listen', v.peerAddr, '5203', String(MB)], {
      what: "the namespace's listener for the kernel",
    });
    await waitForOutput(peerU, 'listening');
    await waitForOutput(peerK, 'listening');
    const fromUstack = stack.net.connect({ port: 5202, host: v.peerAddr, allowHalfOpen: true });
    const fromKernel = nodeNet.connect({ port: 5203, host: v.peerAddr, allowHalfOpen: true });
    const [u, k] = await withTimeout(Promise.all([exchange(fromUstack as unknown as nodeNet.Socket, block, MB), exchange(fromKernel, block, MB)]), {
      timeoutMs: 60_000,
      what: 'both exchanges',
      detail: () => JSON.stringify(stack.stats()[`nic.${v.host}`]),
    });
    expect(u).toEqual(whole);
    expect(k).toEqual(whole);
    const ru = await withTimeout(peerU.done, { timeoutMs: 30_000, what: peerU.what });
    const rk = await withTimeout(peerK.done, { timeoutMs: 30_000, what: peerK.what });
    expect(lastJson(ru.stdout)).toEqual(whole);
    expect(lastJson(rk.stdout)).toEqual(whole);
    const t = stack.stats().tcp!;
    console.log(`[xdp-shared] tcp retransmits ${t.retransmits}, rto ${t.rtoTimeouts}; nic ${JSON.stringify(stack.stats()[`nic.${v.host}`])}`);
    expect(stack.stats()[`nic.${v.host}`]!.arpFromKernel).toBeGreaterThan(0);
  });

  it('close() leaves no program, and the address is the kernel\'s alone again', async () => {
    await stack.close();
    expect(v.xdpAttached()).toBe(false);
    const { stdout } = await v.inNs('ping', ['-c', '1', '-W', '2', v.kernelAddr]);
    expect(stdout).toMatch(/1 packets transmitted, 1 received/);
  });
});
