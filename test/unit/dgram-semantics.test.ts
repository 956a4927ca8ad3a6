/**
 * node:dgram semantics pinned by running each scenario twice: against node's
 * own node:dgram on the kernel's 127.0.0.1, and against ustack's dgram on a
 * loopback-only Stack, then comparing what each observed (event order,
 * callback arguments, error codes/messages/syscalls, address() shapes).
 * Ephemeral port numbers are normalised to PORT.
 */
import nodeDgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';

type Dgram = { createSocket: (...a: any[]) => any };
type Log = unknown[];
type Scenario = (dg: Dgram, log: Log) => Promise<void>;

let stack: Stack;
beforeAll(async () => {
  stack = await Stack.open();
});
afterAll(async () => {
  await stack?.close();
});

const ports = new Set<number>();
function norm(v: unknown): unknown {
  if (typeof v === 'string') return v.replace(/:(\d{2,5})\b/g, (m, p) => (ports.has(Number(p)) ? ':PORT' : m));
  if (typeof v === 'number' && ports.has(v)) return 'PORT';
  if (Array.isArray(v)) return v.map(norm);
  if (v instanceof Error) {
    const e = v as NodeJS.ErrnoException & { address?: string; port?: number };
    return norm({ error: e.code, message: e.message, name: e.name, syscall: e.syscall, errno: e.errno, address: e.address, port: e.port });
  }
  if (Buffer.isBuffer(v)) return `buf:${v.toString()}`;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}

/** Records a thrown error (or 'no throw'). */
function attempt(log: Log, what: string, fn: () => unknown): void {
  try {
    fn();
    log.push([what, 'no throw']);
  } catch (e) {
    log.push([what, e]);
  }
}

const once = (em: { once: (e: string, f: (...a: any[]) => void) => void }, ev: string): Promise<any[]> =>
  new Promise((r) => em.once(ev, (...a: any[]) => r(a)));
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));
/** Resolves after `n` more 'message' events (several may come in one tick). */
const messages = (s: { on: (e: string, f: () => void) => void; off: (e: string, f: () => void) => void }, n: number): Promise<void> =>
  new Promise((r) => {
    let left = n;
    const f = (): void => {
      if (--left === 0) {
        s.off('message', f);
        r();
      }
    };
    s.on('message', f);
  });

/** Creates a socket that logs every event it emits under `name`. */
function traced(dg: Dgram, log: Log, name: string, type: unknown = 'udp4'): any {
  const s = dg.createSocket(type);
  for (const ev of ['listening', 'connect', 'close', 'error', 'message']) {
    s.on(ev, (...args: unknown[]) => {
      if (ev === 'listening') ports.add(s.address().port);
      log.push([name, ev, ...args]);
    });
  }
  return s;
}

async function compare(scenario: Scenario): Promise<{ node: unknown; ustack: unknown }> {
  const a: Log = [];
  await scenario(nodeDgram as unknown as Dgram, a);
  const b: Log = [];
  await scenario(stack.dgram as unknown as Dgram, b);
  return { node: norm(a), ustack: norm(b) };
}

async function same(scenario: Scenario): Promise<void> {
  const { node, ustack } = await compare(scenario);
  expect(ustack).toEqual(node);
}

describe('ustack dgram behaves like node:dgram', () => {
  it('bind: listening then callback, address(), double bind, bind overloads', async () => {
    await same(async (dg, log) => {
      const s = traced(dg, log, 's');
      attempt(log, 'address before bind', () => s.address());
      attempt(log, 'setBroadcast before bind', () => s.setBroadcast(true));
      attempt(log, 'setTTL before bind', () => s.setTTL(5));
      attempt(log, 'getRecvBufferSize before bind', () => s.getRecvBufferSize());
      s.bind(0, '127.0.0.1', () => log.push(['bind callback', s.address()]));
      attempt(log, 'bind twice', () => s.bind(0));
      await once(s, 'listening');
      await settle();
      const t = traced(dg, log, 't');
      t.bind({ port: 0 }, () => log.push(['t bound', t.address().address]));
      await once(t, 'listening');
      const u = traced(dg, log, 'u');
      u.bind(() => log.push(['u bound', u.address().address]));
      await once(u, 'listening');
      for (const x of [s, t, u]) x.close();
      await settle();
    });
  });

  it('send overloads deliver the same bytes; rinfo; send callbacks', async () => {
    await same(async (dg, log) => {
      const rx = traced(dg, log, 'rx');
      rx.bind(0, '127.0.0.1');
      await once(rx, 'listening');
      const port = rx.address().port;
      const tx = traced(dg, log, 'tx');
      const all = messages(rx, 7);
      const cb = (tag: string) => (err: unknown, n: unknown) => log.push(['sent', tag, err, n]);
      tx.send(Buffer.from('one'), port, '127.0.0.1', cb('buf'));
      tx.send('xtwox', 1, 3, port, '127.0.0.1', cb('offset'));
      tx.send(['thr', Buffer.from('ee')], port, '127.0.0.1', cb('array'));
      tx.send(new Uint8Array([102, 111, 117, 114]), port, cb('u8 default address'));
      tx.send(new DataView(new TextEncoder().encode('five').buffer), port, '127.0.0.1', cb('dataview'));
      tx.send('', port, '127.0.0.1', cb('empty'));
      tx.send([], port, '127.0.0.1');
      await all;
      // Names go through a resolver (node: getaddrinfo in the thread pool), so they are awaited alone.
      tx.send('six', port, 'localhost', cb('localhost'));
      await once(rx, 'message');
      tx.close();
      rx.close();
      await settle();
    });
  });

  it('argument errors: thrown codes and messages', async () => {
    await same(async (dg, log) => {
      attempt(log, 'bad type', () => dg.createSocket('udp5'));
      attempt(log, 'bad lookup', () => dg.createSocket({ type: 'udp4', lookup: 5 }));
      const s = dg.createSocket('udp4');
      attempt(log, 'port 0', () => s.send('x', 0, '127.0.0.1'));
      attempt(log, 'port string', () => s.send('x', 'abc', '127.0.0.1'));
      attempt(log, 'port big', () => s.send('x', 70000, '127.0.0.1'));
      attempt(log, 'buffer number', () => s.send(5, 9, '127.0.0.1'));
      attempt(log, 'buffer list', () => s.send([5], 9, '127.0.0.1'));
      attempt(log, 'offset oob', () => s.send(Buffer.alloc(2), 3, 1, 9, '127.0.0.1'));
      attempt(log, 'length oob', () => s.send(Buffer.alloc(2), 1, 2, 9, '127.0.0.1'));
      attempt(log, 'address type', () => s.send('x', 9, 5));
      attempt(log, 'connect port 0', () => s.connect(0, '127.0.0.1'));
      attempt(log, 'connect address type', () => s.connect(9, 5));
      attempt(log, 'disconnect', () => s.disconnect());
      attempt(log, 'remoteAddress', () => s.remoteAddress());
      attempt(log, 'setTTL type', () => s.setTTL('x'));
      attempt(log, 'setRecvBufferSize -1', () => s.setRecvBufferSize(-1));
      s.bind(0);
      await once(s, 'listening');
      attempt(log, 'setTTL 0', () => s.setTTL(0));
      attempt(log, 'setTTL 300', () => s.setTTL(300));
      attempt(log, 'setTTL 64', () => log.push(s.setTTL(64)));
      s.close();
      attempt(log, 'send after close', () => s.send('x', 9, '127.0.0.1'));
      attempt(log, 'close after close', () => s.close());
      attempt(log, 'address after close', () => s.address());
      attempt(log, 'bind after close', () => s.bind(0));
      await settle();
    });
  });

  it('implicit bind on send, close(cb) ordering, close during implicit bind', async () => {
    await same(async (dg, log) => {
      const rx = traced(dg, log, 'rx');
      rx.bind(0, '127.0.0.1');
      await once(rx, 'listening');
      const s = traced(dg, log, 's');
      s.send('a', rx.address().port, '127.0.0.1', (e: unknown, n: unknown) => log.push(['send cb', e, n, s.address().address]));
      log.push(['after send, sync']);
      await once(rx, 'message');
      s.close(() => log.push(['close cb']));
      await settle();
      const q = traced(dg, log, 'q');
      q.send('b', rx.address().port, '127.0.0.1', (e: unknown) => log.push(['q send cb', e]));
      q.close(() => log.push(['q close cb']));
      await settle();
      rx.close();
      await settle();
    });
  });

  it('connect/disconnect state machine, filtering, address() after connect', async () => {
    await same(async (dg, log) => {
      const peer = traced(dg, log, 'peer');
      peer.bind(0, '127.0.0.1');
      await once(peer, 'listening');
      const other = traced(dg, log, 'other');
      other.bind(0, '127.0.0.1');
      await once(other, 'listening');
      const c = traced(dg, log, 'c');
      c.bind(0);
      await once(c, 'listening');
      log.push(['before connect', c.address().address]);
      c.connect(peer.address().port, '127.0.0.1', () => log.push(['connect cb', c.address().address, c.remoteAddress()]));
      attempt(log, 'connect twice', () => c.connect(peer.address().port, '127.0.0.1'));
      await once(c, 'connect');
      attempt(log, 'send with port while connected', () => c.send('x', peer.address().port, '127.0.0.1'));
      const two = messages(peer, 2);
      c.send('hello', (e: unknown, n: unknown) => log.push(['connected send', e, n]));
      c.send(Buffer.from('xhix'), 1, 2, (e: unknown, n: unknown) => log.push(['connected slice send', e, n]));
      await two;
      other.send('not from peer', c.address().port, '127.0.0.1');
      peer.send('from peer', c.address().port, '127.0.0.1');
      await once(c, 'message');
      await settle();
      c.disconnect();
      log.push(['after disconnect', c.address()]);
      attempt(log, 'remoteAddress after disconnect', () => c.remoteAddress());
      attempt(log, 'disconnect twice', () => c.disconnect());
      for (const x of [peer, other, c]) x.close();
      await settle();
    });
  });

  it('connect before bind queues; send right after connect is unconnected (ERR_SOCKET_BAD_PORT)', async () => {
    await same(async (dg, log) => {
      const peer = traced(dg, log, 'peer');
      peer.bind(0, '127.0.0.1');
      await once(peer, 'listening');
      const c = traced(dg, log, 'c');
      c.connect(peer.address().port, 'localhost');
      attempt(log, 'send immediately', () => c.send('x'));
      await once(c, 'connect');
      log.push(['connected', c.remoteAddress(), c.address()]);
      c.close();
      peer.close();
      await settle();
    });
  });

  it('errors: EADDRINUSE on bind, EACCES on broadcast without setBroadcast, ECONNREFUSED on connected sockets only', async () => {
    await same(async (dg, log) => {
      const a = traced(dg, log, 'a');
      a.bind(0, '127.0.0.1');
      await once(a, 'listening');
      const b = traced(dg, log, 'b');
      b.bind(a.address().port, '127.0.0.1', () => log.push(['b bind cb (never)']));
      await once(b, 'error');
      attempt(log, 'b address after failed bind', () => b.address());
      b.close();
      a.send('x', 9, '255.255.255.255', (e: unknown) => log.push(['broadcast send cb', e]));
      await settle();
      a.send('x', 9, '127.0.0.1', (e: unknown, n: unknown) => log.push(['unconnected to closed port', e, n]));
      await settle();
      const c = traced(dg, log, 'c');
      c.connect(9, '127.0.0.1');
      await once(c, 'connect');
      c.send('ping', (e: unknown, n: unknown) => log.push(['connected to closed port', e, n]));
      await once(c, 'error');
      a.close();
      c.close();
      await settle();
    });
  });

  it('buffer sizes behave like Linux (doubled, floored)', async () => {
    await same(async (dg, log) => {
      const s = dg.createSocket({ type: 'udp4', recvBufferSize: 10000, sendBufferSize: 30000 });
      s.bind(0);
      await once(s, 'listening');
      log.push(['from options', s.getRecvBufferSize(), s.getSendBufferSize()]);
      s.setRecvBufferSize(1);
      s.setSendBufferSize(100);
      log.push(['small', s.getRecvBufferSize(), s.getSendBufferSize()]);
      s.setRecvBufferSize(50000);
      log.push(['50000', s.getRecvBufferSize()]);
      s.close();
      await settle();
    });
  });

  it('lookup option is used for bind, connect and send', async () => {
    await same(async (dg, log) => {
      const lookup = (host: string, family: unknown, cb: (e: Error | null, a?: string, f?: number) => void): void => {
        log.push(['lookup', host, family]);
        if (host === 'bad.example') cb(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }));
        else cb(null, '127.0.0.1', 4);
      };
      const s = traced(dg, log, 's', { type: 'udp4', lookup });
      const listening = once(s, 'listening'); // a synchronous lookup makes bind emit at once
      s.bind(0, 'me.example');
      await listening;
      s.send('x', 9, 'bad.example', (e: unknown) => log.push(['send cb', e]));
      await settle();
      s.send('x', 9, 'bad.example');
      await settle();
      s.close();
      await settle();
    });
  });
});

describe('ustack dgram specifics', () => {
  it("'udp6' creates an IPv6 socket; another type is ERR_SOCKET_BAD_TYPE with node's message", () => {
    const s = stack.dgram.createSocket('udp6');
    expect(s.type).toBe('udp6');
    s.close();
    let nodes: unknown;
    try {
      nodeDgram.createSocket('udp5' as never);
    } catch (e) {
      nodes = e;
    }
    expect(nodes).toMatchObject({ code: 'ERR_SOCKET_BAD_TYPE' });
    expect(() => stack.dgram.createSocket('udp5' as never)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_TYPE', message: (nodes as Error).message }));
  });

  it('drops and counts datagrams beyond the receive buffer', async () => {
    const rx = stack.dgram.createSocket('udp4');
    rx.bind(0, '127.0.0.1');
    await once(rx, 'listening');
    rx.setRecvBufferSize(2304); // Linux floor: 2304 * 2 = 4608 bytes
    let got = 0;
    rx.on('message', () => got++);
    const tx = stack.dgram.createSocket('udp4');
    tx.bind(0);
    await once(tx, 'listening');
    const payload = Buffer.alloc(1000);
    for (let i = 0; i < 20; i++) tx.send(payload, rx.address().port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    const st = rx.ustackStats();
    expect(st.rxDelivered).toBe(got);
    expect(st.rxDropped).toBeGreaterThan(0);
    expect(got + st.rxDropped).toBe(20);
    rx.close();
    tx.close();
  });

  it('a bound socket refs the stack; unref() and close() release it', async () => {
    const s = stack.dgram.createSocket('udp4');
    const loop = (stack as unknown as { loop: { referenced: boolean } }).loop;
    expect(loop.referenced).toBe(false);
    s.bind(0);
    await once(s, 'listening');
    expect(loop.referenced).toBe(true);
    s.unref();
    expect(loop.referenced).toBe(false);
    s.ref();
    expect(loop.referenced).toBe(true);
    s.close();
    expect(loop.referenced).toBe(false);
  });
});
