/**
 * Memory of idle connections (issue 6): an established connection with
 * nothing buffered holds no ring storage, no ring object, no per-flight
 * state and no assembler, whether it never carried data or did and went
 * idle; and the heap per socket (TCP connection + net socket) stays far
 * below what eagerly allocated 2 x 256 KiB rings and per-connection state
 * cost before (~5.9 KB heap and 525 KB of ArrayBuffers per socket).
 */
import { describe, expect, it } from 'vitest';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import type * as nodeNet from 'node:net';
import { Stack } from '../../src/ustack.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { waitFor } from '../helpers/wait.js';

const PAIRS = 1000;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function settle(): Promise<NodeJS.MemoryUsage> {
  for (let i = 0; i < 3; i++) {
    await sleep(20);
    gc();
    gc();
  }
  return process.memoryUsage();
}

const ignore = (): void => {};
function echo(this: nodeNet.Socket, d: Buffer): void {
  this.write(d);
}

function connOf(s: nodeNet.Socket): Connection {
  return (s as unknown as { _conn: Connection })._conn;
}

function memoryHeld(sockets: nodeNet.Socket[]): { ringBytes: number; ringObjects: number; cold: number; asm: number } {
  let ringBytes = 0;
  let ringObjects = 0;
  let cold = 0;
  let asm = 0;
  for (const s of sockets) {
    const m = connOf(s).debugMemory();
    ringBytes += m.ringBytes;
    ringObjects += m.ringObjects;
    if (m.coldState) cold++;
    if (m.assembler) asm++;
  }
  return { ringBytes, ringObjects, cold, asm };
}

function expectIdle(sockets: nodeNet.Socket[]): void {
  expect(memoryHeld(sockets)).toEqual({ ringBytes: 0, ringObjects: 0, cold: 0, asm: 0 });
}

describe('idle connections', () => {
  it(`${PAIRS} idle connected pairs with default 256 KiB buffers: no ring memory, under 3 KB of heap per socket`, async () => {
    const [a, b] = await Stack.pair();
    try {
      const host = b.address;
      const accepted: nodeNet.Socket[] = [];
      const srv = (b.net as unknown as typeof nodeNet).createServer((s) => {
        s.on('error', ignore);
        s.on('data', echo);
        accepted.push(s);
      });
      await new Promise<void>((r) => srv.listen(7001, host, () => r()));
      const connect = (): Promise<nodeNet.Socket> =>
        new Promise((resolve, reject) => {
          const c = (a.net as unknown as typeof nodeNet).connect(7001, host);
          c.once('error', reject);
          c.once('connect', () => {
            c.off('error', reject);
            c.on('error', ignore);
            resolve(c);
          });
        });
      // Warm-up (JIT, maps), then measure from a settled heap.
      const warm = await Promise.all(Array.from({ length: 32 }, connect));
      await waitFor(() => accepted.length >= warm.length, {
        timeoutMs: 30_000,
        intervalMs: 1,
        what: `the server to accept ${warm.length} warm-up connections`,
        detail: () => `${accepted.length} accepted`,
      });
      for (const s of [...warm, ...accepted.splice(0)]) s.destroy();
      await sleep(50);
      const before = await settle();

      const clients: nodeNet.Socket[] = [];
      for (let i = 0; i < PAIRS; i += 100) clients.push(...(await Promise.all(Array.from({ length: 100 }, connect))));
      await waitFor(() => accepted.length >= clients.length, {
        timeoutMs: 60_000,
        intervalMs: 1,
        what: `the server to accept ${clients.length} connections`,
        detail: () => `${accepted.length} accepted`,
      });
      const after = await settle();
      const sockets = [...clients, ...accepted];
      expectIdle(sockets);
      const heapPerSocket = (after.heapUsed - before.heapUsed) / sockets.length;
      const externalPerSocket = (after.arrayBuffers - before.arrayBuffers) / sockets.length;
      console.log(`${PAIRS} idle pairs: ${heapPerSocket.toFixed(0)} B heap, ${externalPerSocket.toFixed(0)} B ArrayBuffers per socket`);
      expect(externalPerSocket).toBeLessThan(256);
      expect(heapPerSocket).toBeLessThan(3000);

      // Used, then idle: one request and its echo on every connection.
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
      // The last echo on each connection is acknowledged after the delayed-ACK
      // time on the real clock; until then its send ring and per-flight state
      // are rightly held. Wait for every ACK (bounded), then check nothing stays.
      await waitFor(() => memoryHeld(sockets).cold === 0, {
        timeoutMs: 30_000,
        intervalMs: 10,
        what: 'every connection to have its echo acknowledged and go idle',
        detail: () => JSON.stringify(memoryHeld(sockets)),
      });
      expectIdle(sockets);
      // Every ring went back to the layers' pools, bounded whatever the number of connections.
      const retained = a.engine.tcp.ringPool.retainedBytes + b.engine.tcp.ringPool.retainedBytes;
      expect(retained).toBeLessThanOrEqual(2 * a.engine.tcp.ringPool.maxBytes);

      for (const s of sockets) s.destroy();
      srv.close();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
