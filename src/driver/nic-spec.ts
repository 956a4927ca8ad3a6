/**
 * Parsing of the textual NIC and impairment specifications used by
 * Stack.open({ nic }), USTACK_NIC and the CLI's --nic / --impair.
 *
 *   tap:NAME                          a TAP device (NAME: 1-15 of [A-Za-z0-9_.-])
 *   e1000:DDDD:BB:SS.F[?access=uio|vfio][&tso=on|off]  an 8254x at that PCI address (default
 *                                     access: uio; tso: on; the domain may be omitted: BB:SS.F
 *                                     means 0000:BB:SS.F)
 *   virtio:DDDD:BB:SS.F[?access=uio|vfio][&queues=N][&tso=on|off]
 *                                     a virtio-net device (virtio 1.x over PCI) at that address; queues:
 *                                     queue pairs (default 1, at most 16); tso=off: neither TSO nor GSO
 *   xdp:IFNAME[?queue=N|all][&mode=native|generic][&zerocopy=auto|on|off][&busy=1][&shared=1]
 *                                     an AF_XDP socket on queue N (default 0) of any interface, or
 *                                     one on each of its queues (all);
 *                                     mode: default native where the driver has it, else generic;
 *                                     zerocopy: default auto; busy=1: busy polling (SO_PREFER_BUSY_POLL);
 *                                     shared=1: the stack uses the interface's own address and gets
 *                                     only its TCP/UDP ports (the kernel keeps ARP, ICMP, other ports)
 *   memory                            an in-process link (MemoryNic)
 *
 *   loss=0.02,reorder=5%,duplicate=0.01,corrupt=0.001,delay=5ms,jitter=1ms,rate=10mbit,queue=500,seed=1
 */
import type { ImpairOptions } from './impair.js';
import { ERR_INVALID_ARG_TYPE, ERR_INVALID_ARG_VALUE } from '../errors/node-errors.js';

export type NicSpec =
  | { kind: 'tap'; name: string }
  | { kind: 'e1000'; pci: string; access: 'uio' | 'vfio'; tso?: boolean }
  | { kind: 'virtio'; pci: string; access: 'uio' | 'vfio'; tso?: boolean; queues?: number }
  | { kind: 'xdp'; ifname: string; queue: number | 'all'; mode: 'auto' | 'native' | 'generic'; zerocopy: 'auto' | 'on' | 'off'; busyPoll: boolean; shared: boolean }
  | { kind: 'memory' };

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const PCI = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;

export function parseNicSpec(s: string): NicSpec {
  if (typeof s !== 'string') {
    throw ERR_INVALID_ARG_TYPE('nic', 'of type string', s);
  }
  const spec = s.trim();
  if (spec === 'memory') return { kind: 'memory' };
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? '' : spec.slice(colon + 1);
  switch (kind) {
    case 'tap': {
      if (!IFNAME.test(rest) || rest === '.' || rest === '..') {
        throw ERR_INVALID_ARG_VALUE(
          'nic',
          s,
          `has an invalid TAP interface name '${rest}' (expected 1-15 characters of A-Z a-z 0-9 _ . -)`,
        );
      }
      return { kind: 'tap', name: rest };
    }
    case 'e1000':
    case 'virtio':
      return parsePciNic(s, kind, rest);
    case 'xdp':
      return parseXdp(s, rest);
    default:
      throw ERR_INVALID_ARG_VALUE(
        'nic',
        s,
        `has an unknown kind '${kind}' (expected tap:NAME, e1000:DDDD:BB:SS.F[?access=uio|vfio], virtio:DDDD:BB:SS.F[?access=uio|vfio&queues=N&tso=on|off], xdp:IFNAME[?queue=N&mode=native|generic&zerocopy=auto|on|off&busy=1] or memory)`,
      );
  }
}

/** 'IFNAME[?queue=N&mode=..&zerocopy=..&busy=1]' after 'xdp:'. */
function parseXdp(s: string, rest: string): NicSpec {
  const q = rest.indexOf('?');
  const ifname = q < 0 ? rest : rest.slice(0, q);
  if (!IFNAME.test(ifname) || ifname === '.' || ifname === '..') {
    throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid interface name '${ifname}' (expected 1-15 characters of A-Z a-z 0-9 _ . -)`);
  }
  const spec = { kind: 'xdp' as const, ifname, queue: 0 as number | 'all', mode: 'auto' as 'auto' | 'native' | 'generic', zerocopy: 'auto' as 'auto' | 'on' | 'off', busyPoll: false, shared: false };
  if (q < 0) return spec;
  const seen = new Set<string>();
  for (const part of rest.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (seen.has(key)) throw ERR_INVALID_ARG_VALUE('nic', s, `repeats the option '${key}'`);
    seen.add(key);
    switch (key) {
      case 'queue':
        if (value === 'all') {
          spec.queue = 'all';
          break;
        }
        if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535) {
          throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid queue '${value}' (expected an integer 0-65535 or all)`);
        }
        spec.queue = Number(value);
        break;
      case 'mode':
        if (value !== 'native' && value !== 'generic' && value !== 'auto') {
          throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid mode '${value}' (expected native, generic or auto)`);
        }
        spec.mode = value;
        break;
      case 'zerocopy':
        if (value !== 'auto' && value !== 'on' && value !== 'off') {
          throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid zerocopy '${value}' (expected auto, on or off)`);
        }
        spec.zerocopy = value;
        break;
      case 'busy':
        if (value !== '1' && value !== '0') throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid busy '${value}' (expected 1 or 0)`);
        spec.busyPoll = value === '1';
        break;
      case 'shared':
        if (value !== '1' && value !== '0') throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid shared '${value}' (expected 1 or 0)`);
        spec.shared = value === '1';
        break;
      default:
        throw ERR_INVALID_ARG_VALUE('nic', s, `has an unknown option '${key}' (supported: queue=N|all, mode=native|generic, zerocopy=auto|on|off, busy=1, shared=1)`);
    }
  }
  return spec;
}

/** e1000:PCI?access&tso and virtio:PCI?access&tso&queues. */
function parsePciNic(s: string, kind: 'e1000' | 'virtio', rest: string): NicSpec {
  const q = rest.indexOf('?');
  const addr = q < 0 ? rest : rest.slice(0, q);
  const m = PCI.exec(addr);
  if (m === null) {
    throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid PCI address '${addr}' (expected DDDD:BB:SS.F, e.g. 0000:00:03.0)`);
  }
  const slot = parseInt(m[3]!, 16);
  if (slot > 0x1f) {
    throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid PCI address '${addr}' (device number ${m[3]} is above 1f)`);
  }
  const pci = `${(m[1] ?? '0000').toLowerCase()}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}.${m[4]}`;
  const keys = kind === 'virtio' ? ['access', 'tso', 'queues'] : ['access', 'tso'];
  const supported = kind === 'virtio' ? 'access=uio|vfio, queues=N, tso=on|off' : 'access=uio|vfio, tso=on|off';
  let access: 'uio' | 'vfio' = 'uio';
  let tso: boolean | undefined;
  let queues: number | undefined;
  if (q >= 0) {
    const seen = new Set<string>();
    for (const part of rest.slice(q + 1).split('&')) {
      const eq = part.indexOf('=');
      const key = eq < 0 ? part : part.slice(0, eq);
      const value = eq < 0 ? '' : part.slice(eq + 1);
      if (!keys.includes(key)) throw ERR_INVALID_ARG_VALUE('nic', s, `has an unknown option '${key}' (supported: ${supported})`);
      if (seen.has(key)) throw ERR_INVALID_ARG_VALUE('nic', s, `repeats the option '${key}'`);
      seen.add(key);
      if (key === 'tso') {
        if (value !== 'on' && value !== 'off') throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid tso '${value}' (expected on or off)`);
        tso = value === 'on';
      } else if (key === 'queues') {
        if (!/^[0-9]{1,2}$/.test(value) || Number(value) < 1 || Number(value) > 16) {
          throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid queues '${value}' (expected an integer from 1 to 16)`);
        }
        queues = Number(value);
      } else {
        if (value !== 'uio' && value !== 'vfio') throw ERR_INVALID_ARG_VALUE('nic', s, `has an invalid access '${value}' (expected uio or vfio)`);
        access = value;
      }
    }
  }
  if (kind === 'e1000') return tso === undefined ? { kind, pci, access } : { kind, pci, access, tso };
  return { kind, pci, access, ...(tso !== undefined ? { tso } : {}), ...(queues !== undefined ? { queues } : {}) };
}

const NUMBER = /^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?/i;

/** Splits '5ms' into [5, 'ms']; null if it does not start with a number. */
function splitUnit(v: string): [number, string] | null {
  const m = NUMBER.exec(v);
  if (m === null) return null;
  const n = Number(m[0]);
  if (!Number.isFinite(n)) return null;
  return [n, v.slice(m[0].length).trim().toLowerCase()];
}

const TIME_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, sec: 1000, us: 0.001, 'µs': 0.001, ns: 1e-6 };
const RATE_UNITS: Record<string, number> = {
  '': 1,
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  tbit: 1e12,
};

type Key = 'loss' | 'duplicate' | 'reorder' | 'corrupt' | 'delay' | 'jitter' | 'rate' | 'queueLimit' | 'seed';
const KEYS: Record<string, Key> = {
  loss: 'loss',
  drop: 'loss',
  duplicate: 'duplicate',
  dup: 'duplicate',
  reorder: 'reorder',
  corrupt: 'corrupt',
  delay: 'delay',
  latency: 'delay',
  jitter: 'jitter',
  rate: 'rate',
  queue: 'queueLimit',
  limit: 'queueLimit',
  queuelimit: 'queueLimit',
  seed: 'seed',
};

/**
 * Parses 'loss=0.02,reorder=5%,delay=5ms,rate=10mbit,seed=1' into ImpairOptions.
 * Probabilities: 0..1 or a percentage ('2%'). Times: ms (default), s, us, ns.
 * Rate: bit, kbit, mbit, gbit (decimal multiples, bits per second; plain
 * number = bit/s). queue (alias limit, queueLimit): integer >= 1. seed: integer >= 0.
 * The empty string means no impairment ({}).
 */
export function parseImpairSpec(s: string): ImpairOptions {
  if (typeof s !== 'string') {
    throw ERR_INVALID_ARG_TYPE('impair', 'of type string', s);
  }
  const out: ImpairOptions = {};
  const spec = s.trim();
  if (spec === '') return out;
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    const eq = part.indexOf('=');
    if (eq < 0) throw ERR_INVALID_ARG_VALUE('impair', s, `has '${part}' without '=' (expected key=value)`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    const key = KEYS[name.toLowerCase()];
    if (key === undefined) {
      throw ERR_INVALID_ARG_VALUE(
        'impair',
        s,
        `has an unknown key '${name}' (expected loss, duplicate, reorder, corrupt, delay, jitter, rate, queue, seed)`,
      );
    }
    if (out[key] !== undefined) throw ERR_INVALID_ARG_VALUE('impair', s, `sets '${key}' more than once`);
    const bad = (what: string): never => {
      throw ERR_INVALID_ARG_VALUE('impair', s, `has an invalid ${name} '${value}' (${what})`);
    };
    if (value.startsWith('-')) return bad('must not be negative');
    const nu = splitUnit(value);
    if (nu === null) return bad('not a number');
    const [n, unit] = nu;
    switch (key) {
      case 'loss':
      case 'duplicate':
      case 'reorder':
      case 'corrupt': {
        let p: number;
        if (unit === '%') p = n / 100;
        else if (unit === '') p = n;
        else return bad("expected a probability 0..1 or a percentage like '2%'");
        if (!(p >= 0 && p <= 1)) return bad('a probability must be between 0 and 1 (0% to 100%)');
        out[key] = p;
        break;
      }
      case 'delay':
      case 'jitter': {
        const mult = Object.hasOwn(TIME_UNITS, unit) ? TIME_UNITS[unit] : undefined;
        if (mult === undefined) return bad('expected a time such as 5ms, 0.5s, 200us');
        out[key] = n * mult;
        break;
      }
      case 'rate': {
        const mult = Object.hasOwn(RATE_UNITS, unit) ? RATE_UNITS[unit] : undefined;
        if (mult === undefined) return bad('expected a rate such as 10mbit, 512kbit, 1gbit');
        out.rate = n * mult;
        break;
      }
      case 'queueLimit':
        if (unit !== '' || !Number.isInteger(n) || n < 1 || n > 1 << 24) return bad('expected an integer >= 1');
        out.queueLimit = n;
        break;
      case 'seed':
        if (unit !== '' || !Number.isSafeInteger(n)) return bad('expected an integer >= 0');
        out.seed = n;
        break;
    }
  }
  return out;
}
