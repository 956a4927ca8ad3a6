/**
 * No frame is copied between the owner of a shared NIC and its workers:
 * slot indices cross the rings, bytes do not.
 *
 * The owner runs in this process (ShardOwner over a TAP); one worker runs
 * test/fixtures/shard-worker.mjs. The kernel sends UDP datagrams to the
 * worker; for each one:
 *  - the worker's stack hands the application a view of the shared pool
 *    itself (the same Uint8Array), at an owner slot — the slot the TAP
 *    read the frame into, as the owner's steering trace names it for that
 *    worker — never a slot of the worker's own partition, where a copy
 *    would have to go;
 *  - the owner copied no byte while steering them (wire/bytes' BYTES_COPIED,
 *    which counts every copy the stack's code makes, stays where it was in
 *    the owner process).
 * And the memory is one: bytes the owner writes at a slot offset are read
 * by the worker at that offset of its own mapping and the other way round,
 * and both processes map the same memfd (/proc/<pid>/maps: one inode).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { ShardOwner, type ShardWorker } from '../../src/shard/owner.js';
import { bytesCopied } from '../../src/wire/bytes.js';
import { assertRouteOver, freeSubnet24, run, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const fixture = join(packageRoot(), 'test', 'fixtures', 'shard-worker.mjs');
const built = existsSync(join(packageRoot(), 'dist', 'index.js'));
const skipReason = tunUnavailableReason() ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[shards-no-copy.test] skipping: ${skipReason}`);

type FixtureMessage = { fixture: string; [k: string]: unknown };

describe.skipIf(skipReason !== undefined)('shards: no frame is copied between owner and worker', () => {
  let owner: ShardOwner;
  let worker: ShardWorker;
  let ours: string;
  const inbox: FixtureMessage[] = [];

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    const ifname = uniqueIfName('ushc');
    owner = await ShardOwner.open({
      nic: `tap:${ifname}`,
      address: `${ours}/24`,
      hostAddress: `10.11.${subnet}.1/24`,
      workers: 1,
      exec: fixture,
      args: [],
      execArgv: [],
      env: { ...process.env, SHARD_TEST_WORKERS: '1', SHARD_TEST_ADDRESS: `${ours}/24` },
    });
    worker = owner.workers.get(0)!;
    worker.process.on('message', (m: FixtureMessage) => {
      if (typeof m?.fixture === 'string') inbox.push(m);
    });
    assertRouteOver(ours, ifname);
  });

  afterAll(async () => {
    await owner?.close();
  });

  async function ask(message: FixtureMessage, reply: string): Promise<FixtureMessage> {
    const from = inbox.length;
    let sendError: Error | null = null;
    worker.process.send(message, (err) => (sendError = err));
    return waitFor(
      () => {
        if (sendError !== null) throw sendError;
        return inbox.slice(from).find((m) => m.fixture === reply);
      },
      { timeoutMs: 10_000, what: `the worker's '${reply}'`, detail: () => `worker ${worker.state}, exit code ${String(worker.process.exitCode)}` },
    );
  }

  it('a received datagram is read in the owner slot the TAP wrote it to; the owner copies nothing', async () => {
    const layout = (await ask({ fixture: 'layout' }, 'layout')) as unknown as { slotSize: number; slotCount: number; place: number; ownSlots: number };
    const { ownerSlots, workerSlots } = owner.pump.stats().layout;
    const sock = dgram.createSocket('udp4');
    const copiedBefore = bytesCopied();
    const reports: FixtureMessage[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const text = `datagram ${i} ${randomBytes(8).toString('hex')}`;
        const from = inbox.length;
        sock.send(text, 9, ours);
        const r = await waitFor(() => inbox.slice(from).find((m) => m.fixture === 'datagram' && m.text === text), {
          timeoutMs: 10_000,
          what: `the worker to receive '${text}'`,
        });
        reports.push(r);
      }
    } finally {
      sock.close();
    }
    const trace = owner.pump.shm.trace();
    const copied = bytesCopied() - copiedBefore;
    console.log(
      `[shards-no-copy] 20 datagrams: slots ${[...new Set(reports.map((r) => r.slot))].join(',')} (owner slots 0..${ownerSlots - 1}, ` +
        `the worker's own ${ownerSlots}..${ownerSlots + workerSlots - 1}); bytes copied by the owner: ${copied}`,
    );
    expect(layout.place).toBe(0);
    for (const r of reports) {
      // The application's bytes are a view of the shared pool itself...
      expect(r.samePool).toBe(true);
      expect(r.sameMemory).toBe(true);
      // ...in an owner slot (Ethernet 14 + IPv4 20 + UDP 8 into it), not in the worker's own partition...
      expect(r.slot as number).toBeLessThan(ownerSlots);
      expect(r.inSlot).toBe(42);
      // ...the very slot the owner steered to this worker.
      expect(trace.some((t) => t.slot === r.slot && t.place === 0 && t.len === 42 + (r.text as string).length)).toBe(true);
    }
    expect(copied).toBe(0);
  });

  it('one memory: bytes written at a slot offset by one side are read at that offset by the other', async () => {
    const shared = new Uint8Array(owner.pump.shm.pool);
    const { ownerSlots, slotSize } = owner.pump.stats().layout;
    // Owner -> worker, in an owner slot nothing uses now (the top of the pool).
    const a = (ownerSlots - 1) * slotSize + 100;
    const mark = Array.from(randomBytes(16));
    shared.set(mark, a);
    const read = (await ask({ fixture: 'read', offset: a, length: 16 }, 'read')) as unknown as { bytes: number[] };
    expect(read.bytes).toEqual(mark);
    // Worker -> owner, in the worker's own partition.
    const b = (ownerSlots + 3) * slotSize + 200;
    const mark2 = Array.from(randomBytes(16));
    await ask({ fixture: 'write', offset: b, bytes: mark2 }, 'written');
    expect(Array.from(shared.subarray(b, b + 16))).toEqual(mark2);
  });

  it('both processes map the same memfd', () => {
    const memfd = (pid: number | undefined): string[] =>
      readFileSync(`/proc/${pid}/maps`, 'utf8')
        .split('\n')
        .filter((l) => l.includes('memfd:ustack-shards'))
        .map((l) => l.split(/\s+/)[4]!); // the inode
    const mine = memfd(process.pid);
    const theirs = memfd(worker.pid);
    expect(mine.length).toBeGreaterThan(0);
    expect(theirs.length).toBeGreaterThan(0);
    expect(new Set(theirs)).toEqual(new Set(mine));
    // And the worker's fds 4-6 are the region and the two eventfds.
    expect(run('readlink', [`/proc/${worker.pid}/fd/4`]).trim()).toMatch(/^\/memfd:ustack-shards/);
    expect(run('readlink', [`/proc/${worker.pid}/fd/5`]).trim()).toBe('anon_inode:[eventfd]');
    expect(run('readlink', [`/proc/${worker.pid}/fd/6`]).trim()).toBe('anon_inode:[eventfd]');
  });

  it('the worker exits once its owner has closed, and the owner stops it first', async () => {
    const pid = worker.pid!;
    await withTimeout(owner.close(), { timeoutMs: 20_000, what: 'the owner to close' });
    expect(worker.state).toBe('exited');
    expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });
});
