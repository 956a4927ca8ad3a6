/**
 * IPv6 against the Linux kernel over TAP: the kernel's `ping -6` reaches the
 * stack's global and link-local addresses (neighbour discovery both ways,
 * solicited-node multicast through the TAP), the stack pings the kernel,
 * UDP over IPv6 echoes to a kernel udp6 socket, 6,000-byte pings are reassembled and answered in fragments,
 * and SLAAC forms an address from a router advertisement dnsmasq sends from
 * the host side (prefix, default router, MTU).
 *
 * Unique names and prefixes per process: the TAP from uniqueIfName, the
 * prefixes fd00:11:X::/64 from the /24 freeSubnet24 claims for 10.11.X.0/24.
 * Before sending to a global test address the test checks with
 * `ip -6 route get` that it leaves over its own TAP; link-local
 * destinations are scoped to the TAP (%ifname).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { assertRouteOver, ensureTools, run, freeSubnet24, runBackground, runBounded, tunUnavailableReason, uniqueIfName, which, type BackgroundRun } from '../helpers/netns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import hostDgram from 'node:dgram';
import { ipv6ToString, parseIpv6Address, eui64FromMac } from '../../src/wire/ipv6.js';

const TOOL_MS = 30_000;
const skipReason = tunUnavailableReason() ?? ensureTools(['ping', 'ip', 'dnsmasq']);
if (skipReason !== undefined) console.log(`[ipv6-tap.test] skipping: ${skipReason}`);

/** Waits until every IPv6 address of the stack finished DAD. */
async function addressesReady(stack: Stack, what: string): Promise<void> {
  await waitFor(() => {
    const a = stack.iface.v6!.addresses();
    return a.length > 0 && a.every((x) => x.state === 'preferred');
  }, { timeoutMs: 10_000, what: `${what}: DAD of ${stack.iface.v6!.describe()}` });
}

/** The kernel's ICMPv6 echo-reply count received on one interface (/proc/net/dev_snmp6/<ifname>). */
function kernelEchoRepliesIn(ifname: string): number {
  const m = /^Icmp6InEchoReplies\s+(\d+)$/m.exec(readFileSync(`/proc/net/dev_snmp6/${ifname}`, 'utf8'));
  if (m === null) throw new Error(`no Icmp6InEchoReplies in /proc/net/dev_snmp6/${ifname}`);
  return Number(m[1]);
}

/**
 * Runs `ping -6 -c count` and checks that every request was answered, once.
 *
 * Without a deadline ping stops waiting max(2 x its largest RTT, the interval)
 * after its last request once any reply came (ping(8), -W: "otherwise ping
 * waits for two RTTs"): 50 ms at -i 0.05, so a reply the loaded machine
 * delays past that reads as "10 packets transmitted, 9 received, 10% packet
 * loss" though the stack answered it. With -w ping waits until `count`
 * replies came (or the deadline, then it exits 1 and runBounded throws with
 * its output); it may send more than `count` meanwhile, and requests still in
 * flight when the count-th reply arrives read as lost. So the check is: at
 * least `count` replies, no duplicates or ICMPv6 errors in ping's summary,
 * and the kernel received one echo reply on the TAP for every request ping
 * sent (its per-interface counter, a bounded wait for the late ones).
 */
async function pingAnswered(ifname: string, count: number, args: readonly string[]): Promise<string> {
  const before = kernelEchoRepliesIn(ifname);
  const { stdout } = await runBounded('ping', ['-6', '-c', String(count), '-w', '30', ...args], { timeoutMs: TOOL_MS });
  const m = /(\d+) packets transmitted, (\d+) received(.*)/.exec(stdout);
  expect(m, `ping's summary in:\n${stdout}`).not.toBeNull();
  const [, transmitted, received, rest] = m!;
  expect(rest, `duplicates or errors in ping's summary:\n${stdout}`).not.toMatch(/duplicates|errors/);
  expect(Number(received), stdout).toBeGreaterThanOrEqual(count);
  await waitFor(() => kernelEchoRepliesIn(ifname) - before >= Number(transmitted), {
    timeoutMs: 5000,
    what: `echo replies on ${ifname} to all ${transmitted} requests ping sent`,
    detail: () => `the kernel counted ${String(kernelEchoRepliesIn(ifname) - before)}; ping printed:\n${stdout}`,
  });
  expect(kernelEchoRepliesIn(ifname) - before, `echo replies on ${ifname} for ${transmitted} requests; ping printed:\n${stdout}`).toBe(Number(transmitted));
  return stdout;
}

describe.skipIf(skipReason !== undefined)('IPv6 over TAP against the Linux kernel', () => {
  let stack: Stack;
  let ifname: string;
  let hostGlobal: string;
  let ours: string;

  beforeAll(async () => {
    const net = freeSubnet24();
    const p6 = `fd00:11:${net.toString(16)}`;
    hostGlobal = `${p6}::1`;
    ours = `${p6}::2`;
    ifname = uniqueIfName('us6');
    stack = await Stack.open({ nic: `tap:${ifname}`, address: [`10.11.${net}.2/24`, `${ours}/64`], hostAddress: [`10.11.${net}.1/24`, `${hostGlobal}/64`] });
    await addressesReady(stack, 'stack');
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('lists its IPv4, link-local and global addresses', () => {
    const ll = ipv6ToString(stack.iface.v6!.linkLocal);
    expect(stack.addresses).toStrictEqual([stack.address, ll, ours]);
    expect(ll).toBe(ipv6ToString(new Uint8Array([0xfe, 0x80, 0, 0, 0, 0, 0, 0, ...eui64FromMac(stack.iface.mac)])));
  });

  it('answers ping -6 to its global address (the kernel resolves it with NS to the solicited-node group)', async () => {
    assertRouteOver(ours, ifname);
    await pingAnswered(ifname, 10, ['-i', '0.05', '-I', ifname, ours]);
    const st = stack.stats()[`ip6.${ifname}`]!;
    expect(st.icmp6_tx_echo_replies).toBeGreaterThanOrEqual(10);
    expect(st.nd_tx_na).toBeGreaterThanOrEqual(1);
    expect(st.nd_rx_ns).toBeGreaterThanOrEqual(1);
  });

  it('answers ping -6 to its link-local address, and 1,400-byte pings', async () => {
    const ll = ipv6ToString(stack.iface.v6!.linkLocal);
    await pingAnswered(ifname, 5, ['-i', '0.05', `${ll}%${ifname}`]);
    assertRouteOver(ours, ifname);
    await pingAnswered(ifname, 3, ['-i', '0.1', '-s', '1400', '-I', ifname, ours]);
  });

  it('answers a 6,000-byte ping -6 the kernel fragments (reassembled by RFC 8200 rules, the reply fragmented)', async () => {
    assertRouteOver(ours, ifname);
    await pingAnswered(ifname, 3, ['-i', '0.1', '-s', '6000', '-I', ifname, ours]);
    expect(stack.stats()[`frag6.${ifname}`]!.frag6_reassembled).toBeGreaterThanOrEqual(3);
    expect(stack.stats()[`ip6.${ifname}`]!.ip6_tx_fragmented).toBeGreaterThanOrEqual(3);
  });

  it('pings the kernel: global and link-local (the stack resolves it with NS, the kernel answers NA)', async () => {
    // The kernel's own address routes over lo on the host; what matters is that it sits on this test's TAP.
    expect(run('ip', ['-6', 'addr', 'show', 'dev', ifname])).toContain(`${hostGlobal}/64`);
    const rtt = await stack.ping(hostGlobal, { timeoutMs: 5000 });
    expect(rtt).toBeGreaterThanOrEqual(0);
    const kernelLl = await waitFor(() => {
      const out = JSON.parse(run('ip', ['-j', '-6', 'addr', 'show', 'dev', ifname, 'scope', 'link'])) as Array<{ addr_info: Array<{ local?: string; tentative?: boolean }> }>;
      const a = out[0]?.addr_info.find((x) => x.local?.startsWith('fe80') === true && x.tentative !== true);
      return a?.local;
    }, { timeoutMs: 10_000, what: `the kernel's link-local address on ${ifname}` });
    expect(await stack.ping(kernelLl, { timeoutMs: 5000 })).toBeGreaterThanOrEqual(0);
    const nd = stack.stats()[`nd6.${ifname}`]!;
    expect(nd.nd_resolved).toBeGreaterThanOrEqual(1);
    expect(stack.iface.v6!.neighbors.macOf(parseIpv6Address(hostGlobal))).toBeGreaterThan(0);
  });

  it('echoes UDP over IPv6 to a kernel udp6 socket (checksums over the pseudo-header both ways, a 4,000-byte datagram fragmented)', async () => {
    const echo = stack.engine.udp6.bind(7, {
      onDatagram: (src, srcPort, buf, off, len) => {
        echo.send(src.slice(), srcPort, buf, off, len);
        stack.kick();
      },
    });
    const sock = hostDgram.createSocket('udp6');
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, hostGlobal, () => resolve());
      });
      assertRouteOver(ours, ifname);
      for (const size of [5, 1000, 4000]) {
        const payload = Buffer.alloc(size, size & 0xff);
        const reply = withTimeout(new Promise<Buffer>((resolve) => sock.once('message', (m) => resolve(m))), { timeoutMs: 5000, what: `the ${size}-byte UDP echo from [${ours}]:7`, detail: () => JSON.stringify(stack.stats().udp6) });
        sock.send(payload, 7, ours);
        expect((await reply).equals(payload)).toBe(true);
      }
      expect(stack.stats().udp6!.udp6_rx_delivered).toBe(3);
      expect(stack.stats()[`frag6.${ifname}`]!.frag6_reassembled).toBeGreaterThanOrEqual(1);
    } finally {
      sock.close();
      echo.close();
    }
  });

  it('survives what the kernel sends by itself (its DAD, router solicitations, MLD reports) without errors', () => {
    const st = stack.stats();
    expect(st[`iface.${ifname}`]!.poll_exceptions).toBe(0);
    expect(st[`ip6.${ifname}`]!.icmp6_rx_drop_bad_checksum).toBe(0);
  });
});

describe.skipIf(skipReason !== undefined)('SLAAC from dnsmasq router advertisements over TAP', () => {
  let stack: Stack;
  let ifname: string;
  let dir: string;
  let dnsmasq: BackgroundRun | undefined;
  let p6: string;

  beforeAll(async () => {
    const net = freeSubnet24();
    p6 = `fd00:11:${net.toString(16)}`;
    ifname = uniqueIfName('usr');
    dir = mkdtempSync(join(tmpdir(), 'ustack-ra-'));
    stack = await Stack.open({ nic: `tap:${ifname}`, address: [`10.11.${net}.2/24`, 'slaac'], hostAddress: [`10.11.${net}.1/24`, `${p6}::1/64`] });
    dnsmasq = runBackground(which('dnsmasq')!, [
      '--no-daemon',
      '--conf-file=/dev/null',
      `--interface=${ifname}`,
      '--bind-interfaces',
      '--except-interface=lo',
      '--port=0',
      '--enable-ra',
      `--dhcp-range=${p6}::,ra-only,64,10m`,
      `--ra-param=${ifname},mtu:1400,60,600`,
      `--pid-file=${join(dir, 'pid')}`,
      '--user=root',
      '--log-facility=-',
    ]);
  });

  afterAll(async () => {
    await dnsmasq?.stop();
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('forms prefix + EUI-64 from the RA, takes the router and the MTU, and answers ping -6 on it', async () => {
    const v6 = stack.iface.v6!;
    const expected = `${p6}::${ipv6ToString(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, ...eui64FromMac(stack.iface.mac)])).slice(2)}`;
    const got = await waitFor(() => {
      const a = v6.addresses().find((x) => x.origin === 'slaac' && x.state === 'preferred');
      return a && ipv6ToString(a.address);
    }, { timeoutMs: 30_000, what: `a SLAAC address from dnsmasq's RA (have ${v6.describe()}; stats ${JSON.stringify(stack.stats()[`ip6.${ifname}`])})` });
    expect(got).toBe(ipv6ToString(parseIpv6Address(expected)));
    expect(v6.slaac.routers.length).toBe(1);
    expect(ipv6ToString(v6.slaac.routers[0]!.address).startsWith('fe80:')).toBe(true);
    expect(v6.mtu).toBe(1400);
    expect(v6.slaac.prefixes.map((p) => `${ipv6ToString(p.prefix)}/${p.prefixLength}`)).toContain(`${p6}::/64`);
    assertRouteOver(got, ifname);
    await pingAnswered(ifname, 5, ['-i', '0.05', '-I', ifname, got]);
    expect(stack.stats()[`ip6.${ifname}`]!.nd_tx_rs).toBeGreaterThanOrEqual(1);
  });
});
