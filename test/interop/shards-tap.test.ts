/**
 * One NIC, many workers, end to end: `ustack echo --workers 2` on a TAP
 * device — the owner process drives the TAP and steers frames by the RSS
 * hash to two worker processes over shared memory — driven from the host
 * kernel's own sockets.
 *
 *  - ping: ARP answered by the owner, ICMP echo by one designated worker.
 *  - 64 concurrent TCP echo clients: spread over both workers, each client's
 *    worker predicted from the indirection table and the Toeplitz hash of
 *    its 4-tuple and confirmed by the workers' passive-open counts; every
 *    byte echoed (SHA-256); every slot of the pool back home afterwards.
 *  - A worker SIGKILLed mid-load: every client of the other worker
 *    completes with the right SHA-256; every client of the killed worker
 *    gets a reset, not a hang — tcpdump sees a RST to each of their ports
 *    and no FIN (node may report such a socket as 'end' rather than
 *    ECONNRESET when a write consumed the error first, so the wire is the
 *    judge); the owner reclaims the dead worker's slots (the pool's census
 *    equal before and after); a replacement joins in the same place and
 *    serves new clients.
 *  - SIGINT stops owner and workers, and the TAP goes.
 *  - An owner SIGKILLed takes its workers with it (their IPC channel
 *    closes and they exit) and its TAP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { startChild, waitForOutput, type TrackedChild } from '../helpers/children.js';
import { assertRouteOver, ensureTools, freeSubnet24, linkExists, runBounded, tunUnavailableReason, uniqueIfName } from '../helpers/netns.js';
import { ipv4, rssHashIpv4 } from '../helpers/toeplitz.js';
import { waitFor, withTimeout } from '../helpers/wait.js';

const bin = join(packageRoot(), 'bin', 'ustack.js');
const built = existsSync(join(packageRoot(), 'dist', 'cli', 'main.js'));
const skipReason = tunUnavailableReason() ?? ensureTools(['ping', 'tcpdump']) ?? (built ? undefined : 'dist/ not built (npm run build)');
if (skipReason !== undefined) console.log(`[shards-tap.test] skipping: ${skipReason}`);

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const PORT = 7;

/** What `ustack stats` prints for an owner (src/shard/owner.ts ShardStats), as far as the test reads it. */
interface OwnerStats {
  owner: {
    steering: { slotsReclaimed: number; flowsForgotten: number; steered: number };
    layout: { ownerSlots: number; workerSlots: number; places: number };
    reta: number[];
    arp: { requestsAnswered: number };
    pump: { probesSent: number; probesRepeated: number };
  };
  census: { ownerFree: number; ownerHeld: number; atWorker: number[] };
  workers: {
    place: number;
    pid: number;
    state: string;
    steering: { joins: number; deaths: number; rxFrames: number; flows: number };
    stack: { tcp: { passiveOpens: number }; shard: { place: number } } | null;
  }[];
}

interface ClientResult {
  localPort: number;
  /** The worker place the indirection table sends the client's flow to. */
  place: number;
  /** Every byte echoed, SHA-256 equal, the echo's FIN received, no error. */
  ok: boolean;
  /** The socket's first error (ECONNRESET, EPIPE), if node reported one. */
  error?: string;
  /** The echo's end was read ('end'). */
  ended: boolean;
  echoed: number;
}

describe.skipIf(skipReason !== undefined)('ustack echo --workers 2 on a TAP (software steering)', () => {
  let child: TrackedChild;
  let ifname: string;
  let ours: string;
  let host: string;
  let runDir: string;

  beforeAll(async () => {
    const subnet = freeSubnet24();
    ours = `10.11.${subnet}.2`;
    host = `10.11.${subnet}.1`;
    ifname = uniqueIfName('ushd');
    runDir = mkdtempSync(join(tmpdir(), 'ustack-shards-'));
    child = startChild(
      process.execPath,
      [bin, 'echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `${host}/24`, '--port', String(PORT), '--workers', '2'],
      { what: `ustack echo --workers 2 on ${ifname}`, env: { ...process.env, USTACK_RUN_DIR: runDir } },
    );
    await waitForOutput(child, `ustack echo listening on ${ours}:${PORT} (2 workers`);
    assertRouteOver(ours, ifname);
  });

  afterAll(async () => {
    await child?.stop();
    if (runDir) rmSync(runDir, { recursive: true, force: true });
  });

  async function stats(): Promise<OwnerStats> {
    const { stdout } = await runBounded(process.execPath, [bin, 'stats', String(child.process.pid)], {
      timeoutMs: 20_000,
      env: { ...process.env, USTACK_RUN_DIR: runDir },
    });
    return (JSON.parse(stdout) as { stats: OwnerStats }).stats;
  }

  /** Waits until every slot is home: the owner's free list full, each worker holding its partition. */
  async function poolSettled(what: string): Promise<OwnerStats> {
    let last: OwnerStats | undefined;
    return waitFor(
      async () => {
        last = await stats();
        const { census, owner } = last;
        const home =
          census.ownerFree === owner.layout.ownerSlots &&
          census.ownerHeld === 0 &&
          census.atWorker.every((n) => n === owner.layout.workerSlots) &&
          last.workers.length === 2 &&
          last.workers.every((w) => w.state === 'online');
        return home ? last : false;
      },
      { timeoutMs: 30_000, intervalMs: 250, what, detail: () => `census ${JSON.stringify(last?.census)}; ${child.describe()}` },
    );
  }

  /** The worker place the owner steers a new flow from host:localPort to: RETA[toeplitz & 127]. */
  function placeOf(reta: number[], localPort: number): number {
    return reta[rssHashIpv4(ipv4(host), ipv4(ours), localPort, PORT) & 127]!;
  }

  /**
   * A kernel TCP client of the echo: writes `size` random bytes in 64 KiB
   * writes, never more than `window` bytes ahead of the echo (so it always
   * has more to send while the echo flows), reads the echo, compares SHA-256
   * when the socket closes; `onEchoed` sees the running count. With `gate`,
   * it writes no further than `gate.at` bytes until `gate.open` resolves (so
   * a test can act while every client is mid-transfer, whatever the
   * machine's load). Never rejects; `state()` says where it is, for a
   * timeout's message.
   */
  function client(
    size: number,
    reta: number[],
    onEchoed?: (n: number) => void,
    window = 128 * 1024,
    gate?: { at: number; open: Promise<void> },
  ): { done: Promise<ClientResult>; state: () => string } {
    const data = randomBytes(size);
    let written = 0;
    let settledYet = false;
    const chunks: Buffer[] = [];
    let echoed = 0;
    let localPort = 0;
    let error: string | undefined;
    let ended = false;
    const done = new Promise<ClientResult>((resolve) => {
      const s = net.connect(PORT, ours);
      // One waiter at a time: the writer loop waits for echo, drain or close.
      let wake: (() => void) | null = null;
      const kick = (): void => {
        const w = wake;
        wake = null;
        w?.();
      };
      const waitEvent = (): Promise<void> => new Promise((r) => (wake = r));
      s.on('connect', () => {
        localPort = s.localPort ?? 0;
        void (async () => {
          for (let off = 0; off < size && !s.destroyed; ) {
            if (gate !== undefined && off >= gate.at) {
              await gate.open;
              gate = undefined;
              continue;
            }
            if (off - echoed >= window) {
              await waitEvent();
              continue;
            }
            const ok = s.write(data.subarray(off, Math.min(size, off + 65536)));
            off += 65536;
            written = Math.min(size, off);
            if (!ok) await waitEvent();
          }
          if (!s.destroyed) s.end();
        })();
      });
      s.on('drain', kick);
      s.on('data', (d: Buffer) => {
        chunks.push(d);
        echoed += d.length;
        onEchoed?.(echoed);
        kick();
      });
      s.on('end', () => (ended = true));
      s.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code ?? err.message));
      s.on('close', () => {
        settledYet = true;
        kick();
        const back = Buffer.concat(chunks);
        const ok = error === undefined && ended && back.length === size && sha(back) === sha(data);
        resolve({ localPort, place: placeOf(reta, localPort), ok, ended, echoed, ...(error !== undefined ? { error } : {}) });
      });
    });
    const state = (): string =>
      settledYet ? '' : `port ${localPort} (place ${placeOf(reta, localPort)}): written ${written}, echoed ${echoed}${ended ? ', ended' : ''}${error !== undefined ? `, ${error}` : ''}`;
    return { done, state };
  }

  /** tcpdump of the RST and FIN segments ustack sends, for the reset checks. */
  function captureResets(file: string): TrackedChild {
    return startChild('tcpdump', ['-i', ifname, '-nn', '-U', '-w', file, `src host ${ours} and tcp[tcpflags] & (tcp-rst|tcp-fin) != 0`], {
      what: `tcpdump of RST/FIN on ${ifname}`,
    });
  }

  /** The client ports ustack sent a RST / a FIN to, from a capture. */
  async function resetsAndFins(file: string): Promise<{ rst: Set<number>; fin: Set<number> }> {
    const { stdout } = await runBounded('tcpdump', ['-nn', '-r', file], { timeoutMs: 20_000 });
    const rst = new Set<number>();
    const fin = new Set<number>();
    for (const line of stdout.split('\n')) {
      const m = / > [\d.]+\.(\d+): Flags \[([^\]]*)\]/.exec(line);
      if (m === null) continue;
      if (m[2]!.includes('R')) rst.add(Number(m[1]));
      if (m[2]!.includes('F')) fin.add(Number(m[1]));
    }
    return { rst, fin };
  }

  it('answers ping: ARP from the owner, ICMP echo from one worker', async () => {
    const { stdout } = await runBounded('ping', ['-c', '3', '-i', '0.2', '-W', '2', ours], { timeoutMs: 20_000 });
    expect(stdout).toMatch(/3 packets transmitted, 3 received/);
    const s = await stats();
    expect(s.owner.arp.requestsAnswered).toBeGreaterThan(0);
  });

  it('64 concurrent TCP echo clients from the kernel spread over both workers, all SHA-256 correct, every slot home after', async () => {
    const before = await poolSettled('the pool to be home before the load');
    const opensBefore = new Map(before.workers.map((w) => [w.place, w.stack!.tcp.passiveOpens]));
    const reta = before.owner.reta;
    const clients = Array.from({ length: 64 }, () => client(256 * 1024, reta));
    const results = await withTimeout(Promise.all(clients.map((c) => c.done)), {
      timeoutMs: 90_000,
      what: '64 echo clients to finish',
      detail: () => child.describe(),
    });
    const after = await poolSettled('every slot to come home after the load');
    const perPlace = [0, 1].map((p) => results.filter((r) => r.place === p).length);
    const opens = after.workers.map((w) => ({ place: w.place, pid: w.pid, opens: w.stack!.tcp.passiveOpens - (opensBefore.get(w.place) ?? 0) }));
    for (const o of opens.sort((a, b) => a.place - b.place)) {
      console.log(`[shards-tap] worker ${o.place} (pid ${o.pid}): ${o.opens} connections accepted, ${perPlace[o.place]} clients predicted by RSS`);
    }
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(perPlace[0]).toBeGreaterThan(0);
    expect(perPlace[1]).toBeGreaterThan(0);
    // Each worker accepted exactly the clients the hash sent it.
    for (const o of opens) expect(o.opens).toBe(perPlace[o.place]);
    console.log(`[shards-tap] pool after: ${JSON.stringify(after.census)} (owner ${after.owner.layout.ownerSlots}, per worker ${after.owner.layout.workerSlots})`);
  });

  it('a worker SIGKILLed mid-load: the other worker\'s clients complete, the killed worker\'s get resets, no slot is lost, a replacement joins', async () => {
    const before = await poolSettled('the pool to be home before the load');
    const reta = before.owner.reta;
    const victim = before.workers.find((w) => w.place === 1)!;
    const survivor = before.workers.find((w) => w.place === 0)!;
    const pcap = join(runDir, 'resets.pcap');
    const dump = captureResets(pcap);
    await waitForOutput(dump, 'listening on');
    const SIZE = 2 * 1024 * 1024;
    // Every client has had some of its data echoed (so it is established and
    // flowing) before the kill, and still has most of it to send: each holds
    // at 256 KiB written until the kill, however fast the others were.
    const flowing = new Set<number>();
    let flowingResolve!: () => void;
    const allFlowing = new Promise<void>((r) => (flowingResolve = r));
    let openGate!: () => void;
    const gate = { at: 256 * 1024, open: new Promise<void>((r) => (openGate = r)) };
    const clients = Array.from({ length: 64 }, (_, i) =>
      client(
        SIZE,
        reta,
        (n) => {
          if (n >= 64 * 1024 && !flowing.has(i)) {
            flowing.add(i);
            if (flowing.size === 64) flowingResolve();
          }
        },
        128 * 1024,
        gate,
      ),
    );
    await withTimeout(allFlowing, { timeoutMs: 60_000, what: 'all 64 clients to have 64 KiB echoed', detail: () => `${flowing.size} flowing; ${child.describe()}` });
    process.kill(victim.pid, 'SIGKILL');
    openGate();
    let settled = 0;
    const results = await withTimeout(Promise.all(clients.map((c) => c.done.finally(() => settled++))), {
      timeoutMs: 90_000,
      what: 'every client to complete or be reset after the kill',
      detail: () => `${settled} of 64 settled; unsettled: ${clients.map((c) => c.state()).filter(Boolean).join('; ')}; ${child.describe()}`,
    }).catch(async (err: unknown) => {
      // What the owner did about the dead worker's flows, and the kernel's view of the hung sockets.
      const st = await stats().catch((e: Error) => e.message);
      console.log('[shards-tap] on timeout, owner:', typeof st === 'string' ? st : JSON.stringify({ pump: st.owner.pump, steering: st.owner.steering, workers: st.workers.map((w) => ({ place: w.place, pid: w.pid, state: w.state, steering: w.steering })) }));
      const ss = await runBounded('ss', ['-tnie', 'dst', ours], { timeoutMs: 5_000 }).catch((e: Error) => ({ stdout: e.message }));
      console.log(`[shards-tap] on timeout, ss:\n${ss.stdout}`);
      throw err;
    });
    await new Promise((r) => setTimeout(r, 200)); // the last segments reach the capture
    await dump.stop();
    const wire = await resetsAndFins(pcap);
    const mine = (p: number): ClientResult[] => results.filter((r) => r.place === p);
    const resetOnWire = mine(1).filter((r) => wire.rst.has(r.localPort));
    console.log(
      `[shards-tap] SIGKILL of worker 1 (pid ${victim.pid}): worker 0 (pid ${survivor.pid}) ${mine(0).filter((r) => r.ok).length}/${mine(0).length} clients completed; ` +
        `worker 1 ${resetOnWire.length}/${mine(1).length} reset on the wire (node reported ${mine(1).filter((r) => r.error !== undefined).length} as ${[...new Set(mine(1).map((r) => r.error).filter(Boolean))].join(', ')}, the rest as an early end)`,
    );
    expect(mine(0).length).toBeGreaterThan(0);
    expect(mine(1).length).toBeGreaterThan(0);
    expect(mine(0).filter((r) => !r.ok)).toEqual([]);
    for (const r of mine(0)) expect(wire.rst.has(r.localPort)).toBe(false);
    for (const r of mine(1)) {
      expect({ port: r.localPort, ok: r.ok, rst: wire.rst.has(r.localPort), fin: wire.fin.has(r.localPort) }).toEqual({ port: r.localPort, ok: false, rst: true, fin: false });
      expect(r.echoed).toBeLessThan(SIZE);
      if (r.error !== undefined) expect(['ECONNRESET', 'EPIPE']).toContain(r.error);
    }
    // The owner reclaimed the dead worker's slots; a replacement took place 1.
    const after = await poolSettled('the replacement to be online and every slot home');
    const place1 = after.workers.find((w) => w.place === 1)!;
    expect(place1.pid).not.toBe(victim.pid);
    expect(place1.steering.joins).toBe(2);
    expect(place1.steering.deaths).toBe(1);
    expect(after.census).toEqual(before.census);
    console.log(
      `[shards-tap] after: census ${JSON.stringify(after.census)} (before ${JSON.stringify(before.census)}); ` +
        `${after.owner.steering.slotsReclaimed} owner slots reclaimed from the dead worker, ${after.owner.steering.flowsForgotten} flows forgotten, ` +
        `${after.owner.pump.probesSent} probes sent to their peers (${after.owner.pump.probesRepeated} of them repeats); replacement pid ${place1.pid}`,
    );
    expect(child.stderr()).toContain(`worker 1 (pid ${victim.pid}) exited (code null, signal SIGKILL)`);
    // The replacement serves: new clients reach both workers again.
    const again = await Promise.all(Array.from({ length: 16 }, () => client(64 * 1024, after.owner.reta).done));
    expect(again.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(again.map((r) => r.place)).size).toBe(2);
  });

  it('stops cleanly on SIGINT: workers stop, the TAP goes', async () => {
    const pids = (await stats()).workers.map((w) => w.pid);
    child.kill('SIGINT');
    const res = await withTimeout(child.done, { timeoutMs: 20_000, what: 'the owner to exit after SIGINT', detail: () => child.describe() });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('ustack echo stopped');
    expect(linkExists(ifname)).toBe(false);
    for (const pid of pids) {
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    }
  });
});

describe.skipIf(skipReason !== undefined)('ustack echo --workers 2: the owner SIGKILLed', () => {
  it('its workers exit (their IPC channel closes) and the TAP goes with the owner', async () => {
    const subnet = freeSubnet24();
    const ours = `10.11.${subnet}.2`;
    const ifname = uniqueIfName('ushk');
    const runDir = mkdtempSync(join(tmpdir(), 'ustack-shards-'));
    const child = startChild(
      process.execPath,
      [bin, 'echo', '--nic', `tap:${ifname}`, '--address', `${ours}/24`, '--host-address', `10.11.${subnet}.1/24`, '--workers', '2'],
      { what: `ustack echo --workers 2 on ${ifname}`, env: { ...process.env, USTACK_RUN_DIR: runDir } },
    );
    try {
      await waitForOutput(child, `ustack echo listening on ${ours}:7 (2 workers: `);
      const m = /\(2 workers: (\d+), (\d+)\)/.exec(child.stdout())!;
      const pids = [Number(m[1]), Number(m[2])];
      child.kill('SIGKILL');
      await withTimeout(child.done, { timeoutMs: 10_000, what: 'the owner to die' });
      await waitFor(
        () =>
          pids.every((pid) => {
            try {
              process.kill(pid, 0);
              return false;
            } catch {
              return true;
            }
          }),
        { timeoutMs: 15_000, what: `workers ${pids.join(', ')} to exit after their owner's SIGKILL` },
      );
      await waitFor(() => !linkExists(ifname), { timeoutMs: 10_000, what: `${ifname} to go with its owner` });
    } finally {
      await child.stop();
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
