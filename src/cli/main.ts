/** The `ustack` command line. */
import { ECHO_USAGE, echoCommand } from './echo.js';
import { PING_USAGE, pingCommand } from './ping.js';
import { STATS_USAGE, statsCommand } from './stats.js';
import { DEVICES_USAGE, bindCommand, devicesCommand, hugepagesCommand, selftestCommand, unbindCommand } from './devices.js';

const USAGE = `usage: ustack <command> [options]

commands:
  echo        TCP and UDP echo server on a NIC (ustack echo --help)
  devices     network PCI devices and whether ustack can use them
  bind        hand a NIC to userspace (uio_pci_generic or vfio-pci)
  unbind      give a NIC back to its kernel driver
  hugepages   reserve huge pages and mount hugetlbfs
  selftest    MII-loopback self-test of a bound e1000
  ping        ICMP echo from a stack on a NIC (e.g. to the gateway)
  stats       counters of a running ustack echo (ustack stats [pid])
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'echo':
      return echoCommand(rest);
    case 'devices':
      return devicesCommand(rest);
    case 'bind':
      return bindCommand(rest);
    case 'unbind':
      return unbindCommand(rest);
    case 'hugepages':
      return hugepagesCommand(rest);
    case 'selftest':
      return selftestCommand(rest);
    case 'ping':
      return pingCommand(rest);
    case 'stats':
      return statsCommand(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n${ECHO_USAGE}\n${DEVICES_USAGE}\n${PING_USAGE}\n${STATS_USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`ustack: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
