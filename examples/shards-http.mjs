// One NIC, many workers: node:http served by two worker processes sharing
// one TAP device (the owner process steers each connection to a worker by
// the RSS hash of its 4-tuple; frames cross by slot index in shared memory).
//   sudo node examples/shards-http.mjs [workers]
//   curl http://10.11.0.2/          (answers "worker 0" or "worker 1")
import http from 'node:http';
import { Stack, ShardOwner, isShardWorker, serveHttp } from 'ustack';

const opts = { nic: 'tap:ushards0', address: '10.11.0.2/24', hostAddress: '10.11.0.1/24', workers: Number(process.argv[2] ?? 2) };

if (!isShardWorker()) {
  // The owner: opens the device and forks this same program `workers` times, as node:cluster does.
  const owner = await ShardOwner.open(opts);
  console.log(`owner ${process.pid}: ${opts.workers} workers (${[...owner.workers.values()].map((w) => w.pid).join(', ')}) on ${opts.address}`);
  owner.on('exit', (w, code, signal) => {
    if (owner.closing) return;
    console.log(`worker ${w.place} exited (${signal ?? code}); forking a replacement`);
    owner.fork(w.place);
  });
  process.once('SIGINT', () => owner.close());
} else {
  // A worker: a full stack on its share of the NIC. Every worker listens on
  // port 80 (SO_REUSEPORT semantics); listen right after open.
  const stack = await Stack.open(opts);
  const server = http.createServer((req, res) => res.end(`worker ${stack.shard.place} (pid ${process.pid})\n`));
  await serveHttp(stack.net, server, 80);
  process.once('SIGTERM', async () => {
    server.close();
    await stack.close();
  });
}
