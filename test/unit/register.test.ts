/**
 * `node --import ustack/register` on the default (loopback-only) stack, seen
 * from inside unmodified programs (test/fixtures/register/probe.cjs and
 * probe.mjs): require() and import of node:net give one object whose Socket
 * is ustack's; node's http.Server listens on ustack (a client on the kernel's
 * loopback finds nobody on that port, one in the program gets the answer);
 * IPC paths stay on the kernel; dgram and tls, named imports included, are
 * ustack's; node's https.Server and tls.connect meet on ustack. The same
 * probes without ustack/register show the kernel's behaviour, so each
 * observation can fail. The TAP test (test/interop/register-tap.test.ts)
 * shows the frames.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { makeCertificate, type TestCertificate } from '../helpers/certs.js';
import { ensureTools } from '../helpers/netns.js';

const run = promisify(execFile);
const root = packageRoot();
const built = existsSync(join(root, 'dist', 'entry', 'register.js'));
const skipReason = built ? ensureTools(['openssl']) : 'dist/ not built (npm run build)';
if (skipReason !== undefined) console.log(`[register.test] skipping: ${skipReason}`);

const probe = (name: string): string => join(root, 'test', 'fixtures', 'register', name);

describe.skipIf(skipReason !== undefined)(`node --import ustack/register, loopback only (node ${process.version})`, () => {
  let cert: TestCertificate;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    cert = makeCertificate();
    env = { ...process.env, PROBE_CERT: JSON.stringify({ key: cert.key.toString(), cert: cert.cert.toString() }) };
    delete env.USTACK_NIC;
  });

  afterAll(() => cert?.remove());

  async function observe(file: string, register: boolean): Promise<Record<string, unknown>> {
    const args = register ? ['--import', 'ustack/register', file] : [file];
    // cwd: the package, so that 'ustack/register' resolves to this checkout.
    const { stdout } = await run(process.execPath, args, { cwd: root, env, timeout: 60_000 });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  }

  it('a CommonJS program: require(net) is ustack, http.Server listens on ustack, IPC paths stay on the kernel, dgram is ustack', async () => {
    const seen = await observe(probe('probe.cjs'), true);
    expect(seen).toEqual({
      sameObject: true,
      socketIsUstack: true,
      serverIsNodes: true,
      httpOnUstack: 'ustack 127.0.0.1',
      kernelSees: 'ECONNREFUSED',
      ipc: 'over a unix socket',
      udp6: 'created',
      udp: 'datagram',
    });
    // Without ustack/register the same program is on the kernel's sockets throughout.
    const plain = await observe(probe('probe.cjs'), false);
    expect(plain).toMatchObject({ socketIsUstack: false, kernelSees: '200', udp6: 'created', ipc: 'over a unix socket', udp: 'datagram' });
  });

  it('an ES module: import of node:net, node:dgram and node:tls (named exports too) is ustack; https.Server and tls.connect, and http2 over TLS, meet on it', async () => {
    const seen = await observe(probe('probe.mjs'), true);
    expect(seen).toEqual({
      sameAsRequire: true,
      socketIsUstack: true,
      dgramNamedIsPatched: true,
      tlsNamedIsPatched: true,
      udp6: 'created',
      tls: 'tls 127.0.0.1 TLSv1.3',
      tlsLocalAddress: '127.0.0.1',
      // The https and http2 servers' ports on the kernel's loopback: nobody there.
      tlsKernelSees: 'ECONNREFUSED',
      h2: 'h2 127.0.0.1',
      h2KernelSees: 'ECONNREFUSED',
    });
    // Without ustack/register the same exchanges run on the kernel's sockets, whose listeners answer.
    const plain = await observe(probe('probe.mjs'), false);
    expect(plain).toMatchObject({ socketIsUstack: false, udp6: 'created', tls: 'tls 127.0.0.1 TLSv1.3', tlsKernelSees: 'connected', h2: 'h2 127.0.0.1', h2KernelSees: 'connected' });
  });
});
