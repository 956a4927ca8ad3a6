/**
 * TLS on ustack with the Linux kernel on the other side of a TAP device, and
 * the kernel's own TLS clients and servers: curl --cacert and openssl
 * s_client complete HTTPS requests to node's https.Server listening on
 * ustack (listenOn), a 20 MB body verified by SHA-256; undici's fetch on
 * ustack downloads over https: from an https.Server on the kernel's sockets;
 * ws echoes 1,000 messages over wss:, once with the server on ustack and a
 * kernel-side client, once with the client on ustack and a kernel-side server.
 * Certificates are made at test time (openssl req -x509).
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { Agent, fetch } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOn, Stack, tlsConnect, undiciConnector, type TlsConnectOptions } from '../../src/index.js';
import { makeCertificate, type TestCertificate } from '../helpers/certs.js';
import { assertRouteOver, ensureTools, freeSubnet24, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { writeBlocks, wsEcho } from '../helpers/http-load.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason() ?? ensureTools(['curl', 'ip', 'openssl']);
if (skipReason !== undefined) console.log(`[tls-tap.test] skipping: ${skipReason}`);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;
const BODY_MB = 20;

describe.skipIf(skipReason !== undefined)('TLS on ustack against the kernel over TAP', () => {
  let stack: Stack;
  let ifname: string;
  let host: string;
  let ours: string;
  let cert: TestCertificate;
  let httpsServer: https.Server;
  let wss: WebSocketServer;
  const block = randomBytes(MB);
  const bodyHash = (() => {
    const h = createHash('sha256');
    for (let i = 0; i < BODY_MB; i++) h.update(block);
    return h.digest('hex');
  })();

  beforeAll(async () => {
    const subnet = freeSubnet24();
    host = `10.11.${subnet}.1`;
    ours = `10.11.${subnet}.2`;
    ifname = uniqueIfName('utls');
    // One certificate for both ends: the ustack side's and the kernel side's address.
    cert = makeCertificate({ dns: ['ustack.test'], ips: [ours, host] });
    stack = await Stack.open({ nic: `tap:${ifname}`, address: `${ours}/24`, hostAddress: `${host}/24` });
    httpsServer = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': String(BODY_MB * MB), 'content-type': 'application/octet-stream' });
        writeBlocks(res, block, BODY_MB);
      } else {
        res.end(`small ${req.url} from ${req.socket.remoteAddress}`);
      }
    });
    wss = new WebSocketServer({ server: httpsServer });
    wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
    listenOn(stack.net, httpsServer, 8443, ours);
    await withTimeout(once(httpsServer, 'listening'), { timeoutMs: 10_000, what: 'the https.Server on ustack to listen' });
    // Everything the kernel side sends to `ours` must leave over this test's TAP.
    assertRouteOver(ours, ifname);
  });

  afterAll(async () => {
    wss?.close();
    httpsServer?.closeAllConnections();
    httpsServer?.close();
    await stack?.close();
    cert?.remove();
  });

  it(`curl --cacert downloads ${BODY_MB} MB over HTTPS from node's https.Server on ustack, twice on one connection`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ustack-curl-tls-'));
    try {
      const url = `https://${ours}:8443`;
      const { stdout } = await runBounded(
        'curl',
        ['-sS', '--cacert', cert.certFile, '--max-time', '100', '-w', '%{http_code} %{num_connects} %{size_download} %{ssl_verify_result}\n',
          '-o', join(dir, 'a'), `${url}/big`, '-o', join(dir, 'b'), `${url}/small`, '-o', join(dir, 'c'), `${url}/big`],
        { timeoutMs: 110_000, what: `curl to download 2 x ${BODY_MB} MB over HTTPS from ${url}` },
      );
      expect(stdout.trim().split('\n')).toEqual([`200 1 ${BODY_MB * MB} 0`, `200 0 ${`small /small from ${host}`.length} 0`, `200 0 ${BODY_MB * MB} 0`]);
      const { stdout: sums } = await runBounded('sha256sum', [join(dir, 'a'), join(dir, 'c')], { timeoutMs: 60_000 });
      expect(sums.split('\n').filter(Boolean).map((l) => l.split(' ')[0])).toEqual([bodyHash, bodyHash]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('openssl s_client verifies the certificate and completes a request', async () => {
    const request = 'GET /s_client HTTP/1.1\\r\\nHost: ustack.test\\r\\nConnection: close\\r\\n\\r\\n';
    const { stdout } = await runBounded(
      'bash',
      ['-c', `printf '${request}' | openssl s_client -connect ${ours}:8443 -CAfile ${cert.certFile} -verify_return_error -ign_eof`],
      { timeoutMs: 30_000, what: `openssl s_client to ${ours}:8443` },
    );
    expect(stdout).toMatch(/Verify return code: 0 \(ok\)/);
    expect(stdout).toMatch(/HTTP\/1\.1 200 OK/);
    expect(stdout).toContain(`small /s_client from ${host}`);
  });

  it('a kernel-side ws client echoes 1,000 messages over wss: through ws on ustack', async () => {
    const ws = new WebSocket(`wss://${ours}:8443/`, { ca: cert.cert });
    const r = await wsEcho(ws, 1000, 'wss echo through the ws server on ustack');
    expect(r).toEqual({ received: 1000, mismatches: 0 });
  });

  describe('clients on ustack, servers on the kernel side', () => {
    let kernelServer: https.Server;
    let kernelWss: WebSocketServer;
    let port: number;
    const remotes = new Set<string>();

    beforeAll(async () => {
      kernelServer = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        remotes.add(String(req.socket.remoteAddress));
        res.writeHead(200, { 'content-length': String(BODY_MB * MB) });
        writeBlocks(res, block, BODY_MB);
      });
      kernelWss = new WebSocketServer({ server: kernelServer });
      kernelWss.on('connection', (ws, req) => {
        remotes.add(String(req.socket.remoteAddress));
        ws.on('message', (m, binary) => ws.send(m, { binary }));
      });
      kernelServer.listen(0, host);
      await withTimeout(once(kernelServer, 'listening'), { timeoutMs: 10_000, what: `the kernel-side https.Server on ${host}` });
      port = (kernelServer.address() as AddressInfo).port;
    });

    afterAll(() => {
      kernelWss?.close();
      kernelServer?.closeAllConnections();
      kernelServer?.close();
    });

    it(`undici fetch('https://…') on ustack downloads ${BODY_MB} MB from the kernel side`, async () => {
      remotes.clear();
      const dispatcher = new Agent({ connect: undiciConnector(stack.net, { ca: cert.cert }) as never });
      try {
        const got = await withTimeout(
          (async () => {
            const res = await fetch(`https://${host}:${port}/file`, { dispatcher });
            expect(res.status).toBe(200);
            return new Uint8Array(await res.arrayBuffer());
          })(),
          { timeoutMs: 100_000, what: `fetch https://${host}:${port}/file through ustack` },
        );
        expect(got.length).toBe(BODY_MB * MB);
        expect(sha(got)).toBe(bodyHash);
      } finally {
        await dispatcher.close();
      }
      // The kernel saw the request come from the ustack side's address, over the TAP.
      expect([...remotes]).toEqual([ours]);
    });

    it('a ws client on ustack echoes 1,000 messages over wss: with a kernel-side ws server', async () => {
      remotes.clear();
      const ws = new WebSocket(`wss://${host}:${port}/`, {
        ca: cert.cert,
        // ws hands its TLS options (host, port, servername, ca) to createConnection; @types/ws types it as net's.
        createConnection: ((opts: TlsConnectOptions) => tlsConnect(stack.net, { ...opts, path: undefined })) as never,
      });
      const r = await wsEcho(ws, 1000, 'wss echo from ws on ustack');
      expect(r).toEqual({ received: 1000, mismatches: 0 });
      expect([...remotes]).toEqual([ours]);
    });
  });
});
