/**
 * Child process of test/unit/heap-policy.test.ts (the policy is
 * process-wide, so each mode gets a process of its own): opens a pair of
 * stacks polling in the mode given (argv[2]: 'busy' or 'adaptive'), echoes
 * 8 MiB over TCP through the socket API, and reports whether the C library
 * heap's busy-poller policy is in effect.
 */
import { Stack } from '../../src/index.js';
import { freedHeapKept } from '../../src/driver/addon.js';
import type { PollMode } from '../../src/runtime/poll-loop.js';

const mode = process.argv[2] as PollMode;
const keptBefore = freedHeapKept();
const [a, b] = await Stack.pair(undefined, { poll: mode });
const server = b.net.createServer((s) => s.pipe(s));
await new Promise<void>((r) => server.listen(7, r));
const c = a.net.connect(7, b.address);
await new Promise<void>((r) => c.once('connect', r));
const total = 8 * 1024 * 1024;
let got = 0;
const echoed = new Promise<void>((r) => c.on('data', (d: Buffer) => { if ((got += d.length) >= total) r(); }));
const chunk = Buffer.alloc(64 * 1024, 1);
for (let sent = 0; sent < total; sent += chunk.length) {
  if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
}
await echoed;
c.destroy();
server.close();
await a.close();
await b.close();
process.stdout.write(`${JSON.stringify({ mode, echoed: got, keptBefore, kept: freedHeapKept() })}\n`);
