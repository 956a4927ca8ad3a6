/**
 * Subnets for interop tests: each TAP a test creates gets a 10.11.X.0/24 that
 * no interface on the machine uses and no other test process — of this run
 * or of a parallel run of the suite — holds, so two runs never route each
 * other's traffic. Kept free of vitest so a plain node process can claim too
 * (test/unit/subnet-claims.test.ts runs several at once).
 *
 * A claim is a file `subnet-X.<pid>-<start time>` in a directory every test
 * process on the machine shares. To claim X a process creates its own file
 * (the name is unique to it, so creating it never races), then lists X's
 * files: if another live process has one, it deletes its own and moves on.
 * Of two processes claiming X at once, the one that lists second sees the
 * other's file, so at most one keeps X (both may back off; both then try
 * other subnets). A file whose owner is gone (pid dead, or reused by a
 * process that started later) is stale: anyone may delete it. Claims last
 * until the process exits.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function claimDir(): string {
  for (const dir of ['/run/ustack-test-claims', join(tmpdir(), 'ustack-test-claims')]) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      // not writable here
    }
  }
  throw new Error('freeSubnet24: no writable directory for subnet claims');
}

/** The process's start time (clock ticks since boot, /proc/PID/stat field 22), or undefined if it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: string): boolean {
  const dash = owner.indexOf('-');
  const pid = Number(owner.slice(0, dash));
  return Number.isInteger(pid) && pid > 0 && startTime(pid) === owner.slice(dash + 1);
}

const myClaims: string[] = [];
let claimOwner: string | undefined;

process.on('exit', () => {
  for (const f of myClaims) {
    try {
      unlinkSync(f);
    } catch {
      // already gone
    }
  }
});

/** Claims 10.11.X.0/24 for this process; false if another live process holds it (or we already do). */
export function claimSubnet24(x: number, dir = claimDir()): boolean {
  claimOwner ??= `${process.pid}-${startTime(process.pid) ?? '0'}`;
  const mine = `subnet-${x}.${claimOwner}`;
  const path = join(dir, mine);
  try {
    writeFileSync(path, '', { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false; // ours already
    throw err;
  }
  for (const f of readdirSync(dir)) {
    if (f === mine || !f.startsWith(`subnet-${x}.`)) continue;
    if (ownerAlive(f.slice(`subnet-${x}.`.length))) {
      unlinkSync(path);
      return false;
    }
    try {
      unlinkSync(join(dir, f)); // stale: its owner is gone
    } catch {
      // another process removed it first
    }
  }
  myClaims.push(path);
  return true;
}

/** Third octets of the 10.11.X.Y addresses interfaces on this machine have now. */
function subnetsInUse(): Set<number> {
  const used = new Set<number>();
  const out = execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' });
  for (const link of JSON.parse(out) as Array<{ addr_info?: Array<{ local: string }> }>) {
    for (const a of link.addr_info ?? []) {
      const m = /^10\.11\.(\d+)\./.exec(a.local);
      if (m) used.add(Number(m[1]));
    }
  }
  return used;
}

/**
 * A /24 under 10.11.0.0/16 that no interface on this machine uses and no
 * other test process (of this run or a parallel one) has claimed; claimed
 * for this process until it exits, so the next call returns another one
 * even before the first is configured. Returns the third octet, 1..254
 * (10.11.0.0/24 is the examples' default and never returned).
 */
export function freeSubnet24(): number {
  const dir = claimDir();
  const used = subnetsInUse();
  const start = process.pid % 254;
  for (let i = 0; i < 254; i++) {
    const x = 1 + ((start + i) % 254);
    if (!used.has(x) && claimSubnet24(x, dir)) return x;
  }
  throw new Error(`freeSubnet24: every 10.11.X.0/24 is in use or claimed (claims in ${dir})`);
}
