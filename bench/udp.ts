/**
 * 3. UDP echo, 64 B datagrams, 64 in flight: ustack dgram on a MemoryNic pair
 * vs node:dgram over 127.0.0.1, both in this process.
 */
import * as nodeDgram from 'node:dgram';
import { Stack } from '../src/ustack.js';
import { AllocMeter, alternate, gc, log, sleep, type BenchOptions, type Impl, type Row } from './lib.js';

type DSock = nodeDgram.Socket;

interface Setup {
  srv: DSock;
  cli: DSock;
  port: number;
  host: string;
  close(): Promise<void>;
}

function bound(s: DSock, port: number, host: string): Promise<number> {
  return new Promise((resolve) => s.bind(port, host, () => resolve(s.address().port)));
}

async function setup(impl: Impl, offloads = false): Promise<Setup> {
  let mk: (t: 'udp4') => DSock;
  let srvHost: string;
  let cliHost: string;
  let closeStacks = async (): Promise<void> => {};
  if (impl === 'ustack') {
    const [a, b] = await Stack.pair(undefined, offloads ? { offloads: true } : {});
    mk = b.dgram.createSocket as unknown as (t: 'udp4') => DSock;
    const mkA = a.dgram.createSocket as unknown as (t: 'udp4') => DSock;
    srvHost = b.address;
    cliHost = a.address;
    const srv = mk('udp4');
    const port = await bound(srv, 0, srvHost);
    const cli = mkA('udp4');
    await bound(cli, 0, cliHost);
    closeStacks = async () => {
      await a.close();
      await b.close();
    };
    srv.on('message', (m, r) => srv.send(m, r.port, r.address));
    return { srv, cli, port, host: srvHost, close: closeStacks };
  }
  mk = nodeDgram.createSocket;
  srvHost = cliHost = '127.0.0.1';
  const srv = mk('udp4');
  const port = await bound(srv, 0, srvHost);
  const cli = mk('udp4');
  await bound(cli, 0, cliHost);
  srv.on('message', (m, r) => srv.send(m, r.port, r.address));
  return { srv, cli, port, host: srvHost, close: closeStacks };
}

interface EchoResult {
  rate: number;
  allocPerMB: number;
  lost: number;
}

async function echoRound(s: Setup, ms: number, inFlight: number): Promise<EchoResult> {
  const payload = Buffer.alloc(64, 0x55);
  let replies = 0;
  let running = true;
  let outstanding = 0;
  const onMsg = (): void => {
    replies++;
    outstanding--;
    if (running) {
      outstanding++;
      s.cli.send(payload, s.port, s.host);
    }
  };
  s.cli.on('message', onMsg);
  gc();
  const meter = new AllocMeter();
  meter.start();
  const t0 = performance.now();
  for (let i = 0; i < inFlight; i++) {
    outstanding++;
    s.cli.send(payload, s.port, s.host);
  }
  await sleep(ms);
  running = false;
  const secs = (performance.now() - t0) / 1000;
  const counted = replies;
  const alloc = meter.stop();
  await sleep(50);
  s.cli.off('message', onMsg);
  // Each echo moves 64 B twice (request and reply).
  return { rate: counted / secs, allocPerMB: alloc / ((counted * 128) / 1e6), lost: outstanding };
}

export async function udpEcho(opts: BenchOptions, rows: Row[]): Promise<void> {
  // Also on the veth-like link (no checksums computed), as node's lo has it.
  for (const offloads of [false, true]) await udpEchoOnce(opts, rows, offloads);
}

async function udpEchoOnce(opts: BenchOptions, rows: Row[], offloads: boolean): Promise<void> {
  const scenario = `3 UDP echo 64 B, 64 in flight${offloads ? ' (ustack link: veth-like offloads)' : ''}`;
  const rate: Row = { scenario, metric: 'echoes/s', unit: '/s', ustack: [], node: [], target: 'ustack ≥ 8× node', higherIsBetter: true };
  const al: Row = { scenario, metric: 'V8 heap allocated per MB moved', unit: 'B/MB', ustack: [], node: [], target: 'no allocation per packet', higherIsBetter: false };
  const setups: Partial<Record<Impl, Setup>> = {};
  for (const impl of opts.impls) {
    setups[impl] = await setup(impl, offloads);
    await echoRound(setups[impl]!, 200, 64);
  }
  const run = (impl: Impl) => async (): Promise<EchoResult> => echoRound(setups[impl]!, opts.roundMs, 64);
  await alternate(opts, { ustack: run('ustack'), node: run('node') }, (impl, r) => {
    log(`  udp ${impl}: ${r.rate.toFixed(0)} echoes/s, ${r.allocPerMB.toFixed(0)} B/MB, ${r.lost} not answered`);
    rate[impl].push(r.rate);
    al[impl].push(r.allocPerMB);
  });
  for (const s of Object.values(setups)) {
    s.cli.close();
    s.srv.close();
    await s.close();
  }
  rows.push(rate, al);
}
