/**
 * Per-unit accounting that does not depend on the machine's load: one
 * scenario on two stacks' socket modules stepped by hand on a virtual clock
 * (test/helpers/socket-pair.ts), so a run repeats exactly. Run it under
 * `valgrind --tool=callgrind` (bench/count.sh does, twice, and divides the
 * difference in instructions by the difference in units), or alone for the
 * step and poll counts and CPU time.
 *
 *   node --single-threaded bench/.build/bench/count.js rr   N [WARM]   N 64 B request/response transactions
 *   node --single-threaded bench/.build/bench/count.js udp  N [WARM]   N 64 B UDP echoes, 64 in flight
 *   node --single-threaded bench/.build/bench/count.js bulk N [WARM]   N MiB through a 'data' reader (1 MiB writes)
 *   node --single-threaded bench/.build/bench/count.js bulk6 N [WARM]  the same over TCP over IPv6
 *
 * Prints one JSON line: the units, the engine polls and harness steps per
 * unit, CPU time per unit (µs), and heap allocated per unit (bytes, from
 * v8.GCProfiler as bench/lib.ts AllocMeter).
 */
import type * as nodeNet from 'node:net';
import type * as nodeDgram from 'node:dgram';
import { SocketPair } from '../test/helpers/socket-pair.js';
import { AllocMeter, cpuMicros, gc } from './lib.js';

const [scenario = 'rr', nArg = '20000', warmArg] = process.argv.slice(2);
const N = Number(nArg);
const WARM = Number(warmArg ?? (scenario.startsWith('bulk') ? 256 : 50_000));
const pair = new SocketPair(scenario === 'bulk6' ? { ipv6: true } : {});
if (scenario === 'bulk6') await pair.whenIpv6Ready();
/** The socket modules as node's (the same surface; UstackSocket's own types differ in details). */
const netA = pair.a.net as unknown as typeof import('node:net');
const netB = pair.b.net as unknown as typeof import('node:net');

type Runner = (n: number) => Promise<void>;

async function rr(): Promise<Runner> {
  let server: nodeNet.Socket | null = null;
  const srv = netB.createServer((s: nodeNet.Socket) => {
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => s.write(d));
    server = s;
  });
  srv.listen(7001, pair.b.address);
  const c = netA.connect(7001, pair.b.address);
  c.setNoDelay(true);
  await pair.run(() => server !== null);
  const payload = Buffer.alloc(64, 0x61);
  let done = 0;
  let got = 0;
  c.on('data', (d: Buffer) => {
    got += d.length;
    while (got >= 64) {
      got -= 64;
      done++;
      c.write(payload);
    }
  });
  return async (n) => {
    const target = done + n;
    c.write(payload);
    await pair.run(() => done >= target);
  };
}

async function udp(): Promise<Runner> {
  const srv = pair.b.dgram.createSocket('udp4') as unknown as nodeDgram.Socket;
  const cli = pair.a.dgram.createSocket('udp4') as unknown as nodeDgram.Socket;
  let bound = 0;
  srv.bind(7002, pair.b.address, () => bound++);
  cli.bind(0, pair.a.address, () => bound++);
  await pair.run(() => bound === 2);
  srv.on('message', (m: Buffer, r: nodeDgram.RemoteInfo) => srv.send(m, r.port, r.address));
  const payload = Buffer.alloc(64, 0x55);
  let done = 0;
  let running = false;
  cli.on('message', () => {
    done++;
    if (running) cli.send(payload, 7002, pair.b.address);
  });
  return async (n) => {
    const target = done + n;
    running = true;
    for (let i = 0; i < 64; i++) cli.send(payload, 7002, pair.b.address);
    await pair.run(() => done >= target);
    running = false;
    await pair.settle(); // the 64 in flight land
  };
}

async function bulk(host = pair.b.address): Promise<Runner> {
  const MiB = 1 << 20;
  const block = Buffer.alloc(MiB, 0x5a);
  let server: nodeNet.Socket | null = null;
  const srv = netB.createServer((s: nodeNet.Socket) => {
    server = s;
  });
  srv.listen(7003, host);
  const c = netA.connect(7003, host);
  let received = 0;
  c.on('data', (d: Buffer) => (received += d.length));
  await pair.run(() => server !== null);
  return async (n) => {
    const target = received + n * MiB;
    let sent = 0;
    const pump = (): void => {
      while (sent < n) {
        sent++;
        if (!server!.write(block)) {
          server!.once('drain', pump);
          return;
        }
      }
    };
    pump();
    await pair.run(() => received >= target);
  };
}

const bulk6 = (): Promise<Runner> => bulk(pair.b.address6);
const make: Record<string, () => Promise<Runner>> = { rr, udp, bulk, bulk6 };
if (!make[scenario]) throw new Error(`count: unknown scenario ${scenario} (rr, udp, bulk, bulk6)`);
const run = await make[scenario]!();
await run(WARM);
gc();
const polls0 = pair.polls;
const steps0 = pair.steps;
const cpu0 = cpuMicros();
const meter = new AllocMeter();
meter.start();
await run(N);
const alloc = meter.stop();
const cpu = cpuMicros() - cpu0;
console.log(
  JSON.stringify({
    scenario,
    units: N,
    unit: scenario.startsWith('bulk') ? 'MiB' : scenario === 'rr' ? 'transaction' : 'echo',
    pollsPerUnit: (pair.polls - polls0) / N,
    stepsPerUnit: (pair.steps - steps0) / N,
    cpuMicrosPerUnit: cpu / N,
    heapBytesPerUnit: alloc / N,
  }),
);
pair.close();
process.exit(0);
