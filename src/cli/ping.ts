/**
 * `ustack ping`: opens a stack on a NIC, sends ICMP echo requests to a host
 * (e.g. the gateway) and prints the round-trip times, like ping(8).
 */
import { ipToString } from '../wire/ipv4.js';
import { Stack } from '../ustack.js';
import { commandLine, integerOption, runCommand, singleOf } from './args.js';

export const PING_USAGE = `usage: ustack ping --nic NIC --address A.B.C.D/LEN [--gateway A.B.C.D] [-c|--count COUNT] HOST`;

const PING_CLI = commandLine({
  command: 'ping',
  usage: PING_USAGE,
  options: {
    nic: { type: 'string' },
    address: { type: 'string', multiple: true },
    gateway: { type: 'string' },
    count: { type: 'string', short: 'c' },
  },
  positionals: [1, 1],
  argument: 'HOST',
});

export function pingCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, PING_CLI, ({ values, positionals }) => {
    const nic = values.nic ?? process.env.USTACK_NIC;
    const address = singleOf(values.address, '--address') ?? process.env.USTACK_ADDRESS;
    if (!nic || !address) {
      process.stderr.write(`ustack ping: --nic and --address are required (or USTACK_NIC and USTACK_ADDRESS)\n${PING_USAGE}\n`);
      return 2;
    }
    const count = integerOption(values.count, '--count', 1, 1_000_000) ?? 3;
    const gateway = values.gateway ?? process.env.USTACK_GATEWAY;
    return ping(positionals[0]!, count, { nic, address, ...(gateway ? { gateway } : {}) });
  });
}

async function ping(host: string, count: number, opts: { nic: string; address: string; gateway?: string }): Promise<number> {
  const { address } = opts;
  const stack = await Stack.open(opts);
  if (address === 'dhcp') {
    const gw = stack.iface.gateway;
    process.stdout.write(`dhcp: leased ${stack.address}/${stack.iface.prefixLength}, gateway ${gw ? ipToString(gw) : 'none'}, dns ${stack.dnsServer ?? 'none'}\n`);
  }
  let answered = 0;
  try {
    for (let seq = 0; seq < count; seq++) {
      try {
        const rtt = await stack.ping(host, { seq, timeoutMs: 3000 });
        answered++;
        process.stdout.write(`64 bytes from ${host}: icmp_seq=${seq} time=${rtt.toFixed(2)} ms\n`);
      } catch {
        process.stdout.write(`no reply from ${host}: icmp_seq=${seq}\n`);
      }
    }
  } finally {
    await stack.close();
  }
  process.stdout.write(`${count} packets transmitted, ${answered} received\n`);
  return answered > 0 ? 0 : 1;
}
