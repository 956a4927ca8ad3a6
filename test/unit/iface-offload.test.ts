/**
 * The Interface with an offloading NIC (checksum + TSO, per-frame RX flags),
 * on a MemoryNic pair behind a shim that plays the NIC's part: it completes
 * the pseudo-header checksums the stack leaves (as a TAP's kernel or an
 * e1000 does) and records frame sizes. The peer is a plain MemoryNic with
 * 64 KiB slots that verifies every checksum in software.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { RX_FLAG_CSUM_VERIFIED, type Nic, type NicOffloads, type NicStats } from '../../src/driver/nic.js';
import { VirtualClock } from '../../src/time/clock.js';
import { NetStack } from '../../src/stack/net-stack.js';
import { onesSum, pseudoHeaderSum } from '../../src/wire/checksum.js';

const IP_A = 0x0a000001;
const IP_B = 0x0a000002;
const SLOT = 66560;
/** run(): polls in one drain, and rounds in a row without the clock moving, before it fails. */
const MAX_DRAIN_POLLS = 100_000;
const MAX_STILL_ROUNDS = 1_000;

class OffloadShim implements Nic {
  readonly offloads: NicOffloads = { txChecksum: true, tso: true, rxChecksumVerified: false };
  readonly rxPerFrameFlags = true;
  largestTx = 0;
  completed = 0;
  /** Flag reported for every received frame. */
  rxFlag = 0;
  /** Flip the UDP checksum of received frames (to see whether flags are honoured). */
  mangleUdp = false;
  constructor(readonly inner: MemoryNic) {}
  get name(): string { return this.inner.name; }
  get mac(): number { return this.inner.mac; }
  get mtu(): number { return this.inner.mtu; }
  get pool(): Uint8Array { return this.inner.pool; }
  get slotSize(): number { return this.inner.slotSize; }
  get slotCount(): number { return this.inner.slotCount; }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    const n = this.inner.rxBurst(slots, lens, max);
    const p = this.pool;
    for (let i = 0; i < n; i++) {
      if (flags !== undefined) flags[i] = this.rxFlag;
      const b = slots[i]! * this.slotSize;
      if (this.mangleUdp && p[b + 23] === 17) p[b + 14 + 20 + 6]! ^= 0x5a;
    }
    return n;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    const p = this.pool;
    for (let i = 0; i < n; i++) {
      const b = slots[i]! * this.slotSize;
      const len = lens[i]!;
      if (len > this.largestTx) this.largestTx = len;
      if (p[b + 12] !== 8 || p[b + 13] !== 0 || ((p[b + 20]! & 0x3f) | p[b + 21]!) !== 0) continue;
      const proto = p[b + 23]!;
      if (proto !== 6 && proto !== 17) continue;
      const l4 = 14 + (p[b + 14]! & 15) * 4;
      const l4len = ((p[b + 16]! << 8) | p[b + 17]!) - (l4 - 14);
      const at = l4 + (proto === 6 ? 16 : 6);
      const src = ((p[b + 26]! << 24) | (p[b + 27]! << 16) | (p[b + 28]! << 8) | p[b + 29]!) >>> 0;
      const dst = ((p[b + 30]! << 24) | (p[b + 31]! << 16) | (p[b + 32]! << 8) | p[b + 33]!) >>> 0;
      // Only a field holding the pseudo-header sum is the NIC's to complete.
      if (((p[b + at]! << 8) | p[b + at + 1]!) !== pseudoHeaderSum(src, dst, proto, l4len)) continue;
      let c = ~onesSum(p, b + l4, l4len) & 0xffff;
      if (c === 0 && proto === 17) c = 0xffff;
      p[b + at] = c >>> 8;
      p[b + at + 1] = c & 0xff;
      this.completed++;
    }
    return this.inner.txBurst(slots, lens, n);
  }

  alloc(): number { return this.inner.alloc(); }
  get availableSlots(): number { return this.inner.availableSlots; }
  release(slot: number): void { this.inner.release(slot); }
  setWakeHandler(h: (() => void) | null): void { this.inner.setWakeHandler(h); }
  armWake(): void { this.inner.armWake(); }
  pollAt(): number { return this.inner.pollAt(); }
  stats(): NicStats { return this.inner.stats(); }
  close(): Promise<void> { return this.inner.close(); }
}

function setup(shimB = false) {
  const clock = new VirtualClock(0);
  const [ra, rb] = MemoryNic.pair({ slotSize: SLOT, slotCount: 256 });
  const nicA = new OffloadShim(ra);
  const nicB = shimB ? new OffloadShim(rb) : rb;
  const a = new NetStack(clock);
  const b = new NetStack(clock);
  const ifA = a.addInterface(nicA, { name: 'a', address: IP_A, prefixLength: 24, gateway: 0 });
  const ifB = b.addInterface(nicB, { name: 'b', address: IP_B, prefixLength: 24, gateway: 0 });
  // Polls until `done()` or `limitMs` of virtual time. A drain that never
  // goes quiet, or rounds that never move the clock (a deadline at or before
  // now that polling does not clear), fail with what run() waited for
  // instead of spinning: both bounds are far beyond what any test here needs.
  const run = (done: () => boolean, limitMs = 60_000): boolean => {
    const end = clock.now() + limitMs;
    let still = 0;
    for (;;) {
      let quiet = 0;
      for (let polls = 0; quiet < 2; polls++) {
        if (polls >= MAX_DRAIN_POLLS) {
          throw new Error(`run: the link was still busy after ${MAX_DRAIN_POLLS} polls at ${clock.now()} ms, waiting for ${String(done)}`);
        }
        quiet = a.poll() + b.poll() === 0 ? quiet + 1 : 0;
      }
      if (done()) return true;
      const next = Math.min(a.pollAt(), b.pollAt());
      if (next === Infinity || next > end) return done();
      const before = clock.now();
      clock.advanceTo(Math.max(next, before));
      if (clock.now() > before) still = 0;
      else if (++still >= MAX_STILL_ROUNDS) {
        throw new Error(`run: the clock stayed at ${before} ms for ${MAX_STILL_ROUNDS} rounds (pollAt ${next}), waiting for ${String(done)}`);
      }
    }
  };
  return { clock, a, b, ifA, ifB, nicA, nicB, run };
}

describe('Interface with checksum offload and TSO', () => {
  it('TCP: segments above the MTU leave whole (no IP fragmentation) and arrive exact', () => {
    const { a, b, ifA, nicA, run } = setup();
    const total = 1 << 20;
    const data = new Uint8Array(total);
    for (let i = 0; i < total; i++) data[i] = (i * 7 + (i >>> 9)) & 0xff;
    const got = new Uint8Array(total);
    let received = 0;
    b.tcp.listen(5000, 0, 8, (conn) => {
      conn.events = {
        onReadable: () => {
          for (;;) {
            const n = conn.read(got, received, total - received);
            if (n <= 0) break;
            received += n;
          }
        },
      } as never;
    });
    const c = a.tcp.connect(IP_B, 5000);
    let sent = 0;
    expect(run(() => {
      while (sent < total) {
        const n = c.write(data, sent, total - sent);
        if (n <= 0) break;
        sent += n;
      }
      return received === total;
    })).toBe(true);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    expect(nicA.largestTx).toBeGreaterThan(1514);
    expect(nicA.largestTx).toBeLessThanOrEqual(14 + 65535);
    expect(ifA.stats.ip_tx_fragmented).toBe(0);
    expect(b.stats().tcp!.badChecksum).toBe(0);
  });

  it('UDP above the MTU is still fragmented, with the checksum completed before fragmenting', () => {
    const { a, b, ifA, nicA, run } = setup();
    const msgs: number[] = [];
    b.udp.bind(0, 7000, { onDatagram: (_s, _p, _d, _buf, _o, len) => msgs.push(len) });
    const ep = a.udp.bind(0, 7001, { onDatagram: () => {} });
    const payload = new Uint8Array(8000).fill(0xab);
    ep.send(IP_B, 7000, payload, 0, payload.length);
    ep.send(IP_B, 7000, payload, 0, 100);
    expect(run(() => msgs.length === 2)).toBe(true);
    expect(msgs).toEqual([8000, 100]);
    expect(ifA.stats.ip_tx_fragmented).toBe(1);
    expect(nicA.largestTx).toBeLessThanOrEqual(1514);
    expect(b.stats().udp!.udp_rx_drop_bad_checksum).toBe(0);
  });

  it('per-frame RX flags: a frame flagged verified skips the check, an unflagged one is verified', () => {
    const { a, b, nicB, run } = setup(true);
    const shim = nicB as OffloadShim;
    shim.mangleUdp = true;
    const msgs: number[] = [];
    b.udp.bind(0, 7000, { onDatagram: (_s, _p, _d, _buf, _o, len) => msgs.push(len) });
    const ep = a.udp.bind(0, 7001, { onDatagram: () => {} });
    shim.rxFlag = RX_FLAG_CSUM_VERIFIED;
    ep.send(IP_B, 7000, new Uint8Array(10), 0, 10);
    expect(run(() => msgs.length === 1)).toBe(true);
    shim.rxFlag = 0;
    ep.send(IP_B, 7000, new Uint8Array(20), 0, 20);
    run(() => false, 100);
    expect(msgs).toEqual([10]);
    expect(b.stats().udp!.udp_rx_drop_bad_checksum).toBe(1);
  });
});
