/**
 * DHCP and DNS against dnsmasq on the host side of a TAP: Stack.open with
 * address 'dhcp' gets a lease (address in the range, gateway and DNS server
 * from the options), the lease shows up in dnsmasq's lease file, the stack
 * pings the gateway, a name dnsmasq serves resolves through the stack's own
 * resolver, and a dgram send addressed by that name arrives at the host.
 * Without a server, Stack.open rejects with ERR_USTACK_DHCP_TIMEOUT.
 */
import hostDgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { hostLookup } from '../../src/stack/services/dns.js';
import { ensureTools, freeSubnet24, runBackground, tunUnavailableReason, uniqueIfName, which, type BackgroundRun } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['ip', 'dnsmasq']);
if (skipReason !== undefined) console.log(`[dhcp-dnsmasq.test] skipping: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('DHCP and DNS against dnsmasq over TAP', () => {
  let stack: Stack;
  let ifname: string;
  let host: string;
  let prefix: string;
  let dir: string;
  let dnsmasq: BackgroundRun | undefined;

  beforeAll(async () => {
    const net = freeSubnet24();
    prefix = `10.11.${net}`;
    host = `${prefix}.1`;
    ifname = uniqueIfName('usd');
    dir = mkdtempSync(join(tmpdir(), 'ustack-dnsmasq-'));
    // Stack.open creates the TAP (with the host's address) synchronously, then waits for a lease.
    const opening = Stack.open({
      nic: `tap:${ifname}`,
      address: 'dhcp',
      hostAddress: `${host}/24`,
      dhcp: { initialRetransmitMs: 1000, timeoutMs: 40_000 },
    });
    opening.catch(() => {});
    dnsmasq = runBackground(which('dnsmasq')!, [
      '--no-daemon',
      '--conf-file=/dev/null',
      `--interface=${ifname}`,
      '--bind-interfaces',
      '--except-interface=lo',
      `--listen-address=${host}`,
      `--dhcp-range=${prefix}.50,${prefix}.150,255.255.255.0,2m`,
      `--dhcp-option=option:router,${host}`,
      `--dhcp-option=option:dns-server,${host}`,
      `--dhcp-leasefile=${join(dir, 'leases')}`,
      `--pid-file=${join(dir, 'pid')}`,
      '--dhcp-authoritative',
      '--no-ping',
      '--no-resolv',
      '--no-hosts',
      `--address=/ustack.test/${host}`,
      '--user=root',
      '--log-dhcp',
      '--log-facility=-',
    ]);
    try {
      stack = await opening;
    } catch (err) {
      const out = await dnsmasq.stop();
      throw new Error(`${(err as Error).message}\ndnsmasq: ${out.stderr}${out.stdout}`);
    }
  });

  afterAll(async () => {
    await dnsmasq?.stop();
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('acquires a lease: address in the range, gateway and DNS server from the options', () => {
    const last = Number(stack.address.split('.')[3]);
    expect(stack.address.startsWith(`${prefix}.`)).toBe(true);
    expect(last).toBeGreaterThanOrEqual(50);
    expect(last).toBeLessThanOrEqual(150);
    const lease = stack.dhcp!.lease!;
    expect(lease.prefixLength).toBe(24);
    expect(lease.leaseTime).toBe(120);
    expect(lease.renewalTime).toBe(60);
    expect(stack.dnsServer).toBe(host);
    expect(stack.dhcp!.state).toBe('bound');
    const leases = readFileSync(join(dir, 'leases'), 'utf8');
    expect(leases).toContain(stack.address);
  });

  it('is reachable on the leased address: pings the gateway', async () => {
    const rtt = await stack.ping(host, { timeoutMs: 5000 });
    expect(rtt).toBeGreaterThanOrEqual(0);
  });

  it("resolves a name dnsmasq serves through the stack's resolver", async () => {
    const lookup = hostLookup(stack);
    const dnsmasqState = (): string => dnsmasq!.describe();
    const address = await withTimeout(
      new Promise<string>((resolve, reject) => lookup('ustack.test', (err, addr) => (err ? reject(err) : resolve(addr)))),
      { timeoutMs: 20_000, what: `dnsmasq's answer for ustack.test`, detail: dnsmasqState },
    );
    expect(address).toBe(host);
    const all = await withTimeout(
      new Promise<unknown>((resolve, reject) =>
        lookup('www.ustack.test', { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
      ),
      { timeoutMs: 20_000, what: `dnsmasq's answer for www.ustack.test`, detail: dnsmasqState },
    );
    expect(all).toEqual([{ address: host, family: 4 }]);
  });

  it('dgram send addressed by name arrives at the host', async () => {
    const rx = hostDgram.createSocket('udp4');
    try {
      await new Promise<void>((r) => rx.bind(0, host, () => r()));
      const got = new Promise<[Buffer, hostDgram.RemoteInfo]>((r) => rx.once('message', (m, ri) => r([m, ri])));
      const s = stack.dgram.createSocket('udp4');
      const err = await withTimeout(
        new Promise<Error | null>((r) => s.send('by name', rx.address().port, 'ustack.test', r)),
        { timeoutMs: 20_000, what: "the send callback of a datagram addressed to 'ustack.test'" },
      );
      expect(err).toBeNull();
      const [m, rinfo] = await withTimeout(got, { timeoutMs: 10_000, what: `the datagram at ${host}:${rx.address().port}` });
      expect(m.toString()).toBe('by name');
      expect(rinfo.address).toBe(stack.address);
      s.close();
    } finally {
      rx.close();
    }
  });
});

describe.skipIf(skipReason !== undefined)('DHCP with nobody answering', () => {
  it('Stack.open rejects with ERR_USTACK_DHCP_TIMEOUT naming the interface', async () => {
    const ifname = uniqueIfName('usn');
    const net = freeSubnet24();
    await expect(
      Stack.open({ nic: `tap:${ifname}`, address: 'dhcp', hostAddress: `10.11.${net}.1/24`, dhcp: { timeoutMs: 2500, initialRetransmitMs: 500 } }),
    ).rejects.toMatchObject({ code: 'ERR_USTACK_DHCP_TIMEOUT', message: expect.stringContaining(ifname) });
  });
});
