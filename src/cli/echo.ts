/**
 * `ustack echo`: TCP and UDP echo on one port (RFC 862) over a NIC, the
 * project's main job. Prints the ready line once it can answer.
 */
import { Stack, parseAddresses, splitHostAddresses, type StackOptions } from '../ustack.js';
import { parseImpairSpec } from '../driver/nic-spec.js';
import { choiceOption, commandLine, integerOption, numberOption, runCommand, singleOf, usageError } from './args.js';
import type { PollMode } from '../runtime/poll-loop.js';
import { removeStatsFile, writeStatsFile } from './stats.js';
import { ShardOwner } from '../shard/owner.js';
import { isShardWorker } from '../shard/worker.js';

export const ECHO_USAGE = `usage: ustack echo --nic tap:NAME|xdp:IF[?queue=N&mode=native|generic&shared=1]|e1000:PCI
                   --address A.B.C.D/LEN [--host-address A.B.C.D/LEN (tap)]
                   [--address fd00::2/64|slaac --host-address fd00::1/64]  (repeatable: IPv6 beside IPv4)
                   [--gateway A.B.C.D] [--port 7] [--mtu N] [--poll adaptive|busy] [--poll-slice MS]
                   [--impair loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001,delay=5ms]
                   [--capture FILE.pcap] [--workers N (tap, xdp, virtio over UIO: N worker processes share the NIC)]`;

const ECHO_CLI = commandLine({
  command: 'echo',
  usage: ECHO_USAGE,
  options: {
    nic: { type: 'string' },
    // Repeatable in DESIGN.md (dual stack); one IPv4 address for now.
    address: { type: 'string', multiple: true },
    'host-address': { type: 'string', multiple: true },
    gateway: { type: 'string' },
    port: { type: 'string' },
    mtu: { type: 'string' },
    poll: { type: 'string' },
    'poll-slice': { type: 'string' },
    impair: { type: 'string' },
    capture: { type: 'string' },
    workers: { type: 'string' },
  },
});

export function echoCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, ECHO_CLI, async ({ values }) => {
    const nic = values.nic ?? process.env.USTACK_NIC;
    // Repeatable for dual stack: one IPv4 address (or dhcp) and IPv6 ones (or slaac); one with --workers.
    const addressList = values.address ?? (process.env.USTACK_ADDRESS !== undefined ? [process.env.USTACK_ADDRESS] : []);
    const address = addressList.length > 1 && values.workers === undefined ? addressList : singleOf(addressList, '--address');
    if (!nic || !address) {
      process.stderr.write(`ustack echo: --nic and --address are required (or USTACK_NIC and USTACK_ADDRESS)\n${ECHO_USAGE}\n`);
      return 2;
    }
    if (Array.isArray(address)) checkOption(() => parseAddresses(address, '--address'));
    const port = integerOption(values.port, '--port', 1, 65535) ?? 7;
    const opts: StackOptions = { nic, address };
    const gateway = values.gateway ?? process.env.USTACK_GATEWAY;
    const hostList = values['host-address'] ?? (process.env.USTACK_HOST_ADDRESS !== undefined ? [process.env.USTACK_HOST_ADDRESS] : []);
    const hostAddress = hostList.length > 1 && values.workers === undefined ? hostList : singleOf(hostList, '--host-address');
    const mtu = integerOption(values.mtu, '--mtu', 68, 65535);
    const poll = choiceOption<PollMode>(values.poll, '--poll', ['adaptive', 'busy']);
    const slice = numberOption(values['poll-slice'], '--poll-slice');
    if (gateway) opts.gateway = gateway;
    if (Array.isArray(hostAddress)) checkOption(() => splitHostAddresses(hostAddress));
    if (hostAddress) opts.hostAddress = hostAddress;
    if (mtu !== undefined) opts.mtu = mtu;
    if (values.impair !== undefined) opts.impair = impairOption(values.impair);
    if (poll !== undefined || slice !== undefined) opts.poll = { mode: poll ?? 'adaptive', ...(slice !== undefined ? { sliceMs: slice } : {}) };
    if (values.capture !== undefined) opts.capture = values.capture;
    const workers = integerOption(values.workers, '--workers', 1, 64);
    if (workers === undefined) return serveEcho(opts, port);
    // One NIC, many workers: this process owns the device and forks the
    // workers, each running this same command line as a shard.
    if (isShardWorker()) return serveEcho({ ...opts, workers }, port, true);
    return ownEcho(opts, port, workers);
  });
}

/** Runs an option check of Stack.open's, its refusal being a usage error. */
function checkOption(check: () => unknown): void {
  try {
    check();
  } catch (err) {
    throw usageError((err as Error).message);
  }
}

/** --impair's spec, a malformed one being a usage error. */
function impairOption(spec: string): ReturnType<typeof parseImpairSpec> {
  try {
    return parseImpairSpec(spec);
  } catch (err) {
    throw usageError(`--impair: ${(err as Error).message}`);
  }
}

/**
 * Owner of a shared NIC: steers frames to `workers` echo workers, replaces
 * a worker that exits, writes every worker's counters on SIGUSR2 (`ustack
 * stats`), stops them all on SIGINT or SIGTERM.
 */
async function ownEcho(opts: StackOptions, port: number, workers: number): Promise<number> {
  if (opts.impair !== undefined || opts.capture !== undefined || opts.poll !== undefined) {
    throw usageError('--workers: --impair, --capture and --poll apply to a single stack (leave them out)');
  }
  const owner = await ShardOwner.open({
    nic: opts.nic!,
    address: opts.address as string,
    ...(opts.hostAddress !== undefined ? { hostAddress: opts.hostAddress as string } : {}),
    ...(opts.gateway !== undefined ? { gateway: opts.gateway } : {}),
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    workers,
    respawn: true,
  });
  let stopping = false;
  owner.on('exit', (w, code, signal) => {
    const next = stopping ? '' : '; starting a replacement';
    process.stderr.write(`ustack echo: worker ${w.place} (pid ${String(w.pid)}) exited (code ${String(code)}, signal ${String(signal)})${next}\n`);
  });
  owner.on('online', (w) => process.stderr.write(`ustack echo: worker ${w.place} (pid ${String(w.pid)}) online\n`));
  const address = (opts.address as string).split('/')[0];
  process.stdout.write(`ustack echo listening on ${address}:${port} (${workers} workers: ${[...owner.workers.values()].map((w) => w.pid).join(', ')})\n`);
  const printStats = (): void => {
    owner.stats().then(
      (stats) => {
        process.stderr.write(`${JSON.stringify(stats)}\n`);
        try {
          writeStatsFile(stats);
        } catch (err) {
          process.stderr.write(`ustack echo: cannot write stats file: ${(err as Error).message}\n`);
        }
      },
      (err: Error) => process.stderr.write(`ustack echo: stats: ${err.message}\n`),
    );
  };
  process.on('SIGUSR2', printStats);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGUSR2', printStats);
  removeStatsFile();
  stopping = true;
  await owner.close();
  process.stdout.write('ustack echo stopped\n');
  return 0;
}

/**
 * Opens the stack and answers TCP and UDP on `port` until SIGINT or
 * SIGTERM. A shard worker says nothing on stdout (its owner does) and
 * leaves SIGINT to the owner, which stops its workers itself.
 */
async function serveEcho(opts: StackOptions, port: number, worker = false): Promise<number> {
  const stack = await Stack.open(opts);
  stack.ref();
  // UDP echo: send each datagram back to where it came from.
  const udp = stack.endpoints.udpBind(
    0,
    port,
    {
      onDatagram: (src, srcPort, _dst, buf, off, len) => {
        udp.send(src, srcPort, buf, off, len);
      },
    },
    false,
  );
  // UDP echo over IPv6 (TCP: the dual-stack listener below).
  const udp6 = stack.iface.v6 === null ? null : stack.engine.udp6.bind(port, {
    onDatagram: (src, srcPort, buf, off, len) => {
      udp6!.send(src.slice(), srcPort, buf, off, len);
    },
  });
  // IPv6 is not steered to shard workers: they listen on IPv4 only.
  const tcpEcho = startTcpEcho(stack, port, stack.iface.v6 !== null && !worker);
  if (!worker) {
    // Every address it answers on: the IPv4 one first, then each IPv6 one (ICMPv6, UDP and TCP echo).
    const v6 = stack.addresses.filter((a) => a.includes(':')).map((a) => `, [${a}]:${port}`);
    process.stdout.write(`ustack echo listening on ${stack.address}:${port}${v6.join('')}\n`);
  }

  const printStats = (): void => {
    const stats = stack.stats();
    process.stderr.write(`${JSON.stringify(stats)}\n`);
    // For `ustack stats`: the same counters in <run dir>/<pid>.json.
    try {
      writeStatsFile(stats);
    } catch (err) {
      process.stderr.write(`ustack echo: cannot write stats file: ${(err as Error).message}\n`);
    }
  };
  const ignore = (): void => {};
  if (worker) process.on('SIGINT', ignore);
  else process.on('SIGUSR2', printStats);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    if (!worker) process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGUSR2', printStats);
  process.off('SIGINT', ignore);
  if (!worker) removeStatsFile();
  tcpEcho.close();
  udp.close();
  udp6?.close();
  await stack.close();
  if (!worker) process.stdout.write('ustack echo stopped\n');
  return 0;
}

/** TCP echo: every connection's bytes go straight back (half-close honoured); on :: (dual-stack) with `ipv6`. */
function startTcpEcho(stack: Stack, port: number, ipv6: boolean): { close(): void } {
  const server = stack.net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(port, ipv6 ? '::' : '0.0.0.0');
  return server;
}
