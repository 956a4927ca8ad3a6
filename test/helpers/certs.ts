/**
 * A self-signed certificate made at test time with the openssl command line
 * (node's own test keys are not in the tree): a P-256 key and an X.509
 * certificate for the given DNS names and IP addresses, in a temporary
 * directory that remove() deletes.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './netns.js';

export interface TestCertificate {
  dir: string;
  keyFile: string;
  certFile: string;
  key: Buffer;
  cert: Buffer;
  remove(): void;
}

export function makeCertificate(opts: { dns?: string[]; ips?: string[]; cn?: string } = {}): TestCertificate {
  const dir = mkdtempSync(join(tmpdir(), 'ustack-cert-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const dns = opts.dns ?? ['localhost'];
  const ips = opts.ips ?? ['127.0.0.1'];
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  try {
    run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '2',
      '-subj', `/CN=${opts.cn ?? dns[0] ?? 'ustack-test'}`,
      '-addext', `subjectAltName=${san}`,
    ]);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    keyFile,
    certFile,
    key: readFileSync(keyFile),
    cert: readFileSync(certFile),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
