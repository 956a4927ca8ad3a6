/**
 * node:http, undici and ws on ustack sockets, with the Linux kernel as the
 * other side of a TAP device: curl downloads from node:http on ustack;
 * node:http and undici's fetch on ustack download from python's http.server
 * on the host; a kernel-side ws client echoes 10,000 messages through a ws
 * server on ustack.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as http from 'node:http';
import { Agent, fetch } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, serveHttp, UstackHttpAgent, undiciConnector, type UstackServer } from '../../src/index.js';
import { startChild, type TrackedChild } from '../helpers/children.js';
import { assertRouteOver, ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { writeBlocks, wsEcho } from '../helpers/http-load.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['curl', 'ip']);
if (skipReason !== undefined) console.log(`[http-tap.test] skipping: ${skipReason}`);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

describe.skipIf(skipReason !== undefined)('node:http / undici / ws on ustack against the kernel', () => {
  let stack: Stack;
  let host: string;
  let ours: string;
  let tcp: UstackServer;
  let httpServer: http.Server;
  let wss: WebSocketServer;
  // 100 MB body: one random MiB repeated, hashed incrementally.
  const block = randomBytes(MB);
  const BIG_BLOCKS = 100;
  const bigHash = (() => {
    const h = createHash('sha256');
    for (let i = 0; i < BIG_BLOCKS; i++) h.update(block);
    return h.digest('hex');
  })();

  beforeAll(async () => {
    const subnet = freeSubnet24();
    host = `10.11.${subnet}.1`;
    ours = `10.11.${subnet}.2`;
    const ifname = uniqueIfName('uhttp');
    stack = await Stack.open({ nic: `tap:${ifname}`, address: `${ours}/24`, hostAddress: `${host}/24` });
    httpServer = http.createServer((req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': String(BIG_BLOCKS * MB), 'content-type': 'application/octet-stream' });
        writeBlocks(res, block, BIG_BLOCKS);
      } else {
        res.end(`small ${req.url}`);
      }
    });
    wss = new WebSocketServer({ server: httpServer });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    tcp = await serveHttp(stack.net, httpServer, 8080);
    // Everything curl and the kernel-side clients send to `ours` must leave over this test's TAP.
    assertRouteOver(ours, ifname);
  });

  afterAll(async () => {
    wss?.close();
    tcp?.close();
    httpServer?.close();
    await stack?.close();
  });

  it('curl downloads 100 MB from node:http on ustack, three requests on one keep-alive connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-curl-'));
    try {
      const url = `http://${ours}:8080`;
      // Bounded below the test's own timeout, so a stall ends with curl's output in the message.
      const { stdout } = await runBounded(
        'curl',
        ['-sS', '--max-time', '100', '-w', '%{http_code} %{num_connects} %{size_download}\n', '-o', join(dir, 'a'), `${url}/big`, '-o', join(dir, 'b'), `${url}/small`, '-o', join(dir, 'c'), `${url}/big`],
        { timeoutMs: 110_000, what: `curl to download 2 x 100 MB and a small page from ${url}` },
      );
      const lines = stdout.trim().split('\n');
      expect(lines).toEqual([`200 1 ${BIG_BLOCKS * MB}`, '200 0 12', `200 0 ${BIG_BLOCKS * MB}`]);
      const { stdout: sums } = await runBounded('sha256sum', [join(dir, 'a'), join(dir, 'c')], { timeoutMs: 60_000 });
      expect(sums.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual([bigHash, bigHash]);
      expect(readFileSync(join(dir, 'b'), 'utf8')).toBe('small /small');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('clients on ustack, python3 -m http.server on the host', () => {
    let py: TrackedChild;
    let dir: string;
    const file = randomBytes(5 * MB);
    const port = 18000 + Math.floor(Math.random() * 1000);

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'ustack-py-'));
      writeFileSync(join(dir, 'file.bin'), file);
      py = startChild('python3', ['-m', 'http.server', '--bind', host, String(port), '--directory', dir], {
        what: `python3 -m http.server on ${host}:${port}`,
      });
      // Wait until it accepts connections (from the kernel side).
      await waitFor(
        () => {
          if (py.exited) throw new Error(`the HTTP server exited: ${py.describe()}`);
          return new Promise<boolean>((r) => {
            http
              .get(`http://${host}:${port}/`, (res) => {
                res.resume();
                r(true);
              })
              .on('error', () => r(false));
          });
        },
        { timeoutMs: 20_000, intervalMs: 100, what: `python3 -m http.server to accept on ${host}:${port}`, detail: () => py.describe() },
      );
    });

    afterAll(async () => {
      await py?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('node:http client through a ustack Agent (the HTTP/1.0 server closes after each response)', async () => {
      const agent = new UstackHttpAgent(stack.net, { keepAlive: true, maxSockets: 1 });
      try {
        const ports: number[] = [];
        for (let i = 0; i < 2; i++) {
          const body = await withTimeout(
            new Promise<Buffer>((resolve, reject) => {
              http
                .get({ host, port, path: '/file.bin', agent }, (res) => {
                  ports.push(res.socket.localPort!);
                  const chunks: Buffer[] = [];
                  res.on('data', (d) => chunks.push(d));
                  res.on('end', () => resolve(Buffer.concat(chunks)));
                })
                .on('error', reject);
            }),
            { timeoutMs: 60_000, what: `GET /file.bin #${i + 1} through the ustack Agent`, detail: () => py.describe() },
          );
          expect(sha(body)).toBe(sha(file));
        }
        expect(ports.length).toBe(2);
      } finally {
        agent.destroy();
      }
    });

    it('undici fetch through a dispatcher that connects with ustack', async () => {
      const dispatcher = new Agent({ connect: undiciConnector(stack.net) as never });
      try {
        const body = await withTimeout(
          (async () => {
            const res = await fetch(`http://${host}:${port}/file.bin`, { dispatcher });
            expect(res.status).toBe(200);
            return new Uint8Array(await res.arrayBuffer());
          })(),
          { timeoutMs: 60_000, what: 'fetch of /file.bin through undici on ustack', detail: () => py.describe() },
        );
        expect(sha(body)).toBe(sha(file));
      } finally {
        await dispatcher.close();
      }
    });
  });

  it('a kernel-side ws client echoes 10,000 messages through ws on ustack', async () => {
    const ws = new WebSocket(`ws://${ours}:8080/`);
    const total = 10_000;
    expect(await wsEcho(ws, total, `ws echo of ${total} messages`)).toEqual({ received: total, mismatches: 0 });
  });
});
