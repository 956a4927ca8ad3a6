/**
 * The package a user installs: `npm pack` of this repository (its prepack
 * and prepare scripts compile a fresh dist/), installed with `npm install`
 * into a new project in a temporary directory, which builds the addon there.
 * Then, in that project: an ESM and a CommonJS consumer echo bytes over
 * Stack.pair and the loopback `ustack/net`, `npx ustack --version` runs the
 * bin, and `tsc --strict` compiles a TypeScript consumer against the
 * package's declarations. Last, the addon taken away (and its build made to
 * fail): the install still succeeds with one message, loopback still runs,
 * TAP fails with ERR_USTACK_ADDON_NOT_BUILT.
 *
 * The consumers also run on every node binary in USTACK_TEST_NODES
 * (colon-separated paths; scripts/test.sh sets it to node 22 and 24).
 * npm installs from its cache where it can; the registry is used for what
 * the cache lacks (node-addon-api, @types/node).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, type ChildResult } from '../helpers/children.js';
import { withTimeout } from '../helpers/wait.js';

const root = packageRoot();
const fixtures = join(root, 'test', 'package', 'consumer');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
const typesNodeVersion = lock.packages['node_modules/@types/node']!.version;
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

const nodes = [process.execPath, ...(process.env.USTACK_TEST_NODES ?? '').split(':').filter((p) => p !== '' && p !== process.execPath)];

/** Runs a command to its end (bounded), returning its exit code and output. */
async function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ChildResult> {
  const what = `${cmd.split('/').pop()} ${args.join(' ')}`.slice(0, 160);
  const child = startChild(cmd, args, { what, cwd: opts.cwd, env: { ...process.env, ...opts.env } });
  return withTimeout(child.done, { timeoutMs: opts.timeoutMs ?? 60_000, what: `${what} to finish`, detail: () => child.describe() });
}

function ok(r: ChildResult, what: string): ChildResult {
  if (r.code !== 0) throw new Error(`${what} failed (code ${String(r.code)}, signal ${String(r.signal)}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r;
}

/** The last line of stdout, parsed. */
function lastJson(r: ChildResult): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

const timings: string[] = [];
async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    timings.push(`${label} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
}

describe('the npm package', () => {
  let work: string;
  let consumer: string;
  let tarball: string;
  let packed: { files: { path: string }[]; size: number; unpackedSize: number; entryCount: number };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ustack-pack-'));
    consumer = join(work, 'consumer');
    // npm pack's prepack removes dist/ and its prepare compiles it again: that
    // happens in a copy of the checkout (the files git tracks or would track,
    // node_modules linked), so the working tree's dist/ — which the VM test,
    // running beside the suites, reads from the guest — is never gone.
    const checkout = join(work, 'checkout');
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' }).split('\0').filter((f) => f !== '');
    for (const f of files) {
      if (!existsSync(join(root, f))) continue; // deleted in the working tree, not yet in git
      mkdirSync(dirname(join(checkout, f)), { recursive: true });
      cpSync(join(root, f), join(checkout, f));
    }
    symlinkSync(join(root, 'node_modules'), join(checkout, 'node_modules'));
    const packOut = await timed('npm pack of a copy of the checkout (prepack + prepare: tsc)', () =>
      run('npm', ['pack', '--json', '--pack-destination', work], { cwd: checkout, timeoutMs: 240_000 }),
    );
    ok(packOut, 'npm pack');
    packed = (JSON.parse(packOut.stdout) as (typeof packed & { filename: string })[])[0]!;
    tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz'))!);
    console.log(`[pack] ${packed.entryCount} files, ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked`);

    // A new project, as `npm init` leaves it, then the tarball installed into it.
    await timed('consumer: npm install (builds the addon)', async () => {
      rmSync(consumer, { recursive: true, force: true });
      await run('mkdir', ['-p', consumer], { cwd: work });
      writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }, null, 2)}\n`);
      for (const f of readdirSync(fixtures)) copyFileSync(join(fixtures, f), join(consumer, f));
      ok(
        await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `@types/node@${typesNodeVersion}`], {
          cwd: consumer,
          env: { USTACK_ADDON_REQUIRED: '1' },
          timeoutMs: 600_000,
        }),
        'npm install of the tarball',
      );
    });
  }, 900_000);

  afterAll(() => {
    console.log(`[pack] timings: ${timings.join(', ')}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('holds the compiled JavaScript and declarations, the addon sources and binding.gyp, bin, README and LICENSE; no tests, benchmarks or source maps', () => {
    const paths = packed.files.map((f) => f.path);
    for (const want of [
      'package.json', 'README.md', 'LICENSE', 'binding.gyp', 'bin/ustack.js', 'scripts/install-addon.mjs',
      'dist/index.js', 'dist/index.d.ts', 'dist/entry/net-entry.js', 'dist/entry/net-entry.d.ts', 'dist/entry/dgram-entry.js',
      'dist/cli/main.js', 'addon/module.cc', 'addon/napi/tap_device.cc',
    ]) {
      expect(paths, want).toContain(want);
    }
    // Every addon source binding.gyp compiles is there.
    const gyp = readFileSync(join(root, 'binding.gyp'), 'utf8');
    for (const src of gyp.match(/addon\/[\w/]+\.cc/g) ?? []) expect(paths, src).toContain(src);
    const unwanted = paths.filter((p) => /^(test|bench|examples|src|scripts\/(?!install-addon\.mjs)|build|node_modules)\//.test(p) || /_test\.cc$|\.map$|\.test\.|tsconfig/.test(p));
    expect(unwanted).toEqual([]);
  });

  it("every `exports` entry's files are in the package", () => {
    const paths = new Set(packed.files.map((f) => f.path));
    const exportsField = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> }).exports;
    const targets = Object.values(exportsField).flatMap((conditions) => Object.values(conditions));
    expect(targets.length).toBeGreaterThan(0);
    for (const target of targets) expect(paths, target).toContain(target.replace(/^\.\//, ''));
  });

  it('built the addon in the consumer project', () => {
    expect(existsSync(join(consumer, 'node_modules', 'ustack', 'build', 'Release', 'ustack.node'))).toBe(true);
  });

  it('an ESM consumer echoes bytes over Stack.pair, ustack/net and ustack/dgram, on every node', async () => {
    for (const node of nodes) {
      const r = ok(await run(node, ['esm.mjs'], { cwd: consumer }), `esm.mjs on ${node}`);
      const out = lastJson(r);
      console.log(`[pack] esm.mjs on node ${String(out.node)}: ${JSON.stringify(out)}`);
      expect(out).toMatchObject({
        pair: { sent: 262144, back: 262144, same: true, server: '10.0.0.2' },
        loopback: { back: 262144, same: true },
        udp: 'hello ustack',
      });
      expect(r.stderr).toBe('');
    }
  });

  it('a CommonJS consumer require()s ustack and ustack/net, on every node', async () => {
    for (const node of nodes) {
      const r = ok(await run(node, ['cjs.cjs'], { cwd: consumer }), `cjs.cjs on ${node}`);
      const out = lastJson(r);
      console.log(`[pack] cjs.cjs on node ${String(out.node)}: ${JSON.stringify(out)}`);
      expect(out).toMatchObject({ netIsFunctionBag: true, pair: { back: 65536, same: true }, loopback: { back: 65536, same: true } });
      expect(r.stderr).toBe('');
    }
  });

  it('npx ustack --version runs the installed bin', async () => {
    const r = ok(await run('npx', ['--no-install', 'ustack', '--version'], { cwd: consumer }), 'npx ustack --version');
    expect(r.stdout).toBe(`${pkg.version}\n`);
    const bogus = await run('npx', ['--no-install', 'ustack', 'echo', '--bogus', '3'], { cwd: consumer });
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("ustack echo: Unknown option '--bogus'");
  });

  it('a TypeScript consumer compiles with --strict against the package types', async () => {
    const r = await timed('tsc --strict consumer.ts', () => run(process.execPath, [tsc, '-p', 'tsconfig.json', '--strict', '--noEmit'], { cwd: consumer }));
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.code).toBe(0);
  });

  it('without the addon: the install says what is missing and succeeds, loopback runs, TAP fails with ERR_USTACK_ADDON_NOT_BUILT', async () => {
    const installed = join(consumer, 'node_modules', 'ustack');
    // The install script with a compiler that always fails (as on a machine without one).
    const failing = await timed('install script with a failing compiler', () =>
      run(process.execPath, ['scripts/install-addon.mjs'], { cwd: installed, env: { CXX: 'false', CC: 'false', USTACK_ADDON_REQUIRED: '' }, timeoutMs: 120_000 }),
    );
    expect(failing.code).toBe(0);
    expect(failing.stderr).toContain('ustack: the native addon was not built: node-gyp rebuild failed');
    expect(failing.stderr).toContain('loopback, Stack.pair and MemoryNic work without it');
    expect(failing.stderr).toContain('npm rebuild ustack');
    expect(existsSync(join(installed, 'build', 'Release', 'ustack.node'))).toBe(false);
    const required = await run(process.execPath, ['scripts/install-addon.mjs'], {
      cwd: installed,
      env: { CXX: 'false', CC: 'false', USTACK_ADDON_REQUIRED: '1' },
      timeoutMs: 120_000,
    });
    expect(required.code).toBe(1);

    const esm = lastJson(ok(await run(process.execPath, ['esm.mjs'], { cwd: consumer }), 'esm.mjs without the addon'));
    expect(esm).toMatchObject({ pair: { same: true }, loopback: { same: true }, udp: 'hello ustack' });
    const tap = lastJson(ok(await run(process.execPath, ['tap-without-addon.mjs'], { cwd: consumer }), 'tap-without-addon.mjs'));
    expect(tap.opened).toBe(false);
    expect(tap.code).toBe('ERR_USTACK_ADDON_NOT_BUILT');
    expect(tap.message).toMatch(/native addon is not built .*TAP, e1000, virtio-net and AF_XDP NICs and worker shards need it.*npm rebuild ustack/);
  });
});
