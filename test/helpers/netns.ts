/**
 * Helpers for interop tests that put ustack on a link with the Linux kernel
 * (TAP devices, network namespaces).
 */
import { execFileSync, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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

export interface BackgroundRun {
  /** Resolves when the process exits (never rejects). */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  kill(): void;
}

/** Starts a command without blocking the event loop (e.g. ping while the test reads the TAP). */
export function runBackground(cmd: string, args: readonly string[] = []): BackgroundRun {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => {
      child.on('error', (err) => resolve({ code: -1, signal: null, stdout, stderr: stderr + String(err) }));
      child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    },
  );
  return {
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
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
  socat: 'socat',
  curl: 'curl',
  dnsmasq: 'dnsmasq',
  hping3: 'hping3',
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

/** An interface name unique to this process and call, at most 15 characters (IFNAMSIZ - 1). */
export function uniqueIfName(prefix: string): string {
  const tail = `${process.pid.toString(36)}${(ifCounter++).toString(36)}`;
  const head = prefix.slice(0, Math.max(1, 15 - tail.length));
  return `${head}${tail}`.slice(0, 15);
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

/**
 * A /24 under 10.11.0.0/16 that no interface on this machine uses yet, so
 * parallel test runs do not route each other's traffic. Returns the third
 * octet; avoids 0 (the default in examples) unless nothing else is free.
 */
export function freeSubnet24(): number {
  const used = new Set<number>();
  const out = run('ip', ['-j', '-4', 'addr', 'show']);
  for (const link of JSON.parse(out) as IpLink[]) {
    for (const a of link.addr_info ?? []) {
      const m = /^10\.11\.(\d+)\./.exec(a.local);
      if (m) used.add(Number(m[1]));
    }
  }
  const start = 100 + (process.pid % 100);
  for (let i = 0; i < 255; i++) {
    const x = 1 + ((start + i) % 254);
    if (!used.has(x)) return x;
  }
  return 0;
}
