/**
 * DHCP client (RFC 2131, options from RFC 2132) for one interface.
 *
 * INIT -> SELECTING (DISCOVER, broadcast) -> REQUESTING (REQUEST for the
 * first OFFER) -> BOUND (ACK: the lease is applied with iface.setAddress and
 * a gratuitous ARP); NAK in REQUESTING/RENEWING/REBINDING restarts from INIT.
 * At T1 (default 0.5 of the lease) RENEWING unicasts a REQUEST to the server
 * that granted the lease; at T2 (default 0.875) REBINDING broadcasts it; at
 * the end of the lease the address is removed and acquisition restarts.
 *
 * Retransmission while acquiring: 4 s, 8 s, 16 s, 32 s, 64 s (the first
 * interval is configurable) each randomised by +-1 s (RFC 2131 §4.1); while
 * renewing/rebinding: half the time left until T2/lease end, at least 60 s.
 * If no lease is bound within `timeoutMs` of start(), onError receives
 * ERR_USTACK_DHCP_TIMEOUT (naming the interface) and the client stops.
 *
 * The client speaks through the stack's UDP layer, bound to 0.0.0.0:68; a
 * datagram from 0.0.0.0 to 255.255.255.255:67 routes out the first
 * non-loopback interface, which is the one being configured. Every timer is
 * on the stack's timer wheel, so the whole exchange runs on a virtual clock
 * in tests.
 *
 * Not implemented: ARP probing of the offered address (DHCPDECLINE),
 * DHCPINFORM, option overload (52), DHCPRELEASE on stop.
 */
import type { Clock } from '../../time/clock.js';
import { Timer, type TimerWheel } from '../../time/timer-wheel.js';
import type { UdpEndpoint, UdpLayer } from '../udp/udp-layer.js';
import type { Interface } from '../iface/interface.js';
import { ipToString } from '../../wire/ipv4.js';

// ------------------------------------------------------------------ codec

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
export const BOOTREQUEST = 1;
export const BOOTREPLY = 2;
const MAGIC = 0x63825363;
const FIXED_LEN = 236;
export const DHCP_MIN_LEN = FIXED_LEN + 4;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1;
export const OPT_ROUTER = 3;
export const OPT_DNS = 6;
export const OPT_HOSTNAME = 12;
export const OPT_DOMAIN_NAME = 15;
export const OPT_REQUESTED_IP = 50;
export const OPT_LEASE_TIME = 51;
export const OPT_MESSAGE_TYPE = 53;
export const OPT_SERVER_ID = 54;
export const OPT_PARAMETER_LIST = 55;
export const OPT_MESSAGE = 56;
export const OPT_MAX_MESSAGE_SIZE = 57;
export const OPT_RENEWAL_TIME = 58;
export const OPT_REBINDING_TIME = 59;
export const OPT_CLIENT_ID = 61;
export const OPT_END = 255;

export class DhcpFormatError extends Error {
  override readonly name = 'DhcpFormatError';
}

export interface DhcpOption {
  code: number;
  data: Uint8Array;
}

/** A BOOTP/DHCP message at the wire level; options in wire order. */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 16 bytes. */
  chaddr: Uint8Array;
  /** 64 bytes. */
  sname: Uint8Array;
  /** 128 bytes. */
  file: Uint8Array;
  options: DhcpOption[];
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const put32 = (b: Uint8Array, o: number, v: number): void => {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
};

/** Decodes a DHCP message; throws DhcpFormatError (only) when malformed. */
export function decodeDhcp(buf: Uint8Array): DhcpPacket {
  if (buf.length < DHCP_MIN_LEN) throw new DhcpFormatError(`message of ${buf.length} bytes, shorter than ${DHCP_MIN_LEN}`);
  if (u32(buf, FIXED_LEN) !== MAGIC) throw new DhcpFormatError('no DHCP magic cookie');
  const options: DhcpOption[] = [];
  let p = FIXED_LEN + 4;
  let ended = false;
  while (p < buf.length) {
    const code = buf[p]!;
    if (code === OPT_PAD) {
      p++;
      continue;
    }
    if (code === OPT_END) {
      ended = true;
      break;
    }
    if (p + 1 >= buf.length) throw new DhcpFormatError(`option ${code} has no length`);
    const len = buf[p + 1]!;
    if (p + 2 + len > buf.length) throw new DhcpFormatError(`option ${code} runs past the end`);
    options.push({ code, data: buf.slice(p + 2, p + 2 + len) });
    p += 2 + len;
  }
  if (!ended) throw new DhcpFormatError('options not terminated by END');
  return {
    op: buf[0]!, htype: buf[1]!, hlen: buf[2]!, hops: buf[3]!,
    xid: u32(buf, 4),
    secs: (buf[8]! << 8) | buf[9]!,
    flags: (buf[10]! << 8) | buf[11]!,
    ciaddr: u32(buf, 12), yiaddr: u32(buf, 16), siaddr: u32(buf, 20), giaddr: u32(buf, 24),
    chaddr: buf.slice(28, 44), sname: buf.slice(44, 108), file: buf.slice(108, 236),
    options,
  };
}

/** Encodes a message (padded to the BOOTP minimum of 300 bytes). */
export function encodeDhcp(m: DhcpPacket): Uint8Array {
  let optLen = 1;
  for (const o of m.options) {
    if (o.data.length > 255) throw new DhcpFormatError(`option ${o.code} longer than 255 bytes`);
    if (o.code === OPT_PAD || o.code === OPT_END) throw new DhcpFormatError(`option ${o.code} cannot carry data`);
    optLen += 2 + o.data.length;
  }
  const buf = new Uint8Array(Math.max(300, DHCP_MIN_LEN + optLen));
  buf[0] = m.op;
  buf[1] = m.htype;
  buf[2] = m.hlen;
  buf[3] = m.hops;
  put32(buf, 4, m.xid);
  buf[8] = m.secs >>> 8;
  buf[9] = m.secs & 0xff;
  buf[10] = m.flags >>> 8;
  buf[11] = m.flags & 0xff;
  put32(buf, 12, m.ciaddr);
  put32(buf, 16, m.yiaddr);
  put32(buf, 20, m.siaddr);
  put32(buf, 24, m.giaddr);
  buf.set(m.chaddr.subarray(0, 16), 28);
  buf.set(m.sname.subarray(0, 64), 44);
  buf.set(m.file.subarray(0, 128), 108);
  put32(buf, FIXED_LEN, MAGIC);
  let p = DHCP_MIN_LEN;
  for (const o of m.options) {
    buf[p] = o.code;
    buf[p + 1] = o.data.length;
    buf.set(o.data, p + 2);
    p += 2 + o.data.length;
  }
  buf[p] = OPT_END;
  return buf;
}

/** The options a client cares about, interpreted (RFC 3396: repeated codes concatenate). */
export interface DhcpInfo {
  messageType?: number;
  serverId?: number;
  requestedIp?: number;
  subnetMask?: number;
  routers: number[];
  dns: number[];
  leaseTime?: number;
  renewalTime?: number;
  rebindingTime?: number;
  message?: string;
  /** Option codes whose pieces together exceeded MAX_MERGED_OPTION bytes (the rest was ignored). */
  truncated: number;
}

/**
 * The most bytes one option's pieces concatenate to (RFC 3396); the rest is
 * ignored. 1 KiB holds 256 addresses, more than any client option needs,
 * and keeps what a hostile server can make us hold and parse small.
 */
export const MAX_MERGED_OPTION = 1024;

/**
 * Concatenates repeated options (RFC 3396) in wire order, each code's
 * pieces copied once into a buffer sized first: linear in the message,
 * however many pieces there are. Each result is at most MAX_MERGED_OPTION
 * bytes; `truncated` counts the codes cut there.
 */
export function mergeOptions(options: readonly DhcpOption[]): { merged: Map<number, Uint8Array>; truncated: number } {
  const sizes = new Map<number, number>();
  let truncated = 0;
  for (const o of options) {
    const had = sizes.get(o.code) ?? 0;
    const want = had + o.data.length;
    if (want > MAX_MERGED_OPTION && had <= MAX_MERGED_OPTION) truncated++;
    sizes.set(o.code, want);
  }
  const merged = new Map<number, Uint8Array>();
  const filled = new Map<number, number>();
  for (const o of options) {
    let out = merged.get(o.code);
    if (out === undefined) {
      const size = Math.min(sizes.get(o.code)!, MAX_MERGED_OPTION);
      // A single piece that fits is used as it is.
      out = size === o.data.length ? o.data : new Uint8Array(size);
      merged.set(o.code, out);
      if (out === o.data) {
        filled.set(o.code, size);
        continue;
      }
    }
    const at = filled.get(o.code) ?? 0;
    const n = Math.min(o.data.length, out.length - at);
    if (n > 0) {
      out.set(n === o.data.length ? o.data : o.data.subarray(0, n), at);
      filled.set(o.code, at + n);
    }
  }
  return { merged, truncated };
}

function addrList(d: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= d.length; i += 4) out.push(u32(d, i));
  return out;
}

/** Interprets the options of a decoded packet; never throws (bad lengths are ignored). */
export function dhcpInfo(p: DhcpPacket): DhcpInfo {
  const { merged, truncated } = mergeOptions(p.options);
  const one = (code: number): number | undefined => {
    const d = merged.get(code);
    return d !== undefined && d.length === 4 ? u32(d, 0) : undefined;
  };
  const info: DhcpInfo = { routers: addrList(merged.get(OPT_ROUTER) ?? new Uint8Array(0)), dns: addrList(merged.get(OPT_DNS) ?? new Uint8Array(0)), truncated };
  const mt = merged.get(OPT_MESSAGE_TYPE);
  if (mt !== undefined && mt.length === 1) info.messageType = mt[0]!;
  const set = (k: 'serverId' | 'requestedIp' | 'subnetMask' | 'leaseTime' | 'renewalTime' | 'rebindingTime', code: number): void => {
    const v = one(code);
    if (v !== undefined) info[k] = v;
  };
  set('serverId', OPT_SERVER_ID);
  set('requestedIp', OPT_REQUESTED_IP);
  set('subnetMask', OPT_SUBNET_MASK);
  set('leaseTime', OPT_LEASE_TIME);
  set('renewalTime', OPT_RENEWAL_TIME);
  set('rebindingTime', OPT_REBINDING_TIME);
  const msg = merged.get(OPT_MESSAGE);
  if (msg !== undefined) info.message = Buffer.from(msg).toString('latin1');
  return info;
}

export const addrOption = (code: number, ...addrs: number[]): DhcpOption => {
  const data = new Uint8Array(4 * addrs.length);
  addrs.forEach((a, i) => put32(data, 4 * i, a));
  return { code, data };
};
export const u32Option = (code: number, v: number): DhcpOption => addrOption(code, v >>> 0);
export const byteOption = (code: number, ...bytes: number[]): DhcpOption => ({ code, data: Uint8Array.from(bytes) });

export function macToChaddr(mac: number): Uint8Array {
  const c = new Uint8Array(16);
  for (let i = 0; i < 6; i++) c[i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
  return c;
}

export function emptyPacket(): DhcpPacket {
  return {
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid: 0, secs: 0, flags: 0,
    ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0,
    chaddr: new Uint8Array(16), sname: new Uint8Array(64), file: new Uint8Array(128), options: [],
  };
}

/** Netmask -> prefix length; a non-contiguous mask counts its leading ones. */
export function maskToPrefix(mask: number): number {
  let n = 0;
  while (n < 32 && (mask & (0x80000000 >>> n)) !== 0) n++;
  return n;
}

function classfulPrefix(ip: number): number {
  const a = ip >>> 24;
  return a < 128 ? 8 : a < 192 ? 16 : 24;
}

// ------------------------------------------------------------------ client

export type DhcpState = 'init' | 'selecting' | 'requesting' | 'bound' | 'renewing' | 'rebinding' | 'stopped';

export interface DhcpLease {
  address: number;
  prefixLength: number;
  gateway: number;
  dns: number[];
  serverId: number;
  /** Seconds, as granted (0xffffffff: infinite). */
  leaseTime: number;
  renewalTime: number;
  rebindingTime: number;
  /** Clock time (ms) the lease was granted (when its REQUEST was sent). */
  acquiredAt: number;
}

export interface DhcpError extends Error {
  code: string;
  interface: string;
}

export interface DhcpClientOptions {
  /** No lease within this many ms of start(): onError(ERR_USTACK_DHCP_TIMEOUT). Default 30 000. */
  timeoutMs?: number;
  /** First retransmission interval while acquiring (ms). Default 4000 (RFC 2131 §4.1). */
  initialRetransmitMs?: number;
  /** Cap on the acquiring retransmission interval (ms). Default 64 000. */
  maxRetransmitMs?: number;
  /** Random number in [0, 1); defaults to Math.random. */
  random?: () => number;
  /** Random 32-bit transaction ID; defaults to crypto.getRandomValues. */
  xid?: () => number;
  onBound?(lease: DhcpLease): void;
  onError?(err: DhcpError): void;
  /** Schedule a poll (after output was queued outside the stack's poll). */
  kick?(): void;
}

export interface DhcpStats {
  dhcp_tx_discover: number;
  dhcp_tx_request: number;
  dhcp_rx_offer: number;
  dhcp_rx_ack: number;
  dhcp_rx_nak: number;
  dhcp_rx_ignored: number;
  /** Options of our server's replies cut at MAX_MERGED_OPTION bytes (RFC 3396 pieces past it ignored). */
  dhcp_rx_options_truncated: number;
  dhcp_retransmits: number;
  dhcp_leases: number;
}

export interface DhcpDeps {
  udp: UdpLayer;
  wheel: TimerWheel;
  clock: Clock;
}

const INFINITE = 0xffffffff;

export class DhcpClient {
  state: DhcpState = 'init';
  lease: DhcpLease | null = null;
  readonly stats: DhcpStats = {
    dhcp_tx_discover: 0, dhcp_tx_request: 0, dhcp_rx_offer: 0, dhcp_rx_ack: 0, dhcp_rx_nak: 0,
    dhcp_rx_ignored: 0, dhcp_rx_options_truncated: 0, dhcp_retransmits: 0, dhcp_leases: 0,
  };
  private ep: UdpEndpoint | null = null;
  private xid = 0;
  private startedAt = 0;
  private retransmits = 0;
  private offered = 0;
  private offerServer = 0;
  /** When the current lease's REQUEST went out (the lease clock starts there). */
  private requestSentAt = 0;
  private readonly retxTimer: Timer;
  private readonly phaseTimer: Timer;
  private readonly deadlineTimer: Timer;
  private readonly opts: DhcpClientOptions;
  private readonly random: () => number;

  constructor(
    private readonly deps: DhcpDeps,
    readonly iface: Interface,
    opts: DhcpClientOptions = {},
  ) {
    this.opts = opts;
    this.random = opts.random ?? Math.random;
    this.retxTimer = new Timer(() => this.onRetransmit());
    this.phaseTimer = new Timer(() => this.onPhase());
    this.deadlineTimer = new Timer(() => this.onDeadline());
  }

  /** DNS servers of the current lease, dotted. */
  get dnsServers(): string[] {
    return (this.lease?.dns ?? []).map(ipToString);
  }

  /** Binds 0.0.0.0:68 and starts acquiring a lease. */
  start(): void {
    if (this.ep !== null) return;
    this.ep = this.deps.udp.bind(0, DHCP_CLIENT_PORT, {
      onDatagram: (src, _sp, _dst, buf, off, len) => this.onDatagram(src, buf.subarray(off, off + len)),
    }, true);
    this.deps.wheel.arm(this.deadlineTimer, this.deps.clock.now() + (this.opts.timeoutMs ?? 30_000));
    this.restart();
  }

  /** Stops all activity; keeps the address configured. */
  stop(): void {
    this.state = 'stopped';
    this.deps.wheel.disarm(this.retxTimer);
    this.deps.wheel.disarm(this.phaseTimer);
    this.deps.wheel.disarm(this.deadlineTimer);
    this.ep?.close();
    this.ep = null;
  }

  private now(): number {
    return this.deps.clock.now();
  }

  private newXid(): number {
    if (this.opts.xid) return this.opts.xid() >>> 0;
    return crypto.getRandomValues(new Uint32Array(1))[0]!;
  }

  /** INIT: new transaction, DISCOVER. */
  private restart(): void {
    this.state = 'selecting';
    this.xid = this.newXid();
    this.startedAt = this.now();
    this.retransmits = 0;
    this.offered = 0;
    this.offerServer = 0;
    this.sendDiscover();
    this.armBackoff();
  }

  /** The acquiring backoff: initial * 2^n capped, +-1 s jitter (kept positive). */
  private armBackoff(): void {
    const base = Math.min((this.opts.initialRetransmitMs ?? 4000) * 2 ** this.retransmits, this.opts.maxRetransmitMs ?? 64_000);
    const jitter = (this.random() * 2 - 1) * Math.min(1000, base / 4);
    this.deps.wheel.arm(this.retxTimer, this.now() + base + jitter);
  }

  private onRetransmit(): void {
    this.stats.dhcp_retransmits++;
    this.retransmits++;
    switch (this.state) {
      case 'selecting':
        this.sendDiscover();
        this.armBackoff();
        break;
      case 'requesting':
        if (this.retransmits > 4) {
          this.restart();
          return;
        }
        this.sendRequest();
        this.armBackoff();
        break;
      case 'renewing':
      case 'rebinding':
        this.sendRequest();
        this.armRenewRetransmit();
        break;
      default:
        break;
    }
  }

  /** RFC 2131 §4.4.5: half the remaining time until T2 (renewing) or lease end (rebinding), at least 60 s. */
  private armRenewRetransmit(): void {
    const l = this.lease;
    if (l === null) return;
    const until = this.state === 'renewing' ? l.acquiredAt + l.rebindingTime * 1000 : l.acquiredAt + l.leaseTime * 1000;
    const wait = Math.max(60_000, (until - this.now()) / 2);
    if (this.now() + wait < until) this.deps.wheel.arm(this.retxTimer, this.now() + wait);
    else this.deps.wheel.disarm(this.retxTimer);
  }

  /** T1, T2 and lease expiry. */
  private onPhase(): void {
    const l = this.lease;
    if (l === null) return;
    const now = this.now();
    if (now >= l.acquiredAt + l.leaseTime * 1000) {
      // Lease expired: drop the address, start over.
      this.lease = null;
      this.iface.setAddress(0, 0, 0);
      this.restart();
      this.opts.kick?.();
      return;
    }
    if (now >= l.acquiredAt + l.rebindingTime * 1000) {
      this.state = 'rebinding';
      this.deps.wheel.arm(this.phaseTimer, l.acquiredAt + l.leaseTime * 1000);
    } else {
      this.state = 'renewing';
      this.deps.wheel.arm(this.phaseTimer, l.acquiredAt + l.rebindingTime * 1000);
    }
    this.sendRequest();
    this.armRenewRetransmit();
  }

  private onDeadline(): void {
    if (this.lease !== null || this.state === 'stopped') return;
    const e = new Error(
      `DHCP on interface ${this.iface.name}: no lease after ${((this.opts.timeoutMs ?? 30_000) / 1000).toFixed(1)} s ` +
        `(${this.stats.dhcp_tx_discover} DISCOVER, ${this.stats.dhcp_rx_offer} OFFER, ${this.stats.dhcp_rx_nak} NAK received)`,
    ) as DhcpError;
    e.code = 'ERR_USTACK_DHCP_TIMEOUT';
    e.interface = this.iface.name;
    this.stop();
    this.opts.onError?.(e);
  }

  private base(type: number): DhcpPacket {
    const p = emptyPacket();
    p.xid = this.xid;
    p.secs = Math.min(0xffff, Math.floor((this.now() - this.startedAt) / 1000));
    p.chaddr = macToChaddr(this.iface.mac);
    const clientId = new Uint8Array(7);
    clientId[0] = 1;
    clientId.set(p.chaddr.subarray(0, 6), 1);
    p.options.push(byteOption(OPT_MESSAGE_TYPE, type));
    p.options.push({ code: OPT_CLIENT_ID, data: clientId });
    p.options.push(byteOption(OPT_MAX_MESSAGE_SIZE, 1500 >>> 8, 1500 & 0xff));
    p.options.push(byteOption(OPT_PARAMETER_LIST, OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_DOMAIN_NAME, OPT_LEASE_TIME, OPT_RENEWAL_TIME, OPT_REBINDING_TIME));
    return p;
  }

  private transmit(p: DhcpPacket, dst: number): void {
    const bytes = encodeDhcp(p);
    this.ep?.send(dst, DHCP_SERVER_PORT, bytes, 0, bytes.length);
    this.opts.kick?.();
  }

  private sendDiscover(): void {
    const p = this.base(DHCPDISCOVER);
    p.flags = 0x8000;
    this.stats.dhcp_tx_discover++;
    this.transmit(p, 0xffffffff);
  }

  private sendRequest(): void {
    const p = this.base(DHCPREQUEST);
    this.stats.dhcp_tx_request++;
    if (this.state === 'requesting') {
      p.flags = 0x8000;
      p.options.push(addrOption(OPT_REQUESTED_IP, this.offered));
      p.options.push(addrOption(OPT_SERVER_ID, this.offerServer));
      this.requestSentAt = this.now();
      this.transmit(p, 0xffffffff);
      return;
    }
    // RENEWING / REBINDING: ciaddr carries our address; no server id or requested ip.
    const l = this.lease!;
    p.ciaddr = l.address;
    this.requestSentAt = this.now();
    this.transmit(p, this.state === 'renewing' ? l.serverId : 0xffffffff);
  }

  private onDatagram(src: number, bytes: Uint8Array): void {
    let p: DhcpPacket;
    try {
      p = decodeDhcp(bytes);
    } catch (e) {
      if (!(e instanceof DhcpFormatError)) throw e;
      this.stats.dhcp_rx_ignored++;
      return;
    }
    const mac = macToChaddr(this.iface.mac);
    let mine = p.op === BOOTREPLY && p.xid === this.xid && p.hlen === 6;
    for (let i = 0; i < 6 && mine; i++) if (p.chaddr[i] !== mac[i]) mine = false;
    if (!mine) {
      this.stats.dhcp_rx_ignored++;
      return;
    }
    const info = dhcpInfo(p);
    this.stats.dhcp_rx_options_truncated += info.truncated;
    const serverId = info.serverId ?? src;
    switch (info.messageType) {
      case DHCPOFFER:
        if (this.state !== 'selecting' || p.yiaddr === 0 || p.yiaddr === 0xffffffff) break;
        this.stats.dhcp_rx_offer++;
        this.offered = p.yiaddr;
        this.offerServer = serverId;
        this.state = 'requesting';
        this.retransmits = 0;
        this.sendRequest();
        this.armBackoff();
        return;
      case DHCPACK:
        if (this.state !== 'requesting' && this.state !== 'renewing' && this.state !== 'rebinding') break;
        if (p.yiaddr === 0) break;
        this.stats.dhcp_rx_ack++;
        this.bind(p, info, serverId);
        return;
      case DHCPNAK:
        if (this.state !== 'requesting' && this.state !== 'renewing' && this.state !== 'rebinding') break;
        if (this.state === 'requesting' && serverId !== this.offerServer) break;
        this.stats.dhcp_rx_nak++;
        if (this.lease !== null) {
          this.lease = null;
          this.iface.setAddress(0, 0, 0);
        }
        this.deps.wheel.disarm(this.phaseTimer);
        this.restart();
        return;
      default:
        break;
    }
    this.stats.dhcp_rx_ignored++;
  }

  private bind(p: DhcpPacket, info: DhcpInfo, serverId: number): void {
    const leaseTime = info.leaseTime ?? 3600;
    let t1 = info.renewalTime ?? Math.floor(leaseTime * 0.5);
    let t2 = info.rebindingTime ?? Math.floor(leaseTime * 0.875);
    if (leaseTime !== INFINITE && (t2 > leaseTime || t1 > t2)) {
      t1 = Math.floor(leaseTime * 0.5);
      t2 = Math.floor(leaseTime * 0.875);
    }
    const prefixLength = info.subnetMask !== undefined ? maskToPrefix(info.subnetMask) : classfulPrefix(p.yiaddr);
    const lease: DhcpLease = {
      address: p.yiaddr,
      prefixLength,
      gateway: info.routers[0] ?? 0,
      dns: info.dns,
      serverId,
      leaseTime,
      renewalTime: t1,
      rebindingTime: t2,
      acquiredAt: this.requestSentAt,
    };
    const first = this.lease === null;
    const changed = first || this.lease!.address !== lease.address || this.lease!.prefixLength !== prefixLength || this.lease!.gateway !== lease.gateway;
    this.lease = lease;
    this.state = 'bound';
    this.stats.dhcp_leases++;
    this.deps.wheel.disarm(this.retxTimer);
    this.deps.wheel.disarm(this.deadlineTimer);
    if (changed) {
      this.iface.setAddress(lease.address, prefixLength, lease.gateway);
      this.iface.announce();
    }
    if (leaseTime !== INFINITE) this.deps.wheel.arm(this.phaseTimer, lease.acquiredAt + t1 * 1000);
    else this.deps.wheel.disarm(this.phaseTimer);
    this.opts.kick?.();
    if (first || changed) this.opts.onBound?.(lease);
  }
}
