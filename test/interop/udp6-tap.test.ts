/**
 * node:dgram 'udp6' on ustack over a TAP with the Linux kernel's UDP as the
 * peer (node:dgram on the host side): a dual-stack socket on `::` echoes the
 * kernel's IPv6 datagrams (a 6,000-byte one the kernel fragments and the
 * stack reassembles, the echo fragmented by the stack) and its IPv4 ones
 * (seen as ::ffff:a.b.c.d); a connected ustack udp6 socket gets the
 * kernel's ICMPv6 port unreachable as ECONNREFUSED.
 *
 * Unique names and prefixes per process (uniqueIfName, fd00:11:X::/64 from
 * the freeSubnet24 claim for 10.11.X.0/24); before sending, `ip route get`
 * shows the destination leaves over this test's TAP.
 */
import hostDgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { assertRouteOver, ensureTools, freeSubnet24, run, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['ip']);
if (skipReason !== undefined) console.log(`[udp6-tap.test] skipping: ${skipReason}`);

const EVENT_MS = 10_000;
type Rinfo = { address: string; family: string; port: number; size: number };

describe.skipIf(skipReason !== undefined)("ustack dgram 'udp6' over TAP against the kernel", () => {
  let stack: Stack;
  let ifname: string;
  let host4: string;
  let ours4: string;
  let host6: string;
  let ours6: string;
  const open: Array<{ close: () => unknown }> = [];
  const track = <T extends { close: () => unknown }>(s: T): T => {
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    const net = freeSubnet24();
    const p6 = `fd00:11:${net.toString(16)}`;
    host4 = `10.11.${net}.1`;
    ours4 = `10.11.${net}.2`;
    host6 = `${p6}::1`;
    ours6 = `${p6}::2`;
    ifname = uniqueIfName('uu6');
    stack = await Stack.open({ nic: `tap:${ifname}`, address: [`${ours4}/24`, `${ours6}/64`], hostAddress: [`${host4}/24`, `${host6}/64`] });
    await waitFor(() => {
      const a = stack.iface.v6!.addresses();
      return a.length > 0 && a.every((x) => x.state === 'preferred');
    }, { timeoutMs: 10_000, what: `DAD of ${stack.iface.v6!.describe()}` });
  });

  afterAll(async () => {
    for (const s of open) {
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    await stack?.close();
  });

  async function kernelSocket(type: 'udp4' | 'udp6', address: string): Promise<hostDgram.Socket> {
    const s = track(hostDgram.createSocket(type));
    await withTimeout(new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, address, () => resolve());
    }), { timeoutMs: EVENT_MS, what: `the kernel ${type} socket bound to ${address}` });
    return s;
  }

  function reply(s: hostDgram.Socket, what: string): Promise<[Buffer, Rinfo]> {
    return withTimeout(new Promise((resolve) => s.once('message', (m: Buffer, r: Rinfo) => resolve([m, r]))), {
      timeoutMs: EVENT_MS,
      what,
      detail: () => JSON.stringify({ udp6: stack.stats().udp6, frag6: stack.stats()[`frag6.${ifname}`], udp: stack.stats().udp }),
    });
  }

  it('a dual-stack :: socket echoes the kernel over IPv6 (up to a 6,000-byte datagram the kernel fragments) and over IPv4 (as ::ffff:a.b.c.d)', async () => {
    const echo = track(stack.dgram.createSocket('udp6'));
    const seen: Rinfo[] = [];
    echo.on('message', (m: Buffer, r: Rinfo) => {
      seen.push(r);
      echo.send(m, r.port, r.address);
    });
    await withTimeout(new Promise<void>((resolve) => echo.bind(7, () => resolve())), { timeoutMs: EVENT_MS, what: 'bind [::]:7' });
    expect(echo.address()).toEqual({ address: '::', family: 'IPv6', port: 7 });

    assertRouteOver(ours6, ifname);
    const k6 = await kernelSocket('udp6', host6);
    for (const size of [1, 1000, 1452, 6000]) {
      const payload = Buffer.alloc(size).map((_, i) => (i * 13 + size) & 0xff);
      const r = reply(k6, `the ${size}-byte echo from [${ours6}]:7`);
      k6.send(payload, 7, ours6);
      const [m, rinfo] = await r;
      expect(m.equals(payload), `${size} bytes echoed intact`).toBe(true);
      expect(rinfo).toEqual({ address: ours6, family: 'IPv6', port: 7, size });
    }
    expect(seen.every((r) => r.address === host6 && r.family === 'IPv6' && r.port === k6.address().port)).toBe(true);
    // The kernel fragmented the 6,000-byte datagram; the stack reassembled it and fragmented its echo.
    expect(stack.stats()[`frag6.${ifname}`]!.frag6_reassembled).toBeGreaterThanOrEqual(1);
    expect(stack.stats()[`ip6.${ifname}`]!.ip6_tx_fragmented).toBeGreaterThanOrEqual(1);

    assertRouteOver(ours4, ifname);
    const k4 = await kernelSocket('udp4', host4);
    const r4 = reply(k4, `the IPv4 echo from ${ours4}:7`);
    k4.send('over IPv4', 7, ours4);
    const [m4, rinfo4] = await r4;
    expect(m4.toString()).toBe('over IPv4');
    expect(rinfo4).toEqual({ address: ours4, family: 'IPv4', port: 7, size: 9 });
    expect(seen[seen.length - 1]).toEqual({ address: `::ffff:${host4}`, family: 'IPv6', port: k4.address().port, size: 9 });
  });

  it("a connected ustack udp6 socket: sends to the kernel, and the kernel's ICMPv6 port unreachable for a closed port is ECONNREFUSED", async () => {
    // The kernel's own address routes over lo on the host; what matters is that it sits on this test's TAP.
    expect(run('ip', ['-6', 'addr', 'show', 'dev', ifname])).toContain(`${host6}/64`);
    const k6 = await kernelSocket('udp6', host6);
    const c = track(stack.dgram.createSocket('udp6'));
    await withTimeout(new Promise<void>((resolve) => c.connect(k6.address().port, host6, () => resolve())), { timeoutMs: EVENT_MS, what: 'connect' });
    expect(c.address().address).toBe(ours6);
    expect(c.remoteAddress()).toEqual({ address: host6, family: 'IPv6', port: k6.address().port });
    const got = reply(k6, 'the connected datagram at the kernel');
    c.send('to the kernel');
    const [m, r] = await got;
    expect(m.toString()).toBe('to the kernel');
    expect(r).toEqual({ address: ours6, family: 'IPv6', port: c.address().port, size: 13 });

    // A port nobody holds on the kernel side.
    const closedPort = k6.address().port;
    k6.close();
    const refused = track(stack.dgram.createSocket('udp6'));
    await withTimeout(new Promise<void>((resolve) => refused.connect(closedPort, host6, () => resolve())), { timeoutMs: EVENT_MS, what: 'connect to the closed port' });
    const err = withTimeout(new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve)), {
      timeoutMs: EVENT_MS,
      what: 'ECONNREFUSED from the kernel',
      detail: () => JSON.stringify({ udp6: stack.stats().udp6, ip6: stack.stats()[`ip6.${ifname}`] }),
    });
    refused.send('nobody home');
    expect(await err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg' });
    expect(stack.stats().udp6!.udp6_rx_icmp_errors).toBeGreaterThanOrEqual(1);
  });
});
