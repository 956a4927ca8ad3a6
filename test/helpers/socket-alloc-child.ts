/**
 * The measuring half of test/unit/socket-alloc.test.ts, run as its own node
 * process (`node --no-concurrent-recompilation --import tsx
 * test/helpers/socket-alloc-child.ts MODE [warmMiB] [windows] [windowMiB]`;
 * why: test/helpers/alloc-child.ts).
 *
 * One connection between two stacks' socket modules on a MemoryNic pair,
 * driven step by step on a virtual clock (test/helpers/socket-pair.ts), b's
 * server writing 1 MiB Buffers to a's client; MODE is how a reads: `onread`
 * (node's API for reading into the caller's own buffer) or `data`. After a
 * warm-up, V8's sampling heap profiler records allocation stacks over
 * consecutive windows (five by default); what was allocated while ustack
 * code (src/) was on the stack is charged to the innermost ustack function.
 * Prints one JSON line: the figures of each window.
 */
import type * as nodeNet from 'node:net';
import { SocketPair } from './socket-pair.js';
import { bytesCopied } from '../../src/wire/bytes.js';
import { SAMPLING_INTERVAL, sampleHeapProfileWithSamples, type ProfileNode } from './alloc-profile.js';
import { childArgs, printReport, topSites } from './alloc-child.js';

export interface AllocWindow {
  /** MB (10^6 bytes) the reader received in the window. */
  mb: number;
  /** Bytes copied by ustack per byte delivered. */
  copies: number;
  /** Heap bytes per MB allocated with ustack code innermost (for `data`: besides the chunks and node's stream books). */
  perMB: number;
  /** `data` only: chunks pushed, and bytes per chunk for the chunk Buffers/slabs and for node's stream internals. */
  chunks: number;
  chunkBytesPerChunk: number;
  streamBytesPerChunk: number;
  /** The largest sites counted in perMB ("B/MB innermost-ustack-frame [allocating frame]"). */
  top: string[];
}

export interface AllocReport {
  mode: 'onread' | 'data';
  node: string;
  warmMiB: number;
  /** The object sizes a chunk Buffer or slab is made of on this V8 (chunkObjectSizes). */
  chunkSizes: number[];
  windows: AllocWindow[];
}

const MiB = 1 << 20;
const BLOCK = Buffer.alloc(MiB, 0x5a);

interface Site {
  /** Innermost ustack function ("name@socket/net-socket.ts"), '' if none. */
  ours: string;
  /** The allocating frame itself ("name@file:line"). */
  self: string;
  url: string;
  /** The sampled object's own size. */
  size: number;
  /** The bytes it stands for (V8 samples an object of `size` bytes with probability 1 - exp(-size / interval)). */
  bytes: number;
}

/** Runs `body` under the sampling heap profiler; every sampled allocation with its innermost ustack frame and its own frame. */
async function sampleAllocations(body: () => void | Promise<void>): Promise<Site[]> {
  const { head, samples } = await sampleHeapProfileWithSamples(body);
  const where = new Map<number, { ours: string; self: string; url: string; selfSize: number }>();
  // What the application's own callbacks (this file: 'drain', onread, 'data')
  // allocate, node internals they call included, is the application's.
  const walk = (n: ProfileNode, ours: string): void => {
    const url = n.callFrame.url;
    const app = url.includes('/test/');
    const here = app ? '' : url.includes('/src/') && !url.includes('node_modules') ? `${n.callFrame.functionName}@${url.split('/src/')[1]}` : ours;
    // The allocating frame with its line (0-based, as V8 reports it), for finding the expression.
    const self = `${n.callFrame.functionName}@${url.replace(/.*\//, '')}:${n.callFrame.lineNumber}`;
    where.set(n.id, { ours: here, self, url, selfSize: n.selfSize });
    for (const c of n.children) walk(c, here);
  };
  walk(head, '');
  // Each node's selfSize (V8's estimate of the bytes its samples stand for)
  // is shared among its samples by their sizes, each sample weighted by the
  // inverse of its odds of being sampled (1 - exp(-size / interval)).
  const weight = (size: number): number => size / -Math.expm1(-size / SAMPLING_INTERVAL);
  const weights = new Map<number, number>();
  for (const x of samples) weights.set(x.nodeId, (weights.get(x.nodeId) ?? 0) + weight(x.size));
  return samples.map((x) => {
    const w = where.get(x.nodeId)!;
    return { ours: w.ours, self: w.self, url: w.url, size: x.size, bytes: (w.selfSize * weight(x.size)) / weights.get(x.nodeId)! };
  });
}

/**
 * The sizes of the heap objects a chunk Buffer is made of (the view, and a
 * slab's ArrayBuffer and Uint8Array), as this V8 lays them out: sampled
 * while making views and slabs the way net-socket.ts does (Buffer.from of a
 * slab's range, Buffer.allocUnsafeSlow).
 */
async function chunkObjectSizes(): Promise<Set<number>> {
  const keep: Buffer[] = new Array<Buffer>(64).fill(Buffer.alloc(0));
  const slab = new ArrayBuffer(128 * 1024);
  const made = await sampleAllocations(function makeChunks(): void {
    for (let i = 0; i < 4096; i++) keep[i & 63] = Buffer.from(slab, i & 1023, 1460);
    for (let i = 0; i < 256; i++) keep[i & 63] = Buffer.allocUnsafeSlow(128 * 1024);
  });
  // The sizes sampled again and again (4,096 views, 256 slabs): not the
  // profiler's own promises, nor what compiling makeChunks allocates once.
  const counts = new Map<number, number>();
  for (const s of made) counts.set(s.size, (counts.get(s.size) ?? 0) + 1);
  return new Set([...counts].filter(([, n]) => n >= 64).map(([size]) => size));
}

function top(sites: Site[], perMB: number): string[] {
  const m = new Map<string, number>();
  for (const s of sites) m.set(`${s.ours} [${s.self}]`, (m.get(`${s.ours} [${s.self}]`) ?? 0) + s.bytes);
  return topSites(m, perMB, 'B/MB', 0);
}

/**
 * What the stream contract costs a 'data' reader: a Buffer per chunk (and
 * the slab it views). V8's sampling heap profiler names physical frames
 * only, so where V8 inlines the chunk's maker the allocation is charged to
 * the frame it was inlined into: Buffer.from and allocUnsafeSlow into
 * _stashFill, _newSlab or further up, into _pull (node 22); the
 * onReadTargetFull chain (_readTargetFull -> _stashFill / _newSlab) into
 * TCP's placeInOrder (node 20) or targetFor (node 22, 24). In those host
 * frames an object the host frame itself (or the typed-array builtins under
 * it) made counts as a chunk only if its size is one a chunk Buffer or slab
 * is made of (chunkObjectSizes); anything else there (a boxed number, a
 * context) counts as ustack's. targetFor and placeInOrder make
 * nothing of their own, which the onread reader (where no chunk is made)
 * measures: there everything counts.
 */
const CHUNK_HOSTS = /^(_pull@socket\/net-socket\.ts|(targetFor|placeInOrder|toTarget)@stack\/tcp\/buffers\.ts)$/;
const isChunk = (s: Site, chunkSizes: ReadonlySet<number>): boolean =>
  /^(_stashFill|_newSlab|_readTargetFull|onReadTargetFull)@/.test(s.ours) ||
  /^(FastBuffer|createUnsafeBuffer|fromArrayBuffer|allocUnsafeSlow)@/.test(s.self) ||
  // Buffer.from itself, whichever ustack frame V8 inlined the chunk's maker into.
  s.self.startsWith('from@node:buffer') ||
  (CHUNK_HOSTS.test(s.ours) && (s.self.startsWith(s.ours.slice(0, s.ours.indexOf('@') + 1)) || /^(Uint8Array|ArrayBuffer)@/.test(s.self)) && chunkSizes.has(s.size));
/**
 * node's Readable bookkeeping per push. _pull calls no nextTick itself: one
 * under it comes from Readable.push (emitReadable / maybeReadMore) when V8
 * inlines push into _pull.
 */
const isStream = (s: Site): boolean =>
  s.url.includes('internal/streams/') || s.url.includes('node:events') || (s.ours.startsWith('_pull@') && s.self.startsWith('nextTick@'));

async function measure(mode: 'onread' | 'data', warmMiB: number, windows: number, windowMiB: number): Promise<AllocReport> {
  // Seeds whose ISNs are both >= 2^31 (0xb6c51121, 0xdfd23fd9): every
  // sequence number the sender uses in the warm-up and the windows is a
  // uint32 >= 2^31 (a heap number wherever V8 does not keep it unboxed).
  const pair = new SocketPair({ seeds: [3, 4] });
  let received = 0;
  let pushes = 0;
  const srv = pair.b.net.createServer(() => {});
  let server: nodeNet.Socket | null = null;
  srv.once('connection', (s: nodeNet.Socket) => (server = s));
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
  await move(warmMiB);
  const chunkSizes = await chunkObjectSizes();
  const out: AllocWindow[] = [];
  for (let w = 0; w < windows; w++) {
    const received0 = received;
    const pushes0 = pushes;
    const copied0 = bytesCopied();
    const sites = await sampleAllocations(() => move(windowMiB));
    const mb = (received - received0) / 1e6;
    const chunks = pushes - pushes0;
    const ours = sites.filter((s) => s.ours !== '');
    const counted = mode === 'data' ? ours.filter((s) => !isChunk(s, chunkSizes) && !isStream(s)) : ours;
    const sum = (list: Site[]): number => list.reduce((n, s) => n + s.bytes, 0);
    out.push({
      mb,
      copies: (bytesCopied() - copied0) / (received - received0),
      perMB: sum(counted) / mb,
      chunks,
      chunkBytesPerChunk: chunks > 0 ? sum(ours.filter((s) => isChunk(s, chunkSizes))) / chunks : 0,
      streamBytesPerChunk: chunks > 0 ? sum(ours.filter((s) => !isChunk(s, chunkSizes) && isStream(s))) / chunks : 0,
      top: top(counted, mb),
    });
  }
  pair.close();
  return { mode, node: process.version, warmMiB, chunkSizes: [...chunkSizes].sort((x, y) => x - y), windows: out };
}

const mode = process.argv[2];
if (mode !== 'onread' && mode !== 'data') {
  process.stderr.write('usage: node --no-concurrent-recompilation --import tsx test/helpers/socket-alloc-child.ts onread|data [warmMiB] [windows] [windowMiB]\n');
  process.exit(2);
}
const [warmMiB, windows, windowMiB] = childArgs(3, [1024, 5, 64]);
printReport(await measure(mode, warmMiB!, windows!, windowMiB!));
