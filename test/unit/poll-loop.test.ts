/**
 * The real-time poll loop's slices: while it polls inside one event-loop turn
 * (no epoll_wait per poll), Node's timers, setImmediate callbacks and kernel
 * I/O still run — timers and immediates as soon as they are due (the addon's
 * eventLoopDue), other I/O at the latest when the slice ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as nodeNet from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Stack } from '../../src/ustack.js';

const open: Stack[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function pair(poll: NonNullable<Parameters<typeof Stack.pair>[1]>['poll']): Promise<[Stack, Stack]> {
  const [a, b] = await Stack.pair(undefined, { poll });
  open.push(a, b);
  return [a, b];
}

/** Echoes `bytes` through a ustack TCP connection from b to a; resolves with both digests. */
async function echoThrough(a: Stack, b: Stack, bytes: number, during?: () => void): Promise<{ sent: string; got: string }> {
  const server = a.net.createServer((s) => s.pipe(s));
  await new Promise<void>((res) => server.listen(7000, res));
  const data = randomBytes(bytes);
  const got = createHash('sha256');
  let n = 0;
  await new Promise<void>((res, rej) => {
    const c = b.net.connect(7000, '10.0.0.1', () => {
      during?.();
      c.end(data);
    });
    c.on('data', (d: Buffer) => {
      got.update(d);
      n += d.length;
    });
    c.on('error', rej);
    c.on('close', () => res());
  });
  server.close();
  expect(n).toBe(bytes);
  return { sent: createHash('sha256').update(data).digest('hex'), got: got.digest('hex') };
}

describe('poll loop slices', () => {
  it('busy mode with a slice far longer than the test still runs timers and setImmediate as they fall due', async () => {
    const [a, b] = await pair({ mode: 'busy', sliceMs: 600_000 });
    const fired: string[] = [];
    const r = await echoThrough(a, b, 2 << 20, () => {
      setTimeout(() => fired.push('timeout'), 1);
      setImmediate(() => fired.push('immediate'));
    });
    expect(r.got).toBe(r.sent);
    // The transfer completes only while the slice runs on; without eventLoopDue
    // these would wait for the 10-minute slice to end.
    await new Promise((res) => setTimeout(res, 5));
    expect(fired.sort()).toEqual(['immediate', 'timeout']);
    // Idle but busy: the loop polls on inside one turn until the 30 ms timer
    // is due, instead of one poll (and one epoll_wait) per event-loop turn.
    // (A listening server holds a reference: busy mode spins only while referenced.)
    const server = b.net.createServer();
    await new Promise<void>((res) => server.listen(7001, res));
    const before = b.stats().poll!;
    await new Promise((res) => setTimeout(res, 30));
    const after = b.stats().poll!;
    server.close();
    const polls = after.polls! - before.polls!;
    const slices = after.slices! - before.slices!;
    expect(polls).toBeGreaterThan(100 * Math.max(1, slices));
  });

  it('a slice ends after sliceMs, so I/O on kernel sockets is served while ustack stays busy', async () => {
    const [a, b] = await pair({ mode: 'busy', sliceMs: 5 });
    const kernel = nodeNet.createServer((s) => s.pipe(s));
    await new Promise<void>((res) => kernel.listen(0, '127.0.0.1', res));
    const port = (kernel.address() as AddressInfo).port;
    let kernelEchoes = 0;
    const ping = (): Promise<void> =>
      new Promise((res, rej) => {
        const c = nodeNet.connect(port, '127.0.0.1', () => c.end('x'));
        c.on('data', () => kernelEchoes++);
        c.on('error', rej);
        c.on('close', () => res());
      });
    let kernelDone: Promise<void> = Promise.resolve();
    const r = await echoThrough(a, b, 1 << 20, () => {
      kernelDone = (async () => {
        for (let i = 0; i < 5; i++) await ping();
      })();
    });
    expect(r.got).toBe(r.sent);
    await kernelDone;
    kernel.close();
    expect(kernelEchoes).toBe(5);
  });

  it('adaptive mode chains polls while frames flow and goes back to sleeping after', async () => {
    const [a, b] = await pair({ mode: 'adaptive', sliceMs: 50 });
    const r = await echoThrough(a, b, 1 << 20);
    expect(r.got).toBe(r.sent);
    await new Promise((res) => setTimeout(res, 20));
    const stats = b.stats().poll!;
    expect(stats.slices).toBeGreaterThan(0);
    expect(stats.polls).toBeGreaterThan(stats.slices!);
    expect(stats.sleeps).toBeGreaterThan(0);
  });

  it('a request/response costs each stack about one poll and the thread a few clock readings (not four polls and eleven)', async () => {
    const [a, b] = await pair({ mode: 'adaptive' });
    const server = a.net.createServer((s) => {
      s.setNoDelay(true);
      s.on('data', (d: Buffer) => s.write(d));
    });
    await new Promise<void>((res) => server.listen(7001, res));
    const c = b.net.connect(7001, a.address);
    await new Promise<void>((res) => c.once('connect', () => res()));
    c.setNoDelay(true);
    const msg = Buffer.alloc(64, 7);
    const N = 2000;
    const p0 = a.stats().poll!.polls! + b.stats().poll!.polls!;
    const realNow = performance.now.bind(performance);
    let reads = 0;
    performance.now = () => {
      reads++;
      return realNow();
    };
    try {
      await new Promise<void>((res) => {
        let n = 0;
        c.on('data', () => (++n === N ? res() : c.write(msg)));
        c.write(msg);
      });
    } finally {
      performance.now = realNow;
    }
    const polls = a.stats().poll!.polls! + b.stats().poll!.polls! - p0;
    console.log(`[poll-loop] ${N} request/responses: ${polls} polls (both stacks), ${reads} clock readings`);
    c.destroy();
    server.close();
    // Each side's poll that takes the segment also sends the answer; a poll
    // that drained the queue is not repeated. Slack for slice boundaries.
    expect(polls / N).toBeLessThan(3);
    expect(reads / N).toBeLessThan(6);
  });

  it('rejects bad poll options with node-style errors', () => {
    expect(() => Stack.openSync({ poll: 'turbo' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Stack.openSync({ poll: { sliceMs: -1 } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => Stack.openSync({ poll: { idleMs: Number.NaN } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
