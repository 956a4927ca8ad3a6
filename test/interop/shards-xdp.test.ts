/**
 * One NIC, many workers over AF_XDP on one queue: `ustack echo --nic xdp:IF
 * --workers 2` on a veth pair (the peer end in a namespace), the UMEM being
 * the shared region, the owner steering in software as on a TAP.
 *
 *  - 64 concurrent echo clients from the peer namespace spread over both
 *    workers as the RSS hash predicts, all SHA-256 correct;
 *  - worker 1 SIGKILLed once every client has data echoed: the other
 *    worker's clients complete, the killed worker's are reset (a RST to each
 *    of their ports, seen by tcpdump in the namespace), the replacement
 *    joins, and every slot is accounted for: the workers hold exactly their
 *    partitions, and the owner's slots not on its free list are exactly
 *    those the device holds for receiving (its free stack and fill ring).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { ensureTools, runBounded } from '../helpers/netns.js';
import { createVethNs, xdpUnavailableReason, type VethNs } from '../helpers/veth-ns.js';
import { ipv4, rssHashIpv4 } from '../helpers/toeplitz.js';
import { waitFor } from '../helpers/wait.js';

const bin = join(packageRoot(), 'bin', 'ustack.js');
const clients = join(packageRoot(), 'test', 'fixtures', 'shard-echo-clients.mjs');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
const skipReason = xdpUnavailableReason() ?? ensureTools(['ethtool', 'tcpdump']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[shards-xdp.test] skipping: ${skipReason}`);

interface Stats {
  owner: {
    reta: number[];
    layout: { ownerSlots: number; workerSlots: number };
    device: { freeStack: number; inKernelRx: number };
    steering: { slotsReclaimed: number };
  };
  census: { ownerFree: number; ownerHeld: number; atWorker: number[] };
  workers: { place: number; pid: number; state: string; steering: { joins: number }; stack: { tcp: { passiveOpens: number } } | null }[];
}
interface Result {
  port: number;
  ok: boolean;
  ended: boolean;
  error?: string;
  echoed: number;
}

describe.skipIf(skipReason !== undefined)('ustack echo --workers 2 on AF_XDP (one queue, software steering)', () => {
  let v: VethNs;
  let child: TrackedChild;

  beforeAll(async () => {
    v = createVethNs('ushx');
    child = startChild(process.execPath, [bin, 'echo', '--nic', `xdp:${v.host}`, '--address', `${v.ustackAddr}/24`, '--port', '7', '--workers', '2'], {
      what: `ustack echo --workers 2 on xdp:${v.host}`,
    });
    await waitForOutput(child, `ustack echo listening on ${v.ustackAddr}:7 (2 workers`);
  });

  afterAll(async () => {
    await child?.stop();
    v?.remove();
  });

  async function stats(): Promise<Stats> {
    const { stdout } = await runBounded(process.execPath, [bin, 'stats', String(child.process.pid)], { timeoutMs: 20_000 });
    return (JSON.parse(stdout) as { stats: Stats }).stats;
  }

  /** Every slot accounted for at rest: the workers hold their partitions; the owner's slots not free are the device's. */
  async function settled(what: string): Promise<Stats> {
    let last: Stats | undefined;
    return waitFor(
      async () => {
        last = await stats();
        const { census, owner } = last;
        const ok =
          census.atWorker.every((n) => n === owner.layout.workerSlots) &&
          census.ownerHeld === owner.device.freeStack + owner.device.inKernelRx &&
          census.ownerFree + census.ownerHeld === owner.layout.ownerSlots &&
          last.workers.length === 2 &&
          last.workers.every((w) => w.state === 'online');
        return ok ? last : false;
      },
      { timeoutMs: 30_000, intervalMs: 250, what, detail: () => `${JSON.stringify(last?.census)} device ${JSON.stringify(last?.owner.device)}` },
    );
  }

  const placeOf = (reta: number[], port: number): number => reta[rssHashIpv4(ipv4(v.peerAddr), ipv4(v.ustackAddr), port, 7) & 127]!;

  async function run(count: number, bytes: number, victim?: number): Promise<{ killed: boolean; results: Result[] }> {
    const { stdout } = await v.inNs(process.execPath, [clients, v.ustackAddr, '7', String(count), String(bytes), ...(victim ? [String(victim)] : [])], {
      timeoutMs: 120_000,
      what: `${count} echo clients in ${v.ns}`,
    });
    return JSON.parse(stdout.trim().split('\n').pop()!) as { killed: boolean; results: Result[] };
  }

  it('64 concurrent clients spread over both workers as RSS predicts, all SHA-256 correct', async () => {
    const before = await settled('the pool to be at rest');
    const opens0 = before.workers.map((w) => w.stack!.tcp.passiveOpens);
    const { results } = await run(64, 256 * 1024);
    const after = await settled('every slot to come home');
    const predicted = [0, 1].map((p) => results.filter((r) => placeOf(before.owner.reta, r.port) === p).length);
    const opens = after.workers.sort((a, b) => a.place - b.place).map((w, i) => w.stack!.tcp.passiveOpens - opens0[i]!);
    console.log(`[shards-xdp] 64 clients: worker 0 accepted ${opens[0]} (RSS predicted ${predicted[0]}), worker 1 ${opens[1]} (${predicted[1]}); census ${JSON.stringify(after.census)}`);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(opens).toEqual(predicted);
    expect(predicted[0]! > 0 && predicted[1]! > 0).toBe(true);
  });

  it('worker 1 SIGKILLed mid-load: worker 0\'s clients complete, worker 1\'s are reset, every slot accounted for, a replacement joins', async () => {
    const before = await settled('the pool to be at rest');
    const victim = before.workers.find((w) => w.place === 1)!;
    const pcap = `/tmp/ustack-shards-xdp-${process.pid}.pcap`;
    const dump = startChild('ip', ['netns', 'exec', v.ns, 'tcpdump', '-i', v.peer, '-nn', '-U', '-w', pcap, `src host ${v.ustackAddr} and tcp[tcpflags] & (tcp-rst|tcp-fin) != 0`], {
      what: `tcpdump in ${v.ns}`,
    });
    await waitForOutput(dump, 'listening on');
    const { killed, results } = await run(64, 2 * 1024 * 1024, victim.pid);
    await new Promise((r) => setTimeout(r, 200));
    await dump.stop();
    const { stdout } = await runBounded('tcpdump', ['-nn', '-r', pcap], { timeoutMs: 20_000 });
    const rst = new Set<number>();
    const fin = new Set<number>();
    for (const line of stdout.split('\n')) {
      const m = / > [\d.]+\.(\d+): Flags \[([^\]]*)\]/.exec(line);
      if (m === null) continue;
      if (m[2]!.includes('R')) rst.add(Number(m[1]));
      if (m[2]!.includes('F')) fin.add(Number(m[1]));
    }
    const mine = (p: number): Result[] => results.filter((r) => placeOf(before.owner.reta, r.port) === p);
    console.log(
      `[shards-xdp] SIGKILL of worker 1 (pid ${victim.pid}): worker 0 ${mine(0).filter((r) => r.ok).length}/${mine(0).length} completed, worker 1 ${mine(1).filter((r) => rst.has(r.port)).length}/${mine(1).length} reset on the wire`,
    );
    expect(killed).toBe(true);
    expect(mine(0).filter((r) => !r.ok)).toEqual([]);
    expect(mine(1).length).toBeGreaterThan(0);
    for (const r of mine(1)) expect({ port: r.port, ok: r.ok, rst: rst.has(r.port), fin: fin.has(r.port) }).toEqual({ port: r.port, ok: false, rst: true, fin: false });
    const after = await settled('the replacement to be online and every slot accounted for');
    const place1 = after.workers.find((w) => w.place === 1)!;
    expect(place1.pid).not.toBe(victim.pid);
    expect(place1.steering.joins).toBe(2);
    console.log(`[shards-xdp] after: census ${JSON.stringify(after.census)}, device holds ${after.owner.device.freeStack} + ${after.owner.device.inKernelRx} for receiving; ${after.owner.steering.slotsReclaimed} owner slots reclaimed`);
  });
});
