/**
 * The drop-in promise, literally: a program written for node:net runs once
 * as written and once with `from 'node:net'` changed to `from 'ustack/net'`
 * (the package's own export, on the default loopback-only stack), and both
 * runs must print the same observations. The program also exits by itself in
 * both cases, so ustack lets the process end when nothing is referenced.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';

const run = promisify(execFile);
const root = packageRoot();
const built = existsSync(join(root, 'dist', 'entry', 'net-entry.js'));
if (!built) console.log('[net-dropin.test] skipping: dist/ not built (npm run build)');

describe.skipIf(!built)("import net from 'ustack/net' instead of 'node:net'", () => {
  it('the same program observes the same things', async () => {
    const source = readFileSync(join(root, 'test', 'fixtures', 'net-program.mjs'), 'utf8');
    const swapped = source.replace("import net from 'node:net';", "import net from 'ustack/net';");
    expect(swapped).not.toBe(source);
    // Inside the package so that 'ustack/net' resolves to this package's export.
    const dir = join(root, 'test', 'fixtures', 'generated');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'net-program-ustack.mjs');
    writeFileSync(file, swapped);
    const env = { ...process.env };
    delete env.USTACK_NIC;
    const node = await run(process.execPath, [join(root, 'test', 'fixtures', 'net-program.mjs')], { timeout: 60_000, env });
    const ustack = await run(process.execPath, [file], { timeout: 60_000, env });
    const a = JSON.parse(node.stdout) as string[];
    const b = JSON.parse(ustack.stdout) as string[];
    expect(a.length).toBeGreaterThan(5);
    expect(b).toEqual(a);
  });
});
