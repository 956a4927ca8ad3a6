/**
 * node:net semantics, pinned by running each scenario twice — once on node's
 * own net over the kernel's 127.0.0.1, once on ustack's net over a
 * loopback-only stack — and comparing what each observed. Anything that is
 * not equal is a drop-in incompatibility.
 */
import * as nodeNet from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '../../src/index.js';
import type { NetModule } from '../../src/socket/net.js';
import { waitFor } from '../helpers/wait.js';

type Net = typeof nodeNet | NetModule;
type Log = string[];

let stack: Stack;
beforeAll(async () => {
  stack = await Stack.open();
});
afterAll(async () => {
  await stack.close();
});

const HOST = '127.0.0.1';

function listen(net: Net, onConn: (s: nodeNet.Socket) => void, opts: nodeNet.ServerOpts = {}): Promise<{ server: nodeNet.Server; port: number }> {
  return new Promise((resolve) => {
    const server = (net as typeof nodeNet).createServer(opts, onConn);
    server.listen(0, HOST, () => resolve({ server, port: (server.address() as nodeNet.AddressInfo).port }));
  });
}

function closeServer(server: nodeNet.Server): Promise<void> {
  return new Promise((r) => server.close(() => r()));
}

/** Runs `scenario` on both implementations and returns both logs. */
async function both(scenario: (net: Net) => Promise<Log>): Promise<{ node: Log; ustack: Log }> {
  const node = await scenario(nodeNet);
  const ustack = await scenario(stack.net);
  return { node, ustack };
}

function errInfo(e: NodeJS.ErrnoException & { address?: string; port?: number }, port?: number): string {
  const msg = port !== undefined ? e.message.replace(String(port), 'PORT') : e.message;
  return `error ${e.code} ${e.syscall} ${e.errno} ${msg}`;
}

describe('node:net drop-in semantics (same scenario on node:net and ustack/net)', () => {
  it('event order and readyState for a connect / echo / end / close cycle', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        log.push(`server conn readyState=${c.readyState} pending=${c.pending}`);
        c.on('data', (d) => c.write(d));
        c.on('end', () => {
          log.push('server end');
          c.end();
        });
      });
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST);
        log.push(`client readyState=${s.readyState} connecting=${s.connecting} pending=${s.pending}`);
        s.on('lookup', () => log.push('lookup'));
        s.on('connect', () => {
          log.push(`connect readyState=${s.readyState} connecting=${s.connecting} pending=${s.pending} remote=${s.remoteAddress} family=${s.remoteFamily}`);
          s.write('ping');
        });
        s.on('ready', () => log.push('ready'));
        s.on('data', (d) => {
          log.push(`data ${d}`);
          s.end();
          log.push(`after end readyState=${s.readyState}`);
        });
        s.on('end', () => log.push(`end readyState=${s.readyState}`));
        s.on('finish', () => log.push('finish'));
        s.on('close', (hadError) => {
          log.push(`close ${hadError} readyState=${s.readyState} bytesRead=${s.bytesRead} bytesWritten=${s.bytesWritten}`);
          resolve();
        });
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('ECONNREFUSED on a closed port: error fields, then close(true)', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      // A port nobody listens on: take a free one, then close it.
      const { server, port } = await listen(net, () => {});
      await closeServer(server);
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST);
        s.on('connect', () => log.push('connect?!'));
        s.on('error', (e: NodeJS.ErrnoException & { address?: string; port?: number }) => {
          log.push(errInfo(e, port));
          log.push(`address=${e.address} port-match=${e.port === port}`);
        });
        s.on('close', (hadError) => {
          log.push(`close ${hadError} readyState=${s.readyState}`);
          resolve();
        });
      });
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('EADDRINUSE on listen, and ERR_SERVER_NOT_RUNNING on close of a closed server', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, () => {});
      await new Promise<void>((resolve) => {
        const second = (net as typeof nodeNet).createServer();
        second.on('error', (e: NodeJS.ErrnoException) => {
          log.push(errInfo(e, port));
          resolve();
        });
        second.listen(port, HOST);
      });
      await closeServer(server);
      await new Promise<void>((resolve) => {
        server.close((err) => {
          log.push(`close cb ${(err as NodeJS.ErrnoException | undefined)?.code}`);
          resolve();
        });
      });
      log.push(`listening=${server.listening} address=${server.address()}`);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('argument errors: bad ports, bad types', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const attempts: Array<() => unknown> = [
        () => (net as typeof nodeNet).connect({ port: -1, host: HOST }),
        () => (net as typeof nodeNet).connect({ port: 70000, host: HOST }),
        () => (net as typeof nodeNet).connect({ port: 'abc' as unknown as number, host: HOST }),
        () => (net as typeof nodeNet).connect({ port: true as unknown as number, host: HOST }),
        () => (net as typeof nodeNet).connect({ port: 80, host: 5 as unknown as string }),
        () => (net as typeof nodeNet).createServer().listen(65536),
      ];
      for (const f of attempts) {
        try {
          f();
          log.push('no throw');
        } catch (e) {
          const err = e as Error & { code?: string };
          log.push(`${err.name} ${err.code} ${err.message}`);
        }
      }
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('half-open: with allowHalfOpen the server can keep writing after the client ends', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(
        net,
        (c) => {
          c.on('end', () => {
            log.push(`server end writable=${c.writable}`);
            setTimeout(() => c.end('late reply'), 20);
          });
          c.resume();
        },
        { allowHalfOpen: true },
      );
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect({ port, host: HOST, allowHalfOpen: true }, () => s.end('bye'));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => log.push(`client end got=${got}`));
        s.on('close', (h) => {
          log.push(`client close ${h}`);
          resolve();
        });
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('without allowHalfOpen the server side ends automatically and later writes fail with EPIPE', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        c.on('end', () => {
          log.push(`server end writable=${c.writable}`);
          c.write('still fine', (err) => log.push(`write cb ${(err as NodeJS.ErrnoException | undefined)?.code}`));
          // Once the automatic end() has happened, writes fail with EPIPE.
          setImmediate(() => {
            log.push(`later writableEnded=${c.writableEnded}`);
            c.write('too late', (err) => log.push(`late write cb ${(err as NodeJS.ErrnoException | undefined)?.code} ${err?.message}`));
          });
        });
        c.on('error', (e: NodeJS.ErrnoException) => log.push(`server error ${e.code}`));
        c.on('close', () => log.push('server close'));
        c.resume();
      });
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect({ port, host: HOST, allowHalfOpen: true }, () => s.end());
        s.resume();
        s.on('close', () => resolve());
      });
      await new Promise((r) => setTimeout(r, 50));
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('setTimeout fires after idleness, is reset by activity, and can be disabled', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        c.on('data', () => {});
        c.on('end', () => c.end());
      });
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST, () => {
          let writes = 0;
          const t = setInterval(() => {
            s.write('x');
            if (++writes === 4) clearInterval(t);
          }, 20);
          s.setTimeout(60, () => {
            log.push(`timeout after ${writes} writes`);
            log.push(`timeout prop ${s.timeout}`);
            s.setTimeout(0);
            log.push(`timeout prop after disable ${s.timeout}`);
            s.end();
          });
        });
        s.on('close', () => resolve());
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('destroy() during connect: no connect event, close(false)', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, () => {});
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST);
        s.on('connect', () => log.push('connect?!'));
        s.on('error', (e) => log.push(`error ${e.message}`));
        s.on('close', (h) => {
          log.push(`close ${h} destroyed=${s.destroyed} readyState=${s.readyState}`);
          resolve();
        });
        s.destroy();
        log.push(`after destroy connecting=${s.connecting}`);
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('server.close() waits for open connections; getConnections counts them', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const sockets: nodeNet.Socket[] = [];
      const { server, port } = await listen(net, (c) => {
        sockets.push(c);
        c.resume();
      });
      const client = (net as typeof nodeNet).connect(port, HOST);
      client.resume();
      await new Promise((r) => client.once('connect', r));
      await waitFor(() => sockets.length >= 1, { timeoutMs: 10_000, intervalMs: 5, what: 'the server to accept the connection' });
      const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
      log.push(`connections ${count}`);
      const closed = new Promise<void>((r) =>
        server.close(() => {
          log.push('server closed');
          r();
        }),
      );
      log.push(`listening after close() ${server.listening}`);
      await new Promise((r) => setTimeout(r, 50));
      log.push('ending connection');
      client.end();
      await closed;
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('maxConnections drops excess connections with a drop event', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        log.push('connection');
        c.resume();
      });
      server.maxConnections = 1;
      server.on('drop', (d) => log.push(`drop ${d?.localAddress} ${d?.remoteFamily}`));
      const a = (net as typeof nodeNet).connect(port, HOST);
      a.resume();
      await new Promise((r) => a.once('connect', r));
      await new Promise((r) => setTimeout(r, 30));
      const b = (net as typeof nodeNet).connect(port, HOST);
      b.on('error', () => {});
      b.resume();
      await new Promise<void>((r) => b.once('close', () => r()));
      log.push('second closed');
      a.end();
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('resetAndDestroy makes the peer see ECONNRESET', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => {
        c.once('data', () => c.resetAndDestroy());
      });
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST, () => s.write('hi'));
        s.on('error', (e: NodeJS.ErrnoException) => log.push(errInfo(e)));
        s.on('close', (h) => {
          log.push(`close ${h}`);
          resolve();
        });
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('write after end is ERR_STREAM_WRITE_AFTER_END', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      const { server, port } = await listen(net, (c) => c.resume());
      await new Promise<void>((resolve) => {
        const s = (net as typeof nodeNet).connect(port, HOST, () => {
          s.end();
          s.write('x', (err) => log.push(`cb ${(err as NodeJS.ErrnoException).code}`));
        });
        s.on('error', (e: NodeJS.ErrnoException) => log.push(`error ${e.code}`));
        s.on('close', () => resolve());
      });
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });

  it('backpressure: a paused reader stops the writer (write() false), resuming drains it', async () => {
    const { node, ustack } = await both(async (net) => {
      const log: Log = [];
      let serverSocket: nodeNet.Socket | null = null;
      const { server, port } = await listen(net, (c) => {
        serverSocket = c;
        c.pause();
      });
      const s = (net as typeof nodeNet).connect(port, HOST);
      await new Promise((r) => s.once('connect', r));
      const chunk = Buffer.alloc(64 * 1024, 1);
      let written = 0;
      // Write until the writer stays blocked: write() false and no 'drain' for
      // a while, because the paused reader's window is closed. Bounded: a
      // writer that never blocks stops at 256 MiB (and the log says so).
      while (written < 256 * 1024 * 1024) {
        written += chunk.length;
        if (s.write(chunk)) {
          await new Promise((r) => setImmediate(r));
          continue;
        }
        const drainedSoon = await new Promise<boolean>((r) => {
          const t = setTimeout(() => {
            s.off('drain', onDrain);
            r(false);
          }, 300);
          const onDrain = (): void => {
            clearTimeout(t);
            r(true);
          };
          s.once('drain', onDrain);
        });
        if (!drainedSoon) break;
      }
      log.push(`writer blocked before 64 MiB: ${written <= 64 * 1024 * 1024}`);
      const drained = new Promise<void>((r) => s.once('drain', () => r()));
      let received = 0;
      serverSocket!.on('data', (d: Buffer) => (received += d.length));
      serverSocket!.resume();
      await drained;
      log.push('drain');
      s.end();
      await new Promise<void>((r) => serverSocket!.once('end', () => r()));
      log.push(`all bytes arrived: ${received === written}`);
      serverSocket!.end();
      await closeServer(server);
      return log;
    });
    expect(ustack).toEqual(node);
  });
});

describe('ustack-specific socket behaviour', () => {
  it('a paused reader drives the advertised TCP window to zero, and it reopens', async () => {
    const net = stack.net;
    let serverSocket: nodeNet.Socket | null = null;
    const server = net.createServer((c) => {
      serverSocket = c as unknown as nodeNet.Socket;
      c.pause();
    });
    await new Promise<void>((r) => server.listen(0, HOST, () => r()));
    const port = (server.address() as nodeNet.AddressInfo).port;
    const s = net.connect(port, HOST);
    await new Promise((r) => s.once('connect', r));
    const chunk = Buffer.alloc(64 * 1024, 2);
    let queued = 0;
    while (s.write(chunk)) {
      queued += chunk.length;
      if (queued > 256 * 1024 * 1024) throw new Error('write() still accepting after 256 MiB to a paused reader');
      await new Promise((r) => setImmediate(r));
    }
    const conns = stack.engine.tcp.connections();
    const clientConn = conns.find((c) => c.localPort === s.localPort)!;
    // The sender comes to see a zero window from the paused reader (the last
    // sliver below one MSS goes out after the sender's SWS override timer).
    for (let i = 0; i < 500 && clientConn.sndWnd !== 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(clientConn.sndWnd).toBe(0);
    expect(clientConn.stateName).toBe('ESTABLISHED');
    const received = new Promise<void>((r) => serverSocket!.on('data', () => r()));
    serverSocket!.resume();
    await received;
    await new Promise((r) => setTimeout(r, 50));
    expect(clientConn.sndWnd).toBeGreaterThan(0);
    s.destroy();
    serverSocket!.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('ETIMEDOUT when the peer never answers the SYN', async () => {
    const [a, b] = await Stack.pair(undefined, { tcp: { synRetries: 2, initialRtoMs: 20 } });
    await b.close(); // nobody answers on 10.0.0.2 any more
    try {
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
        const s = a.net.connect(80, '10.0.0.2');
        s.on('error', resolve);
      });
      expect(err.code).toBe('ETIMEDOUT');
      expect(err.syscall).toBe('connect');
      expect(err.message).toBe('connect ETIMEDOUT 10.0.0.2:80');
    } finally {
      await a.close();
    }
  });
});
