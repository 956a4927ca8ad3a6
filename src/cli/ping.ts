/**
 * `ustack ping`: opens a stack on a NIC, sends ICMP echo requests to a host
 * (e.g. the gateway) and prints the round-trip times, like ping(8).
 */
import { ipToString } from '../wire/ipv4.js';
import { Stack } from '../ustack.js';
import { flagString, parseArgs } from './args.js';

export const PING_USAGE = `usage: ustack ping --nic NIC --address A.B.C.D/LEN [--gateway A.B.C.D] [-c COUNT] HOST`;

export async function pingCommand(argv: readonly string[]): Promise<number> {
  const rest = [...argv];
  let count = 3;
  const ci = rest.indexOf('-c');
  if (ci >= 0) {
    count = Number(rest[ci + 1]);
    rest.splice(ci, 2);
  }
  const args = parseArgs(rest, new Set(['help']));
  const host = args.positional[0];
  const nic = flagString(args, 'nic') ?? process.env.USTACK_NIC;
  const address = flagString(args, 'address') ?? process.env.USTACK_ADDRESS;
  if (args.flags.has('help') || !host || !nic || !address || !Number.isInteger(count) || count < 1) {
    process.stderr.write(`${PING_USAGE}\n`);
    return 2;
  }
  const gateway = flagString(args, 'gateway') ?? process.env.USTACK_GATEWAY;
  const stack = await Stack.open({ nic, address, ...(gateway ? { gateway } : {}) });
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
