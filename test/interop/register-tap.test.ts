/**
 * `node --import ustack/register` with unmodified programs
 * (test/fixtures/register/): an http.createServer server reached by curl over
 * a TAP device, and a script whose global fetch (http: and https:) and
 * node:dgram talk to servers on the kernel side. The proof that the traffic
 * went through ustack and not the kernel's sockets: tcpdump on the TAP sees
 * the frames; the kernel has no socket on the server's port (`ss`), and the
 * kernel-side servers see the script's requests come from the ustack
 * address, which the kernel does not own (its route leaves over the TAP).
 *
 * The TAP is made persistent by the test (so tcpdump can watch it before the
 * program opens it); the programs attach to it through USTACK_NIC and
 * USTACK_ADDRESS, the kernel side's address is the test's.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { makeCertificate, type TestCertificate } from '../helpers/certs.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { assertRouteOver, ensureTools, freeSubnet24, linkExists, run, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { disableIpv6 } from '../helpers/quiet-tap.js';
import { withTimeout } from '../helpers/wait.js';

const root = packageRoot();
const built = existsSync(join(root, 'dist', 'entry', 'register.js'));
const skipReason = tunUnavailableReason() ?? ensureTools(['curl', 'ip', 'ss', 'tcpdump', 'openssl']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[register-tap.test] skipping: ${skipReason}`);

const fixture = (name: string): string => join(root, 'test', 'fixtures', 'register', name);

/** tcpdump on the TAP, writing a pcap; stop() ends it and returns the frames as `tcpdump -nn -q` lines. */
async function startCapture(ifname: string, dir: string, name: string): Promise<{ stop(): Promise<string[]> }> {
  const file = join(dir, `${name}.pcap`);
  const child = startChild('tcpdump', ['-i', ifname, '-nn', '-U', '--immediate-mode', '-w', file, 'ip'], { what: `tcpdump on ${ifname}` });
  await waitForOutput(child, 'listening on');
  return {
    async stop() {
      await child.stop();
      const { stdout } = await runBounded('tcpdump', ['-r', file, '-nn', '-q'], { timeoutMs: 30_000 });
      return stdout.split('\n').filter(Boolean);
    },
  };
}

/** `ss` lines for TCP sockets of the kernel whose local port is `port` (any state). */
function kernelTcpSockets(port: number): string {
  return run('ss', ['-tanH', `sport = :${port}`]).trim();
}

/** Runs `node --import ustack/register FILE` on the TAP; the child is tracked (stopped when the test ends). */
function runRegistered(file: string, env: NodeJS.ProcessEnv, what: string): TrackedChild {
  return startChild(process.execPath, ['--import', 'ustack/register', file], {
    // The package's own directory, so that 'ustack/register' resolves to this checkout (self-reference).
    cwd: root,
    env: { ...process.env, ...env },
    what,
  });
}

describe.skipIf(skipReason !== undefined)(`node --import ustack/register (node ${process.version})`, () => {
  let ifname: string;
  let subnet: number;
  let host: string;
  let dir: string;

  beforeAll(() => {
    subnet = freeSubnet24();
    host = `10.11.${subnet}.1`;
    ifname = uniqueIfName('ureg');
    dir = mkdtempSync(join(tmpdir(), 'ustack-register-'));
    run('ip', ['tuntap', 'add', 'dev', ifname, 'mode', 'tap', 'vnet_hdr']);
    disableIpv6(ifname);
    run('ip', ['addr', 'add', `${host}/24`, 'dev', ifname]);
    run('ip', ['link', 'set', 'dev', ifname, 'up']);
  });

  afterAll(() => {
    if (ifname !== undefined && linkExists(ifname)) run('ip', ['link', 'del', 'dev', ifname]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('an unmodified http.createServer program is served over the TAP by ustack: curl reaches it, ss shows no kernel socket, tcpdump shows its frames', async () => {
    const ours = `10.11.${subnet}.2`;
    // A port the kernel has no socket on now, so what ss shows later is the program's doing.
    let port = 0;
    for (let tries = 0; port === 0 || kernelTcpSockets(port) !== ''; tries++) {
      if (tries > 100) throw new Error('no TCP port free of kernel sockets in 100 tries');
      port = 20000 + Math.floor(Math.random() * 10000);
    }
    const capture = await startCapture(ifname, dir, 'server');
    const server = runRegistered(fixture('server.cjs'), { USTACK_NIC: `tap:${ifname}`, USTACK_ADDRESS: `${ours}/24`, PORT: String(port) }, 'server.cjs under ustack/register');
    await waitForOutput(server, 'listening on');
    // listen(port) binds :: as node does on a host with IPv6 (the stack's lo has ::1): dual-stack,
    // so the kernel's IPv4 client below is named ::ffff:a.b.c.d on the server's side, as under node.
    expect(server.stdout()).toContain(`listening on {"address":"::","family":"IPv6","port":${port}}`);
    assertRouteOver(ours, ifname);

    const { stdout: hello } = await runBounded('curl', ['-sS', '--max-time', '20', `http://${ours}:${port}/hello`], { timeoutMs: 30_000, what: `curl to ${ours}:${port}` });
    expect(hello).toBe(`hello /hello from ::ffff:${ours}:${port} to ::ffff:${host}\n`);
    const { stdout: big } = await runBounded('bash', ['-c', `curl -sS --max-time 60 http://${ours}:${port}/big | sha256sum`], { timeoutMs: 70_000, what: 'curl /big' });
    expect(big.split(' ')[0]).toBe(createHash('sha256').update(Buffer.alloc(8 * 1024 * 1024, 'u')).digest('hex'));

    // The kernel has no socket of its own on the program's port — no listener, no connection...
    expect(kernelTcpSockets(port)).toBe('');
    // ...though ss does show one when the kernel has it (the check can fail).
    const control = net.createServer().listen(0, '127.0.0.1');
    await once(control, 'listening');
    try {
      expect(kernelTcpSockets((control.address() as AddressInfo).port)).toMatch(/LISTEN/);
    } finally {
      control.close();
    }

    server.kill('SIGTERM');
    const exit = await withTimeout(server.done, { timeoutMs: 10_000, what: 'server.cjs to exit on SIGTERM', detail: () => server.describe() });
    expect(exit.code).toBe(0);
    const frames = await capture.stop();
    const fromProgram = frames.filter((l) => l.includes(` ${ours}.${port} > ${host}.`));
    const toProgram = frames.filter((l) => l.includes(` > ${ours}.${port}:`));
    console.log(`[register-tap.test] tcpdump on ${ifname}: ${toProgram.length} frames to ${ours}:${port}, ${fromProgram.length} from it`);
    expect(toProgram.length).toBeGreaterThan(0);
    // 8 MiB and more left through the TAP: at least 128 frames of 64 KiB (GSO) or many more of 1500 B.
    expect(fromProgram.length).toBeGreaterThanOrEqual(128);
  });

  describe('an unmodified script using fetch and dgram', () => {
    let cert: TestCertificate;
    let httpServer: http.Server;
    let httpsServer: https.Server;
    let udp: dgram.Socket;
    const seen: Record<string, string[]> = { http: [], https: [], udp: [] };

    beforeAll(async () => {
      cert = makeCertificate({ dns: ['ustack.test'], ips: [host] });
      httpServer = http.createServer((req, res) => {
        seen.http!.push(String(req.socket.remoteAddress));
        res.end(`plain hello to ${req.socket.remoteAddress}`);
      });
      httpsServer = https.createServer({ key: cert.key, cert: cert.cert }, (req, res) => {
        seen.https!.push(String(req.socket.remoteAddress));
        res.end(`secure hello to ${req.socket.remoteAddress}`);
      });
      udp = dgram.createSocket('udp4');
      udp.on('message', (msg, rinfo) => {
        seen.udp!.push(rinfo.address);
        udp.send(`echo: ${String(msg)}`, rinfo.port, rinfo.address);
      });
      // The kernel side's servers, on the kernel side's address of the test's TAP.
      httpServer.listen(0, host);
      httpsServer.listen(0, host);
      udp.bind(0, host);
      await withTimeout(Promise.all([once(httpServer, 'listening'), once(httpsServer, 'listening'), once(udp, 'listening')]), {
        timeoutMs: 10_000,
        what: `the kernel-side servers on ${host}`,
      });
    });

    afterAll(() => {
      httpServer?.close();
      httpsServer?.close();
      udp?.close();
      cert?.remove();
    });

    it('its fetch (http: and https:) and its UDP datagram leave through ustack over the TAP', async () => {
      const ours = `10.11.${subnet}.3`;
      const capture = await startCapture(ifname, dir, 'client');
      const httpPort = (httpServer.address() as AddressInfo).port;
      const httpsPort = (httpsServer.address() as AddressInfo).port;
      const udpPort = udp.address().port;
      const client = runRegistered(
        fixture('client.mjs'),
        {
          USTACK_NIC: `tap:${ifname}`,
          USTACK_ADDRESS: `${ours}/24`,
          HTTP_URL: `http://${host}:${httpPort}/`,
          HTTPS_URL: `https://${host}:${httpsPort}/`,
          UDP_HOST: host,
          UDP_PORT: String(udpPort),
          NODE_EXTRA_CA_CERTS: cert.certFile,
        },
        'client.mjs under ustack/register',
      );
      const exit = await withTimeout(client.done, { timeoutMs: 60_000, what: 'client.mjs to finish', detail: () => client.describe() });
      expect(exit.code, client.describe()).toBe(0);
      const result = JSON.parse(exit.stdout.trim().split('\n').pop()!) as {
        http: { status: number; body: string };
        https: { status: number; body: string };
        udp: { reply: string; from: string; localPort: number };
      };
      expect(result.http).toEqual({ status: 200, body: `plain hello to ${ours}` });
      expect(result.https).toEqual({ status: 200, body: `secure hello to ${ours}` });
      expect(result.udp.reply).toBe('echo: ping over udp');
      expect(result.udp.from).toBe(`${host}:${udpPort}`);
      // The kernel saw every request come from the ustack address, which is not
      // one of its own: the route to it leaves over the TAP.
      expect(seen).toEqual({ http: [ours], https: [ours], udp: [ours] });
      assertRouteOver(ours, ifname);

      const frames = await capture.stop();
      // tcpdump -q lines: '... IP 10.11.5.3.43210 > 10.11.5.1.8080: tcp 0'
      const fromOursTo = (port: number): number => frames.filter((l) => l.includes(` > ${host}.${port}: `) && l.includes(` IP ${ours}.`)).length;
      const perFlow = { http: fromOursTo(httpPort), https: fromOursTo(httpsPort), udp: fromOursTo(udpPort) };
      console.log(`[register-tap.test] tcpdump on ${ifname}: frames to http ${perFlow.http}, https ${perFlow.https}, udp ${perFlow.udp}`);
      expect(perFlow.http).toBeGreaterThan(0);
      expect(perFlow.https).toBeGreaterThan(0);
      expect(perFlow.udp).toBe(1);
    });
  });
});
