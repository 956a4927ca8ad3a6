/**
 * The node:net behaviours node's own test suite showed ustack lacking
 * (test/conformance), each pinned by a scenario run twice — on node's net
 * over the kernel's 127.0.0.1 and on ustack's net over a loopback-only
 * stack — whose observations must be equal.
 */
import * as nodeNet from 'node:net';
import { EventEmitter, once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import type { NetModule } from '../../src/socket/net.js';

type Net = typeof nodeNet;
type Log = string[];

let stack: Stack;
beforeAll(async () => {
  stack = await Stack.open();
});
afterAll(async () => {
  await stack.close();
});

const HOST = '127.0.0.1';

/** Runs `scenario` on node's net and on ustack's; returns both logs. */
async function both(scenario: (net: Net) => Promise<Log>): Promise<{ node: Log; ustack: Log }> {
  const node = await scenario(nodeNet);
  const ustack = await scenario(stack.net as unknown as Net);
  return { node, ustack };
}

function listen(net: Net, onConn?: (s: nodeNet.Socket) => void, opts: nodeNet.ServerOpts = {}): Promise<{ server: nodeNet.Server; port: number }> {
  return new Promise((resolve) => {
    const server = net.createServer(opts, onConn);
    server.listen(0, HOST, () => resolve({ server, port: (server.address() as nodeNet.AddressInfo).port }));
  });
}

function close(server: nodeNet.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

/** What a thrown error looks like, or 'no throw'. */
function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'no throw';
  } catch (e) {
    const err = e as Error & { code?: string };
    return `${err.name} ${err.code} ${err.message}`;
  }
}

describe('node:net as node itself does it (same scenario on node:net and ustack)', () => {
  it('Socket, Stream and Server construct themselves when called without new', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const Server = net.Server as unknown as (...a: unknown[]) => nodeNet.Server;
      const Socket = net.Socket as unknown as (...a: unknown[]) => nodeNet.Socket;
      const Stream = (net as unknown as { Stream: unknown }).Stream as (...a: unknown[]) => nodeNet.Socket;
      const server = Server(() => {});
      const socket = Socket();
      const stream = Stream({ highWaterMark: 0 });
      log.push(`server ${server instanceof net.Server} ${server.constructor === net.Server}`);
      log.push(`socket ${socket instanceof net.Socket} ${socket.constructor === net.Socket} ${stream instanceof net.Socket}`);
      class Mine extends net.Socket {}
      log.push(`subclass ${new Mine() instanceof net.Socket}`);
      socket.destroy();
      stream.destroy();
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('a closed socket connects again, with per-connection byte counts', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        c.resume();
        c.on('end', () => c.end('bye'));
      });
      const s = new net.Socket();
      for (let round = 1; round <= 3; round++) {
        await new Promise<void>((resolve) => {
          s.connect(port, HOST, () => {
            log.push(`connect ${round} connecting=${s.connecting} pending=${s.pending}`);
            s.end('x'.repeat(round));
          });
          s.resume();
          s.once('close', (hadError) => {
            log.push(`close ${round} ${hadError} read=${s.bytesRead} written=${s.bytesWritten}`);
            resolve();
          });
        });
      }
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('onread: a static buffer, the callback called on the socket, pause() and false stop reading, resume() restarts', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const message = Buffer.from('hello world, over a small buffer');
      const { server, port } = await listen(net, (c) => c.end(message));
      const buf = Buffer.alloc(8);
      let generated = 0;
      const pool = [Buffer.alloc(4), Buffer.alloc(4)];
      await Promise.all([
        new Promise<void>((resolve) => {
          const got: Buffer[] = [];
          let calls = 0;
          const s = net.connect({
            port,
            host: HOST,
            onread: {
              buffer: buf,
              callback(this: nodeNet.Socket, n: number, b: Uint8Array) {
                got.push(Buffer.from(b.subarray(0, n)));
                if (++calls === 1) {
                  log.push(`this is the socket ${this === s} same buffer ${b === buf}`);
                  this.pause();
                  setTimeout(() => this.resume(), 20);
                }
                if (calls === 2) {
                  setTimeout(() => s.resume(), 20);
                  return false;
                }
                return undefined;
              },
            } as never,
          });
          s.on('data', () => log.push('data?!'));
          s.on('end', () => {
            log.push(`static: ${Buffer.concat(got).equals(message)}`);
            resolve();
          });
        }),
        new Promise<void>((resolve) => {
          const got: Buffer[] = [];
          const s = net.connect({
            port,
            host: HOST,
            onread: {
              buffer: () => pool[generated++ % 2]!,
              callback: (n: number, b: Uint8Array) => {
                got.push(Buffer.from(b.subarray(0, n)));
              },
            } as never,
          });
          s.on('end', () => {
            // One buffer when the socket gets its connection, then one after each callback.
            log.push(`generated: ${Buffer.concat(got).equals(message)} ${generated === 1 + Math.ceil(message.length / 4)}`);
            resolve();
          });
        }),
      ]);
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("connect() checks its options in node's order, with node's errors", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const attempts: Array<[string, () => unknown]> = [
        ['objectMode', () => net.createConnection({ port: 8080, objectMode: true } as never)],
        ['readableObjectMode', () => new net.Socket({ readableObjectMode: true } as never)],
        ['no port', () => new net.Socket().connect({} as never)],
        ['localAddress', () => net.connect({ host: 'localhost', port: 0, localAddress: 'foobar' })],
        ['localPort', () => net.connect({ host: 'localhost', port: 0, localPort: 'foobar' as never })],
        ['port type', () => net.connect({ port: true as never })],
        ['port range', () => net.connect({ port: 65536 })],
        ['port string', () => net.connect({ port: '0x' as never })],
        ['autoSelectFamily', () => net.connect({ port: 8080, autoSelectFamily: 'x' as never })],
        ['attempt timeout', () => net.connect({ port: 8080, autoSelectFamilyAttemptTimeout: 0 })],
        ['attempt timeout type', () => net.connect({ port: 8080, autoSelectFamilyAttemptTimeout: '1' as never })],
        ['lookup', () => net.connect({ host: 'localhost', port: 0, lookup: 'foobar' as never })],
        ['hints', () => net.connect({ host: 'localhost', port: 42, hints: 1234 } as never)],
        ['keepAliveInitialDelay', () => new net.Socket({ keepAliveInitialDelay: 'x' } as never)],
      ];
      for (const [what, fn] of attempts) log.push(`${what}: ${thrown(fn)}`);
      const s = new net.Socket();
      for (const ms of ['100', -0.001, Infinity, NaN]) log.push(`setTimeout(${String(ms)}): ${thrown(() => s.setTimeout(ms as number, () => {}))}`);
      log.push(`setTimeout cb: ${thrown(() => s.setTimeout(1, 'x' as never))}`);
      log.push(`setTimeout chains: ${s.setTimeout(0) === s} timeout=${s.timeout}`);
      s.destroy();
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("a lookup's answers are checked: family, address; 'IPv4' as a family is accepted", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => c.end());
      const answer = (address: unknown, family: unknown) => (_h: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
        o.all ? cb(null, [{ address, family }]) : cb(null, address, family);
      for (const [address, family] of [
        ['127.0.0.1', 100],
        [undefined, 4],
      ] as const) {
        const err = await new Promise<Error & { code?: string; host?: string; port?: number }>((resolve) => {
          net.connect({ host: 'localhost', port: 0, lookup: answer(address, family) as never }).on('error', resolve);
        });
        log.push(`${err.name} ${err.code} ${err.message} ${err.host} ${err.port}`);
      }
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: 'localhost', port, family: 'IPv4' as never }, () => {
          log.push(`connected with family 'IPv4' to ${s.remoteAddress}`);
          s.destroy();
          resolve();
        });
      });
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('bytesWritten and bufferSize count what the stream holds, before and after connect', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      log.push(`prototype bytesWritten ${String((net.Socket.prototype as { bytesWritten?: number }).bytesWritten)}`);
      const { server, port } = await listen(net, (c) => {
        c.resume();
        c.on('end', () => c.end());
      });
      const s = net.connect(port, HOST);
      log.push(`unconnected bufferSize ${new net.Socket().bufferSize}`);
      s.cork();
      s.write('one');
      s.write(Buffer.from('twø', 'utf8'));
      s.uncork();
      log.push(`while connecting bytesWritten=${s.bytesWritten}`);
      for (let i = 0; i < 3; i++) s.write('a');
      log.push(`while connecting bufferSize=${s.bufferSize}`);
      s.end('big'.repeat(100_000), () => log.push(`end cb bytesWritten=${s.bytesWritten}`));
      log.push(`after end() bytesWritten=${s.bytesWritten}`);
      s.on('connect', () => log.push(`connect bytesWritten=${s.bytesWritten}`));
      s.resume();
      await once(s, 'close');
      log.push(`closed bufferSize=${s.bufferSize} bytesWritten=${s.bytesWritten}`);
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('setNoDelay and setKeepAlive chain, before and after connect', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => c.end());
      const s = new net.Socket();
      log.push(`unconnected ${s.setNoDelay() === s} ${s.setNoDelay(false) === s} ${s.setKeepAlive(true, 1000) === s}`);
      s.connect(port, HOST, () => {
        log.push(`connected ${s.setNoDelay(true) === s} ${s.setNoDelay({} as never) === s} ${s.setKeepAlive(false) === s}`);
      });
      s.resume();
      await once(s, 'close');
      log.push(`closed ${s.setNoDelay() === s} ${s.setKeepAlive() === s}`);
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("a paused reader gets 'end' after it reads the last data, then 'close'", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const server = net.createServer((c) => {
        let ended = false;
        c.once('readable', () => setTimeout(() => log.push(`read ${String(c.read())}`), 50));
        c.on('end', () => (ended = true));
        c.on('close', () => {
          log.push(`close after end ${ended}`);
          server.close();
        });
        c.end('foo');
      });
      await new Promise<void>((r) => server.listen(0, HOST, () => r()));
      const s = net.connect((server.address() as nodeNet.AddressInfo).port, HOST, () => s.end('foo'));
      s.resume();
      await once(server, 'close');
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('a write after the peer ended fails with EPIPE on the next tick', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => c.end());
      await new Promise<void>((resolve) => {
        const s = net.connect(port, HOST, () => {
          let errored = false;
          s.on('error', (e: NodeJS.ErrnoException) => {
            errored = true;
            log.push(`error ${e.code}`);
          });
          s.on('end', () => {
            const ret = s.write('hello', (e) => log.push(`write cb ${(e as NodeJS.ErrnoException).code} ${e?.message}`));
            log.push(`write returned ${ret}, error yet ${errored}`);
          });
          s.on('close', () => resolve());
          s.end();
        });
      });
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('destroy() before connect: pending writes fail with ERR_SOCKET_CLOSED_BEFORE_CONNECTION, resetAndDestroy() emits nothing', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net);
      const s = new net.Socket();
      s.on('connect', () => log.push('connect?!'));
      s.connect({ port });
      s.write('foo', (e) => log.push(`write cb ${(e as NodeJS.ErrnoException).code}`));
      s.destroy();
      await once(s, 'close');
      const r = net.connect(port, HOST, () => log.push('connect?!'));
      r.on('error', (e) => log.push(`error?! ${e.message}`));
      r.resetAndDestroy();
      r.destroy();
      await once(r, 'close');
      log.push(`closed ${r.destroyed}`);
      log.push(`reset of an unconnected socket: ${await new Promise((res) => new net.Socket().on('error', (e: NodeJS.ErrnoException) => res(e.code)).resetAndDestroy())}`);
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("listen(): 'listening' only while still listening, close() callbacks, signals, option errors", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const a = net.createServer();
      a.listen(0, () => log.push('listening?!'));
      a.on('close', () => log.push('a close'));
      a.close();
      const b = net.createServer().listen(0, 'localhost', () => log.push('listening?!'));
      b.close();
      const c = net.createServer();
      c.on('close', () => log.push('c close'));
      c.listen(0);
      c.close('not a function' as never);
      const d = net.createServer();
      await new Promise<void>((r) => d.close((e) => (log.push(`d close cb ${(e as NodeJS.ErrnoException).code}`), r())));
      const ac = new AbortController();
      const e = net.createServer();
      e.listen({ port: 0, signal: ac.signal });
      ac.abort();
      await once(e, 'close');
      log.push(`aborted listening=${e.listening}`);
      const f = net.createServer().listen({ port: 0, signal: AbortSignal.abort() });
      await once(f, 'close');
      log.push('pre-aborted closed');
      for (const opts of [{ port: 0, signal: 'x' }, {}, { host: 'localhost' }, { port: true }, { path: -1 }, { port: -1 }, { port: 65536 }]) {
        log.push(`listen(${JSON.stringify(opts)}): ${thrown(() => net.createServer().listen(opts as never))}`);
      }
      const g = net.createServer();
      log.push(`listen twice: ${thrown(() => g.listen(0).listen(0))}`);
      await close(g);
      await new Promise((r) => setTimeout(r, 20));
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('listen({ fd }) fails asynchronously with EINVAL (ustack: no descriptor is a listening socket)', async () => {
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      let sync = true;
      stack.net
        .createServer()
        .listen({ fd: 0 })
        .on('error', (e: NodeJS.ErrnoException) => {
          expect(sync).toBe(false);
          resolve(e);
        });
      sync = false;
    });
    expect(err.code).toBe('EINVAL');
    expect(err.syscall).toBe('listen');
  });

  it('maxConnections drops the excess; a closed connection makes room for the next', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const server = net.createServer((c) => {
        c.on('data', (d) => {
          log.push(`received ${String(d)}`);
          c.write('ack');
        });
      });
      server.maxConnections = 1;
      server.on('drop', (d) => log.push(`drop ${d?.localAddress} ${d?.remoteFamily}`));
      await new Promise<void>((r) => server.listen(0, HOST, () => r()));
      const port = (server.address() as nodeNet.AddressInfo).port;
      const conns: nodeNet.Socket[] = [];
      const open = (i: number): Promise<void> =>
        new Promise((resolve) => {
          const c = net.connect(port, HOST, () => c.write(String(i)));
          c.on('error', () => resolve());
          c.on('data', () => resolve());
          c.on('end', () => resolve());
          conns[i] = c;
        });
      await open(0);
      await open(1);
      conns[0]!.end();
      await once(conns[0]!, 'close');
      await new Promise((r) => setTimeout(r, 20));
      await open(2);
      for (const c of conns) c.destroy();
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it("captureRejections: a rejected 'connection' handler destroys that socket with the error", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      // A server takes the process-wide default when it is made.
      EventEmitter.captureRejections = true;
      const srv = net.createServer(async (sock) => {
        sock.on('error', (e) => log.push(`socket error ${e.message}`));
        srv.close();
        throw new Error('kaboom');
      });
      EventEmitter.captureRejections = false;
      srv.on('error', (e) => log.push(`server error?! ${e.message}`));
      await new Promise<void>((r) => srv.listen(0, HOST, () => r()));
      const c = net.connect((srv.address() as nodeNet.AddressInfo).port, HOST);
      c.resume();
      c.on('error', () => {});
      await Promise.all([once(c, 'close'), once(srv, 'close')]);
      log.push('closed');
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('a client bound to a port a listener holds fails with EADDRINUSE from bind', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server: s1, port: p1 } = await listen(net);
      const { server: s2, port: p2 } = await listen(net);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        net.connect({ host: HOST, port: p1, localAddress: HOST, localPort: p2 }, () => log.push('connect?!')).on('error', resolve);
      });
      log.push(`${err.code} ${err.syscall} ${err.message.replace(String(p2), 'PORT')}`);
      await close(s1);
      await close(s2);
      return log;
    });
    expect(ustack).toEqual(node);
  });
});

describe('node:net where node versions differ (compared with the running node)', () => {
  it("bytesRead includes each 'data' chunk when it is emitted", async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const big = Buffer.alloc(1024 * 1024);
      const { server, port } = await listen(net, (c) => c.end(big));
      const s = net.connect(port, HOST);
      let prev = 0;
      let rising = true;
      s.on('data', () => {
        if (s.bytesRead <= prev) rising = false;
        prev = s.bytesRead;
      });
      await once(s, 'end');
      log.push(`rising ${rising} total ${s.bytesRead === big.length}`);
      s.destroy();
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  // node 20 itself aborts on it (an assertion in TCPWrap::Connect, fixed in 22): compared from 22 on, ustack alone below.
  it.skipIf(Number(process.versions.node.split('.')[0]) < 22)('a lookup answering with a non-string address is ERR_INVALID_IP_ADDRESS', async () => {
    const { node, ustack } = await both(async (net) => {
      const lookup = (_h: string, o: { family?: number }, cb: (...a: unknown[]) => void): void => cb(null, ['127.0.0.1'], o.family);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        net.connect({ host: 'example.com', port: 80, family: 4, lookup: lookup as never }, () => {}).on('error', resolve);
      });
      return [String(err.code)];
    });
    expect(ustack).toEqual(node);
  });

  it('ustack: a lookup answering with a non-string address is ERR_INVALID_IP_ADDRESS on every node', async () => {
    const lookup = (_h: string, o: { family?: number }, cb: (...a: unknown[]) => void): void => cb(null, ['127.0.0.1'], o.family);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
      (stack.net as unknown as Net).connect({ host: 'example.com', port: 80, family: 4, lookup: lookup as never }, () => {}).on('error', resolve);
    });
    expect(err.code).toBe('ERR_INVALID_IP_ADDRESS');
  });

  it('end() on a socket that never connected: as the running node (waits on 20, finishes on 22+)', async () => {
    const { node, ustack } = await both(async (net) => {
      const s = new net.Socket();
      const finished = await new Promise<boolean>((resolve) => {
        s.end(() => resolve(true));
        setTimeout(() => resolve(false), 100);
      });
      s.destroy();
      return [`finished ${finished} writable ${s.writable}`];
    });
    expect(ustack).toEqual(node);
  });

  it('maxConnections = 0: as the running node (no limit on 20, drops every connection on 22+)', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const server = net.createServer((c) => {
        log.push('connection');
        c.destroy();
      });
      server.maxConnections = 0;
      server.on('drop', () => log.push('drop'));
      await new Promise<void>((r) => server.listen(0, HOST, () => r()));
      const c = net.connect((server.address() as nodeNet.AddressInfo).port, HOST);
      c.on('error', () => {});
      c.resume();
      await once(c, 'close');
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  const hasBlockList = typeof (nodeNet.BlockList as unknown as { isBlockList?: unknown }).isBlockList === 'function';
  it.skipIf(!hasBlockList)('blockList (node 22.13+): a socket refuses a blocked address, a server closes connections from one', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const blockList = new net.BlockList();
      blockList.addAddress(HOST);
      log.push(`not a BlockList: ${thrown(() => new net.Socket({ blockList: {} } as never))}`);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        net.connect({ host: HOST, port: 9999, blockList } as never).on('error', resolve);
      });
      log.push(`${err.code} ${err.message}`);
      const server = net.createServer({ blockList } as never, () => log.push('connection?!'));
      await new Promise<void>((r) => server.listen(0, HOST, () => r()));
      const c = net.connect((server.address() as nodeNet.AddressInfo).port, HOST);
      c.on('error', () => {});
      c.resume();
      await once(c, 'close');
      await close(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });
});

describe("node:net's module-level functions", () => {
  it('the autoselection defaults are node\'s own settings', () => {
    const net = stack.net as NetModule;
    expect(net.getDefaultAutoSelectFamilyAttemptTimeout()).toBe(nodeNet.getDefaultAutoSelectFamilyAttemptTimeout());
    expect(net.getDefaultAutoSelectFamily()).toBe(nodeNet.getDefaultAutoSelectFamily());
  });

  it('_setSimultaneousAccepts warns DEP0121 once per process', async () => {
    const net = stack.net as NetModule;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w);
    };
    process.on('warning', onWarning);
    net._setSimultaneousAccepts();
    net._setSimultaneousAccepts();
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings.map((w) => (w as Error & { code?: string }).code)).toEqual(['DEP0121']);
  });

  it('_normalizeArgs gives [options, callback] as node does', () => {
    const net = stack.net as NetModule;
    const cb = (): void => {};
    const n = (args: unknown[]): unknown[] => [...net._normalizeArgs(args)];
    expect(n([])).toEqual([{}, null]);
    expect(n([80, 'host', cb])).toEqual([{ port: 80, host: 'host' }, cb]);
    expect(n(['/tmp/sock', cb])).toEqual([{ path: '/tmp/sock' }, cb]);
    expect(n([{ port: 1 }])).toEqual([{ port: 1 }, null]);
  });
});
