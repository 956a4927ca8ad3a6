/**
 * The `ustack` command line refuses what it does not understand: every
 * command parses strictly (node:util parseArgs), so an unknown option, an
 * option without its value, a stray argument or a value out of range prints
 * the message and the command's usage on stderr and exits 2; --help prints
 * the usage on stdout and exits 0; --version prints the package's version.
 * These run main() in-process (nothing is opened: every case fails or
 * answers before a stack would be); cli-bin.test.ts runs bin/ustack.js.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { main } from '../../src/cli/main.js';
import { commandLine, integerOption, parseCommandLine } from '../../src/cli/args.js';

const version = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** main(argv) with stdout and stderr captured (and the environment's USTACK_* defaults cleared). */
async function ustack(...argv: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  for (const k of ['USTACK_NIC', 'USTACK_ADDRESS', 'USTACK_GATEWAY', 'USTACK_HOST_ADDRESS']) vi.stubEnv(k, undefined);
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const ECHO = ['--nic', 'tap:unused0', '--address', '10.99.0.2/24'];

describe('ustack command line', () => {
  it('--version, -v and `version` print the package version', async () => {
    for (const arg of ['--version', '-v', 'version']) {
      const r = await ustack(arg);
      expect(r, arg).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('--help, -h and `help` print every usage on stdout and exit 0; no command prints it on stderr and exits 2', async () => {
    for (const arg of ['--help', '-h', 'help']) {
      const r = await ustack(arg);
      expect(r.code, arg).toBe(0);
      expect(r.stdout).toMatch(/^usage: ustack <command> \[options\]/);
      expect(r.stdout).toContain('usage: ustack echo');
      expect(r.stdout).toContain('-v, --version');
      expect(r.stderr).toBe('');
    }
    const none = await ustack();
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^usage: ustack <command>/);
  });

  it('an unknown global option or command is a usage error', async () => {
    const opt = await ustack('--bogus');
    expect(opt.code).toBe(2);
    expect(opt.stderr).toMatch(/^ustack: Unknown option '--bogus'\nusage: ustack <command>/);
    const cmd = await ustack('frobnicate');
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/^ustack: unknown command 'frobnicate'\nusage: ustack <command>/);
    const extra = await ustack('--version', 'echo');
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain("Unexpected argument 'echo'");
  });

  it('echo --bogus 3 is refused with the echo usage (before any NIC is opened)', async () => {
    const r = await ustack('echo', ...ECHO, '--bogus', '3');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^ustack echo: Unknown option '--bogus'\nusage: ustack echo --nic/);
  });

  it('an option without its value is refused, at the end or followed by another option', async () => {
    const end = await ustack('echo', ...ECHO, '--port');
    expect(end.code).toBe(2);
    expect(end.stderr).toMatch(/^ustack echo: Option '--port <value>' argument missing\nusage: ustack echo/);
    const ambiguous = await ustack('echo', '--port', '--nic', 'tap:x', '--address', '10.99.0.2/24');
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^ustack echo: Option '--port' argument is ambiguous/);
  });

  it('values out of range or of the wrong kind are refused by name', async () => {
    const cases: [string[], RegExp][] = [
      [['--port', '99999'], /--port must be an integer in 1\.\.65535, not '99999'/],
      [['--port', '7x'], /--port must be an integer in 1\.\.65535, not '7x'/],
      [['--mtu', 'big'], /--mtu must be an integer in 68\.\.65535/],
      [['--poll', 'fast'], /--poll must be one of adaptive, busy, not 'fast'/],
      [['--poll-slice=-1'], /--poll-slice must be a non-negative number/],
      [['--impair', 'foo=1'], /--impair: .*unknown key 'foo'/],
    ];
    for (const [extra, message] of cases) {
      const r = await ustack('echo', ...ECHO, ...extra);
      expect(r.code, extra.join(' ')).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(message);
      expect(r.stderr).toContain('usage: ustack echo');
    }
  });

  it('--address and --host-address are repeatable (IPv6 beside IPv4); a second IPv4 one or a malformed one is refused by name', async () => {
    const r = await ustack('echo', ...ECHO, '--address', '10.99.0.3/24');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ustack echo: The "--address" option takes one IPv4 address/);
    const h = await ustack('echo', ...ECHO, '--host-address', '10.99.0.1/24', '--host-address=10.99.0.9/24');
    expect(h.code).toBe(2);
    expect(h.stderr).toMatch(/^ustack echo: The "hostAddress" option takes one IPv4 address/);
    const bad = await ustack('echo', ...ECHO, '--address', 'fd00::zz/64');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ustack echo: The "--address" option must be an address with a prefix length.*fd00::zz\/64/);
  });

  it('echo without --nic/--address names what is missing; echo takes no positional arguments', async () => {
    const r = await ustack('echo', '--port', '7');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ustack echo: --nic and --address are required/);
    const p = await ustack('echo', ...ECHO, 'extra');
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(/^ustack echo: Unexpected argument 'extra'/);
  });

  it('every command answers --help / -h on stdout with exit 0', async () => {
    for (const cmd of ['echo', 'ping', 'stats', 'devices', 'bind', 'unbind', 'hugepages', 'selftest']) {
      for (const flag of ['--help', '-h']) {
        const r = await ustack(cmd, flag);
        expect(r.code, `${cmd} ${flag}`).toBe(0);
        expect(r.stdout, `${cmd} ${flag}`).toMatch(/^usage: ustack /);
        expect(r.stderr).toBe('');
      }
    }
  });

  it('the other commands refuse unknown options, missing and extra arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['ping', '--nic', 'tap:x', '--address', '10.99.0.2/24'], /^ustack ping: missing HOST\nusage: ustack ping/],
      [['ping', '--nic', 'tap:x', '--address', '10.99.0.2/24', '-c', '0', '10.99.0.1'], /^ustack ping: --count must be an integer in 1\.\./],
      [['ping', '--nic', 'tap:x', '--address', '10.99.0.2/24', '-x', '10.99.0.1'], /^ustack ping: Unknown option '-x'/],
      [['ping', '--nic', 'tap:x', '--address', '10.99.0.2/24', 'a', 'b'], /^ustack ping: unexpected argument 'b'/],
      [['stats', '--wait-ms', 'soon'], /^ustack stats: --wait-ms must be an integer/],
      [['stats', 'notapid'], /^ustack stats: PID must be an integer/],
      [['stats', '1', '2'], /^ustack stats: unexpected argument '2'/],
      [['devices', '--all'], /^ustack devices: Unknown option '--all'/],
      [['devices', 'extra'], /^ustack devices: Unexpected argument 'extra'/],
      [['bind'], /^ustack bind: missing the PCI address/],
      [['bind', '0000:00:03.0', '--uio', '--vfio'], /^ustack bind: --uio and --vfio exclude each other/],
      [['bind', '0000:00:03.0', '--iommu'], /^ustack bind: Unknown option '--iommu'/],
      [['unbind'], /^ustack unbind: missing the PCI address/],
      [['hugepages', 'many'], /^ustack hugepages: <n> must be an integer/],
      [['selftest', '0000:00:03.0', '--loop'], /^ustack selftest: Unknown option '--loop'/],
    ];
    for (const [argv, message] of cases) {
      const r = await ustack(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });
});

describe('parseCommandLine', () => {
  const spec = commandLine({
    command: 'demo',
    usage: 'usage: demo',
    options: { name: { type: 'string' }, many: { type: 'string', multiple: true }, flag: { type: 'boolean', short: 'f' } },
    positionals: [0, 2],
  });

  it('returns typed values: strings, repeated options as arrays, booleans, --opt=value', () => {
    const r = parseCommandLine(['--name=x', '--many', 'a', '-f', 'p1', '--many', 'b'], spec);
    expect(r.values).toEqual({ name: 'x', many: ['a', 'b'], flag: true });
    expect(r.positionals).toEqual(['p1']);
  });

  it('throws node-style errors for unknown options and missing values', () => {
    expect(() => parseCommandLine(['--nope'], spec)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }));
    expect(() => parseCommandLine(['--name'], spec)).toThrow(expect.objectContaining({ code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' }));
    expect(() => parseCommandLine(['a', 'b', 'c'], spec)).toThrow(expect.objectContaining({ code: 'ERR_USTACK_USAGE' }));
  });

  it('integerOption accepts only whole numbers in range', () => {
    expect(integerOption(undefined, '--n', 1, 9)).toBeUndefined();
    expect(integerOption('9', '--n', 1, 9)).toBe(9);
    for (const bad of ['0', '10', '1.5', '', ' ', '0x5', '1e1', 'NaN']) {
      expect(() => integerOption(bad, '--n', 1, 9), bad).toThrow(expect.objectContaining({ code: 'ERR_USTACK_USAGE' }));
    }
  });
});
