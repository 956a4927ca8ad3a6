/**
 * Helpers for hostile-input tests: frame builders with valid checksums, a
 * checksum fixer for mutated frames (so mutations reach the deep layers
 * instead of dying at the first checksum), a seeded frame mutator, a corpus
 * of frames captured from a simulated TCP/UDP exchange, and heap
 * measurement after a forced GC.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readPcap } from '../../src/driver/pcap.js';
import { Prng } from '../../src/driver/prng.js';
import type { MemoryNic } from '../../src/driver/memory-nic.js';
import { internetChecksum, pseudoHeaderSum } from '../../src/wire/checksum.js';
import { ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import { IPPROTO_TCP } from '../../src/wire/ipv4.js';
import { emitTcp, parseTcp, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.js';
import { arpFrame, ipv4Frame, udpPayload } from './frames.js';
import { Sim } from './sim.js';

// ------------------------------------------------------------------ frames

/** An Ethernet + IPv4 + TCP frame with correct checksums. */
export function tcpFrame(
  dstMac: number,
  srcMac: number,
  src: number,
  dst: number,
  seg: Partial<TcpRepr> & { srcPort: number; dstPort: number },
  payload: Uint8Array = new Uint8Array(0),
  ip: { ident?: number; ttl?: number } = {},
): Uint8Array {
  const repr: TcpRepr = { seq: 0, ack: 0, flags: 0, window: 65535, urgent: 0, ...seg, payloadLength: payload.length };
  const hl = tcpHeaderLength(repr);
  const t = new Uint8Array(hl + payload.length);
  t.set(payload, hl);
  emitTcp(repr, t, 0, src, dst, 'full');
  return ipv4Frame(dstMac, srcMac, { src, dst, protocol: IPPROTO_TCP, ...ip }, t);
}

export function udpFrame(dstMac: number, srcMac: number, src: number, dst: number, sport: number, dport: number, data: Uint8Array): Uint8Array {
  return ipv4Frame(dstMac, srcMac, { src, dst, protocol: 17 }, udpPayload(src, dst, sport, dport, data));
}

/**
 * Recomputes the IPv4 header checksum and, for unfragmented TCP/UDP/ICMP,
 * the transport checksum of the frame at buf[0, len), as far as the (maybe
 * mutated) header fields allow. Never throws; leaves non-IPv4 frames alone.
 */
export function fixChecksums(buf: Uint8Array, len: number): void {
  if (len < ETH_HEADER_LEN + 20) return;
  if (buf[12] !== 0x08 || buf[13] !== 0x00) return;
  const o = ETH_HEADER_LEN;
  const ihl = (buf[o]! & 0x0f) * 4;
  if (ihl < 20 || o + ihl > len) return;
  buf[o + 10] = 0;
  buf[o + 11] = 0;
  const c = internetChecksum(buf, o, ihl);
  buf[o + 10] = c >>> 8;
  buf[o + 11] = c & 0xff;
  const total = (buf[o + 2]! << 8) | buf[o + 3]!;
  const frag = ((buf[o + 6]! << 8) | buf[o + 7]!) & 0x3fff;
  if (frag !== 0) return;
  const l4len = Math.min(total, len - o) - ihl;
  if (l4len < 8) return;
  const p = o + ihl;
  const proto = buf[o + 9]!;
  const src = ((buf[o + 12]! << 24) | (buf[o + 13]! << 16) | (buf[o + 14]! << 8) | buf[o + 15]!) >>> 0;
  const dst = ((buf[o + 16]! << 24) | (buf[o + 17]! << 16) | (buf[o + 18]! << 8) | buf[o + 19]!) >>> 0;
  let at: number;
  let initial = 0;
  if (proto === 6) {
    if (l4len < 20) return;
    at = p + 16;
    initial = pseudoHeaderSum(src, dst, 6, l4len);
  } else if (proto === 17) {
    at = p + 6;
    initial = pseudoHeaderSum(src, dst, 17, l4len);
  } else if (proto === 1) {
    at = p + 2;
  } else {
    return;
  }
  buf[at] = 0;
  buf[at + 1] = 0;
  let s = internetChecksum(buf, p, l4len, initial);
  if (proto === 17 && s === 0) s = 0xffff;
  buf[at] = s >>> 8;
  buf[at + 1] = s & 0xff;
}

// ----------------------------------------------------------------- mutator

const INTERESTING8 = [0, 1, 0x7f, 0x80, 0xff, 0x40, 0x45, 0x06, 0x11, 0x02, 0x10, 0x12, 0x04, 0x14];
const INTERESTING16 = [0, 1, 0x7fff, 0x8000, 0xffff, 0x0800, 0x0806, 0x2000, 0x1fff, 0x3fff, 576, 1500, 65535 - 20, 8, 20];

/** Seeded mutations of corpus frames into a scratch buffer. */
export class Mutator {
  readonly rng: Prng;
  constructor(seed: number, private readonly corpus: readonly Uint8Array[]) {
    this.rng = new Prng(seed, 7);
  }

  private int(n: number): number {
    return Math.floor(this.rng.next() * n);
  }

  /**
   * Writes a mutation of a random corpus frame into `out` and returns its
   * length (at most out.length). Checksums are fixed afterwards most of the
   * time, so the mutation is judged by the layer it targets.
   */
  mutate(out: Uint8Array): number {
    const base = this.corpus[this.int(this.corpus.length)]!;
    let len = Math.min(base.length, out.length);
    out.set(base.subarray(0, len), 0);
    const n = 1 + this.int(6);
    for (let k = 0; k < n; k++) {
      const r = this.int(10);
      if (len === 0 && r < 7) continue;
      switch (r) {
        case 0: { // flip a bit
          const i = this.int(len);
          out[i] = out[i]! ^ (1 << this.int(8));
          break;
        }
        case 1: // random byte
          out[this.int(len)] = this.int(256);
          break;
        case 2: // interesting byte (header region biased)
          out[this.int(Math.min(len, 80))] = INTERESTING8[this.int(INTERESTING8.length)]!;
          break;
        case 3: { // interesting 16-bit value
          const i = this.int(Math.max(1, Math.min(len, 80) - 1));
          const v = INTERESTING16[this.int(INTERESTING16.length)]!;
          out[i] = v >>> 8;
          if (i + 1 < len) out[i + 1] = v & 0xff;
          break;
        }
        case 4: // truncate
          len = this.int(len + 1);
          break;
        case 5: { // extend with random bytes
          const add = Math.min(out.length - len, this.int(300));
          for (let i = 0; i < add; i++) out[len + i] = this.int(256);
          len += add;
          break;
        }
        case 6: { // splice a chunk of another frame
          const other = this.corpus[this.int(this.corpus.length)]!;
          const from = this.int(other.length);
          const to = this.int(len);
          const cnt = Math.min(other.length - from, out.length - to, 1 + this.int(64));
          out.set(other.subarray(from, from + cnt), to);
          if (to + cnt > len) len = to + cnt;
          break;
        }
        case 7: { // TCP flags / IP flags+fragment fields (byte offsets in a plain IPv4+TCP frame)
          const at = [20, 21, 47, 22, 23, 34][this.int(6)]!;
          if (at < len) out[at] = this.int(256);
          break;
        }
        case 8: { // 32-bit random word (sequence/ack numbers, addresses)
          const i = this.int(Math.max(1, len - 3));
          for (let j = 0; j < 4 && i + j < len; j++) out[i + j] = this.int(256);
          break;
        }
        default: { // duplicate a region inside the frame
          const a = this.int(len);
          const b = this.int(len);
          const cnt = Math.min(len - a, len - b, 1 + this.int(32));
          out.copyWithin(b, a, a + cnt);
        }
      }
    }
    if (this.int(10) < 7) fixChecksums(out, len);
    return len;
  }
}

// ------------------------------------------------------------------ corpus

/** Frames the Linux kernel produced (test/data/kernel-frames.pcap). */
export function kernelFrames(): Uint8Array[] {
  const bytes = new Uint8Array(readFileSync(new URL('../data/kernel-frames.pcap', import.meta.url)));
  return readPcap(bytes).map((r) => r.data.slice());
}

/**
 * Kernel frames re-addressed to (mac, ip) so that they pass the Ethernet and
 * IP destination checks and reach ARP/ICMP/UDP/TCP.
 */
export function readdress(frames: readonly Uint8Array[], mac: number, ip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of frames) {
    const g = f.slice();
    for (let i = 0; i < 6; i++) g[i] = Math.floor(mac / 2 ** (8 * (5 - i))) & 0xff;
    if (g.length >= 34 && g[12] === 0x08 && g[13] === 0x00) {
      g[30] = ip >>> 24;
      g[31] = (ip >>> 16) & 0xff;
      g[32] = (ip >>> 8) & 0xff;
      g[33] = ip & 0xff;
      fixChecksums(g, g.length);
    } else if (g.length >= 42 && g[12] === 0x08 && g[13] === 0x06) {
      g[38] = ip >>> 24;
      g[39] = (ip >>> 16) & 0xff;
      g[40] = (ip >>> 8) & 0xff;
      g[41] = ip & 0xff;
    }
    out.push(g);
  }
  return out;
}

/** Copies every frame `nic` transmits into `into` (the NIC keeps working). */
export function recordTx(nic: MemoryNic, into: Uint8Array[]): () => void {
  const orig = nic.txBurst.bind(nic);
  nic.txBurst = (slots, lens, n) => {
    for (let i = 0; i < n; i++) into.push(nic.pool.slice(slots[i]! * nic.slotSize, slots[i]! * nic.slotSize + lens[i]!));
    return orig(slots, lens, n);
  };
  return () => {
    nic.txBurst = orig;
  };
}

/**
 * Frames B sent to A during a simulated exchange: ARP, ping (with
 * fragments), UDP, a TCP connection to A:80 moving data both ways (SACK,
 * timestamps, window scaling) and closing. All addressed to A, so replayed
 * and mutated they reach A's listener, its UDP port and TCP demux.
 */
export function simCorpus(sim: Sim = new Sim()): Uint8Array[] {
  const frames: Uint8Array[] = [];
  const stop = recordTx(sim.b.raw, frames);
  const a = sim.a.stack;
  const b = sim.b.stack;
  const echo = a.udp.bind(0, 53, { onDatagram: (src, sport, _d, buf, off, len) => echo.send(src, sport, buf, off, len) });
  a.tcp.listen(80, 0, 16, (c) => {
    c.events.onReadable = () => {
      const tmp = new Uint8Array(4096);
      const n = c.read(tmp, 0, tmp.length);
      c.write(tmp, 0, n);
    };
    c.events.onPeerClosed = () => c.close();
  });
  b.ping(sim.a.address, 1, 1, 56);
  b.ping(sim.a.address, 1, 2, 3000);
  sim.runFor(100);
  const u = b.udp.bind(0, 5353, { onDatagram: () => {} });
  u.send(sim.a.address, 53, new TextEncoder().encode('hello dns'), 0, 9);
  u.send(sim.a.address, 54, new Uint8Array(10), 0, 10);
  u.send(sim.a.address, 53, new Uint8Array(2500), 0, 2500);
  sim.runFor(100);
  const c = b.tcp.connect(sim.a.address, 80);
  const data = new Uint8Array(20_000).map((_, i) => i * 7);
  c.events.onConnected = () => c.write(data, 0, data.length);
  c.events.onReadable = () => {
    const tmp = new Uint8Array(65536);
    c.read(tmp, 0, tmp.length);
  };
  sim.runFor(2_000);
  c.close();
  sim.runFor(2_000);
  // One more connection left open (SYN, ACK, data): replayed and mutated
  // frames then hit a live connection's 4-tuple.
  const d = b.tcp.connect(sim.a.address, 80);
  d.events.onConnected = () => d.write(data, 0, 3000);
  d.events.onReadable = () => {
    const tmp = new Uint8Array(65536);
    d.read(tmp, 0, tmp.length);
  };
  sim.runFor(500);
  stop();
  return frames;
}

// ------------------------------------------------------------------ memory

let gcFn: (() => void) | null = null;

/** Heap used after a full GC (bytes). */
export function heapAfterGc(): number {
  if (gcFn === null) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  return process.memoryUsage().heapUsed;
}

/** A seed from FC_SEED, else a fresh one; printed by the caller so a failure replays. */
export function seedFromEnv(): number {
  const s = process.env.FC_SEED;
  return s !== undefined && s !== '' ? Number(s) : Math.floor(Math.random() * 0x7fffffff);
}

export const mib = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;

// ------------------------------------------------------------- raw TCP peer

export interface SeenSegment extends TcpRepr {
  src: number;
  dst: number;
  payload: Uint8Array;
}

/**
 * A hand-driven TCP peer at `ip` on Sim A's link: A's neighbour cache maps
 * `ip` to B's MAC, frames it sends are injected from B's NIC (B's stack never
 * sees them), and what A transmits to `ip` is recorded and parsed.
 */
export class RawPeer {
  private readonly seen: Uint8Array[] = [];
  private taken = 0;
  constructor(
    readonly sim: Sim,
    readonly ip: number,
  ) {
    sim.a.iface.neighbors.learn(ip, sim.b.iface.mac, true, sim.clock.now());
    recordTx(sim.a.raw, this.seen);
  }

  send(seg: Partial<TcpRepr> & { srcPort: number; dstPort: number }, payload?: Uint8Array, src = this.ip): void {
    injectFrom(this.sim.b.raw, tcpFrame(this.sim.a.iface.mac, this.sim.b.iface.mac, src, this.sim.a.address, seg, payload));
  }

  /** Segments A sent to this peer since the last take(). */
  take(): SeenSegment[] {
    const out: SeenSegment[] = [];
    for (; this.taken < this.seen.length; this.taken++) {
      const f = this.seen[this.taken]!;
      if (f.length >= 42 && f[12] === 0x08 && f[13] === 0x06 && f[21] === 1) {
        // ARP request for our address: answer as B's MAC (keeps A's entry reachable).
        const target = ((f[38]! << 24) | (f[39]! << 16) | (f[40]! << 8) | f[41]!) >>> 0;
        if (target === this.ip) {
          const a = this.sim.a;
          injectFrom(this.sim.b.raw, arpFrame(a.iface.mac, this.sim.b.iface.mac, { op: 2, senderMac: this.sim.b.iface.mac, senderIp: this.ip, targetMac: a.iface.mac, targetIp: a.address }));
        }
        continue;
      }
      if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0 || f[23] !== 6) continue;
      const dst = ((f[30]! << 24) | (f[31]! << 16) | (f[32]! << 8) | f[33]!) >>> 0;
      if (dst !== this.ip) continue;
      const ihl = (f[14]! & 0x0f) * 4;
      const total = (f[16]! << 8) | f[17]!;
      const src = ((f[26]! << 24) | (f[27]! << 16) | (f[28]! << 8) | f[29]!) >>> 0;
      const repr = parseTcp(f, 14 + ihl, total - ihl, src, dst);
      const hl = (f[14 + ihl + 12]! >>> 4) * 4;
      out.push({ ...repr, src, dst, payload: f.slice(14 + ihl + hl, 14 + total) });
    }
    return out;
  }

  /** A's frames to this peer are consumed from B's RX ring so it never fills. */
  drain(): void {
    this.sim.b.stack.poll();
  }
}

/** Like sim.ts inject(), but drops the frame (instead of throwing) when the sender has no free slot. */
export function injectFrom(from: MemoryNic, frame: Uint8Array): boolean {
  const slot = from.alloc();
  if (slot < 0) return false;
  from.pool.set(frame, slot * from.slotSize);
  scratchSlot[0] = slot;
  scratchLen[0] = frame.length;
  const sent = from.txBurst(scratchSlot, scratchLen, 1);
  if (sent !== 1) from.release(slot);
  return sent === 1;
}
const scratchSlot = new Uint32Array(1);
const scratchLen = new Uint32Array(1);
