/**
 * test/helpers/subnet-claims.ts between processes: several processes claiming
 * the same subnets at the same moment never both win one; a claim whose
 * process died is taken over; a live one is not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { claimSubnet24 } from '../helpers/subnet-claims.js';
import { withTimeout } from '../helpers/wait.js';

const claimsModule = join(packageRoot(), 'test/helpers/subnet-claims.ts');
const CANDIDATES = Array.from({ length: 40 }, (_, i) => 200 + i);
// A claim directory of this test's own: the machine's shared one is used by
// every TAP test running beside this file (and by parallel runs), any of
// which may hold one of these subnets for real.
const DIR = mkdtempSync(join(tmpdir(), 'ustack-claims-test-'));

/** A node process that, on 'go', claims each of `xs` and prints the ones it won, then holds them until stdin ends. */
function claimer(name: string, xs: number[]): TrackedChild {
  const script = `
    import { claimSubnet24 } from ${JSON.stringify(claimsModule)};
    console.log('ready');
    process.stdin.setEncoding('utf8');
    let buf = '';
    process.stdin.on('data', (d) => {
      buf += d;
      if (!buf.includes('go\\n') || buf.includes('done')) return;
      buf += 'done';
      const won = ${JSON.stringify(xs)}.filter((x) => claimSubnet24(x, ${JSON.stringify(DIR)}));
      console.log('won ' + JSON.stringify(won));
    });
    process.stdin.on('end', () => process.exit(0));
  `;
  return startChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    what: `subnet claimer ${name}`,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

function wonBy(child: TrackedChild): number[] {
  const line = child.stdout().split('\n').find((l) => l.startsWith('won '));
  if (line === undefined) throw new Error(`no result from ${child.describe()}`);
  return JSON.parse(line.slice(4)) as number[];
}

describe('subnet claims across processes', () => {
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it('processes claiming the same subnets at once never both win one', async () => {
    const children = ['a', 'b', 'c', 'd'].map((n) => claimer(n, CANDIDATES));
    for (const c of children) await waitForOutput(c, 'ready');
    for (const c of children) c.process.stdin!.write('go\n');
    for (const c of children) await waitForOutput(c, 'won ');
    const won = children.map(wonBy);
    const all = won.flat();
    console.log(`[subnet-claims] wins per process: ${won.map((w) => w.length).join(', ')} of ${CANDIDATES.length}`);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBeGreaterThan(0);
    // While they hold them, this process cannot claim any of their subnets.
    for (const x of all) expect(claimSubnet24(x, DIR)).toBe(false);
    for (const c of children) c.process.stdin!.end();
    for (const c of children) {
      const res = await withTimeout(c.done, { timeoutMs: 10_000, what: `${c.what} to exit`, detail: () => c.describe() });
      expect(res.code).toBe(0);
    }
    // Released at exit: claimable again.
    for (const x of all) expect(claimSubnet24(x, DIR)).toBe(true);
  });

  it("a dead process's claim is taken over", async () => {
    const x = 240;
    const holder = claimer('holder', [x]);
    await waitForOutput(holder, 'ready');
    holder.process.stdin!.write('go\n');
    await waitForOutput(holder, 'won ');
    expect(wonBy(holder)).toEqual([x]);
    expect(claimSubnet24(x, DIR)).toBe(false);
    // SIGKILL: no exit handler runs, the claim file stays behind, stale.
    holder.kill('SIGKILL');
    await withTimeout(holder.done, { timeoutMs: 10_000, what: 'the killed claimer to be gone' });
    expect(claimSubnet24(x, DIR)).toBe(true);
  });
});
