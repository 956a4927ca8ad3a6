/**
 * What the HTTP and WebSocket interop tests run over a link: a response body
 * of `count` copies of one block, written as fast as the connection drains,
 * and a WebSocket echo of numbered messages with up to 64 in flight.
 */
import type { ServerResponse } from 'node:http';
import { WebSocket } from 'ws';
import { withTimeout } from './wait.js';

/** Writes `count` copies of `block` to `res`, waiting for 'drain' whenever write() asks, then ends it. */
export function writeBlocks(res: ServerResponse, block: Uint8Array, count: number): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < count) {
      sent++;
      if (!res.write(block)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/**
 * Sends `message 0` .. `message total-1` through `ws` (once open), up to 64
 * in flight, and counts the echoes and those out of order or altered.
 * Bounded (60 s, the message names `what` and the progress); a socket left
 * short of `total` is terminated.
 */
export function wsEcho(ws: WebSocket, total: number, what: string): Promise<{ received: number; mismatches: number }> {
  let received = 0;
  let mismatches = 0;
  const done = new Promise<{ received: number; mismatches: number }>((resolve, reject) => {
    ws.on('error', reject);
    const start = (): void => {
      for (let i = 0; i < Math.min(64, total); i++) ws.send(`message ${i}`);
    };
    if (ws.readyState === WebSocket.OPEN) start();
    else ws.on('open', start);
    ws.on('message', (m) => {
      if (m.toString() !== `message ${received}`) mismatches++;
      received++;
      const next = received + 63;
      if (next < total) ws.send(`message ${next}`);
      if (received === total) {
        ws.close();
        resolve({ received, mismatches });
      }
    });
  });
  return withTimeout(done, { timeoutMs: 60_000, what, detail: () => `${received} of ${total} received, readyState ${ws.readyState}` }).finally(() => {
    if (received < total) ws.terminate();
  });
}
