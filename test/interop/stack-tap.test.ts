/**
 * The whole stack on a TAP device with the Linux kernel as the peer:
 * the kernel's ping and arping get answers, and a UDP datagram the kernel
 * sends to a closed port comes back as ICMP port unreachable, which the
 * kernel reports to its connected socket as ECONNREFUSED.
 *
 * Every external command runs asynchronously: the stack answers from this
 * same event loop.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';
import { expectReplies, pingUntil } from '../helpers/ping.js';

/** Upper bound on one ping / arping run (each has its own deadline well inside it). */
const TOOL_MS = 30_000;
const skipReason = tunUnavailableReason() ?? ensureTools(['ping', 'arping', 'ip']);
if (skipReason !== undefined) console.log(`[stack-tap.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('Stack over TAP against the Linux kernel', () => {
  let stack: Stack;
  let ifname: string;
  let host: string;
  let ours: string;

  beforeAll(async () => {
    const net = freeSubnet24();
    host = `10.11.${net}.1`;
    ours = `10.11.${net}.2`;
    ifname = uniqueIfName('ust');
    stack = await Stack.open({ nic: `tap:${ifname}`, address: `${ours}/24`, hostAddress: `${host}/24` });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('answers ping -c 20 from the host with no loss', async () => {
    const { stdout } = await runBounded('ping', [...pingUntil(20), '-i', '0.05', '-I', ifname, ours], { timeoutMs: TOOL_MS });
    expectReplies(stdout, 20);
    const st = stack.stats()[`iface.${ifname}`]!;
    expect(st.icmp_tx_echo_replies).toBeGreaterThanOrEqual(20);
  });

  it('answers a large ping that the kernel fragments', async () => {
    const { stdout } = await runBounded('ping', [...pingUntil(3), '-i', '0.1', '-s', '6000', '-I', ifname, ours], { timeoutMs: TOOL_MS });
    expectReplies(stdout, 3);
    expect(stack.stats()[`ipfrag.${ifname}`]!.frag_reassembled).toBeGreaterThanOrEqual(3);
  });

  it('answers arping from the host', async () => {
    const { stdout } = await runBounded('arping', ['-c', '5', '-w', '5', '-I', ifname, ours], { timeoutMs: TOOL_MS });
    const replies = stdout.split('\n').filter((l) => /bytes from|reply from/i.test(l));
    expect(replies.length, stdout).toBe(5);
  });

  it('sends ICMP port unreachable that the kernel reports as ECONNREFUSED', async () => {
    const sock = dgram.createSocket('udp4');
    try {
      const refused = new Promise<NodeJS.ErrnoException>((resolve, reject) => {
        sock.once('error', resolve);
        sock.bind(0, host, () => {
          sock.connect(9, ours, () => {
            // Linux raises ECONNREFUSED on the socket once the ICMP arrives; send twice to read it.
            sock.send('are you there?', (e) => e && reject(e));
            setTimeout(() => sock.send('still there?', (e) => e && resolve(e as NodeJS.ErrnoException)), 200);
          });
        });
      });
      const err = await withTimeout(refused, { timeoutMs: 10_000, what: `ECONNREFUSED on a kernel socket sending to ${ours}:9` });
      expect(err.code).toBe('ECONNREFUSED');
      expect(stack.stats()[`iface.${ifname}`]!.icmp_tx_errors).toBeGreaterThanOrEqual(1);
    } finally {
      sock.close();
    }
  });

  it('pings the kernel from ustack', async () => {
    const rtt = await stack.ping(host);
    expect(rtt).toBeGreaterThanOrEqual(0);
  });
});
