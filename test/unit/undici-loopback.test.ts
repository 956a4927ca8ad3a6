/**
 * undici reads in paused mode and asserts that 'end' never arrives while its
 * parser is paused for body backpressure. Over the kernel that holds because
 * EOF is read on a later turn; this pins that ustack sockets keep it too
 * (a 5 MB `connection: close` response, where FIN rides on the last data).
 */
import * as http from 'node:http';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, serveHttp, undiciConnector, type UstackServer } from '../../src/index.js';

describe('undici fetch over ustack loopback', () => {
  let stack: Stack;
  let tcp: UstackServer;
  let server: http.Server;
  const body = Buffer.alloc(5 * 1024 * 1024, 7);

  beforeAll(async () => {
    stack = await Stack.open();
    server = http.createServer((_req, res) => {
      res.writeHead(200, { connection: 'close', 'content-length': body.length });
      res.end(body);
    });
    tcp = await serveHttp(stack.net, server, 8081, '127.0.0.1');
  });

  afterAll(async () => {
    tcp.close();
    server.close();
    await stack.close();
  });

  it('downloads close-delimited responses without tripping its parser', async () => {
    const uncaught: Error[] = [];
    const onUncaught = (e: Error): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 5; i++) {
        const dispatcher = new Agent({ connect: undiciConnector(stack.net) as never });
        const res = await fetch('http://127.0.0.1:8081/', { dispatcher });
        expect((await res.arrayBuffer()).byteLength).toBe(body.length);
        await dispatcher.close();
      }
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught.map((e) => e.message)).toEqual([]);
  });
});
