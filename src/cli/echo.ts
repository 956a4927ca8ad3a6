/**
 * `ustack echo`: TCP and UDP echo on one port (RFC 862) over a NIC, the
 * project's main job. Prints the ready line once it can answer.
 */
import { Stack, type StackOptions } from '../ustack.js';
import { parseImpairSpec } from '../driver/nic-spec.js';
import { flagString, parseArgs } from './args.js';
import type { PollMode } from '../runtime/poll-loop.js';
import { removeStatsFile, writeStatsFile } from './stats.js';

export const ECHO_USAGE = `usage: ustack echo --nic tap:NAME|xdp:IF[?queue=N&mode=native|generic&shared=1]|e1000:PCI
                   --address A.B.C.D/LEN [--host-address A.B.C.D/LEN (tap)]
                   [--gateway A.B.C.D] [--port 7] [--mtu N] [--poll adaptive|busy] [--poll-slice MS]
                   [--impair loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001,delay=5ms]
                   [--capture FILE.pcap]`;

export async function echoCommand(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, new Set(['help']));
  if (args.flags.has('help')) {
    process.stdout.write(`${ECHO_USAGE}\n`);
    return 0;
  }
  const nic = flagString(args, 'nic') ?? process.env.USTACK_NIC;
  const address = flagString(args, 'address') ?? process.env.USTACK_ADDRESS;
  if (!nic || !address) {
    process.stderr.write(`${ECHO_USAGE}\n`);
    return 2;
  }
  const port = Number(flagString(args, 'port') ?? 7);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port must be 1..65535`);
  const opts: StackOptions = { nic, address };
  const gateway = flagString(args, 'gateway') ?? process.env.USTACK_GATEWAY;
  const hostAddress = flagString(args, 'host-address') ?? process.env.USTACK_HOST_ADDRESS;
  const mtu = flagString(args, 'mtu');
  const impair = flagString(args, 'impair');
  const poll = flagString(args, 'poll');
  const capture = flagString(args, 'capture');
  if (gateway) opts.gateway = gateway;
  if (hostAddress) opts.hostAddress = hostAddress;
  if (mtu) opts.mtu = Number(mtu);
  if (impair) opts.impair = parseImpairSpec(impair);
  const slice = flagString(args, 'poll-slice');
  if (poll || slice) opts.poll = { mode: (poll ?? 'adaptive') as PollMode, ...(slice ? { sliceMs: Number(slice) } : {}) };
  if (capture) opts.capture = capture;

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
  const tcpEcho = startTcpEcho(stack, port);
  process.stdout.write(`ustack echo listening on ${stack.address}:${port}\n`);

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
  process.on('SIGUSR2', printStats);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGUSR2', printStats);
  removeStatsFile();
  tcpEcho.close();
  udp.close();
  await stack.close();
  process.stdout.write('ustack echo stopped\n');
  return 0;
}

/** TCP echo: every connection's bytes go straight back (half-close honoured). */
function startTcpEcho(stack: Stack, port: number): { close(): void } {
  const server = stack.net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(port, '0.0.0.0');
  return server;
}
