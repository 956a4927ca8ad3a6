/**
 * A small DNS stub resolver (RFC 1035) over the stack's own UDP: A and AAAA
 * records (RFC 3596; both asked at once for family 0), CNAME chains, retries with timeouts on the stack's timer wheel (so tests
 * run it on a virtual clock), a random query ID and a random source port per
 * query (RFC 5452), and a `lookup()` with node's `dns.lookup` signature so
 * `net.connect({ lookup })` and dgram sockets resolve names through it.
 *
 * Answers are accepted only from the server we asked, from port 53, with our
 * ID and our question echoed back; anything else is ignored (and counted by
 * reason). Source, port and ID are checked on the raw bytes before any name
 * is decoded, so a blind spoofer's replies cost no parsing.
 *
 * The codec (encodeMessage/decodeMessage) is pure: decoding never reads
 * outside its input and throws nothing but DnsFormatError. Name
 * decompression is bounded: at most MAX_NAME_POINTERS pointers per name and
 * a work budget linear in the message length (one step per label or pointer
 * followed), so a message of chained compression pointers costs linear, not
 * quadratic, work.
 */
import { isIP } from 'node:net';
import { inspect } from 'node:util';
import { randomInt } from 'node:crypto';
import { ADDRCONFIG, ALL, V4MAPPED, getDefaultResultOrder } from 'node:dns';
import type { UdpEndpoint, UdpLayer } from '../udp/udp-layer.js';
import { UdpBindError } from '../udp/udp-layer.js';
import type { Clock } from '../../time/clock.js';
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import { ipToString, parseIpv4Address } from '../../wire/ipv4.js';
import { ipv6ToString, parseIpv6Address } from '../../wire/ipv6.js';
import { codedError, ERR_INVALID_ARG_TYPE } from '../../errors/node-errors.js';

// ------------------------------------------------------------------ codec

export const DNS_TYPE_A = 1;
export const DNS_TYPE_NS = 2;
export const DNS_TYPE_CNAME = 5;
export const DNS_TYPE_SOA = 6;
export const DNS_TYPE_PTR = 12;
export const DNS_TYPE_MX = 15;
export const DNS_TYPE_TXT = 16;
export const DNS_TYPE_AAAA = 28;
export const DNS_CLASS_IN = 1;

export const DNS_RCODE_NOERROR = 0;
export const DNS_RCODE_FORMERR = 1;
export const DNS_RCODE_SERVFAIL = 2;
export const DNS_RCODE_NXDOMAIN = 3;
export const DNS_RCODE_REFUSED = 5;

/** Thrown by decodeMessage for malformed input, and by encodeMessage for unencodable names. */
export class DnsFormatError extends Error {
  override readonly name = 'DnsFormatError';
}

export interface DnsQuestion {
  /** Dotted, without the trailing dot; '' is the root. */
  name: string;
  type: number;
  class: number;
}

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  /** A: dotted address; AAAA: IPv6 text (RFC 5952); CNAME/NS/PTR: a name; others: undefined (see rdata). */
  data?: string;
  /** Raw RDATA for types the codec does not interpret. */
  rdata?: Uint8Array;
}

export interface DnsMessage {
  id: number;
  /** QR: true in a response. */
  response: boolean;
  opcode: number;
  authoritative: boolean;
  truncated: boolean;
  recursionDesired: boolean;
  recursionAvailable: boolean;
  /** The Z bits (3), kept for a faithful round trip. */
  z: number;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

const NAME_TYPES = new Set([DNS_TYPE_CNAME, DNS_TYPE_NS, DNS_TYPE_PTR]);
const MAX_MESSAGE = 65535;

/**
 * Compression pointers followed in one name. Real encoders point each name
 * at most a few suffixes deep (Go's resolver allows 10); a long chain is
 * only ever an attack.
 */
export const MAX_NAME_POINTERS = 32;
/**
 * Name-decoding steps (labels read plus pointers followed) per message byte,
 * plus a constant: the per-message budget, so the work stays linear in the
 * message length whatever the per-name limit. Within MAX_NAME_POINTERS the
 * worst a message can do is about 27 steps per byte (6-byte questions, each
 * a 32-pointer chain to a 127-label name); a legitimate one, a few.
 */
export const NAME_STEPS_PER_BYTE = 32;
const NAME_STEPS_BASE = 256;

/** The step budget decodeMessage allows a message of `length` bytes. */
export function nameStepBudget(length: number): number {
  return NAME_STEPS_BASE + NAME_STEPS_PER_BYTE * length;
}

/** Counts name-decoding steps (labels read plus pointers followed) across decodeMessage calls. */
export interface DnsDecodeWork {
  steps: number;
  /** The step budget per message, instead of nameStepBudget(length). */
  budget?: number;
}

/** Splits a dotted name into labels, validating lengths (63 per label, 255 total on the wire). */
function labelsOf(name: string): Uint8Array[] {
  if (name === '' || name === '.') return [];
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels: Uint8Array[] = [];
  let wire = 1;
  for (const part of trimmed.split('.')) {
    const bytes = Buffer.from(part, 'latin1');
    if (bytes.length === 0) throw new DnsFormatError(`empty label in name '${name}'`);
    if (bytes.length > 63) throw new DnsFormatError(`label longer than 63 bytes in name '${name}'`);
    // Labels with a literal '.' cannot come from a dotted string; bytes are latin1.
    labels.push(bytes);
    wire += bytes.length + 1;
  }
  if (wire > 255) throw new DnsFormatError(`name longer than 255 bytes: '${name}'`);
  return labels;
}

class Writer {
  buf = new Uint8Array(512);
  len = 0;
  /** Lower-cased suffix -> offset, for compression. */
  private readonly names = new Map<string, number>();

  private ensure(n: number): void {
    if (this.len + n > MAX_MESSAGE) throw new DnsFormatError('message longer than 65535 bytes');
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.min(MAX_MESSAGE, Math.max(this.buf.length * 2, this.len + n)));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.len++] = (v >>> 8) & 0xff;
    this.buf[this.len++] = v & 0xff;
  }
  u32(v: number): void {
    this.u16(v >>> 16);
    this.u16(v & 0xffff);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  name(name: string): void {
    const labels = labelsOf(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map((l) => Buffer.from(l).toString('latin1').toLowerCase()).join('.');
      const at = this.names.get(key);
      if (at !== undefined) {
        this.u16(0xc000 | at);
        return;
      }
      if (this.len < 0x4000) this.names.set(key, this.len);
      this.u8(labels[i]!.length);
      this.bytes(labels[i]!);
    }
    this.u8(0);
  }
}

function writeRecord(w: Writer, r: DnsRecord): void {
  w.name(r.name);
  w.u16(r.type);
  w.u16(r.class);
  w.u32(r.ttl >>> 0);
  const lenAt = w.len;
  w.u16(0);
  const start = w.len;
  if (r.type === DNS_TYPE_A && r.data !== undefined && r.class === DNS_CLASS_IN) {
    w.u32(parseIpv4Address(r.data));
  } else if (r.type === DNS_TYPE_AAAA && r.data !== undefined && r.class === DNS_CLASS_IN) {
    w.bytes(parseIpv6Address(r.data));
  } else if (NAME_TYPES.has(r.type) && r.data !== undefined) {
    w.name(r.data);
  } else {
    w.bytes(r.rdata ?? new Uint8Array(0));
  }
  const rdlen = w.len - start;
  w.buf[lenAt] = rdlen >>> 8;
  w.buf[lenAt + 1] = rdlen & 0xff;
}

/** Encodes a message, compressing repeated name suffixes (RFC 1035 §4.1.4). */
export function encodeMessage(m: DnsMessage): Uint8Array {
  const w = new Writer();
  w.u16(m.id);
  w.u8(
    (m.response ? 0x80 : 0) | ((m.opcode & 0xf) << 3) | (m.authoritative ? 4 : 0) | (m.truncated ? 2 : 0) | (m.recursionDesired ? 1 : 0),
  );
  w.u8((m.recursionAvailable ? 0x80 : 0) | ((m.z & 7) << 4) | (m.rcode & 0xf));
  for (const n of [m.questions.length, m.answers.length, m.authorities.length, m.additionals.length]) {
    if (n > 0xffff) throw new DnsFormatError('too many records');
    w.u16(n);
  }
  for (const q of m.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const r of m.answers) writeRecord(w, r);
  for (const r of m.authorities) writeRecord(w, r);
  for (const r of m.additionals) writeRecord(w, r);
  return w.buf.slice(0, w.len);
}

class Reader {
  /** Name-decoding steps left for this message. */
  budget: number;
  constructor(
    readonly buf: Uint8Array,
    public pos = 0,
    /** Where steps are added up; shared by the readers of one message. */
    readonly work: DnsDecodeWork = { steps: 0 },
    budget = nameStepBudget(buf.length),
  ) {
    this.budget = budget;
  }
  /** One label read or pointer followed. */
  private step(): void {
    this.work.steps++;
    if (--this.budget < 0) throw new DnsFormatError('names take too much work to decode (compression pointer chains)');
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DnsFormatError(`truncated message at offset ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u16(): number {
    this.need(2);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u32(): number {
    return ((this.u16() << 16) | this.u16()) >>> 0;
  }
  /**
   * A possibly compressed name; pointers must point backwards (no loops),
   * at most MAX_NAME_POINTERS of them, within the message's step budget.
   */
  name(): string {
    const parts: string[] = [];
    let pos = this.pos;
    let jumped = false;
    let wire = 1;
    let pointers = 0;
    // Each pointer must go strictly backwards, so the walk terminates.
    let limit = pos;
    for (;;) {
      if (pos >= this.buf.length) throw new DnsFormatError('name runs past the end');
      const len = this.buf[pos]!;
      if ((len & 0xc0) === 0xc0) {
        if (pos + 1 >= this.buf.length) throw new DnsFormatError('truncated compression pointer');
        const target = ((len & 0x3f) << 8) | this.buf[pos + 1]!;
        if (target >= limit) throw new DnsFormatError('compression pointer does not point backwards');
        if (++pointers > MAX_NAME_POINTERS) throw new DnsFormatError(`more than ${MAX_NAME_POINTERS} compression pointers in one name`);
        this.step();
        if (!jumped) this.pos = pos + 2;
        jumped = true;
        limit = target;
        pos = target;
        continue;
      }
      if ((len & 0xc0) !== 0) throw new DnsFormatError(`reserved label type 0x${len.toString(16)}`);
      if (len === 0) {
        if (!jumped) this.pos = pos + 1;
        break;
      }
      if (pos + 1 + len > this.buf.length) throw new DnsFormatError('label runs past the end');
      this.step();
      wire += len + 1;
      if (wire > 255) throw new DnsFormatError('name longer than 255 bytes');
      const label = Buffer.from(this.buf.buffer, this.buf.byteOffset + pos + 1, len).toString('latin1');
      if (label.includes('.')) throw new DnsFormatError('label contains a dot');
      parts.push(label);
      pos += 1 + len;
    }
    return parts.join('.');
  }
}

function readRecord(r: Reader): DnsRecord {
  const name = r.name();
  const type = r.u16();
  const klass = r.u16();
  const ttl = r.u32();
  const rdlen = r.u16();
  r.need(rdlen);
  const end = r.pos + rdlen;
  const rec: DnsRecord = { name, type, class: klass, ttl };
  if (type === DNS_TYPE_A && klass === DNS_CLASS_IN && rdlen === 4) {
    rec.data = ipToString(r.u32());
  } else if (type === DNS_TYPE_AAAA && klass === DNS_CLASS_IN && rdlen === 16) {
    rec.data = ipv6ToString(r.buf, r.pos);
  } else if (NAME_TYPES.has(type)) {
    const sub = new Reader(r.buf.subarray(0, end), r.pos, r.work, r.budget);
    rec.data = sub.name();
    r.budget = sub.budget;
    if (sub.pos !== end) throw new DnsFormatError('name RDATA does not fill its length');
  } else {
    rec.rdata = r.buf.slice(r.pos, end);
  }
  r.pos = end;
  return rec;
}

/**
 * Decodes a message; throws DnsFormatError (only) for malformed input,
 * including names that need more than nameStepBudget(buf.length) steps.
 * `work.steps` grows by the steps taken.
 */
export function decodeMessage(buf: Uint8Array, work?: DnsDecodeWork): DnsMessage {
  const r = new Reader(buf, 0, work, work?.budget ?? nameStepBudget(buf.length));
  const id = r.u16();
  const b2 = r.u8();
  const b3 = r.u8();
  const qd = r.u16();
  const an = r.u16();
  const ns = r.u16();
  const ar = r.u16();
  const m: DnsMessage = {
    id,
    response: (b2 & 0x80) !== 0,
    opcode: (b2 >>> 3) & 0xf,
    authoritative: (b2 & 4) !== 0,
    truncated: (b2 & 2) !== 0,
    recursionDesired: (b2 & 1) !== 0,
    recursionAvailable: (b3 & 0x80) !== 0,
    z: (b3 >>> 4) & 7,
    rcode: b3 & 0xf,
    questions: [],
    answers: [],
    authorities: [],
    additionals: [],
  };
  for (let i = 0; i < qd; i++) {
    const name = r.name();
    m.questions.push({ name, type: r.u16(), class: r.u16() });
  }
  for (let i = 0; i < an; i++) m.answers.push(readRecord(r));
  for (let i = 0; i < ns; i++) m.authorities.push(readRecord(r));
  for (let i = 0; i < ar; i++) m.additionals.push(readRecord(r));
  return m;
}

/** A recursive query for `name` (A unless `type` says otherwise). */
export function buildQuery(id: number, name: string, type = DNS_TYPE_A): Uint8Array {
  return encodeMessage({
    id, response: false, opcode: 0, authoritative: false, truncated: false, recursionDesired: true,
    recursionAvailable: false, z: 0, rcode: 0,
    questions: [{ name, type, class: DNS_CLASS_IN }], answers: [], authorities: [], additionals: [],
  });
}

/** Addresses taken from one answer at most; the rest are counted (dns_addresses_capped) and dropped. */
export const MAX_ANSWER_ADDRESSES = 64;

/**
 * The A (or AAAA) addresses for `name` in a response, following CNAMEs
 * inside it. Returns the addresses (possibly none, at most
 * MAX_ANSWER_ADDRESSES), the name the chain ended at, and how many records
 * of the type for that name were malformed (their RDATA not an address) or
 * beyond the cap.
 */
export function extractAddresses(m: DnsMessage, name: string, type = DNS_TYPE_A): { addresses: string[]; canonical: string; malformed: number; capped: number } {
  let current = name.toLowerCase();
  const seen = new Set<string>();
  for (let hops = 0; hops < 16; hops++) {
    seen.add(current);
    const cname = m.answers.find((r) => r.type === DNS_TYPE_CNAME && r.class === DNS_CLASS_IN && r.name.toLowerCase() === current);
    if (cname === undefined || cname.data === undefined) break;
    const next = cname.data.toLowerCase();
    if (seen.has(next)) break;
    current = next;
  }
  const addresses: string[] = [];
  let malformed = 0;
  let capped = 0;
  for (const r of m.answers) {
    if (r.type !== type || r.class !== DNS_CLASS_IN || r.name.toLowerCase() !== current) continue;
    if (r.data === undefined) malformed++;
    else if (addresses.length >= MAX_ANSWER_ADDRESSES) capped++;
    else addresses.push(r.data);
  }
  return { addresses, canonical: current, malformed, capped };
}

// ------------------------------------------------------------------ errors

export interface DnsError extends Error {
  errno: number;
  code: string;
  syscall: string;
  hostname: string;
}

const DNS_ERRNO: Record<string, number> = { ENOTFOUND: -3008, EAI_AGAIN: -3001, EAI_FAIL: -3007 };

/** Shaped like node's dnsException from getaddrinfo: `getaddrinfo ENOTFOUND host`. */
export function dnsError(code: 'ENOTFOUND' | 'EAI_AGAIN' | 'EAI_FAIL', hostname: string, syscall = 'getaddrinfo'): DnsError {
  const e = new Error(`${syscall} ${code} ${hostname}`) as DnsError;
  e.errno = DNS_ERRNO[code]!;
  e.code = code;
  e.syscall = syscall;
  e.hostname = hostname;
  return e;
}

// ------------------------------------------------------------------ resolver

export interface ResolverDeps {
  udp: UdpLayer;
  wheel: TimerWheel;
  clock: Clock;
  /** The server to ask (dotted), read at each query; undefined: none configured. */
  server(): string | undefined;
  /** Keep the process alive while a query is outstanding. */
  ref?(): void;
  unref?(): void;
  /** Schedule a poll (after a query was queued or a timer armed). */
  kick?(): void;
  /** Random integer in [0, n); defaults to crypto.randomInt. */
  random?(n: number): number;
  /**
   * Whether the stack has a usable IPv6 address other than ::1 (what
   * getaddrinfo's AI_ADDRCONFIG asks). Default: false.
   */
  hasIpv6?(): boolean;
  /** Whether an IPv6 destination has a route and a source address (RFC 6724 rule 1). Default: false. */
  reaches6?(address: string): boolean;
}

export interface ResolverOptions {
  /** Wait before the first retry (ms); each further wait doubles. Default 1000. */
  timeoutMs?: number;
  /** Queries sent per name before giving up with EAI_AGAIN. Default 3. */
  attempts?: number;
  /** Extra names, like /etc/hosts (lower-case name -> address, or addresses of either family). */
  hosts?: Record<string, string | string[]>;
}

export interface ResolverStats {
  dns_queries: number;
  dns_retries: number;
  dns_answers: number;
  /** Replies ignored, all reasons (the dns_ignored_* counters below). */
  dns_ignored: number;
  /** Not from the server we asked, not from port 53, or shorter than a header. */
  dns_ignored_source: number;
  /** Not a response, or not our query's ID (checked before any name is decoded). */
  dns_ignored_id: number;
  /** Malformed, including names over the compression pointer or work limits. */
  dns_ignored_malformed: number;
  /** Our ID, but not our question echoed back. */
  dns_ignored_question: number;
  /** Name-decoding steps spent on replies (labels read plus pointers followed). */
  dns_decode_steps: number;
  dns_timeouts: number;
  /** Answer records of the asked type for the asked name whose RDATA is not an address (an A not 4 bytes, an AAAA not 16). */
  dns_ignored_records: number;
  /** Addresses beyond MAX_ANSWER_ADDRESSES in one answer. */
  dns_addresses_capped: number;
}

/** Debian's /etc/hosts: localhost is both loopbacks; ip6-localhost and ip6-loopback are ::1. */
const DEFAULT_HOSTS: Record<string, string[]> = {
  localhost: ['::1', '127.0.0.1'],
  'localhost.localdomain': ['127.0.0.1'],
  'ip6-localhost': ['::1'],
  'ip6-loopback': ['::1'],
};

type ResolveCallback = (err: DnsError | null, addresses: string[]) => void;

/** One outstanding query: its own UDP endpoint on a random port, its own timer. */
class Query {
  private ep: UdpEndpoint | null = null;
  private readonly timer: Timer;
  private attempt = 0;
  private id = 0;
  private done = false;
  private packet: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly resolver: Resolver,
    private readonly server: number,
    private readonly name: string,
    private readonly type: number,
    private readonly cb: (err: 'timeout' | 'servfail' | null, m: DnsMessage | null) => void,
  ) {
    this.timer = new Timer(() => this.onTimeout());
  }

  start(): void {
    const deps = this.resolver.deps;
    const rnd = deps.random ?? randomInt;
    for (let i = 0; i < 16 && this.ep === null; i++) {
      const port = i < 15 ? 49152 + rnd(16384) : 0;
      try {
        this.ep = deps.udp.bind(0, port, {
          onDatagram: (src, srcPort, _dst, buf, off, len) => this.onDatagram(src, srcPort, buf.subarray(off, off + len)),
          onIcmpError: (kind, addr) => {
            if (kind === 'port-unreachable' && addr === this.server) this.finish('servfail', null);
          },
        });
      } catch (e) {
        if (!(e instanceof UdpBindError)) throw e;
      }
    }
    if (this.ep === null) {
      this.finish('servfail', null);
      return;
    }
    this.send();
  }

  private send(): void {
    const deps = this.resolver.deps;
    this.id = (deps.random ?? randomInt)(0x10000);
    this.packet = buildQuery(this.id, this.name, this.type);
    const wait = this.resolver.timeoutMs * 2 ** this.attempt;
    this.attempt++;
    deps.wheel.arm(this.timer, deps.clock.now() + wait);
    this.resolver.stats.dns_queries++;
    this.ep!.send(this.server, 53, this.packet, 0, this.packet.length);
    deps.kick?.();
  }

  private onTimeout(): void {
    if (this.done) return;
    if (this.attempt >= this.resolver.attempts) {
      this.resolver.stats.dns_timeouts++;
      this.finish('timeout', null);
      return;
    }
    this.resolver.stats.dns_retries++;
    this.send();
  }

  private onDatagram(src: number, srcPort: number, bytes: Uint8Array): void {
    if (this.done) return;
    const st = this.resolver.stats;
    if (src !== this.server || srcPort !== 53 || bytes.length < 12) {
      st.dns_ignored++;
      st.dns_ignored_source++;
      return;
    }
    // ID and QR from the header bytes: a reply that is not ours is not parsed.
    if (((bytes[0]! << 8) | bytes[1]!) !== this.id || (bytes[2]! & 0x80) === 0) {
      st.dns_ignored++;
      st.dns_ignored_id++;
      return;
    }
    let m: DnsMessage;
    const work: DnsDecodeWork = { steps: 0 };
    try {
      m = decodeMessage(bytes, work);
    } catch (e) {
      if (!(e instanceof DnsFormatError)) throw e;
      st.dns_ignored++;
      st.dns_ignored_malformed++;
      return;
    } finally {
      st.dns_decode_steps += work.steps;
    }
    const q = m.questions[0];
    if (m.questions.length !== 1 || q === undefined ||
        q.name.toLowerCase() !== this.name.toLowerCase() || q.type !== this.type || q.class !== DNS_CLASS_IN) {
      st.dns_ignored++;
      st.dns_ignored_question++;
      return;
    }
    st.dns_answers++;
    this.finish(null, m);
  }

  cancel(): void {
    this.done = true;
    this.cleanup();
  }

  private cleanup(): void {
    this.resolver.deps.wheel.disarm(this.timer);
    this.ep?.close();
    this.ep = null;
  }

  private finish(err: 'timeout' | 'servfail' | null, m: DnsMessage | null): void {
    if (this.done) return;
    this.done = true;
    this.cleanup();
    this.cb(err, m);
  }
}

export class Resolver {
  readonly stats: ResolverStats = {
    dns_queries: 0, dns_retries: 0, dns_answers: 0, dns_ignored: 0, dns_ignored_source: 0, dns_ignored_id: 0,
    dns_ignored_malformed: 0, dns_ignored_question: 0, dns_decode_steps: 0, dns_timeouts: 0,
    dns_ignored_records: 0, dns_addresses_capped: 0,
  };
  readonly timeoutMs: number;
  readonly attempts: number;
  private readonly hosts: Record<string, string[]>;
  private readonly active = new Set<Query>();

  constructor(
    readonly deps: ResolverDeps,
    opts: ResolverOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.attempts = opts.attempts ?? 3;
    this.hosts = { ...DEFAULT_HOSTS };
    for (const [k, v] of Object.entries(opts.hosts ?? {})) this.hosts[k.toLowerCase()] = typeof v === 'string' ? [v] : [...v];
  }

  /** resolve(hostname, 4, cb). */
  resolve4(hostname: string, cb: ResolveCallback): void {
    this.resolve(hostname, 4, cb);
  }

  /**
   * Resolves `hostname` to its IPv4 (family 4: A) or IPv6 (family 6: AAAA)
   * addresses. Numeric addresses of the family and host-table names answer
   * at once (still asynchronously). Errors are node-shaped: ENOTFOUND (no
   * such name / no record of the type / no server), EAI_AGAIN (timeout,
   * SERVFAIL, REFUSED).
   */
  resolve(hostname: string, family: 4 | 6, cb: ResolveCallback): void {
    const name = hostname.endsWith('.') && hostname.length > 1 ? hostname.slice(0, -1) : hostname;
    if (isIP(name) === family) {
      process.nextTick(cb, null, [name]);
      return;
    }
    const local = this.hosts[name.toLowerCase()];
    if (local !== undefined) {
      const mine = local.filter((a) => isIP(a) === family);
      if (mine.length > 0) process.nextTick(cb, null, mine);
      else process.nextTick(cb, dnsError('ENOTFOUND', hostname), []);
      return;
    }
    const type = family === 6 ? DNS_TYPE_AAAA : DNS_TYPE_A;
    const server = this.deps.server();
    let serverIp: number;
    try {
      if (server === undefined) throw new Error('no server');
      serverIp = parseIpv4Address(server);
      labelsOf(name);
    } catch {
      process.nextTick(cb, dnsError('ENOTFOUND', hostname), []);
      return;
    }
    this.deps.ref?.();
    let finished = false;
    const finish = (err: DnsError | null, addrs: string[]): void => {
      if (finished) return;
      finished = true;
      this.deps.unref?.();
      // Answers arrive inside the stack's poll: deliver outside it.
      process.nextTick(cb, err, addrs);
    };
    const ask = (qname: string, hops: number): void => {
      const q = new Query(this, serverIp, qname, type, (err, m) => {
        this.active.delete(q);
        if (err !== null || m === null) {
          finish(dnsError('EAI_AGAIN', hostname), []);
          return;
        }
        if (m.rcode === DNS_RCODE_NXDOMAIN) {
          finish(dnsError('ENOTFOUND', hostname), []);
          return;
        }
        if (m.rcode !== DNS_RCODE_NOERROR) {
          finish(dnsError('EAI_AGAIN', hostname), []);
          return;
        }
        const { addresses, canonical, malformed, capped } = extractAddresses(m, qname, type);
        this.stats.dns_ignored_records += malformed;
        this.stats.dns_addresses_capped += capped;
        if (addresses.length > 0) {
          finish(null, addresses);
          return;
        }
        if (canonical !== qname.toLowerCase() && hops < 8) {
          ask(canonical, hops + 1);
          return;
        }
        finish(dnsError('ENOTFOUND', hostname), []);
      });
      this.active.add(q);
      q.start();
    };
    ask(name, 0);
  }

  /** Abandons every outstanding query (their callbacks never run). */
  cancelAll(): void {
    for (const q of this.active) q.cancel();
    this.active.clear();
  }

  /**
   * Both families at once (family 0), ordered as getaddrinfo's RFC 6724
   * sort leaves them: IPv6 destinations the stack reaches, then IPv4, then
   * IPv6 ones it does not reach. Fails only when both fail (EAI_AGAIN if
   * either timed out, else ENOTFOUND).
   */
  resolveBoth(hostname: string, cb: (err: DnsError | null, addresses: LookupAddress[]) => void): void {
    let left = 2;
    let v4: string[] = [];
    let v6: string[] = [];
    let err4: DnsError | null = null;
    let err6: DnsError | null = null;
    const done = (): void => {
      if (--left > 0) return;
      if (v4.length === 0 && v6.length === 0) {
        cb(err4?.code === 'EAI_AGAIN' ? err4 : err6?.code === 'EAI_AGAIN' ? err6 : err4 ?? err6 ?? dnsError('ENOTFOUND', hostname), []);
        return;
      }
      const reaches = this.deps.reaches6;
      const near = v6.filter((a) => reaches?.(a) === true);
      const far = v6.filter((a) => reaches?.(a) !== true);
      cb(null, [...near.map((a) => ({ address: a, family: 6 })), ...v4.map((a) => ({ address: a, family: 4 })), ...far.map((a) => ({ address: a, family: 6 }))]);
    };
    this.resolve(hostname, 6, (e, a) => {
      err6 = e;
      v6 = a;
      done();
    });
    this.resolve(hostname, 4, (e, a) => {
      err4 = e;
      v4 = a;
      done();
    });
  }

  /** node's `dns.lookup(hostname[, options], callback)`: family 0/4/6, all, hints (ADDRCONFIG, V4MAPPED), verbatim/order. */
  readonly lookup: LookupFunction = (hostname: string, options?: unknown, callback?: unknown): void => {
    lookupWith(this, hostname, options, callback);
  };
}

export interface LookupAddress {
  address: string;
  family: number;
}

export type LookupFunction = {
  (hostname: string, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void;
  (hostname: string, options: number | LookupOptionsLike, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void;
};

export interface LookupOptionsLike {
  family?: number | string;
  all?: boolean;
  hints?: number;
  verbatim?: boolean;
  order?: string;
}

type Order = 'verbatim' | 'ipv4first' | 'ipv6first';

function lookupWith(resolver: Resolver, hostname: unknown, options: unknown, callback: unknown): void {
  let family: number = 0;
  let all = false;
  let hints = 0;
  let order: Order | undefined;
  if (hostname && typeof hostname !== 'string') {
    throw ERR_INVALID_ARG_TYPE('hostname', 'of type string', hostname);
  }
  if (typeof options === 'function') {
    callback = options;
    family = 0;
  } else if (typeof options === 'number') {
    family = options;
  } else if (options !== undefined && options !== null && typeof options === 'object') {
    const o = options as LookupOptionsLike;
    if (o.family === 'IPv4') family = 4;
    else if (o.family === 'IPv6') family = 6;
    else if (o.family !== undefined && o.family !== null) family = Number(o.family);
    all = o.all === true;
    // dns.lookup's check: only ADDRCONFIG, V4MAPPED and ALL may be set.
    if (o.hints !== undefined && o.hints !== null && o.hints !== 0 && (Number(o.hints) & ~(ADDRCONFIG | V4MAPPED | ALL)) !== 0) {
      throw codedError('ERR_INVALID_ARG_VALUE', `The argument 'hints' is invalid. Received ${String(o.hints)}`, TypeError);
    }
    hints = Number(o.hints ?? 0) | 0;
    if (o.verbatim !== undefined && o.verbatim !== null) {
      if (typeof o.verbatim !== 'boolean') throw ERR_INVALID_ARG_TYPE('options.verbatim', 'of type boolean', o.verbatim);
      order = o.verbatim ? 'verbatim' : 'ipv4first';
    }
    if (o.order !== undefined && o.order !== null) {
      if (o.order !== 'verbatim' && o.order !== 'ipv4first' && o.order !== 'ipv6first') {
        throw codedError('ERR_INVALID_ARG_VALUE', `The property 'options.order' must be one of: 'verbatim', 'ipv4first', 'ipv6first'. Received ${inspect(o.order)}`, TypeError);
      }
      order = o.order;
    }
  }
  if (typeof callback !== 'function') {
    throw ERR_INVALID_ARG_TYPE('callback', 'of type function', callback);
  }
  if (family !== 0 && family !== 4 && family !== 6) {
    const what = typeof options === 'number' ? "argument 'family'" : "property 'options.family'";
    throw codedError('ERR_INVALID_ARG_VALUE', `The ${what} must be one of: 0, 4, 6. Received ${String(family)}`, TypeError);
  }
  const cb = callback as (err: Error | null, a?: unknown, f?: number) => void;
  if (!hostname) {
    if (all) process.nextTick(cb, null, []);
    else process.nextTick(cb, null, null, family === 6 ? 6 : 4);
    return;
  }
  const name = hostname as string;
  const literal = isIP(name);
  if (literal !== 0) {
    if (all) process.nextTick(cb, null, [{ address: name, family: literal }]);
    else process.nextTick(cb, null, name, literal);
    return;
  }
  const deliver = (err: DnsError | null, list: LookupAddress[]): void => {
    if (err === null && list.length === 0) err = dnsError('ENOTFOUND', name);
    if (err !== null) {
      cb(err);
      return;
    }
    if (all) cb(null, list);
    else cb(null, list[0]!.address, list[0]!.family);
  };
  // AI_ADDRCONFIG: IPv6 answers only when the stack has an IPv6 address besides ::1.
  const v6ok = (hints & ADDRCONFIG) === 0 || resolver.deps.hasIpv6?.() === true;
  if (family === 4 || (family === 0 && !v6ok)) {
    resolver.resolve(name, 4, (err, addrs) => deliver(err, addrs.map((a) => ({ address: a, family: 4 }))));
    return;
  }
  if (family === 6) {
    resolver.resolve(name, 6, (err, addrs) => {
      if (addrs.length > 0 || (hints & V4MAPPED) === 0) {
        deliver(err, addrs.map((a) => ({ address: a, family: 6 })));
        return;
      }
      // AI_V4MAPPED: no IPv6 address, so the IPv4 ones as ::ffff:a.b.c.d.
      resolver.resolve(name, 4, (err4, v4) => deliver(err4, v4.map((a) => ({ address: `::ffff:${a}`, family: 6 }))));
    });
    return;
  }
  const how = order ?? (getDefaultResultOrder() as Order);
  resolver.resolveBoth(name, (err, list) => {
    if (how === 'ipv4first') list = [...list.filter((a) => a.family === 4), ...list.filter((a) => a.family === 6)];
    else if (how === 'ipv6first') list = [...list.filter((a) => a.family === 6), ...list.filter((a) => a.family === 4)];
    deliver(err, list);
  });
}

/** What hostLookup needs of a socket host (structurally: socket/host.ts's SocketHost fits). */
export interface ResolverHost {
  readonly engine: {
    readonly udp: UdpLayer;
    readonly wheel: TimerWheel;
    readonly clock: Clock;
    hasIpv6Address(): boolean;
    sourceAddress6For(dst: Uint8Array): Uint8Array | null;
  };
  readonly dnsServer: string | undefined;
  ref(): void;
  unref(): void;
  kick(): void;
}

const resolvers = new WeakMap<object, Resolver>();

/** The host's resolver if it has been used, else undefined (for counters: nothing is created). */
export function existingHostResolver(host: ResolverHost): Resolver | undefined {
  return resolvers.get(host);
}

/** The one resolver of a host (created on first use), reading the host's DNS server at each query. */
export function hostResolver(host: ResolverHost): Resolver {
  let r = resolvers.get(host);
  if (r === undefined) {
    r = new Resolver({
      udp: host.engine.udp,
      wheel: host.engine.wheel,
      clock: host.engine.clock,
      server: () => host.dnsServer,
      ref: () => host.ref(),
      unref: () => host.unref(),
      kick: () => host.kick(),
      hasIpv6: () => host.engine.hasIpv6Address(),
      reaches6: (a) => host.engine.sourceAddress6For(parseIpv6Address(a)) !== null,
    });
    resolvers.set(host, r);
  }
  return r;
}

/** `dns.lookup` for a host: what `net.connect` and dgram use when no `lookup` option is given. */
export function hostLookup(host: ResolverHost): LookupFunction {
  return hostResolver(host).lookup;
}
