/**
 * A bulk transfer through the socket API (the net.Socket and net.Server that
 * `stack.net` hands out) allocates less than 1 KB of V8 heap per MB moved in
 * ustack's own code, and copies each byte twice (issue 19).
 *
 * Two stacks' socket modules on a MemoryNic pair, driven step by step on a
 * virtual clock (test/helpers/socket-pair.ts: the same sockets, without the
 * real-time poll loop, so the run repeats exactly). After a warm-up (JIT,
 * rings, slabs), V8's sampling heap profiler records allocation stacks over
 * 64 MiB more; what was allocated while ustack code (src/) was on the stack
 * is counted, charged to the innermost ustack function.
 *
 * - `onread` reader (node's API for reading into the caller's own buffer),
 *   1 MiB writes (lent: sent straight from the writer's Buffer): everything
 *   ustack allocates is counted.
 * - 'data' reader: the stream contract hands the application a new Buffer
 *   per chunk, and node's Readable keeps its own books per push; those two
 *   (the Buffer objects handed out, node's stream internals) are counted
 *   apart and bounded per chunk, the rest as above.
 */
import { describe, expect, it } from 'vitest';
import type * as nodeNet from 'node:net';
import { SocketPair } from '../helpers/socket-pair.js';
import { bytesCopied } from '../../src/wire/bytes.js';
import { Session } from 'node:inspector';
import type { ProfileNode } from '../helpers/alloc-profile.js';

const MiB = 1 << 20;
/**
 * Warm-up before measuring: code that runs once per ACK or per write (~15
 * times per MB) reaches optimised code only after thousands of calls; until
 * then the interpreter boxes its doubles (after 64 MiB: ~10 KB per MB, after
 * 256 MiB ~2 KB, after 1 GiB ~0.6 KB).
 */
const WARM_MIB = 1024;
const BLOCK = Buffer.alloc(MiB, 0x5a);

interface Site {
  /** Innermost ustack function ("name@socket/net-socket.ts"), '' if none. */
  ours: string;
  /** The allocating frame itself ("name@file"). */
  self: string;
  url: string;
  bytes: number;
}

/** Runs `body` under the sampling heap profiler; every sampled allocation with its innermost ustack frame and its own frame. */
async function sampleAllocations(body: () => Promise<void>): Promise<Site[]> {
  const session = new Session();
  session.connect();
  const post = <T = unknown>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));
  let head: ProfileNode;
  try {
    await post('HeapProfiler.enable');
    await post('HeapProfiler.startSampling', { samplingInterval: 64, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    await body();
    head = (await post<{ profile: { head: ProfileNode } }>('HeapProfiler.stopSampling')).profile.head;
  } finally {
    session.disconnect();
  }
  const sites: Site[] = [];
  // Charged to the innermost ustack frame; what the application's own
  // callbacks (this file: 'drain', onread) allocate, node internals they call
  // included, is the application's.
  const walk = (n: ProfileNode, ours: string): void => {
    const url = n.callFrame.url;
    const app = url.includes('/test/');
    const here = app ? '' : url.includes('/src/') && !url.includes('node_modules') ? `${n.callFrame.functionName}@${url.split('/src/')[1]}` : ours;
    if (n.selfSize > 0) sites.push({ ours: here, self: `${n.callFrame.functionName}@${url.replace(/.*\//, '')}`, url, bytes: n.selfSize });
    for (const c of n.children) walk(c, here);
  };
  walk(head, '');
  return sites;
}

function top(sites: Site[], keep: (s: Site) => boolean, perMB: number): string[] {
  const m = new Map<string, number>();
  for (const s of sites) if (keep(s)) m.set(`${s.ours} [${s.self}]`, (m.get(`${s.ours} [${s.self}]`) ?? 0) + s.bytes);
  return [...m].sort((x, y) => y[1] - x[1]).slice(0, 8).map(([k, v]) => `${(v / perMB).toFixed(0)} B/MB ${k}`);
}

/** One connection, b's server writing to a's client; `mode` is how a reads. */
async function transfer(mode: 'onread' | 'data'): Promise<{ pair: SocketPair; move: (mib: number) => Promise<void>; pushes: () => number; moved: () => number }> {
  // Seeds whose ISNs are both >= 2^31 (0xb6c51121, 0xdfd23fd9): the sender's
  // sequence numbers wrap past 2^32 during the warm-up, so the code has seen
  // both halves of the sequence space (a uint32 >= 2^31 that crosses a call V8
  // does not inline is a heap number; the first crossing deoptimises code
  // that had only seen small ones).
  const pair = new SocketPair({ seeds: [3, 4] });
  let received = 0;
  let pushes = 0;
  const srv = pair.b.net.createServer(() => {});
  const serverSide = new Promise<nodeNet.Socket>((resolve) => srv.once('connection', (s: nodeNet.Socket) => resolve(s)));
  srv.listen(5001, pair.b.address);
  const readBuf = Buffer.alloc(256 * 1024);
  const client =
    mode === 'onread'
      ? pair.a.net.connect({ port: 5001, host: pair.b.address, onread: { buffer: readBuf, callback: (n: number) => void (received += n) } })
      : pair.a.net.connect(5001, pair.b.address);
  if (mode === 'data') {
    client.on('data', (d: Buffer) => {
      received += d.length;
      pushes++;
    });
  }
  let server: nodeNet.Socket | null = null;
  void serverSide.then((s) => (server = s));
  await pair.run(() => server !== null);
  const move = async (mib: number): Promise<void> => {
    const target = received + mib * MiB;
    let sent = 0;
    const pump = (): void => {
      while (sent < mib) {
        sent++;
        if (!server!.write(BLOCK)) {
          server!.once('drain', pump);
          return;
        }
      }
    };
    pump();
    await pair.run(() => received >= target);
  };
  return { pair, move, pushes: () => pushes, moved: () => received };
}

describe('socket API bulk transfer: heap allocated by ustack per MB moved', () => {
  it('onread reader, 1 MiB writes: < 1 KB per MB in ustack code, two copies per byte', async () => {
    const t = await transfer('onread');
    await t.move(WARM_MIB);
    const movedBefore = t.moved();
    const copied0 = bytesCopied();
    const sites = await sampleAllocations(() => t.move(64));
    const mb = (t.moved() - movedBefore) / 1e6;
    const copies = (bytesCopied() - copied0) / (t.moved() - movedBefore);
    const ours = sites.filter((s) => s.ours !== '');
    const perMB = ours.reduce((n, s) => n + s.bytes, 0) / mb;
    console.log(`[socket-alloc] onread: ${mb.toFixed(1)} MB moved in ${t.pair.steps} steps; ${perMB.toFixed(0)} B/MB allocated in ustack code; ${copies.toFixed(3)} copies per byte; top:`, top(sites, (s) => s.ours !== '', mb));
    t.pair.close();
    expect(mb).toBeGreaterThan(60);
    expect(copies).toBeLessThanOrEqual(2.001);
    expect(perMB).toBeLessThan(1024);
  });

  it("'data' reader, 1 MiB writes: < 1 KB per MB in ustack code besides the chunks it hands out", async () => {
    const t = await transfer('data');
    await t.move(WARM_MIB);
    const movedBefore = t.moved();
    const pushesBefore = t.pushes();
    const copied0 = bytesCopied();
    const sites = await sampleAllocations(() => t.move(64));
    const mb = (t.moved() - movedBefore) / 1e6;
    const chunks = t.pushes() - pushesBefore;
    const copies = (bytesCopied() - copied0) / (t.moved() - movedBefore);
    // What the stream contract costs: a Buffer per chunk (and the slab it views),
    // and node's Readable bookkeeping per push.
    // (by the function that makes them: V8 inlines Buffer.from and allocUnsafeSlow into it)
    // onReadTargetFull only delegates to _readTargetFull (V8 may inline the
    // whole chain into it, as node 22 does); allocUnsafeSlow makes the slab.
    const isChunk = (s: Site): boolean =>
      /^(_stashFill|_newSlab|_readTargetFull|onReadTargetFull)@/.test(s.ours) || /^(FastBuffer|createUnsafeBuffer|fromArrayBuffer|allocUnsafeSlow)@/.test(s.self);
    // _pull calls no nextTick itself: one under it comes from Readable.push
    // (emitReadable / maybeReadMore) when V8 inlines push into _pull.
    const isStream = (s: Site): boolean =>
      s.url.includes('internal/streams/') || s.url.includes('node:events') || (s.ours.startsWith('_pull@') && s.self.startsWith('nextTick@'));
    const ours = sites.filter((s) => s.ours !== '');
    const rest = ours.filter((s) => !isChunk(s) && !isStream(s)).reduce((n, s) => n + s.bytes, 0) / mb;
    const chunkBytes = ours.filter(isChunk).reduce((n, s) => n + s.bytes, 0);
    const streamBytes = ours.filter((s) => !isChunk(s) && isStream(s)).reduce((n, s) => n + s.bytes, 0);
    console.log(
      `[socket-alloc] data: ${mb.toFixed(1)} MB moved in ${chunks} chunks (${(chunks / mb).toFixed(1)} per MB), ${t.pair.steps} steps; ` +
        `${rest.toFixed(0)} B/MB in ustack code besides the chunks; chunk Buffers and slabs ${(chunkBytes / chunks).toFixed(0)} B per chunk; ` +
        `node's stream internals ${(streamBytes / chunks).toFixed(0)} B per chunk; ${copies.toFixed(3)} copies per byte; top:`,
      top(sites, (s) => s.ours !== '' && !isChunk(s) && !isStream(s), mb),
    );
    t.pair.close();
    expect(mb).toBeGreaterThan(60);
    expect(copies).toBeLessThanOrEqual(2.001);
    expect(rest).toBeLessThan(1024);
    // One view per chunk (~96 B) and a 64 KiB slab's objects shared by its chunks.
    expect(chunkBytes / chunks).toBeLessThan(256);
  });
});
