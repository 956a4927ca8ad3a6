/** The `ustack` command line: `ustack <command> [options]`, or `ustack --version` / `--help`. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../driver/addon.js';
import { commandLine, runCommand } from './args.js';
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

options:
  -h, --help     this text, and every command's usage
  -v, --version  the version of ustack
`;

const GLOBAL_CLI = commandLine({ command: '', usage: USAGE, options: { version: { type: 'boolean', short: 'v' } } });

/** The version in ustack's package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return String(pkg.version);
}

function fullUsage(): string {
  return `${USAGE}\n${ECHO_USAGE}\n${DEVICES_USAGE}\n${PING_USAGE}\n${STATS_USAGE}\n`;
}

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
    case 'help':
      process.stdout.write(fullUsage());
      return 0;
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return 0;
    case undefined:
      process.stderr.write(fullUsage());
      return 2;
    default:
      if (cmd.startsWith('-')) return globalOptions(argv);
      process.stderr.write(`ustack: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

/** `ustack --version`, `ustack --help`; anything else before a command is a usage error. */
function globalOptions(argv: readonly string[]): Promise<number> {
  return runCommand(argv, { ...GLOBAL_CLI, usage: fullUsage().trimEnd() }, ({ values }) => {
    if (values.version) process.stdout.write(`${packageVersion()}\n`);
    return 0;
  });
}
