/**
 * node:dgram 'udp6' on ustack: two stacks on an in-process link, each with
 * an IPv4 and an IPv6 address. What each case expects (rinfo shapes,
 * address(), error codes and syscalls) is what node on the Linux kernel
 * reports for the same calls (checked with a probe on the kernel's loopback:
 * dual-stack `::`, ipv6Only, IPv4-mapped binds and destinations).
 */
import nodeDgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { parseIpv6Address } from '../../src/wire/ipv6.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

type Sock = ReturnType<Stack['dgram']['createSocket']>;
type Rinfo = { address: string; family: string; port: number; size: number };

let a: Stack;
let b: Stack;
const A4 = '10.0.0.1';
const B4 = '10.0.0.2';
const A6 = 'fd00::1';
const B6 = 'fd00::2';
const open: Sock[] = [];

beforeAll(async () => {
  [a, b] = await Stack.pair(undefined, { addresses: [[`${A4}/24`, `${A6}/64`], [`${B4}/24`, `${B6}/64`]] });
  // DAD holds the addresses tentative for about a second.
  await waitFor(() => a.engine.isLocalAddress6(parseIpv6Address(A6)) && b.engine.isLocalAddress6(parseIpv6Address(B6)), {
    timeoutMs: 10_000,
    what: 'both IPv6 addresses through DAD',
  });
});
afterAll(async () => {
  for (const s of open) {
    try {
      s.close();
    } catch {
      // already closed
    }
  }
  await a?.close();
  await b?.close();
});

function sock(stack: Stack, opts: string | { type: 'udp4' | 'udp6'; ipv6Only?: boolean }): Sock {
  const s = stack.dgram.createSocket(opts as never);
  open.push(s);
  return s;
}

function bound(s: Sock, port: number, address?: string): Promise<void> {
  return withTimeout(new Promise<void>((resolve) => s.bind(port, address, () => resolve())), { timeoutMs: 5_000, what: `bind ${address}:${port}` });
}

function bindError(s: Sock, port: number, address?: string): Promise<NodeJS.ErrnoException> {
  return withTimeout(new Promise((resolve, reject) => {
    s.once('error', resolve);
    s.bind(port, address, () => reject(new Error('bound')));
  }), { timeoutMs: 5_000, what: `a bind error for ${address}:${port}` });
}

function nextMessage(s: Sock, what: string): Promise<[Buffer, Rinfo]> {
  return withTimeout(new Promise((resolve) => s.once('message', (m: Buffer, r: Rinfo) => resolve([m, r]))), { timeoutMs: 5_000, what });
}

function sendResult(s: Sock, msg: string | Buffer, port: number, address: string): Promise<Error | null> {
  return withTimeout(new Promise((resolve) => s.send(msg, port, address, (err: Error | null) => resolve(err))), { timeoutMs: 5_000, what: `send to [${address}]:${port}` });
}

describe("node:dgram 'udp6'", () => {
  it('bound to :: is dual-stack: IPv6 and IPv4 datagrams arrive, IPv4 ones from ::ffff:a.b.c.d with family IPv6; replies reach both', async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5000);
    expect(server.address()).toEqual({ address: '::', family: 'IPv6', port: 5000 });
    server.on('message', (m: Buffer, r: Rinfo) => server.send(m, r.port, r.address));

    const c6 = sock(b, 'udp6');
    const echo6 = nextMessage(c6, 'the IPv6 echo');
    const got6 = nextMessage(server, 'the IPv6 datagram');
    c6.send('over v6', 5000, A6);
    const [m6, r6] = await got6;
    expect(m6.toString()).toBe('over v6');
    expect(r6).toEqual({ address: B6, family: 'IPv6', port: c6.address().port, size: 7 });
    const [e6, er6] = await echo6;
    expect(e6.toString()).toBe('over v6');
    expect(er6).toEqual({ address: A6, family: 'IPv6', port: 5000, size: 7 });

    const c4 = sock(b, 'udp4');
    const echo4 = nextMessage(c4, 'the IPv4 echo');
    const got4 = nextMessage(server, 'the IPv4 datagram');
    c4.send('over v4', 5000, A4);
    const [m4, r4] = await got4;
    expect(m4.toString()).toBe('over v4');
    expect(r4).toEqual({ address: `::ffff:${B4}`, family: 'IPv6', port: c4.address().port, size: 7 });
    const [e4, er4] = await echo4;
    expect(e4.toString()).toBe('over v4');
    expect(er4).toEqual({ address: A4, family: 'IPv4', port: 5000, size: 7 });

    // A 'udp6' socket reaches an IPv4 peer through its mapped address, from the same port.
    const echoMapped = nextMessage(c6, 'the echo to a mapped destination');
    c6.send('mapped', 5000, `::ffff:${A4}`);
    const [em, erm] = await echoMapped;
    expect(em.toString()).toBe('mapped');
    expect(erm).toEqual({ address: `::ffff:${A4}`, family: 'IPv6', port: 5000, size: 6 });
  });

  it('carries a 6,000-byte datagram over IPv6, fragmented and reassembled intact', async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5001, A6);
    const c = sock(b, 'udp6');
    const payload = Buffer.alloc(6000, 0).map((_, i) => (i * 31 + 7) & 0xff);
    const got = nextMessage(server, 'the 6,000-byte datagram');
    c.send(payload, 5001, A6);
    const [m, r] = await got;
    expect(Buffer.compare(m, payload)).toBe(0);
    expect(r.size).toBe(6000);
    expect(b.iface.v6!.stats.ip6_tx_fragmented).toBeGreaterThan(0);
  });

  it('takes 65,527 bytes to a native IPv6 destination (arriving whole over ::1), 65,528 is EMSGSIZE; an IPv4-mapped destination keeps IPv4\'s 65,507', async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5009, '::1');
    const c = sock(a, 'udp6');
    await bound(c, 0);
    const payload = Buffer.from(new Uint8Array(65_527).map((_, i) => (i * 13 + 1) & 0xff));
    const got = nextMessage(server, 'the 65,527-byte datagram over ::1');
    expect(await sendResult(c, payload, 5009, '::1')).toBeNull();
    const [m, r] = await got;
    expect(r.size).toBe(65_527);
    expect(Buffer.compare(m, payload)).toBe(0);
    expect((await sendResult(c, Buffer.alloc(65_528), 5009, '::1')) as NodeJS.ErrnoException | null).toMatchObject({ code: 'EMSGSIZE' });
    expect((await sendResult(c, Buffer.alloc(65_508), 5009, `::ffff:${B4}`)) as NodeJS.ErrnoException | null).toMatchObject({ code: 'EMSGSIZE' });
    expect(await sendResult(c, Buffer.alloc(65_507), 5009, `::ffff:${B4}`)).toBeNull();
    // Connected to a native IPv6 peer, the same limit.
    c.connect(5009, '::1');
    await withTimeout(new Promise((resolve) => c.once('connect', resolve)), { timeoutMs: 5_000, what: 'connect to [::1]:5009' });
    const again = nextMessage(server, 'the 65,527-byte datagram on the connected socket');
    c.send(payload);
    expect((await again)[1].size).toBe(65_527);
  });

  it('bound to one IPv6 address: address() names it, a datagram to another address of the stack is refused (ICMPv6 port unreachable -> ECONNREFUSED on a connected socket)', async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5002, A6);
    expect(server.address()).toEqual({ address: A6, family: 'IPv6', port: 5002 });
    server.on('message', () => {
      throw new Error('must not be delivered');
    });
    const linkLocal = a.addresses.find((x) => x.startsWith('fe80:'))!;
    expect(linkLocal).toBeDefined();
    const c = sock(b, 'udp6');
    await withTimeout(new Promise<void>((resolve) => c.connect(5002, linkLocal, () => resolve())), { timeoutMs: 5_000, what: 'connect' });
    // Link-local addresses carry their zone, as node's AddressToJS writes them.
    expect(c.remoteAddress()).toEqual({ address: `${linkLocal}%${b.iface.name}`, family: 'IPv6', port: 5002 });
    // Toward a link-local peer the source is b's link-local address.
    expect(c.address().address).toBe(`${b.addresses.find((x) => x.startsWith('fe80:'))!}%${b.iface.name}`);
    const err = withTimeout(new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve)), { timeoutMs: 5_000, what: 'ECONNREFUSED' });
    c.send('nobody');
    expect(await err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg' });
    expect(a.stats().udp6!.udp6_rx_no_port).toBeGreaterThan(0);
    expect(b.stats().udp6!.udp6_rx_icmp_errors).toBeGreaterThan(0);
  });

  it("a link-local peer's address carries its zone (fe80::...%<interface>), as node reports it; a reply to that text reaches it", async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5008);
    server.on('message', (m: Buffer, r: Rinfo) => server.send(m, r.port, r.address));
    const aLinkLocal = a.addresses.find((x) => x.startsWith('fe80:'))!;
    const bLinkLocal = b.addresses.find((x) => x.startsWith('fe80:'))!;
    const c = sock(b, 'udp6');
    const got = nextMessage(server, 'the datagram from a link-local source');
    const echo = nextMessage(c, 'the echo to the zoned address');
    c.send('ll', 5008, `${aLinkLocal}%${b.iface.name}`);
    expect((await got)[1]).toMatchObject({ address: `${bLinkLocal}%${a.iface.name}`, family: 'IPv6' });
    expect((await echo)[1]).toMatchObject({ address: `${aLinkLocal}%${b.iface.name}`, port: 5008 });
  });

  it('connect() fixes the peer: address()/remoteAddress() as node reports them, sends without an address, datagrams from others not delivered', async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5003);
    const c = sock(b, 'udp6');
    await withTimeout(new Promise<void>((resolve) => c.connect(5003, A6, () => resolve())), { timeoutMs: 5_000, what: 'connect' });
    expect(c.remoteAddress()).toEqual({ address: A6, family: 'IPv6', port: 5003 });
    expect(c.address()).toEqual({ address: B6, family: 'IPv6', port: c.address().port });
    const got = nextMessage(server, 'the connected send');
    c.send('connected');
    const [m, r] = await got;
    expect(m.toString()).toBe('connected');
    expect(r.address).toBe(B6);

    // Another socket of a on another port sends to c: not its peer, dropped; the peer's own reply arrives.
    const other = sock(a, 'udp6');
    const seen: string[] = [];
    c.on('message', (msg: Buffer) => seen.push(msg.toString()));
    other.send('stranger', c.address().port, B6);
    const reply = nextMessage(c, 'the peer reply');
    server.send('peer', r.port, r.address);
    await reply;
    expect(seen).toEqual(['peer']);

    c.disconnect();
    expect(() => c.remoteAddress()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_CONNECTED' }));
  });

  it('connect() to an IPv4-mapped address: the local address becomes ::ffff:<source>; a closed port comes back as ECONNREFUSED', async () => {
    const c = sock(b, 'udp6');
    await withTimeout(new Promise<void>((resolve) => c.connect(5999, `::ffff:${A4}`, () => resolve())), { timeoutMs: 5_000, what: 'connect' });
    expect(c.remoteAddress()).toEqual({ address: `::ffff:${A4}`, family: 'IPv6', port: 5999 });
    expect(c.address()).toEqual({ address: `::ffff:${B4}`, family: 'IPv6', port: c.address().port });
    const err = withTimeout(new Promise<NodeJS.ErrnoException>((resolve) => c.once('error', resolve)), { timeoutMs: 5_000, what: 'ECONNREFUSED' });
    c.send('nobody');
    expect(await err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'recvmsg' });
  });

  it('ipv6Only: no IPv4 side (udp4 may take the same port; mapped destinations ENETUNREACH); without it EADDRINUSE across the v4/v6 sides', async () => {
    const v6only = sock(a, { type: 'udp6', ipv6Only: true });
    await bound(v6only, 5004);
    const v4 = sock(a, 'udp4');
    await bound(v4, 5004);
    expect(v4.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 5004 });
    expect(await sendResult(v6only, 'x', 5004, `::ffff:${A4}`)).toMatchObject({ code: 'ENETUNREACH', syscall: 'send', address: `::ffff:${A4}`, port: 5004 });

    const got = nextMessage(v4, 'the IPv4 datagram, on the udp4 socket');
    sock(b, 'udp4').send('to v4', 5004, A4);
    expect((await got)[0].toString()).toBe('to v4');

    // A dual-stack bind on the port the udp4 socket holds fails on its IPv4 side.
    expect(await bindError(sock(a, 'udp6'), 5004)).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', message: 'bind EADDRINUSE :::5004' });
    // And the other way round: a udp4 bind where a dual-stack socket is.
    const dual = sock(a, 'udp6');
    await bound(dual, 5005);
    expect(await bindError(sock(a, 'udp4'), 5005)).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', message: 'bind EADDRINUSE 0.0.0.0:5005' });
    expect(await bindError(sock(a, 'udp4'), 5005, A4)).toMatchObject({ code: 'EADDRINUSE', message: `bind EADDRINUSE ${A4}:5005` });
    expect(await bindError(sock(a, { type: 'udp6', ipv6Only: true }), 5005)).toMatchObject({ code: 'EADDRINUSE', message: 'bind EADDRINUSE :::5005' });
    // reuseAddr on both sides shares the port.
    const r1 = a.dgram.createSocket({ type: 'udp6', reuseAddr: true });
    const r2 = a.dgram.createSocket({ type: 'udp6', reuseAddr: true });
    open.push(r1, r2);
    await bound(r1, 5006);
    await bound(r2, 5006);
  });

  it("errors with node's codes: an address not ours, IPv4 text, a v4-mapped bind with ipv6Only, a native destination from a mapped bind", async () => {
    expect(await bindError(sock(a, 'udp6'), 0, 'fd00::99')).toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind', message: 'bind EADDRNOTAVAIL fd00::99' });
    expect(await bindError(sock(a, 'udp6'), 0, '0.0.0.0')).toMatchObject({ code: 'EINVAL', syscall: 'bind', message: 'bind EINVAL 0.0.0.0' });
    expect(await bindError(sock(a, 'udp4'), 0, '::')).toMatchObject({ code: 'EINVAL', syscall: 'bind', message: 'bind EINVAL ::' });
    expect(await bindError(sock(a, { type: 'udp6', ipv6Only: true }), 0, `::ffff:${A4}`)).toMatchObject({ code: 'EINVAL', syscall: 'bind' });

    const s = sock(a, 'udp6');
    expect(await sendResult(s, 'x', 9, B4)).toMatchObject({ code: 'EINVAL', syscall: 'send', message: `send EINVAL ${B4}:9` });
    const connectErr = await withTimeout(new Promise<Error>((resolve) => s.connect(9, B4, resolve as never)), { timeoutMs: 5_000, what: 'connect error' });
    expect(connectErr).toMatchObject({ code: 'EINVAL', syscall: 'connect', message: `connect EINVAL ${B4}:9` });

    const mapped = sock(a, 'udp6');
    await bound(mapped, 0, `::ffff:${A4}`);
    expect(mapped.address()).toEqual({ address: `::ffff:${A4}`, family: 'IPv6', port: mapped.address().port });
    expect(await sendResult(mapped, 'x', 9, B6)).toMatchObject({ code: 'EAFNOSUPPORT', syscall: 'send' });
    // It is an IPv4 socket underneath: IPv4 datagrams to its address arrive, with mapped sources.
    const got = nextMessage(mapped, 'an IPv4 datagram on the mapped bind');
    sock(b, 'udp4').send('v4', mapped.address().port, A4);
    expect((await got)[1].address).toBe(`::ffff:${B4}`);
  });

  it('an unbound send binds :: with an ephemeral port on both sides; the default destination is ::1', async () => {
    const s = sock(a, 'udp6');
    const err = await sendResult(s, 'x', 9, B6);
    expect(err).toBeNull();
    const port = s.address().port;
    expect(s.address()).toEqual({ address: '::', family: 'IPv6', port });
    // The IPv4 side holds the same port: a udp4 bind there fails.
    expect(await bindError(sock(a, 'udp4'), port)).toMatchObject({ code: 'EADDRINUSE' });
  });

  it("names resolve through the stack's resolver for family 6: localhost and ip6-localhost are ::1 (loopback), as node's lookup6 sees them", async () => {
    const server = sock(a, 'udp6');
    await bound(server, 5007, '::1');
    expect(server.address()).toEqual({ address: '::1', family: 'IPv6', port: 5007 });
    const c = sock(a, 'udp6');
    for (const name of ['localhost', 'ip6-localhost']) {
      const got = nextMessage(server, `a datagram sent to ${name}`);
      expect(await sendResult(c, name, 5007, name)).toBeNull();
      const [m, r] = await got;
      expect(m.toString()).toBe(name);
      expect(r.address).toBe('::1');
    }
    // A name with no IPv6 address (and no DNS server here): getaddrinfo's ENOTFOUND, as node.
    expect(await sendResult(c, 'x', 5007, 'no-such-host.test')).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'no-such-host.test' });
  });
});

describe("'udp6' against node on the kernel's loopback (::1, 127.0.0.1)", () => {
  let lo: Stack;
  beforeAll(async () => {
    lo = await Stack.open();
  });
  afterAll(async () => {
    await lo?.close();
  });

  type Dgram = { createSocket: (...a: any[]) => any };
  /** Runs the same calls on `dg` and logs what each observed; ports become PORT. */
  async function scenario(dg: Dgram): Promise<unknown[]> {
    const log: unknown[] = [];
    const ports = new Set<number>();
    const socks: any[] = [];
    const mk = (o: unknown): any => {
      const s = dg.createSocket(o);
      socks.push(s);
      return s;
    };
    const norm = (v: unknown): unknown => {
      if (typeof v === 'number' && ports.has(v)) return 'PORT';
      if (typeof v === 'string') return v.replace(/:(\d{2,5})\b/g, (m, p) => (ports.has(Number(p)) ? ':PORT' : m));
      if (v instanceof Error) {
        const e = v as NodeJS.ErrnoException & { address?: string; port?: number };
        return norm({ code: e.code, message: e.message, syscall: e.syscall, address: e.address, port: e.port });
      }
      if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
      return v;
    };
    const step = <T>(what: string, p: Promise<T>): Promise<T> => withTimeout(p, { timeoutMs: 5_000, what });
    const bindOutcome = (s: any, port: number, address?: string): Promise<unknown> =>
      step(`bind ${address}:${port}`, new Promise((resolve) => {
        s.once('error', (e: Error) => resolve(e));
        s.bind(port, address, () => {
          ports.add(s.address().port);
          resolve(s.address());
        });
      }));
    const sent = (s: any, port: number, address: string): Promise<unknown> => step(`send to ${address}`, new Promise((resolve) => s.send('x', port, address, (e: Error | null) => resolve(e ?? 'sent'))));

    const server = mk('udp6');
    log.push(['bind ::1', await bindOutcome(server, 0, '::1')]);
    const client = mk('udp6');
    const got = step('a datagram on ::1', new Promise((resolve) => server.once('message', (m: Buffer, r: unknown) => resolve([m.toString(), r]))));
    client.send('hello', server.address().port, '::1');
    const rx = await got;
    ports.add(client.address().port);
    log.push(['message', rx, client.address()]);

    const dual = mk('udp6');
    log.push(['bind dual', await bindOutcome(dual, 0)]);
    const dport = dual.address().port;
    log.push(['udp4 on its port', await bindOutcome(mk('udp4'), dport)]);
    log.push(['ipv6Only on its port', await bindOutcome(mk({ type: 'udp6', ipv6Only: true }), dport)]);
    const v4 = mk('udp4');
    const got4 = step('an IPv4 datagram on the dual socket', new Promise((resolve) => dual.once('message', (m: Buffer, r: unknown) => resolve([m.toString(), r]))));
    v4.send('four', dport, '127.0.0.1');
    const rx4 = await got4;
    ports.add(v4.address().port);
    log.push(['dual from udp4', rx4]);

    const only = mk({ type: 'udp6', ipv6Only: true });
    log.push(['ipv6Only bind', await bindOutcome(only, 0)]);
    log.push(['ipv6Only to mapped', await sent(only, dport, '::ffff:127.0.0.1')]);
    const mapped = mk('udp6');
    log.push(['bind mapped', await bindOutcome(mapped, 0, '::ffff:127.0.0.1')]);
    log.push(['mapped to ::1', await sent(mapped, dport, '::1')]);
    log.push(['udp6 to IPv4 text', await sent(mk('udp6'), dport, '127.0.0.1')]);
    log.push(['bind not ours', await bindOutcome(mk('udp6'), 0, 'fd00:dead::1')]);
    log.push(['bind 0.0.0.0', await bindOutcome(mk('udp6'), 0, '0.0.0.0')]);

    const conn = mk('udp6');
    await step('connect mapped', new Promise<void>((resolve) => conn.connect(dport, '::ffff:127.0.0.1', () => resolve())));
    ports.add(conn.address().port);
    log.push(['connected mapped', conn.address(), conn.remoteAddress()]);

    // A closed port: connected, the ICMPv6 port unreachable comes back as ECONNREFUSED.
    const gone = mk('udp6');
    await bindOutcome(gone, 0, '::1');
    const gport = gone.address().port;
    gone.close();
    const refused = mk('udp6');
    await step('connect ::1', new Promise<void>((resolve) => refused.connect(gport, '::1', () => resolve())));
    ports.add(refused.address().port);
    log.push(['connected ::1', refused.address(), refused.remoteAddress()]);
    const err = step('ECONNREFUSED', new Promise((resolve) => refused.once('error', resolve)));
    refused.send('x');
    log.push(['refused', await err]);
    for (const s of socks) {
      try {
        s.close();
      } catch {
        // closed
      }
    }
    return log.map(norm);
  }

  it('binds, dual-stack delivery, ipv6Only, mapped binds and destinations, errors and connect: the same observations', async () => {
    const kernel = await scenario(nodeDgram as unknown as Dgram);
    const ours = await scenario(lo.dgram as unknown as Dgram);
    expect(ours).toEqual(kernel);
  });
});

