/**
 * Slot-pool exhaustion from the network: a peer sends, at a steady rate, from
 * 150 spoofed on-link source addresses that never answer ARP — TCP SYNs and
 * data to closed ports (each drawing an RST), pings (echo replies) and UDP to
 * closed ports (ICMP errors). Every reply waits in a neighbour queue for an
 * ARP answer that never comes. Meanwhile a legitimate client on the same link
 * keeps uploading to and downloading from A over TCP.
 *
 * Without a global cap on neighbour-queued slots, 150 addresses x 8 queued
 * frames hold more slots than A's pool of 1024 has: receive refill fails and
 * A stops sending and receiving while the trickle lasts. With the cap, the
 * oldest queued frame is dropped (counted), A's free slots never fall to the
 * receive reserve, and every legitimate transfer completes.
 *
 * Everything runs on the virtual clock over the in-process MemoryNic link.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { injectFrom, tcpFrame, udpFrame } from '../helpers/hostile.js';
import { echoRequest, ipv4Frame } from '../helpers/frames.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/wire/tcp.js';
import { IPPROTO_ICMP, parseIpv4Address } from '../../src/wire/ipv4.js';

const SPOOFED = 150;
const FIRST_SPOOFED = parseIpv4Address('10.0.0.100');
const ATTACKER_MAC = 0x02_00_00_00_00_99;
/** Attack frames per 10 ms tick: 1,500 frames a second, 10 per spoofed address. */
const PER_TICK = 15;
const TICK_MS = 10;
const TRANSFERS = 20;
/** The attack runs alone this long before the first transfer, then a transfer starts every TRANSFER_EVERY_MS. */
const WARMUP_MS = 2_000;
const TRANSFER_EVERY_MS = 250;
/** The attack goes on until every transfer is done, or this long. */
const ATTACK_LIMIT_MS = 30_000;
const UPLOAD = 16 * 1024;
const DOWNLOAD = 64 * 1024;

const pattern = (i: number): number => (i * 31 + 7) & 0xff;

/** A's server: reads UPLOAD bytes, then writes DOWNLOAD patterned bytes and closes. */
function downloadServer(sim: Sim): void {
  const chunk = new Uint8Array(DOWNLOAD).map((_, i) => pattern(i));
  const scratch = new Uint8Array(65536);
  sim.a.stack.tcp.listen(80, 0, 64, (c) => {
    let got = 0;
    let sent = 0;
    const pump = (): void => {
      while (sent < DOWNLOAD) {
        const n = c.write(chunk, sent, DOWNLOAD - sent);
        if (n === 0) return;
        sent += n;
      }
      c.close();
    };
    c.events.onReadable = () => {
      for (let n = c.read(scratch, 0, scratch.length); n > 0; n = c.read(scratch, 0, scratch.length)) got += n;
      if (got >= UPLOAD && sent === 0) pump();
    };
    c.events.onWritable = pump;
  });
}

interface Transfers {
  started: number;
  completed: number;
  failed: string[];
  start(): void;
}

/** B's client: each start() opens one transfer, checked byte for byte. */
function client(sim: Sim): Transfers {
  const upload = new Uint8Array(UPLOAD).fill(0x55);
  const scratch = new Uint8Array(65536);
  const t: Transfers = { started: 0, completed: 0, failed: [], start: () => {
    const id = t.started++;
    const c: Connection = sim.b.stack.tcp.connect(sim.a.address, 80);
    let up = 0;
    let down = 0;
    let ok = true;
    const push = (): void => {
      while (up < UPLOAD) {
        const n = c.write(upload, up, UPLOAD - up);
        if (n === 0) return;
        up += n;
      }
    };
    c.events.onConnected = push;
    c.events.onWritable = push;
    c.events.onReadable = () => {
      for (let n = c.read(scratch, 0, scratch.length); n > 0; n = c.read(scratch, 0, scratch.length)) {
        for (let i = 0; i < n; i++) if (scratch[i] !== pattern(down + i)) ok = false;
        down += n;
      }
    };
    c.events.onPeerClosed = () => c.close();
    c.events.onClosed = (err) => {
      if (err === undefined && ok && down === DOWNLOAD) t.completed++;
      else t.failed.push(`transfer ${id}: ${err ?? 'closed'} after ${down} bytes${ok ? '' : ' (corrupt)'}`);
    };
  } };
  return t;
}

/** Round-robin over the spoofed sources and the four reply-drawing frame kinds. */
function attacker(sim: Sim): () => number {
  const a = sim.a;
  let k = 0;
  let injected = 0;
  const payload = new Uint8Array(200).fill(0x41);
  return () => {
    for (let j = 0; j < PER_TICK; j++, k++) {
      const src = FIRST_SPOOFED + (k % SPOOFED);
      const port = 1024 + (k % 50_000);
      let frame: Uint8Array;
      switch ((k / SPOOFED | 0) % 4) {
        case 0: // SYN to a closed port: RST
          frame = tcpFrame(a.iface.mac, ATTACKER_MAC, src, a.address, { srcPort: port, dstPort: 9, seq: k, flags: TCP_SYN });
          break;
        case 1: // data to a closed port: RST
          frame = tcpFrame(a.iface.mac, ATTACKER_MAC, src, a.address, { srcPort: port, dstPort: 9, seq: k, ack: 1, flags: TCP_ACK | TCP_PSH }, payload);
          break;
        case 2: // ping: echo reply
          frame = ipv4Frame(a.iface.mac, ATTACKER_MAC, { src, dst: a.address, protocol: IPPROTO_ICMP }, echoRequest(7, k & 0xffff, payload));
          break;
        default: // UDP to a closed port: ICMP port unreachable (rate limited)
          frame = udpFrame(a.iface.mac, ATTACKER_MAC, src, a.address, port, 9, payload);
      }
      if (injectFrom(sim.b.raw, frame)) injected++;
    }
    return injected;
  };
}

interface AttackRun {
  sim: Sim;
  transfers: Transfers;
  injected: number;
  elapsed: number;
  minFree: number;
  stats: Record<string, Record<string, number>>;
  rxNoBuffer: number;
}

/**
 * The attack at its steady rate; after WARMUP_MS a transfer starts every
 * TRANSFER_EVERY_MS. Runs until every transfer is done or ATTACK_LIMIT_MS.
 * A's free slots are sampled after every allocation and around every poll.
 */
function runAttack(sim: Sim): AttackRun {
  const a = sim.a;
  downloadServer(sim);
  const transfers = client(sim);
  const attack = attacker(sim);
  let minFree = a.raw.freeSlots;
  const sample = (): void => {
    if (a.raw.freeSlots < minFree) minFree = a.raw.freeSlots;
  };
  const rawAlloc = a.raw.alloc.bind(a.raw);
  a.raw.alloc = () => {
    const s = rawAlloc();
    sample();
    return s;
  };
  const rawPoll = a.stack.poll.bind(a.stack);
  a.stack.poll = (now?: number) => {
    sample();
    const n = rawPoll(now);
    sample();
    return n;
  };
  let injected = 0;
  let elapsed = 0;
  for (; elapsed < ATTACK_LIMIT_MS && transfers.completed + transfers.failed.length < TRANSFERS; elapsed += TICK_MS) {
    if (elapsed >= WARMUP_MS && transfers.started < TRANSFERS && (elapsed - WARMUP_MS) % TRANSFER_EVERY_MS === 0) transfers.start();
    injected = attack();
    sim.runFor(TICK_MS);
  }
  const stats = a.stack.stats();
  const rxNoBuffer = stats[`nic.${a.iface.name}`]!.rx_no_buffer!;
  console.log(
    `[slot-exhaustion] ${injected} spoofed frames from ${SPOOFED} addresses over ${elapsed} ms (virtual); ` +
      `transfers completed during the attack ${transfers.completed}/${TRANSFERS}${transfers.failed.length ? ` failed: ${transfers.failed.join('; ')}` : ''}; ` +
      `min free slots ${minFree}/${a.raw.slotCount} (rx reserve ${a.iface.rxReserve}, neighbour queue cap ${a.iface.neighbors.config.queueTotal}); ` +
      `nic rx_no_buffer ${rxNoBuffer}; arp ${JSON.stringify(stats.arp)}; link ${JSON.stringify(stats.link)}`,
  );
  return { sim, transfers, injected, elapsed, minFree, stats, rxNoBuffer };
}

describe('spoofed on-link sources that never answer ARP', () => {
  it('hold a bounded share of the pool: the legitimate client completes every transfer and receive never runs dry', () => {
    const r = runAttack(new Sim());
    const a = r.sim.a;
    const st = r.stats;
    expect(r.injected).toBeGreaterThan(10_000);
    expect(r.transfers.failed).toEqual([]);
    expect(r.transfers.completed).toBe(TRANSFERS);
    expect(r.minFree).toBeGreaterThan(a.iface.rxReserve);
    expect(r.rxNoBuffer).toBe(0);
    // The drops are counted: the oldest queued reply when the cap is hit, and
    // whatever was still queued when an address failed to resolve.
    expect(st.arp!.queue_cap_drops).toBeGreaterThan(0);
    expect(st.link!.tx_drop_unresolved).toBe(st.arp!.queue_cap_drops! + st.arp!.queue_drops!);
    expect(st.arp!.queued).toBeLessThanOrEqual(a.iface.neighbors.config.queueTotal);
    r.sim.runFor(10_000);
    expect(a.iface.neighbors.queued).toBe(0);
    expect(a.raw.freeSlots).toBe(a.raw.slotCount);
  });

  it('with the queue cap lifted, the receive reserve alone keeps receive working (transmit is refused, counted)', () => {
    // Every address may queue its 8 frames: 1,200 wanted, more than the pool.
    const r = runAttack(new Sim({ limits: { arpQueueTotal: 1 << 20 } }));
    const a = r.sim.a;
    expect(r.injected).toBeGreaterThan(10_000);
    expect(r.stats.link!.tx_drop_rx_reserve).toBeGreaterThan(0);
    // Transmit stops at the reserve; only frames arriving within one poll go below it.
    expect(r.minFree).toBeGreaterThan(0);
    expect(r.rxNoBuffer).toBe(0);
    r.sim.runFor(10_000);
    expect(a.iface.neighbors.queued).toBe(0);
    expect(a.raw.freeSlots).toBe(a.raw.slotCount);
  });
});
