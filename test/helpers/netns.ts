/**
 * Helpers for interop tests that put ustack on a link with the Linux kernel
 * (TAP devices, network namespaces).
 */
import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { startChild, type ChildResult, type TrackedChild } from './children.js';
import { withTimeout } from './wait.js';

/** execFileSync wrapper: returns stdout as text; throws (with stderr in the message) on failure. */
export function run(cmd: string, args: readonly string[] = [], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
      ...(opts.input !== undefined ? { input: opts.input } : {}),
    });
  } catch (err) {
    const e = err as Error & { stderr?: string | Buffer; status?: number | null };
    const stderr = e.stderr ? String(e.stderr).trim() : '';
    e.message = `${cmd} ${args.join(' ')} failed (status ${String(e.status)})${stderr ? `: ${stderr}` : ''}`;
    throw e;
  }
}

export type BackgroundRun = TrackedChild;

/**
 * Starts a command without blocking the event loop (e.g. ping while the test
 * reads the TAP). The child is stopped when the test that started it ends
 * (test/helpers/children.ts); `done` resolves when it exits.
 */
export function runBackground(cmd: string, args: readonly string[] = [], what?: string): BackgroundRun {
  return startChild(cmd, args, what !== undefined ? { what } : {});
}

export interface BoundedRunOptions {
  /** Upper bound on the run; the child is killed after it. */
  timeoutMs: number;
  /** What the command is for (default: the command line). */
  what?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs a command to completion without blocking the event loop, as
 * promisify(execFile) does, but bounded: rejects when it exits non-zero (with
 * its output in the message) or runs longer than `timeoutMs` (it is killed,
 * and the message names it and shows its output so far).
 */
export async function runBounded(
  cmd: string,
  args: readonly string[],
  opts: BoundedRunOptions,
): Promise<{ stdout: string; stderr: string }> {
  const what = opts.what ?? `${[cmd, ...args].join(' ').slice(0, 200)} to finish`;
  const child = startChild(cmd, args, { what, ...(opts.env !== undefined ? { env: opts.env } : {}) });
  let res: ChildResult;
  try {
    res = await withTimeout(child.done, { timeoutMs: opts.timeoutMs, what, detail: () => child.describe() });
  } catch (err) {
    await child.stop();
    throw err;
  }
  if (res.code !== 0) {
    const e = new Error(`${cmd} ${args.join(' ')} failed (code ${String(res.code)}, signal ${String(res.signal)}): ${child.describe()}`);
    Object.assign(e, { code: res.code, stdout: res.stdout, stderr: res.stderr });
    throw e;
  }
  return { stdout: res.stdout, stderr: res.stderr };
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Why TAP tests cannot run here, or undefined if /dev/net/tun is usable. */
export function tunUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (!isRoot()) return 'not running as root (TAP devices need CAP_NET_ADMIN)';
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch (err) {
    return `/dev/net/tun cannot be opened: ${(err as Error).message}`;
  }
  return undefined;
}

/** True when running as root with an openable /dev/net/tun. */
export function hasTun(): boolean {
  return tunUnavailableReason() === undefined;
}

/** Full path of an executable on PATH (plus the sbin directories), or undefined. */
export function which(tool: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const extra of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const dir of dirs) {
    const p = join(dir, tool);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Debian package providing each tool the tests use. */
export const TOOL_PACKAGES: Readonly<Record<string, string>> = {
  ping: 'iputils-ping',
  arping: 'arping',
  tcpdump: 'tcpdump',
  nc: 'netcat-openbsd',
  tshark: 'tshark',
  ip: 'iproute2',
  tc: 'iproute2',
  socat: 'socat',
  curl: 'curl',
  dnsmasq: 'dnsmasq',
  hping3: 'hping3',
  ethtool: 'ethtool',
  strace: 'strace',
  openssl: 'openssl',
  ss: 'iproute2',
};

let aptUpdated = false;
const aptFailed = new Map<string, string>();

function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Other test runs may hold the dpkg lock: wait for it rather than failing.
  const install = (): string =>
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', '--no-install-recommends', ...packages], { env });
  try {
    install();
  } catch (err) {
    if (aptUpdated) throw err;
    aptUpdated = true;
    run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'], { env });
    install();
  }
}

/**
 * Makes sure the tools are installed, apt-get installing missing Debian
 * packages (once per process). Returns undefined when all are available, or
 * the reason they cannot be.
 */
export function ensureTools(tools: readonly string[]): string | undefined {
  const missing = tools.filter((t) => which(t) === undefined);
  if (missing.length === 0) return undefined;
  const unknown = missing.filter((t) => TOOL_PACKAGES[t] === undefined);
  if (unknown.length > 0) return `no known Debian package for: ${unknown.join(', ')}`;
  const packages = [...new Set(missing.map((t) => TOOL_PACKAGES[t]!))];
  const key = packages.join(' ');
  const previous = aptFailed.get(key);
  if (previous !== undefined) return previous;
  if (!isRoot()) return `missing ${missing.join(', ')} and not root to install ${key}`;
  if (which('apt-get') === undefined) return `missing ${missing.join(', ')} and no apt-get to install ${key}`;
  try {
    aptInstall(packages);
  } catch (err) {
    const reason = `apt-get install ${key} failed: ${(err as Error).message}`;
    aptFailed.set(key, reason);
    return reason;
  }
  const still = missing.filter((t) => which(t) === undefined);
  return still.length === 0 ? undefined : `still missing after installing ${key}: ${still.join(', ')}`;
}

let ifCounter = 0;
/** Base-36 digits of the pid (pid_max is at most 2^22 < 36^5) and of the per-process counter. */
const PID_DIGITS = 5;
const COUNTER_DIGITS = 2;
const MAX_PREFIX = 15 - PID_DIGITS - COUNTER_DIGITS;

/**
 * An interface name no other live process's call and no other call in this
 * process returns: the prefix (up to 8 characters), then the pid and a
 * counter as fixed-width base-36 fields, so two names are equal only when
 * prefix, pid and counter all are. A name left on the machine by a dead
 * process with the same pid is skipped. At most 15 characters (IFNAMSIZ - 1).
 */
export function uniqueIfName(prefix: string): string {
  if (!/^[a-z][a-z0-9]*$/.test(prefix)) throw new Error(`uniqueIfName: prefix must be [a-z][a-z0-9]*, got '${prefix}'`);
  const head = prefix.slice(0, MAX_PREFIX);
  const pid = process.pid.toString(36).padStart(PID_DIGITS, '0');
  for (;;) {
    if (ifCounter >= 36 ** COUNTER_DIGITS) throw new Error('uniqueIfName: this process used up its interface names');
    const name = `${head}${pid}${(ifCounter++).toString(36).padStart(COUNTER_DIGITS, '0')}`;
    if (!existsSync(`/sys/class/net/${name}`)) return name;
  }
}

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
}

export interface IpLink {
  ifname: string;
  flags: string[];
  mtu: number;
  operstate?: string;
  address?: string;
  addr_info?: IpAddrInfo[];
}

/** `ip -j addr show dev NAME`, parsed; undefined if the device does not exist. */
export function ipAddrShow(ifname: string): IpLink | undefined {
  let out: string;
  try {
    out = run('ip', ['-j', 'addr', 'show', 'dev', ifname]);
  } catch {
    return undefined;
  }
  const list = JSON.parse(out) as IpLink[];
  return list.find((l) => l.ifname === ifname);
}

/** Whether `ip link show NAME` finds the device. */
export function linkExists(ifname: string): boolean {
  try {
    run('ip', ['link', 'show', 'dev', ifname]);
    return true;
  } catch {
    return false;
  }
}

/** The device `ip route get ADDRESS` sends through (undefined if there is no route). */
export function routeDevice(address: string): string | undefined {
  try {
    const routes = JSON.parse(run('ip', ['-j', 'route', 'get', address])) as Array<{ dev?: string }>;
    return routes[0]?.dev;
  } catch {
    return undefined;
  }
}

/**
 * Throws unless traffic to `address` leaves over `ifname` (the test's own
 * TAP or veth): a test checks this before it sends to a test address, so a
 * mistaken address never reaches another test's link or the real network.
 */
export function assertRouteOver(address: string, ifname: string): void {
  const dev = routeDevice(address);
  if (dev !== ifname) throw new Error(`the route to ${address} leaves over ${dev ?? 'nothing'}, not the test's own ${ifname}`);
}

export { freeSubnet24 } from './subnet-claims.js';
