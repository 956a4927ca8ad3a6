/**
 * node:net over IPv6 (virtual clock, in-process link, both stacks with
 * IPv4 and IPv6 addresses): connect to an IPv6 address, dual-stack `::`
 * listeners that take IPv4 as ::ffff:a.b.c.d, ipv6Only, 0.0.0.0 staying
 * IPv4, v4-mapped destinations over IPv4, localAddress, and the names node
 * reports for each (checked against node over the kernel's loopback: a
 * dual-stack server sees ::ffff:127.0.0.1 family 'IPv6'; a bind of the other
 * family is EINVAL).
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type * as nodeNet from 'node:net';
import { SocketPair } from '../helpers/socket-pair.js';
import { ipv6ToString } from '../../src/wire/ipv6.js';

type Net = typeof nodeNet;

interface Names {
  remoteAddress: string | undefined;
  remoteFamily: string | undefined;
  remotePort: number | undefined;
  localAddress: string | undefined;
  localFamily: string | undefined;
  localPort: number | undefined;
}

const names = (s: nodeNet.Socket): Names => ({
  remoteAddress: s.remoteAddress,
  remoteFamily: s.remoteFamily,
  remotePort: s.remotePort,
  localAddress: s.localAddress,
  localFamily: s.localFamily,
  localPort: s.localPort,
});

let pair: SocketPair | null = null;
afterEach(() => {
  pair?.close();
  pair = null;
});

async function setup(): Promise<{ p: SocketPair; netA: Net; netB: Net }> {
  const p = new SocketPair({ ipv6: true });
  pair = p;
  await p.whenIpv6Ready();
  return { p, netA: p.a.net as unknown as Net, netB: p.b.net as unknown as Net };
}

/** Listens on b (args as server.listen's), resolves once listening; accepted sockets are collected with their names. */
async function listen(p: SocketPair, netB: Net, ...args: unknown[]): Promise<{ server: nodeNet.Server; accepted: Names[]; error: NodeJS.ErrnoException | null }> {
  const accepted: Names[] = [];
  const server = netB.createServer((s) => {
    accepted.push(names(s));
    s.pipe(s);
  });
  let listening = false;
  let error: NodeJS.ErrnoException | null = null;
  server.on('error', (e) => (error = e));
  (server.listen as (...a: unknown[]) => void)(...args, () => (listening = true));
  await p.run(() => listening || error !== null);
  return { server, accepted, get error() { return error; } };
}

/** Connects from a, echoes `size` random bytes through b's pipe, returns the client's names and whether the echo matched. */
async function echo(p: SocketPair, netA: Net, opts: nodeNet.NetConnectOpts, size = 1 << 20): Promise<{ client: Names; ok: boolean; error: NodeJS.ErrnoException | null }> {
  const data = randomBytes(size);
  const h = createHash('sha256');
  let got = 0;
  let error: NodeJS.ErrnoException | null = null;
  let client: Names | null = null;
  let closed = false;
  const s = netA.connect(opts as nodeNet.NetConnectOpts, () => {
    client = names(s);
    s.end(data);
  });
  s.on('data', (d: Buffer) => {
    got += d.length;
    h.update(d);
  });
  s.on('error', (e) => (error = e));
  s.on('close', () => (closed = true));
  await p.run(() => closed, 120_000);
  const ok = got === size && h.digest('hex') === createHash('sha256').update(data).digest('hex');
  return { client: client ?? names(s), ok, error };
}

describe('node:net over IPv6', () => {
  it('connects to an IPv6 address; both ends name IPv6 addresses and family; listen(port) binds :: as node', async () => {
    const { p, netA, netB } = await setup();
    const { server, accepted } = await listen(p, netB, 7000);
    expect(server.address()).toStrictEqual({ address: '::', family: 'IPv6', port: 7000 });
    const r = await echo(p, netA, { host: 'fd00::2', port: 7000, family: 6 });
    expect(r.error).toBeNull();
    expect(r.ok, 'SHA-256 of 1 MB echoed over IPv6').toBe(true);
    expect(r.client).toMatchObject({ remoteAddress: 'fd00::2', remoteFamily: 'IPv6', remotePort: 7000, localAddress: 'fd00::1', localFamily: 'IPv6' });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]).toMatchObject({ remoteAddress: 'fd00::1', remoteFamily: 'IPv6', remotePort: r.client.localPort, localAddress: 'fd00::2', localFamily: 'IPv6', localPort: 7000 });
    expect(p.b.engine.stats().tcp6!.passiveOpens).toBe(1);
    expect(p.b.engine.stats().tcp!.passiveOpens).toBe(0);
  });

  it('a dual-stack :: listener takes IPv4 connections, named ::ffff:a.b.c.d family IPv6 on the server side', async () => {
    const { p, netA, netB } = await setup();
    const { server, accepted } = await listen(p, netB, 7001, '::');
    expect(server.address()).toStrictEqual({ address: '::', family: 'IPv6', port: 7001 });
    const v4 = await echo(p, netA, { host: '10.0.0.2', port: 7001 });
    expect(v4.ok).toBe(true);
    expect(v4.client).toMatchObject({ remoteAddress: '10.0.0.2', remoteFamily: 'IPv4', localAddress: '10.0.0.1', localFamily: 'IPv4' });
    const v6 = await echo(p, netA, { host: 'fd00::2', port: 7001 });
    expect(v6.ok).toBe(true);
    expect(accepted).toStrictEqual([
      { remoteAddress: '::ffff:10.0.0.1', remoteFamily: 'IPv6', remotePort: v4.client.localPort, localAddress: '::ffff:10.0.0.2', localFamily: 'IPv6', localPort: 7001 },
      { remoteAddress: 'fd00::1', remoteFamily: 'IPv6', remotePort: v6.client.localPort, localAddress: 'fd00::2', localFamily: 'IPv6', localPort: 7001 },
    ]);
    // The port is taken in both families: 0.0.0.0 on it is EADDRINUSE (as Linux), and so is another ::.
    const again4 = await listen(p, netB, 7001, '0.0.0.0');
    expect(again4.error?.code).toBe('EADDRINUSE');
    const again6 = await listen(p, netB, 7001, '::');
    expect(again6.error?.code).toBe('EADDRINUSE');
    // Closing frees both halves.
    let closed = false;
    server.close(() => (closed = true));
    await p.run(() => closed);
    const after = await listen(p, netB, 7001, '0.0.0.0');
    expect(after.error).toBeNull();
  });

  it('listen(0) dual-stack: one ephemeral port taken in both families, reached over each', async () => {
    const { p, netA, netB } = await setup();
    const { server, accepted } = await listen(p, netB, 0);
    const { port, address, family } = server.address() as nodeNet.AddressInfo;
    expect({ address, family }).toStrictEqual({ address: '::', family: 'IPv6' });
    expect(port).toBeGreaterThanOrEqual(49152);
    expect((await echo(p, netA, { host: '10.0.0.2', port }, 64 << 10)).ok).toBe(true);
    expect((await echo(p, netA, { host: 'fd00::2', port }, 64 << 10)).ok).toBe(true);
    expect(accepted.map((n) => n.remoteAddress)).toStrictEqual(['::ffff:10.0.0.1', 'fd00::1']);
  });

  it('ipv6Only: IPv4 is refused, and a 0.0.0.0 listener can share the port; 0.0.0.0 alone stays IPv4 only', async () => {
    const { p, netA, netB } = await setup();
    const only6 = await listen(p, netB, { port: 7002, host: '::', ipv6Only: true });
    expect(only6.error).toBeNull();
    const r4 = await echo(p, netA, { host: '10.0.0.2', port: 7002 });
    expect(r4.error?.code).toBe('ECONNREFUSED');
    const beside = await listen(p, netB, 7002, '0.0.0.0');
    expect(beside.error).toBeNull();
    expect(beside.server.address()).toStrictEqual({ address: '0.0.0.0', family: 'IPv4', port: 7002 });
    expect((await echo(p, netA, { host: '10.0.0.2', port: 7002 })).ok).toBe(true);
    expect((await echo(p, netA, { host: 'fd00::2', port: 7002 })).ok).toBe(true);
    expect(beside.accepted[0]).toMatchObject({ remoteAddress: '10.0.0.1', remoteFamily: 'IPv4' });
    expect(only6.accepted[0]).toMatchObject({ remoteAddress: 'fd00::1', remoteFamily: 'IPv6' });
    const v4only = await listen(p, netB, 7003, '0.0.0.0');
    expect(v4only.error).toBeNull();
    expect((await echo(p, netA, { host: 'fd00::2', port: 7003 })).error?.code).toBe('ECONNREFUSED');
  });

  it('listens on one IPv6 address; an address that is not ours is EADDRNOTAVAIL', async () => {
    const { p, netA, netB } = await setup();
    const one = await listen(p, netB, 7004, 'FD00:0::2');
    expect(one.server.address()).toStrictEqual({ address: 'fd00::2', family: 'IPv6', port: 7004 });
    expect((await echo(p, netA, { host: 'fd00::2', port: 7004 })).ok).toBe(true);
    expect((await echo(p, netA, { host: '10.0.0.2', port: 7004 })).error?.code).toBe('ECONNREFUSED');
    const notOurs = await listen(p, netB, 7005, 'fd00::99');
    expect(notOurs.error?.code).toBe('EADDRNOTAVAIL');
  });

  it('a v4-mapped destination goes over IPv4 and is named as IPv6 on the client', async () => {
    const { p, netA, netB } = await setup();
    const { accepted } = await listen(p, netB, 7006, '0.0.0.0');
    const before6 = p.a.engine.stats().tcp6?.activeOpens ?? 0;
    const r = await echo(p, netA, { host: '::ffff:10.0.0.2', port: 7006 });
    expect(r.ok).toBe(true);
    expect(r.client).toMatchObject({ remoteAddress: '::ffff:10.0.0.2', remoteFamily: 'IPv6', localAddress: '::ffff:10.0.0.1', localFamily: 'IPv6' });
    expect(accepted[0]).toMatchObject({ remoteAddress: '10.0.0.1', remoteFamily: 'IPv4' });
    expect(p.a.engine.stats().tcp!.activeOpens).toBe(1);
    expect(p.a.engine.stats().tcp6?.activeOpens ?? 0).toBe(before6);
  });

  it('over link-local addresses: both ends name them with their zone (fe80::…%<interface>), as node does', async () => {
    const { p, netA, netB } = await setup();
    const { accepted } = await listen(p, netB, 7008);
    const ifA = p.a.engine.interfaces.find((i) => !i.loopback)!;
    const ifB = p.b.engine.interfaces.find((i) => !i.loopback)!;
    const llA = ipv6ToString(ifA.v6!.linkLocal);
    const llB = ipv6ToString(ifB.v6!.linkLocal);
    const r = await echo(p, netA, { host: `${llB}%${ifA.name}`, port: 7008 }, 64 << 10);
    expect(r.ok).toBe(true);
    expect(r.client).toMatchObject({ remoteAddress: `${llB}%${ifA.name}`, localAddress: `${llA}%${ifA.name}`, remoteFamily: 'IPv6' });
    expect(accepted[0]).toMatchObject({ remoteAddress: `${llA}%${ifB.name}`, localAddress: `${llB}%${ifB.name}` });
  });

  it('localAddress and localPort over IPv6; another family or an address not ours fails the bind as node', async () => {
    const { p, netA, netB } = await setup();
    const { accepted } = await listen(p, netB, 7007);
    const r = await echo(p, netA, { host: 'fd00::2', port: 7007, localAddress: 'fd00::1', localPort: 45678 });
    expect(r.ok).toBe(true);
    expect(accepted[0]).toMatchObject({ remoteAddress: 'fd00::1', remotePort: 45678 });
    const cross = await echo(p, netA, { host: 'fd00::2', port: 7007, localAddress: '10.0.0.1' });
    expect(cross.error).toMatchObject({ code: 'EINVAL', syscall: 'bind', address: '10.0.0.1' });
    const cross4 = await echo(p, netA, { host: '10.0.0.2', port: 7007, localAddress: 'fd00::1' });
    expect(cross4.error).toMatchObject({ code: 'EINVAL', syscall: 'bind', address: 'fd00::1' });
    const notOurs = await echo(p, netA, { host: 'fd00::2', port: 7007, localAddress: 'fd00::77' });
    expect(notOurs.error).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind' });
    const refused = await echo(p, netA, { host: 'fd00::2', port: 7999 });
    expect(refused.error).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: 'fd00::2', port: 7999 });
  });
});
