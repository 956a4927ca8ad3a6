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
 * consecutive windows; what was allocated while ustack code (src/) was on
 * the stack is charged to the innermost ustack function. Prints one JSON
 * line: the figures of each window.
 */
import type * as nodeNet from 'node:net';
import { SocketPair } from './socket-pair.js';
import { bytesCopied } from '../../src/wire/bytes.js';
import { sampleHeapProfile, type ProfileNode } from './alloc-profile.js';
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
  bytes: number;
}

/** Runs `body` under the sampling heap profiler; every sampled allocation with its innermost ustack frame and its own frame. */
async function sampleAllocations(body: () => Promise<void>): Promise<Site[]> {
  const head = await sampleHeapProfile(body);
  const sites: Site[] = [];
  // What the application's own callbacks (this file: 'drain', onread, 'data')
  // allocate, node internals they call included, is the application's.
  const walk = (n: ProfileNode, ours: string): void => {
    const url = n.callFrame.url;
    const app = url.includes('/test/');
    const here = app ? '' : url.includes('/src/') && !url.includes('node_modules') ? `${n.callFrame.functionName}@${url.split('/src/')[1]}` : ours;
    // The allocating frame with its line (0-based, as V8 reports it), for finding the expression.
    const self = `${n.callFrame.functionName}@${url.replace(/.*\//, '')}:${n.callFrame.lineNumber}`;
    if (n.selfSize > 0) sites.push({ ours: here, self, url, bytes: n.selfSize });
    for (const c of n.children) walk(c, here);
  };
  walk(head, '');
  return sites;
}

function top(sites: Site[], perMB: number): string[] {
  const m = new Map<string, number>();
  for (const s of sites) m.set(`${s.ours} [${s.self}]`, (m.get(`${s.ours} [${s.self}]`) ?? 0) + s.bytes);
  return topSites(m, perMB, 'B/MB', 0);
}

/**
 * What the stream contract costs a 'data' reader: a Buffer per chunk (and
 * the slab it views; V8 inlines Buffer.from and allocUnsafeSlow into the
 * function that makes them, and may inline _readTargetFull's chain into
 * onReadTargetFull or further up, into TCP's placeInOrder).
 */
const isChunk = (s: Site): boolean =>
  /^(_stashFill|_newSlab|_readTargetFull|onReadTargetFull)@/.test(s.ours) ||
  /^(FastBuffer|createUnsafeBuffer|fromArrayBuffer|allocUnsafeSlow)@/.test(s.self) ||
  // Buffer.from itself, whichever ustack frame V8 inlined the chunk's maker
  // into (TCP's placeInOrder -> targetFor -> onReadTargetFull -> _readTargetFull).
  s.self.startsWith('from@node:buffer');
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
  const out: AllocWindow[] = [];
  for (let w = 0; w < windows; w++) {
    const received0 = received;
    const pushes0 = pushes;
    const copied0 = bytesCopied();
    const sites = await sampleAllocations(() => move(windowMiB));
    const mb = (received - received0) / 1e6;
    const chunks = pushes - pushes0;
    const ours = sites.filter((s) => s.ours !== '');
    const counted = mode === 'data' ? ours.filter((s) => !isChunk(s) && !isStream(s)) : ours;
    const sum = (list: Site[]): number => list.reduce((n, s) => n + s.bytes, 0);
    out.push({
      mb,
      copies: (bytesCopied() - copied0) / (received - received0),
      perMB: sum(counted) / mb,
      chunks,
      chunkBytesPerChunk: chunks > 0 ? sum(ours.filter(isChunk)) / chunks : 0,
      streamBytesPerChunk: chunks > 0 ? sum(ours.filter((s) => !isChunk(s) && isStream(s))) / chunks : 0,
      top: top(counted, mb),
    });
  }
  pair.close();
  return { mode, node: process.version, warmMiB, windows: out };
}

const mode = process.argv[2];
if (mode !== 'onread' && mode !== 'data') {
  process.stderr.write('usage: node --no-concurrent-recompilation --import tsx test/helpers/socket-alloc-child.ts onread|data [warmMiB] [windows] [windowMiB]\n');
  process.exit(2);
}
const [warmMiB, windows, windowMiB] = childArgs(3, [1024, 3, 64]);
printReport(await measure(mode, warmMiB!, windows!, windowMiB!));
