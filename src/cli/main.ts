/** The `ustack` command line. */
import { ECHO_USAGE, echoCommand } from './echo.js';

const USAGE = `usage: ustack <command> [options]

commands:
  echo        TCP and UDP echo server on a NIC (ustack echo --help)
`;

export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'echo':
      return echoCommand(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n${ECHO_USAGE}\n`);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`ustack: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}
