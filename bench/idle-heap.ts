/**
 * Where the heap of an idle ustack connection goes (issue 6, scenario 4).
 *
 *   npx tsc -p bench/tsconfig.json && node --expose-gc bench/.build/bench/idle-heap.js [N=2000] [--snapshot]
 *
 * Opens N connections on Stack.pair() (both ends in this process, as in
 * scenario 4) and prints heap / external / RSS growth per socket (= per
 * connection end). With --snapshot it also takes a heap snapshot before and
 * after and prints the growth per socket by (node type, constructor name),
 * largest first: what a Connection, its timer, its UstackSocket and the
 * stream state each cost. --keep leaves the snapshots in /tmp. --exchange
 * sends one 64-byte request on every connection and waits for its echo
 * before measuring (a connection that was used, then went idle).
 */
import * as v8 from 'node:v8';
import { readFileSync, unlinkSync } from 'node:fs';
import type * as nodeNet from 'node:net';
import { Stack } from '../src/ustack.js';

const args = process.argv.slice(2);
const n = Number(args.find((a) => /^\d+$/.test(a)) ?? 2000);
const snapshot = args.includes('--snapshot') || args.includes('--keep');
const keep = args.includes('--keep');
const tcp = args.find((a) => a.startsWith('--buf='));
const bufSize = tcp ? Number(tcp.slice(6)) : 0;
/** --exchange: one 64-byte request and its echo on every connection before measuring ("used, then idle"). */
const exchange = args.includes('--exchange');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    gc();
    gc();
  }
  return process.memoryUsage();
}

/** self_size summed by "type:name" from a .heapsnapshot file. */
function summarize(file: string): Map<string, { size: number; count: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  if (!keep) unlinkSync(file);
  else console.log(`kept ${file}`);
  const f = snap.snapshot.meta.node_fields;
  const nf = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { size: number; count: number }>();
  for (let i = 0; i < snap.nodes.length; i += nf) {
    const type = types[snap.nodes[i + iType]!]!;
    let name = snap.strings[snap.nodes[i + iName]!]!;
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number') name = '';
    if (name.length > 60) name = name.slice(0, 60) + '…';
    const key = `${type}:${name}`;
    const e = out.get(key) ?? { size: 0, count: 0 };
    e.size += snap.nodes[i + iSize]!;
    e.count++;
    out.set(key, e);
  }
  return out;
}

const [a, b] = await Stack.pair(undefined, bufSize > 0 ? { tcp: { sendBufferSize: bufSize, recvBufferSize: bufSize } } : {});
const srvNet = b.net as unknown as typeof nodeNet;
const cliNet = a.net as unknown as typeof nodeNet;
const accepted: nodeNet.Socket[] = [];
const host = b.address;
/** One shared 'error' listener (a closure per socket would be counted as the socket's). */
const ignore = (): void => {};
function echo(this: nodeNet.Socket, d: Buffer): void {
  this.write(d);
}
const servers: nodeNet.Server[] = [];
const ports: number[] = [];
for (let i = 0; i < 8; i++) {
  const srv = srvNet.createServer((s) => {
    s.on('error', ignore);
    if (exchange) s.on('data', echo);
    accepted.push(s);
  });
  await new Promise<void>((r) => srv.listen(7100 + i, host, () => r()));
  servers.push(srv);
  ports.push(7100 + i);
}
// Warm up (JIT, hidden classes, maps sized for a few connections), then drop them.
{
  const warm: nodeNet.Socket[] = [];
  for (let i = 0; i < 64; i++) {
    warm.push(await new Promise<nodeNet.Socket>((r) => {
      const c = cliNet.connect(ports[i % 8]!, host);
      c.once('connect', () => r(c));
    }));
  }
  while (accepted.length < warm.length) await sleep(1);
  for (const c of warm) c.destroy();
  for (const s of accepted.splice(0)) s.destroy();
  await sleep(50);
}
const fileBefore = snapshot ? v8.writeHeapSnapshot(`/tmp/ustack-idle-before-${process.pid}.heapsnapshot`) : '';
const before = await settle();
const clients: nodeNet.Socket[] = [];
let next = 0;
const worker = async (): Promise<void> => {
  while (next < n) {
    const port = ports[next++ % 8]!;
    await new Promise<void>((resolve) => {
      const c = cliNet.connect(port, host);
      const onError = (): void => resolve();
      c.once('error', onError);
      c.once('connect', () => {
        // As a program would once connected: no per-socket once-wrapper left behind.
        c.off('error', onError);
        c.on('error', ignore);
        clients.push(c);
        resolve();
      });
    });
  }
};
await Promise.all(Array.from({ length: 256 }, worker));
while (accepted.length < clients.length) await sleep(1);
if (exchange) {
  const req = Buffer.alloc(64, 0x61);
  await Promise.all(
    clients.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.once('data', () => resolve());
          c.write(req);
        }),
    ),
  );
  await sleep(300); // delayed ACKs and the like settle
}
const after = await settle();
const sockets = clients.length * 2;
const per = (x: number): string => (x / sockets).toFixed(0);
console.log(`${clients.length} connections (${sockets} sockets${exchange ? ', after one request/response each' : ''}): heap ${per(after.heapUsed - before.heapUsed)} B/socket, external ${per(after.external - before.external)} B/socket, arrayBuffers ${per(after.arrayBuffers - before.arrayBuffers)} B/socket, rss ${per(after.rss - before.rss)} B/socket`);
if (snapshot) {
  const fileAfter = v8.writeHeapSnapshot(`/tmp/ustack-idle-after-${process.pid}.heapsnapshot`);
  const snapBefore = summarize(fileBefore);
  const snapAfter = summarize(fileAfter);
  const rows: [string, number, number][] = [];
  for (const [k, v] of snapAfter) {
    const o = snapBefore.get(k) ?? { size: 0, count: 0 };
    const ds = v.size - o.size;
    const dc = v.count - o.count;
    if (Math.abs(ds) / sockets >= 4) rows.push([k, ds / sockets, dc / sockets]);
  }
  rows.sort((x, y) => y[1] - x[1]);
  let total = 0;
  for (const r of rows) total += r[1];
  console.log(`heap snapshot growth per socket (self size, rows >= 4 B): ${total.toFixed(0)} B`);
  for (const [k, s, c] of rows) console.log(`${s.toFixed(1).padStart(8)} B ${c.toFixed(2).padStart(6)} objs  ${k}`);
}
for (const c of clients) c.destroy();
for (const s of accepted) s.destroy();
for (const s of servers) s.close();
await a.close();
await b.close();
process.exit(0);
