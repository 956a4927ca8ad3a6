/**
 * A large write through the socket API is lent to TCP (sent straight from
 * the application's Buffer, net-socket.ts LEND_MIN): the write completes
 * once the peer acknowledged it, and a socket destroyed while it is in
 * progress keeps only what it had sent — the application may reuse its
 * Buffer at once, and the peer never sees what it writes there afterwards.
 * Two stacks' sockets stepped on a virtual clock (test/helpers/socket-pair.ts).
 */
import { describe, expect, it } from 'vitest';
import type * as nodeNet from 'node:net';
import { SocketPair } from '../helpers/socket-pair.js';
import { bytesCopied } from '../../src/wire/bytes.js';

function pattern(len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + (i >>> 9)) & 0xff;
  return b;
}

async function connected(pair: SocketPair): Promise<{ client: nodeNet.Socket; server: () => nodeNet.Socket | null; received: Buffer[]; ended: () => boolean }> {
  const net = { a: pair.a.net as unknown as typeof import('node:net'), b: pair.b.net as unknown as typeof import('node:net') };
  let server: nodeNet.Socket | null = null;
  const received: Buffer[] = [];
  let ended = false;
  const srv = net.b.createServer((s) => {
    server = s;
    s.on('data', (d: Buffer) => received.push(d));
    s.on('end', () => (ended = true));
    s.on('error', () => {});
  });
  srv.listen(7100, pair.b.address);
  const client = net.a.connect(7100, pair.b.address);
  client.on('error', () => {});
  await pair.run(() => server !== null);
  return { client, server: () => server, received, ended: () => ended };
}

describe('lent writes through the socket API', () => {
  it('a 4 MiB write is sent from the caller\'s Buffer (no copy into the send ring) and completes once acknowledged', async () => {
    const pair = new SocketPair();
    const c = await connected(pair);
    const data = pattern(4 << 20);
    let done = false;
    const copied0 = bytesCopied();
    c.client.write(data, () => (done = true));
    // Not complete while bytes are unacknowledged.
    await pair.run(() => c.received.reduce((n, b) => n + b.length, 0) > 1 << 20);
    expect(done).toBe(false);
    await pair.run(() => done);
    const got = Buffer.concat(c.received);
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
    // frame <- caller's Buffer, reader's Buffer <- frame (the reader's first chunks come through the ring).
    const copies = (bytesCopied() - copied0) / data.length;
    expect(copies).toBeLessThan(2.1);
    pair.close();
  });

  it('destroyed mid-write: the peer gets a prefix of the data, never bytes written into the Buffer after destroy()', async () => {
    const pair = new SocketPair();
    const c = await connected(pair);
    const data = pattern(4 << 20);
    const lent = Buffer.from(data);
    let cbErr: unknown = 'not called';
    c.client.write(lent, (err) => (cbErr = err));
    await pair.run(() => c.received.reduce((n, b) => n + b.length, 0) > 256 << 10);
    c.client.destroy();
    lent.fill(0xee); // the application reuses its Buffer
    await pair.run(() => c.ended() || c.server()?.destroyed === true, 10_000).catch(() => {});
    await pair.settle();
    const got = Buffer.concat(c.received);
    expect(got.length).toBeGreaterThan(256 << 10);
    expect(got.length).toBeLessThan(data.length);
    expect(got.equals(data.subarray(0, got.length))).toBe(true);
    expect(cbErr).not.toBe('not called');
    pair.close();
  });
});
