/**
 * node's own tests, taken from Debian's source package of the nodejs
 * version closest to the node binary under test, cached outside the tree.
 *
 * Debian's archive (deb.debian.org) is the one source a fresh CI machine
 * can reach besides npm: each suite's `Sources` index (what `apt-get update`
 * reads for deb-src) names the nodejs source versions and the orig
 * tarball's SHA-256. The tarball is checked against that digest and only the
 * selected test files, test/common/ and the fixtures they read are
 * extracted. Nothing here is committed; the cache is keyed by node major:
 *
 *   $USTACK_NODE_TESTS_CACHE or ~/.cache/ustack/node-tests/
 *     v20/source.json           which Debian version, from which suite, which upstream dir
 *     v20/node-v20.19.2/test/   common/, fixtures/ (the few needed), parallel/<selected>
 *
 * A later run with the same major reuses the cache without the network.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export const DEBIAN_MIRROR = process.env.USTACK_DEBIAN_MIRROR ?? 'https://deb.debian.org/debian';

/**
 * Which Debian suites carry which node major (checked in this order; the
 * version closest to the runtime among them wins). A major not listed is
 * looked for in all of them.
 */
export const SUITES_BY_MAJOR: Record<number, string[]> = {
  20: ['trixie'],
  22: ['sid', 'forky'],
  24: ['sid', 'experimental'],
};
const ALL_SUITES = ['trixie', 'forky', 'sid', 'experimental'];

/** The test files taken from test/parallel, by name prefix (the selection). */
export const SELECTED_PREFIXES = ['test-net-', 'test-socket-', 'test-tcp-', 'test-dgram-'];

/** Besides test/common/: the fixtures the selected tests read (fixtures.path('empty.txt')). */
const FIXTURES = ['empty.txt'];

export interface NodeTests {
  /** Debian's version string, e.g. 20.19.2+dfsg-1+deb13u3. */
  debianVersion: string;
  /** The upstream node version the tests are from, e.g. 20.19.2. */
  upstreamVersion: string;
  suite: string;
  /** The extracted tree's test/ directory. */
  testDir: string;
}

interface SourceStanza {
  suite: string;
  version: string;
  upstream: string;
  directory: string;
  orig: { name: string; sha256: string; size: number };
}

export function cacheRoot(): string {
  const env = process.env.USTACK_NODE_TESTS_CACHE;
  if (env) return env;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), '.cache'), 'ustack', 'node-tests');
}

/** node's version of a binary, e.g. 'v20.20.2' (process.version when it is this process). */
export async function nodeVersionOf(nodeBinary: string): Promise<string> {
  if (nodeBinary === process.execPath) return process.version;
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn(nodeBinary, ['--version'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    c.stdout.on('data', (d: Buffer) => (s += String(d)));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(s.trim()) : reject(new Error(`${nodeBinary} --version exited ${code}`))));
  });
  return out;
}

function parseVersion(v: string): [number, number, number] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  if (!m) throw new Error(`not a node version: ${v}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Distance between two versions of one major: minor first, then patch. */
function distance(a: [number, number, number], b: [number, number, number]): number {
  return Math.abs(a[1] - b[1]) * 10_000 + Math.abs(a[2] - b[2]);
}

/** Parses the nodejs stanzas of a Sources index (RFC 822-style paragraphs). */
export function nodejsStanzas(text: string, suite: string): SourceStanza[] {
  const out: SourceStanza[] = [];
  for (const para of text.split(/\n\n+/)) {
    if (!/^Package: nodejs$/m.test(para)) continue;
    const version = /^Version: (.+)$/m.exec(para)?.[1];
    const directory = /^Directory: (.+)$/m.exec(para)?.[1];
    const sums = /^Checksums-Sha256:\n((?: .+\n?)+)/m.exec(para)?.[1];
    if (!version || !directory || !sums) continue;
    for (const line of sums.split('\n')) {
      const [sha256, size, name] = line.trim().split(/\s+/);
      if (name && /\.orig\.tar\.(xz|gz)$/.test(name)) {
        const upstream = /^(\d+\.\d+\.\d+)/.exec(version)?.[1];
        if (upstream) out.push({ suite, version, upstream, directory, orig: { name, sha256: sha256!, size: Number(size) } });
      }
    }
  }
  return out;
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url, { signal: AbortSignal.timeout(300_000) });
  if (!res.ok || res.body === null) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res;
}

/** The nodejs paragraphs of one suite's Sources index (streamed; only those paragraphs are kept). */
async function suiteStanzas(suite: string): Promise<SourceStanza[]> {
  const kept: string[] = [];
  let rest = '';
  const onText = (chunk: string): void => {
    const parts = (rest + chunk).split('\n\n');
    rest = parts.pop()!;
    for (const p of parts) if (p.startsWith('Package: nodejs\n')) kept.push(p);
  };
  const base = `${DEBIAN_MIRROR}/dists/${suite}/main/source/Sources`;
  const gz = await fetch(`${base}.gz`, { signal: AbortSignal.timeout(300_000) });
  if (gz.ok && gz.body !== null) {
    const gunzip = createGunzip();
    gunzip.setEncoding('utf8');
    gunzip.on('data', onText);
    await pipeline(Readable.fromWeb(gz.body as import('node:stream/web').ReadableStream), gunzip);
  } else {
    // Some suites (experimental) publish the index as .xz only.
    const xz = await fetchOk(`${base}.xz`);
    const unxz = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
    unxz.stdout.setEncoding('utf8');
    unxz.stdout.on('data', onText);
    const exited = new Promise<void>((resolve, reject) => {
      unxz.on('error', reject);
      unxz.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`xz -dc ${base}.xz exited ${code}`))));
    });
    await pipeline(Readable.fromWeb(xz.body as import('node:stream/web').ReadableStream), unxz.stdin);
    await exited;
  }
  if (rest.startsWith('Package: nodejs\n')) kept.push(rest);
  return nodejsStanzas(kept.join('\n\n'), suite);
}

async function download(url: string, file: string, sha256: string): Promise<void> {
  const res = await fetchOk(url);
  const hash = createHash('sha256');
  const sink = createWriteStream(file);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  body.on('data', (d: Buffer) => hash.update(d));
  await pipeline(body, sink);
  const got = hash.digest('hex');
  if (got !== sha256) throw new Error(`${url}: SHA-256 ${got}, Debian's index says ${sha256}`);
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += String(d)));
    c.stderr.on('data', (d: Buffer) => (err += String(d)));
    c.on('error', reject);
    c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/**
 * The tests for `nodeVersion`'s major: from the cache, else fetched from
 * Debian and cached. Throws (with the URL) when the archive cannot be reached.
 */
export async function obtainNodeTests(nodeVersion: string, log: (line: string) => void = () => {}): Promise<NodeTests> {
  const runtime = parseVersion(nodeVersion);
  const major = runtime[0];
  const base = join(cacheRoot(), `v${major}`);
  const manifest = join(base, 'source.json');
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as NodeTests;
    if (existsSync(join(m.testDir, 'common', 'index.js'))) return m;
  }

  // A recent failure to find them is remembered for a day: each try reads the suites' indexes (10-15 MB each).
  const unavailable = join(base, 'unavailable.json');
  if (existsSync(unavailable)) {
    const u = JSON.parse(readFileSync(unavailable, 'utf8')) as { at: number; reason: string };
    if (Date.now() - u.at < 24 * 3600_000) throw new Error(`${u.reason} (remembered from ${new Date(u.at).toISOString()}; delete ${unavailable} to retry)`);
  }
  try {
    return await fetchNodeTests(major, runtime, base, manifest, log);
  } catch (e) {
    const reason = String((e as Error).message ?? e);
    // Unreachable archives are not remembered, only answers saying the tests are not there.
    if (/no nodejs \d+\.x source/.test(reason)) {
      mkdirSync(base, { recursive: true });
      writeFileSync(unavailable, `${JSON.stringify({ at: Date.now(), reason })}\n`);
    }
    throw e;
  }
}

async function fetchNodeTests(
  major: number,
  runtime: [number, number, number],
  base: string,
  manifest: string,
  log: (line: string) => void,
): Promise<NodeTests> {
  const suites = SUITES_BY_MAJOR[major] ?? ALL_SUITES;
  const candidates: SourceStanza[] = [];
  for (const suite of suites) {
    log(`reading ${DEBIAN_MIRROR}/dists/${suite}/main/source/Sources.gz for nodejs`);
    for (const s of await suiteStanzas(suite)) if (parseVersion(s.upstream)[0] === major) candidates.push(s);
  }
  if (candidates.length === 0) throw new Error(`no nodejs ${major}.x source package in Debian suites ${suites.join(', ')}`);
  candidates.sort((a, b) => distance(parseVersion(a.upstream), runtime) - distance(parseVersion(b.upstream), runtime));

  mkdirSync(base, { recursive: true });
  const work = join(base, `.tmp-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    // The closest version whose tarball the mirror serves (an index can name one the pool has dropped).
    let pick: SourceStanza | undefined;
    let tarball = '';
    const failures: string[] = [];
    for (const c of candidates) {
      tarball = join(work, c.orig.name);
      const url = `${DEBIAN_MIRROR}/${c.directory}/${c.orig.name}`;
      log(`downloading ${url} (${(c.orig.size / 1e6).toFixed(1)} MB, nodejs ${c.version} from ${c.suite})`);
      try {
        await download(url, tarball, c.orig.sha256);
        pick = c;
        break;
      } catch (e) {
        failures.push(String((e as Error).message ?? e));
      }
    }
    if (pick === undefined) throw new Error(`no nodejs ${major}.x source tarball could be downloaded: ${failures.join('; ')}`);
    const top = (await run('tar', ['-tf', tarball])).split('\n', 1)[0]!.split('/')[0]!;
    const patterns = [
      ...SELECTED_PREFIXES.map((p) => `${top}/test/parallel/${p}*`),
      `${top}/test/common/*`,
      ...FIXTURES.map((f) => `${top}/test/fixtures/${f}`),
    ];
    await run('tar', ['-xf', tarball, '-C', work, '--wildcards', ...patterns]);
    rmSync(tarball);
    const dest = join(base, top);
    // Another run may have filled the cache meanwhile: keep whichever landed first.
    if (!existsSync(dest)) renameSync(join(work, top), dest);
    const result: NodeTests = { debianVersion: pick.version, upstreamVersion: pick.upstream, suite: pick.suite, testDir: join(dest, 'test') };
    writeFileSync(`${manifest}.${process.pid}`, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(`${manifest}.${process.pid}`, manifest);
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
