/**
 * node's TLS, https and http servers on ustack sockets, on two stacks joined
 * by an in-process link: tls.connect over a ustack socket (tlsConnect), node
 * servers listening through listenOn() with node's own Server semantics
 * (listening, address, close after the last connection, maxConnections,
 * EADDRINUSE, refusal of IPC paths), undici's fetch over https: through
 * undiciConnector, https.get through UstackHttpsAgent, and the addresses a
 * TLS socket reports on both ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as http from 'node:http';
import * as https from 'node:https';
import * as tls from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOn, Stack, tlsConnect, undiciConnector, UstackHttpsAgent } from '../../src/index.js';
import { ustackSocketUnder } from '../../src/socket/tls.js';
import { UstackSocket } from '../../src/socket/net-socket.js';
import { makeCertificate, type TestCertificate } from '../helpers/certs.js';
import { ensureTools } from '../helpers/netns.js';
import { withTimeout } from '../helpers/wait.js';

const skipReason = ensureTools(['openssl']);
if (skipReason !== undefined) console.log(`[tls-ustack.test] skipping: ${skipReason}`);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bounded = <T>(p: Promise<T>, what: string): Promise<T> => withTimeout(p, { timeoutMs: 30_000, what });

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return new Promise((resolve, reject) => {
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

describe.skipIf(skipReason !== undefined)('TLS on ustack sockets (in-process link)', () => {
  let server: Stack; // 10.0.0.1
  let client: Stack; // 10.0.0.2
  let cert: TestCertificate;
  const body = randomBytes(3 * 1024 * 1024);

  beforeAll(async () => {
    [server, client] = await Stack.pair();
    cert = makeCertificate({ dns: ['ustack.test'], ips: ['10.0.0.1'] });
  });

  afterAll(async () => {
    await server?.close();
    await client?.close();
    cert?.remove();
  });

  it('tls.connect over a ustack socket talks to a tls.Server listening through listenOn, addresses on both ends', async () => {
    const seen: Array<Record<string, unknown>> = [];
    const tlsServer = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => {
      seen.push({ remoteAddress: s.remoteAddress, localAddress: s.localAddress, localPort: s.localPort, remotePort: s.remotePort, under: ustackSocketUnder(s) instanceof UstackSocket });
      s.end(body);
    });
    listenOn(server.net, tlsServer, 4433, '10.0.0.1');
    await bounded(once(tlsServer, 'listening'), "tls.Server's 'listening'");
    expect(tlsServer.listening).toBe(true);
    expect(tlsServer.address()).toEqual({ address: '10.0.0.1', family: 'IPv4', port: 4433 });

    const events: string[] = [];
    const s = tlsConnect(client.net, { host: '10.0.0.1', port: 4433, ca: cert.cert, servername: 'ustack.test' });
    expect(s.connecting).toBe(true);
    s.on('connect', () => events.push(`connect connecting=${String(s.connecting)}`));
    // Addresses are read while the connection is up: as in node, a socket
    // closed before its addresses were first read reports them undefined,
    // and the server's end() may close this one before readAll resolves.
    let ends: Record<string, unknown> = {};
    s.on('secureConnect', () => {
      events.push(`secureConnect authorized=${String(s.authorized)}`);
      ends = { remoteAddress: s.remoteAddress, remotePort: s.remotePort, localAddress: s.localAddress, localPort: s.localPort };
    });
    const got = await bounded(readAll(s), 'the TLS body');
    expect(sha(got)).toBe(sha(body));
    expect(events).toEqual(['connect connecting=false', 'secureConnect authorized=true']);
    expect(ends).toMatchObject({ remoteAddress: '10.0.0.1', remotePort: 4433, localAddress: '10.0.0.2' });
    expect(seen).toEqual([{ remoteAddress: '10.0.0.2', localAddress: '10.0.0.1', localPort: 4433, remotePort: ends.localPort, under: true }]);

    const closed = once(tlsServer, 'close');
    tlsServer.close();
    expect(tlsServer.listening).toBe(false);
    await bounded(closed, "tls.Server's 'close'");
  });

  it('a certificate for another name fails verification as over the kernel', async () => {
    const tlsServer = tls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end('x'));
    listenOn(server.net, tlsServer, 4434);
    await bounded(once(tlsServer, 'listening'), 'listening');
    try {
      const s = tlsConnect(client.net, 4434, '10.0.0.1', { ca: cert.cert, servername: 'other.test' });
      const [err] = (await bounded(once(s, 'error'), 'the verification error')) as [Error & { code?: string }];
      expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      tlsServer.close();
    }
  });

  it('a refused TCP connection is the TLS socket\'s ECONNREFUSED', async () => {
    const s = tlsConnect(client.net, { host: '10.0.0.1', port: 4999, ca: cert.cert });
    const [err] = (await bounded(once(s, 'error'), 'the connect error')) as [Error & { code?: string }];
    expect(err.code).toBe('ECONNREFUSED');
  });

  describe('an https.Server listening through listenOn', () => {
    let httpsServer: https.Server;

    beforeAll(async () => {
      httpsServer = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        if (req.url === '/body') res.end(body);
        else res.end(`${req.socket.remoteAddress} ${(req.socket as tls.TLSSocket).alpnProtocol || 'none'}`);
      });
      listenOn(server.net, httpsServer, 443);
      await bounded(once(httpsServer, 'listening'), 'https listening');
    });

    afterAll(() => {
      httpsServer?.close();
      httpsServer?.closeAllConnections();
    });

    it('undici fetch over https: through undiciConnector', async () => {
      const dispatcher = new Agent({ connect: undiciConnector(client.net, { ca: cert.cert, servername: 'ustack.test' }) as never });
      try {
        const res = await bounded(fetch('https://10.0.0.1/body', { dispatcher }), 'fetch https://10.0.0.1/body');
        expect(res.status).toBe(200);
        expect(sha(new Uint8Array(await res.arrayBuffer()))).toBe(sha(body));
        const who = await bounded(fetch('https://10.0.0.1/who', { dispatcher }).then((r) => r.text()), 'fetch /who');
        // Listening without an address binds :: dual-stack (as node): an IPv4 peer is ::ffff:a.b.c.d.
        expect(who).toBe('::ffff:10.0.0.2 http/1.1');
      } finally {
        await dispatcher.close();
      }
    });

    it('https.get through UstackHttpsAgent, two requests on one kept-alive connection', async () => {
      const agent = new UstackHttpsAgent(client.net, { keepAlive: true, maxSockets: 1, ca: cert.cert, servername: 'ustack.test' });
      try {
        const ports: number[] = [];
        for (let i = 0; i < 2; i++) {
          const got = await bounded(
            new Promise<Buffer>((resolve, reject) => {
              https
                .get({ host: '10.0.0.1', path: '/body', agent }, (res) => {
                  ports.push(res.socket.localPort!);
                  resolve(readAll(res));
                })
                .on('error', reject);
            }),
            `https.get #${i + 1}`,
          );
          expect(sha(got)).toBe(sha(body));
        }
        expect(ports[0]).toBeGreaterThan(0);
        expect(ports[1]).toBe(ports[0]);
      } finally {
        agent.destroy();
      }
    });
  });

  describe("listenOn keeps node's Server semantics", () => {
    it("close() waits for the last connection; getConnections counts; 'close' once", async () => {
      const srv = http.createServer((_req, res) => res.end('ok'));
      listenOn(server.net, srv, 8001);
      await bounded(once(srv, 'listening'), 'listening');
      const sock = client.net.connect(8001, '10.0.0.1');
      await bounded(once(sock, 'connect'), 'connect');
      await bounded(once(srv, 'connection'), 'connection');
      const count = await new Promise<number>((r) => srv.getConnections((_e, n) => r(n)));
      expect(count).toBe(1);
      let closed = false;
      srv.close(() => (closed = true));
      expect(srv.listening).toBe(false);
      expect(srv.address()).toBeNull();
      await new Promise((r) => setTimeout(r, 50));
      expect(closed).toBe(false);
      sock.destroy();
      await bounded(once(srv, 'close'), "'close' after the last connection");
      expect(closed).toBe(true);
    });

    it("maxConnections drops the next connection with 'drop'", async () => {
      const srv = http.createServer();
      srv.maxConnections = 1;
      listenOn(server.net, srv, 8002);
      await bounded(once(srv, 'listening'), 'listening');
      const a = client.net.connect(8002, '10.0.0.1');
      await bounded(once(srv, 'connection'), 'first connection');
      const dropped = once(srv, 'drop');
      const b = client.net.connect(8002, '10.0.0.1');
      const [info] = (await bounded(dropped, "'drop'")) as [Record<string, unknown>];
      expect(info.remoteAddress).toBe('::ffff:10.0.0.2'); // a dual-stack :: listener's IPv4 peer, as node names it
      expect(info.localPort).toBe(8002);
      a.destroy();
      b.destroy();
      srv.close();
      await bounded(once(srv, 'close'), 'close');
    });

    it('a port in use is EADDRINUSE on the server; listening twice and IPC paths throw', async () => {
      const first = http.createServer();
      listenOn(server.net, first, 8003);
      await bounded(once(first, 'listening'), 'listening');
      expect(() => listenOn(server.net, first, 8004)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
      const second = http.createServer();
      listenOn(server.net, second, 8003);
      const [err] = (await bounded(once(second, 'error'), 'EADDRINUSE')) as [Error & { code?: string }];
      expect(err.code).toBe('EADDRINUSE');
      expect(second.listening).toBe(false);
      expect(() => listenOn(server.net, http.createServer(), '/tmp/some.sock')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
      first.close();
    });

    it('port 0 picks a port that address() reports; an aborted signal closes', async () => {
      const srv = http.createServer((_q, r) => r.end('zero'));
      const ac = new AbortController();
      listenOn(server.net, srv, { port: 0, signal: ac.signal });
      await bounded(once(srv, 'listening'), 'listening');
      const { port } = srv.address() as { port: number };
      expect(port).toBeGreaterThan(0);
      const res = await bounded(
        new Promise<string>((resolve, reject) => {
          http
            .get({ host: '10.0.0.1', port, createConnection: () => client.net.connect(port, '10.0.0.1') as never }, (r) => resolve(readAll(r).then(String)))
            .on('error', reject);
        }),
        'GET on port 0',
      );
      expect(res).toBe('zero');
      ac.abort();
      await bounded(once(srv, 'close'), 'close after abort');
      expect(srv.listening).toBe(false);
    });
  });
});

describe.skipIf(skipReason !== undefined)('ustack/tls on the default stack (loopback)', () => {
  it('createServer() listens on ustack and connect() reaches it; the kernel has no such port', async () => {
    const ustackTls = await import('../../src/entry/tls-entry.js');
    const cert = makeCertificate();
    try {
      const server = ustackTls.createServer({ key: cert.key, cert: cert.cert }, (s) => s.end(`hello ${s.remoteAddress}`));
      expect(server).toBeInstanceOf(tls.Server);
      server.listen(0, '127.0.0.1');
      await bounded(once(server, 'listening'), 'ustack/tls server listening');
      const { port } = server.address() as { port: number };
      const s = ustackTls.connect({ host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost' });
      expect(String(await bounded(readAll(s), 'the greeting'))).toBe('hello 127.0.0.1');
      // The same port on the kernel's loopback is not listening: the server is on ustack's.
      const kernel = tls.connect({ host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost' });
      const [err] = (await bounded(once(kernel, 'error'), 'the kernel client to be refused')) as [Error & { code?: string }];
      expect(err.code).toBe('ECONNREFUSED');
      server.close();
      await bounded(once(server, 'close'), 'close');
    } finally {
      cert.remove();
    }
  });
});
