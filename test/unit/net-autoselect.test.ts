/**
 * node:net's autoSelectFamily (RFC 8305 Happy Eyeballs as node 20 does it)
 * on ustack. Where a scenario can run on both, it runs against node's own
 * net on the kernel's loopback and against ustack's on a loopback-only
 * Stack, and the two logs (events in order, their arguments, the final
 * error's shape, autoSelectFamilyAttemptedAddresses) must be equal. The
 * attempt timeout is shown on an in-process link with an address nobody
 * answers for.
 */
import nodeNet from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import { attemptOrder } from '../../src/socket/connect-multiple.js';
import { waitFor, withTimeout } from '../helpers/wait.js';
import { parseIpv6Address } from '../../src/wire/ipv6.js';

type NetLike = { createServer: typeof nodeNet.createServer; connect: typeof nodeNet.connect };
type Answer = { address: string; family: number };

let lo: Stack;
beforeAll(async () => {
  lo = await Stack.open();
});
afterAll(async () => {
  await lo?.close();
});

/** A lookup answering `answers` for any name, as dns.lookup with all: true. */
function lookupOf(answers: Answer[]) {
  return (_host: string, opts: { all?: boolean }, cb: (err: Error | null, a: unknown, f?: number) => void): void => {
    if (opts.all) process.nextTick(cb, null, answers);
    else process.nextTick(cb, null, answers[0]!.address, answers[0]!.family);
  };
}

/**
 * Connects with autoSelectFamily through `answers` and logs every event
 * until 'connect' or 'error'; ports are written PORT.
 */
async function scenario(net: NetLike, answers: (port: number) => Answer[], serve: boolean, attemptTimeout = 10_000): Promise<unknown[]> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  if (!serve) await new Promise<void>((resolve) => server.close(() => resolve()));
  const norm = (v: unknown): unknown => (v === port ? 'PORT' : typeof v === 'string' ? v.replaceAll(`:${port}`, ':PORT') : v);
  type Err = NodeJS.ErrnoException & { address?: string; port?: number };
  const errShape = (e: Err & { errors?: Err[] }): unknown => ({
    name: e.name,
    code: e.code,
    message: norm(e.message),
    ...(e.errors ? { errors: e.errors.map((x) => ({ code: x.code, syscall: x.syscall, message: norm(x.message), address: x.address, port: norm(x.port) })) } : {}),
  });
  const log: unknown[] = [];
  const sock = net.connect({ host: 'dual.test', port, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: attemptTimeout, lookup: lookupOf(answers(port)) as never });
  sock.on('connectionAttempt', (a, p, f) => log.push(['connectionAttempt', a, norm(p), f]));
  sock.on('connectionAttemptFailed', (a, p, f, e) => log.push(['connectionAttemptFailed', a, norm(p), f, errShape(e)]));
  sock.on('connectionAttemptTimeout', (a, p, f) => log.push(['connectionAttemptTimeout', a, norm(p), f]));
  await withTimeout(new Promise<void>((resolve) => {
    sock.once('connect', () => {
      log.push(['connect', sock.remoteAddress, norm(sock.remotePort)]);
      resolve();
    });
    sock.once('error', (e) => {
      log.push(['error', errShape(e as NodeJS.ErrnoException)]);
      resolve();
    });
  }), { timeoutMs: 15_000, what: 'connect or error' });
  log.push(['attempted', (sock as unknown as { autoSelectFamilyAttemptedAddresses?: string[] }).autoSelectFamilyAttemptedAddresses?.map(norm)]);
  sock.destroy();
  if (serve) await new Promise<void>((resolve) => server.close(() => resolve()));
  return log;
}

describe('autoSelectFamily: the attempt order', () => {
  it('alternates families from the first valid answer, each address once, invalid answers dropped (node lookupAndConnectMultiple)', () => {
    const order = attemptOrder([
      { address: 'fd00::1', family: 6 },
      { address: 'fd00::2', family: 6 },
      { address: 'fd00::1', family: 6 },
      { address: 'nonsense', family: 4 },
      { address: '10.0.0.1', family: 5 },
      { address: '10.0.0.1', family: 4 },
      { address: 'fd00::3', family: 6 },
      { address: '10.0.0.2', family: 4 },
    ]);
    expect(order.map((a) => a.address)).toEqual(['fd00::1', '10.0.0.1', 'fd00::2', '10.0.0.2', 'fd00::3']);
    expect(attemptOrder([{ address: '10.0.0.1', family: 4 }, { address: '::1', family: 6 }]).map((a) => a.family)).toEqual([4, 6]);
  });
});

describe('autoSelectFamily against node on the kernel', () => {
  it('a refused address, then one that connects: the same events, arguments and attempted addresses', async () => {
    const answers = (): Answer[] => [{ address: '127.0.0.2', family: 4 }, { address: '127.0.0.1', family: 4 }];
    const kernel = await scenario(nodeNet, answers, true);
    const ours = await scenario(lo.net as unknown as NetLike, answers, true);
    expect(ours).toEqual(kernel);
    expect(kernel.map((e) => (e as unknown[])[0])).toEqual(['connectionAttempt', 'connectionAttemptFailed', 'connectionAttempt', 'connect', 'attempted']);
  });

  it('every address refused: an AggregateError of each attempt\'s error, code the first one\'s', async () => {
    const answers = (): Answer[] => [{ address: '127.0.0.1', family: 4 }, { address: '127.0.0.2', family: 4 }, { address: '127.0.0.3', family: 4 }];
    const kernel = await scenario(nodeNet, answers, false);
    const ours = await scenario(lo.net as unknown as NetLike, answers, false);
    expect(ours).toEqual(kernel);
    const last = kernel[kernel.length - 2] as [string, { name: string; code: string; errors: unknown[] }];
    expect(last[0]).toBe('error');
    expect(last[1]).toMatchObject({ name: 'AggregateError', code: 'ECONNREFUSED' });
    expect(last[1].errors).toHaveLength(3);
  });
});

describe('autoSelectFamily over both families, against node on the kernel', () => {
  it('::1 refused, then 127.0.0.1 connects: the same events and attempted addresses', async () => {
    const answers = (): Answer[] => [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }];
    const kernel = await scenario(nodeNet, answers, true);
    const ours = await scenario(lo.net as unknown as NetLike, answers, true);
    expect(ours).toEqual(kernel);
    expect(kernel.map((e) => (e as unknown[]).slice(0, 2))).toEqual([
      ['connectionAttempt', '::1'],
      ['connectionAttemptFailed', '::1'],
      ['connectionAttempt', '127.0.0.1'],
      ['connect', '127.0.0.1'],
      ['attempted', ['::1:PORT', '127.0.0.1:PORT']],
    ]);
  });

  it('families interleaved from the first answer\'s (IPv6, IPv4, IPv6, IPv4), all refused: one AggregateError', async () => {
    const answers = (): Answer[] => [
      { address: '::1', family: 6 },
      { address: '::ffff:127.0.0.3', family: 6 },
      { address: '127.0.0.2', family: 4 },
      { address: '127.0.0.4', family: 4 },
    ];
    const kernel = await scenario(nodeNet, answers, false);
    const ours = await scenario(lo.net as unknown as NetLike, answers, false);
    expect(ours).toEqual(kernel);
    expect(kernel.filter((e) => (e as unknown[])[0] === 'connectionAttempt').map((e) => (e as unknown[])[1])).toEqual(['::1', '127.0.0.2', '::ffff:127.0.0.3', '127.0.0.4']);
  });
});

describe('a refused connect names the address it was given', () => {
  it('0.0.0.0 and :: reach the loopback; the ECONNREFUSED names 0.0.0.0 / ::, as node on the kernel', async () => {
    const refused = async (net: NetLike, host: string): Promise<unknown> => {
      const server = net.createServer();
      await new Promise<void>((resolve) => server.listen(0, host === '::' ? '::1' : '127.0.0.1', () => resolve()));
      const port = (server.address() as { port: number }).port;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const err = await withTimeout(new Promise<NodeJS.ErrnoException & { address?: string; port?: number }>((resolve) => net.connect(port, host).once('error', resolve)), { timeoutMs: 10_000, what: `ECONNREFUSED from ${host}` });
      return { code: err.code, message: err.message.replace(`:${port}`, ':PORT'), address: err.address };
    };
    for (const host of ['0.0.0.0', '::']) {
      expect(await refused(lo.net as unknown as NetLike, host), host).toEqual(await refused(nodeNet, host));
    }
  });
});

describe('autoSelectFamily on an in-process link', () => {
  let a: Stack;
  let b: Stack;
  beforeAll(async () => {
    [a, b] = await Stack.pair();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('an attempt that neither connects nor fails is abandoned after autoSelectFamilyAttemptTimeout (connectionAttemptTimeout) and the next address connects', async () => {
    const server = a.net.createServer((s) => s.end());
    await new Promise<void>((resolve) => server.listen(0, '10.0.0.1', () => resolve()));
    const port = (server.address() as { port: number }).port;
    // 10.0.0.99 is on the link but nobody answers its ARP: that attempt's SYN never leaves.
    const sock = b.net.connect({
      host: 'dual.test', port, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 50,
      lookup: lookupOf([{ address: '10.0.0.99', family: 4 }, { address: '10.0.0.1', family: 4 }]) as never,
    });
    const log: unknown[] = [];
    for (const ev of ['connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout']) sock.on(ev, (...args: unknown[]) => log.push([ev, ...args.slice(0, 3)]));
    await withTimeout(new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    }), { timeoutMs: 10_000, what: 'the second address to connect' });
    expect(log).toEqual([
      ['connectionAttempt', '10.0.0.99', port, 4],
      ['connectionAttemptTimeout', '10.0.0.99', port, 4],
      ['connectionAttempt', '10.0.0.1', port, 4],
    ]);
    expect(sock.remoteAddress).toBe('10.0.0.1');
    expect((sock as unknown as { autoSelectFamilyAttemptedAddresses: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`10.0.0.99:${port}`, `10.0.0.1:${port}`]);
    sock.destroy();
    server.close();
  });

  it('RFC 8305: an IPv6 address that does not answer (no neighbour advertisement) gives way to IPv4 after the attempt timeout', async () => {
    const [c, d] = await Stack.pair(undefined, { addresses: [['10.0.1.1/24', 'fd00:1::1/64'], ['10.0.1.2/24', 'fd00:1::2/64']] });
    try {
      await waitFor(() => c.engine.isLocalAddress6(parseIpv6Address('fd00:1::1')) && d.engine.isLocalAddress6(parseIpv6Address('fd00:1::2')), { timeoutMs: 10_000, what: 'DAD' });
      const server = c.net.createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', () => resolve()));
      const port = (server.address() as { port: number }).port;
      const sock = d.net.connect({
        host: 'dual.test', port, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 50,
        lookup: lookupOf([{ address: 'fd00:1::99', family: 6 }, { address: '10.0.1.1', family: 4 }]) as never,
      });
      const log: unknown[] = [];
      for (const ev of ['connectionAttempt', 'connectionAttemptFailed', 'connectionAttemptTimeout']) sock.on(ev, (...args: unknown[]) => log.push([ev, ...args.slice(0, 3)]));
      await withTimeout(new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      }), { timeoutMs: 10_000, what: 'the IPv4 address to connect' });
      expect(log).toEqual([
        ['connectionAttempt', 'fd00:1::99', port, 6],
        ['connectionAttemptTimeout', 'fd00:1::99', port, 6],
        ['connectionAttempt', '10.0.1.1', port, 4],
      ]);
      expect([sock.remoteAddress, sock.remoteFamily]).toEqual(['10.0.1.1', 'IPv4']);
      sock.destroy();
      server.close();
    } finally {
      await c.close();
      await d.close();
    }
  });

  it('IPv6 first when it answers: the first attempt connects over IPv6 and no other is made', async () => {
    const [c, d] = await Stack.pair(undefined, { addresses: [['10.0.2.1/24', 'fd00:2::1/64'], ['10.0.2.2/24', 'fd00:2::2/64']] });
    try {
      await waitFor(() => c.engine.isLocalAddress6(parseIpv6Address('fd00:2::1')) && d.engine.isLocalAddress6(parseIpv6Address('fd00:2::2')), { timeoutMs: 10_000, what: 'DAD' });
      const server = c.net.createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(0, '::', () => resolve()));
      const port = (server.address() as { port: number }).port;
      // The attempt timeout is long: at node's 250 ms a loaded machine can let
      // the IPv6 attempt (neighbour discovery, then the handshake) run out and
      // the IPv4 one win, which is what the previous test shows on purpose.
      const sock = d.net.connect({ host: 'dual.test', port, autoSelectFamily: true, autoSelectFamilyAttemptTimeout: 20_000, lookup: lookupOf([{ address: 'fd00:2::1', family: 6 }, { address: '10.0.2.1', family: 4 }]) as never });
      await withTimeout(new Promise<void>((resolve, reject) => {
        sock.once('connect', () => resolve());
        sock.once('error', reject);
      }), { timeoutMs: 30_000, what: 'the IPv6 connect' });
      expect([sock.remoteAddress, sock.remoteFamily, sock.localAddress]).toEqual(['fd00:2::1', 'IPv6', 'fd00:2::2']);
      expect((sock as unknown as { autoSelectFamilyAttemptedAddresses: string[] }).autoSelectFamilyAttemptedAddresses).toEqual([`fd00:2::1:${port}`]);
      sock.destroy();
      server.close();
    } finally {
      await c.close();
      await d.close();
    }
  });
});
