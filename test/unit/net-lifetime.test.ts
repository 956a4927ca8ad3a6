/**
 * The event loop, as with node's own net: a listening server or an open
 * socket keeps the process alive; unref() (or closing) lets it exit. Each
 * case runs in a child process with `ustack/net` on the default
 * (loopback-only) stack; an unref'd timer reports if the process was still
 * alive at that point. Where the process is expected to stay alive the timer
 * is short (it fires whatever the load); where it is expected to exit, the
 * timer only bounds the wait (15 s): the process must get to the point where
 * nothing holds the loop — connect, pause, read EOF — and a loaded machine
 * can take longer than any short watchdog for that (a run beside two busy
 * loops took over 500 ms).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';

const run = promisify(execFile);
const root = packageRoot();
const built = existsSync(join(root, 'dist', 'entry', 'net-entry.js'));
if (!built) console.log('[net-lifetime.test] skipping: dist/ not built (npm run build)');

/** The expected outcome decides the watchdog: see the header. */
const ALIVE_MS = 500;
const EXIT_BOUND_MS = 15_000;

async function outcome(body: string, watchdogMs = ALIVE_MS): Promise<string> {
  const dir = join(root, 'test', 'fixtures', 'generated');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `lifetime-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    `import net from 'ustack/net';\n` +
      `setTimeout(() => { console.log('still alive'); process.exit(0); }, ${watchdogMs}).unref();\n` +
      `${body}\n`,
  );
  const env = { ...process.env };
  delete env.USTACK_NIC;
  const { stdout } = await run(process.execPath, [file], { timeout: 30_000, env });
  return stdout.trim() || 'exited';
}

describe.skipIf(!built)('process lifetime with ustack/net', () => {
  it('a listening server keeps the process alive', async () => {
    expect(await outcome(`net.createServer().listen(7000, '127.0.0.1');`)).toBe('still alive');
  });

  it('an unref()d server does not', async () => {
    expect(await outcome(`net.createServer().listen(7000, '127.0.0.1').unref();`, EXIT_BOUND_MS)).toBe('exited');
  });

  it('a closed server does not', async () => {
    expect(await outcome(`const s = net.createServer().listen(7000, '127.0.0.1', () => s.close());`, EXIT_BOUND_MS)).toBe('exited');
  });

  it('an open client socket keeps it alive, and unref() releases it', async () => {
    // As with node:net, the accepted server-side socket holds the loop too, so it is unref()d here.
    const setup = `const srv = net.createServer((c) => { c.resume(); c.unref(); }).listen(7000, '127.0.0.1', () => { srv.unref(); const c = net.connect(7000, '127.0.0.1'); UNREF });`;
    expect(await outcome(setup.replace('UNREF', ''))).toBe('still alive');
    expect(await outcome(setup.replace('UNREF', `c.on('connect', () => c.unref());`), EXIT_BOUND_MS)).toBe('exited');
  });

  // As libuv counts a TCP handle active only while it connects, reads or writes.
  it('a connected socket that is paused, or past EOF with nothing to write, does not', async () => {
    const paused = `const srv = net.createServer((c) => c.unref()).listen(7000, '127.0.0.1', () => { srv.unref(); net.connect(7000, '127.0.0.1').pause(); });`;
    expect(await outcome(paused, EXIT_BOUND_MS)).toBe('exited');
    const ended = `const srv = net.createServer((c) => c.end().unref()).listen(7000, '127.0.0.1', () => { srv.unref(); net.connect({ port: 7000, host: '127.0.0.1', allowHalfOpen: true }).resume(); });`;
    expect(await outcome(ended, EXIT_BOUND_MS)).toBe('exited');
  });

  it('a socket waiting for a lookup that never answers does not', async () => {
    expect(await outcome(`net.connect({ host: 'example.invalid', port: 1, lookup: () => {} });`, EXIT_BOUND_MS)).toBe('exited');
  });
});
