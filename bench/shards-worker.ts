/**
 * A shard worker for scenario 8 (bench/shards.ts): forked by the owner
 * (ShardOwner), it opens its stack on its share of the TAP and serves
 * node:http on port 80, TCP echo on 7 and a TCP sink on 9, like every
 * other worker (each listens: SO_REUSEPORT semantics). With BENCH_SINGLE_NIC
 * it is the reference instead: one ordinary stack on a TAP of its own, no
 * owner, the same servers.
 */
import * as http from 'node:http';
import { Stack } from '../src/ustack.js';
import { serveHttp } from '../src/socket/http.js';

const single = process.env.BENCH_SINGLE_NIC;
const stack = single
  ? await Stack.open({ nic: single, address: process.env.BENCH_SHARD_ADDRESS!, hostAddress: process.env.BENCH_SINGLE_HOST! })
  : await Stack.open({ workers: Number(process.env.BENCH_SHARD_WORKERS), address: process.env.BENCH_SHARD_ADDRESS });
stack.ref();
const body = Buffer.from('hello from a ustack shard\n');
const web = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(body);
});
await serveHttp(stack.net, web, 80);
const echo = stack.net.createServer((s) => {
  s.setNoDelay(true);
  s.on('data', (d: Buffer) => s.write(d));
  s.on('error', () => {});
});
echo.listen(7, '0.0.0.0');
const sink = stack.net.createServer((s) => {
  s.resume();
  s.on('end', () => s.end());
  s.on('error', () => {});
});
sink.listen(9, '0.0.0.0');
process.once('SIGTERM', () => {
  web.close();
  echo.close();
  sink.close();
  stack.unref();
  void stack.close();
});
if (single) process.send?.('ready');
