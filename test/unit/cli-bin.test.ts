/**
 * bin/ustack.js as a user runs it (the compiled dist/, built by `npm run
 * build` / `npm ci` before the tests): an unknown option exits non-zero with
 * the usage, before any NIC is opened; --version prints the package version.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild } from '../helpers/children.js';
import { withTimeout } from '../helpers/wait.js';

const root = packageRoot();
const bin = join(root, 'bin', 'ustack.js');

async function runBin(...argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  if (!existsSync(join(root, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is not built: run `npm run build` (npm test does)');
  const child = startChild(process.execPath, [bin, ...argv], { what: `ustack ${argv.join(' ')}` });
  return withTimeout(child.done, { timeoutMs: 20_000, what: `ustack ${argv.join(' ')} to exit`, detail: () => child.describe() });
}

describe('bin/ustack.js', () => {
  it('ustack echo --bogus 3 exits 2 with the echo usage and opens nothing', async () => {
    const r = await runBin('echo', '--nic', 'tap:ustbogus0', '--address', '10.99.0.2/24', '--bogus', '3');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ustack echo: Unknown option '--bogus'\nusage: ustack echo --nic/);
  });

  it('ustack --version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const r = await runBin('--version');
    expect(r).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});
