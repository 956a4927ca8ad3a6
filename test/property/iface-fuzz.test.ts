/**
 * The whole receive path (Interface -> ARP / IPv4 / reassembly / ICMP / UDP /
 * TCP) fed more than a million random and mutated frames: fast-check
 * generated frames, and seeded mutations of a corpus of real frames (the
 * kernel's, from test/data/kernel-frames.pcap, and those of a simulated
 * TCP/UDP exchange with live listeners and a live connection on the target).
 *
 * Checked: no exception escapes Interface.input()/poll(); heap after GC stays
 * within a small bound of what it was after warm-up; every NIC slot is free
 * once timers have drained the ARP queues; the neighbour, reassembly and TCP
 * tables stay under their caps. The seed is printed; FC_SEED=<seed> replays.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim } from '../helpers/sim.js';
import { Mutator, fixChecksums, heapAfterGc, kernelFrames, mib, readdress, seedFromEnv, simCorpus } from '../helpers/hostile.js';
import { ETH_HEADER_LEN, emitEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { emitIpv4 } from '../../src/wire/ipv4.js';
import { emitTcp, type TcpRepr } from '../../src/wire/tcp.js';
import { emitArp } from '../../src/wire/arp.js';

const MUTATED_FRAMES = Number(process.env.USTACK_FUZZ_FRAMES ?? 1_000_000);
const FC_RUNS = 4_000; // x up to 100 frames each
const BURST = 512;

describe('Interface fuzzing (random and mutated frames through every layer)', () => {
  const seed = seedFromEnv();
  console.log(`[iface-fuzz] seed ${seed} (replay with FC_SEED=${seed})`);

  /** A target stack A with a UDP echo, a TCP listener and a live connection, and its corpus. */
  function target(): { sim: Sim; corpus: Uint8Array[] } {
    const sim = new Sim({ iface: { reassembly: { maxBytes: 256 * 1024, maxDatagrams: 32 }, neighbor: { maxEntries: 256 } } });
    const own = simCorpus(sim);
    const kernel = readdress(kernelFrames(), sim.a.iface.mac, sim.a.address);
    return { sim, corpus: [...own, ...kernel] };
  }

  /** Runs timers and both stacks' receive paths; B's replies to A are consumed so rings never stay full. */
  function pump(sim: Sim, ms: number): void {
    sim.clock.advance(ms);
    sim.a.stack.poll();
    sim.b.stack.poll();
    sim.a.stack.poll();
  }

  function checkBounded(sim: Sim): void {
    const iface = sim.a.iface;
    expect(iface.neighbors.size).toBeLessThanOrEqual(256);
    expect(iface.reassembler.bufferedBytes).toBeLessThanOrEqual(256 * 1024);
    expect(iface.reassembler.pending).toBeLessThanOrEqual(32);
    // Every connection is the live one, embryonic (bounded by the backlog), or TIME_WAIT/closing of ones the corpus made.
    expect(sim.a.stack.tcp.connections().length).toBeLessThanOrEqual(16 + 16 + 8);
  }

  it(`survives ${MUTATED_FRAMES.toLocaleString()} mutated corpus frames plus fast-check frames, memory flat`, () => {
    const { sim, corpus } = target();
    const iface = sim.a.iface;
    const mut = new Mutator(seed, corpus);
    const scratch = new Uint8Array(sim.a.raw.slotSize);
    let fed = 0;
    const feed = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const len = mut.mutate(scratch);
        iface.input(scratch, 0, len, sim.clock.now());
        fed++;
        if (fed % BURST === 0) pump(sim, 1);
      }
    };

    // Warm-up: JIT, caches and tables reach their steady size.
    feed(100_000);
    const before = heapAfterGc();
    feed(MUTATED_FRAMES - 100_000);
    checkBounded(sim);

    // fast-check: structured frames (Ethernet/ARP/IPv4/TCP with arbitrary fields) aimed at A.
    let fcFrames = 0;
    const a = sim.a;
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 1514 }),
      fc.record({ bcast: fc.boolean(), op: fc.integer({ min: 0, max: 3 }), sip: fc.integer({ min: 0, max: 0xffffffff }), smac: fc.integer({ min: 0, max: 0xffffffffffff }), tip: fc.constantFrom(a.address, 0, sim.b.address) }).map((r) => {
        const f = new Uint8Array(60);
        emitEthernet({ dst: r.bcast ? 0xffffffffffff : a.iface.mac, src: r.smac, ethertype: ETHERTYPE_ARP }, f, 0);
        emitArp({ op: r.op, senderMac: r.smac, senderIp: r.sip, targetMac: 0, targetIp: r.tip }, f, ETH_HEADER_LEN);
        return f;
      }),
      fc.record({
        src: fc.oneof(fc.constant(sim.b.address), fc.integer({ min: 0, max: 0xffffffff })),
        ident: fc.integer({ min: 0, max: 0xffff }),
        mf: fc.boolean(),
        fo: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8191 })),
        proto: fc.constantFrom(1, 6, 17, 6, 6),
        srcPort: fc.integer({ min: 0, max: 0xffff }),
        dstPort: fc.constantFrom(80, 53, 7, 0, 65535),
        seq: fc.integer({ min: 0, max: 0xffffffff }),
        ack: fc.integer({ min: 0, max: 0xffffffff }),
        flags: fc.integer({ min: 0, max: 0xff }),
        window: fc.integer({ min: 0, max: 0xffff }),
        mss: fc.option(fc.integer({ min: 0, max: 0xffff }), { nil: undefined }),
        ws: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
        payload: fc.uint8Array({ maxLength: 1400 }),
      }).map((r) => {
        const tcp: TcpRepr = { srcPort: r.srcPort, dstPort: r.dstPort, seq: r.seq, ack: r.ack, flags: r.flags, window: r.window, urgent: 0, payloadLength: r.payload.length, mss: r.mss, windowScale: r.ws };
        const l4 = new Uint8Array(60 + r.payload.length);
        let l4len = r.payload.length + 8;
        if (r.proto === 6) {
          emitTcp(tcp, l4, 0, r.src, a.address, 'full');
          l4len = (l4[12]! >>> 4) * 4 + r.payload.length;
          l4.set(r.payload, l4len - r.payload.length);
        } else {
          l4.set(r.payload, 8);
        }
        const f = new Uint8Array(ETH_HEADER_LEN + 20 + l4len);
        emitEthernet({ dst: a.iface.mac, src: 0x020000000002, ethertype: ETHERTYPE_IPV4 }, f, 0);
        emitIpv4({ src: r.src, dst: a.address, protocol: r.proto, ttl: 64, dscp: 0, ecn: 0, ident: r.ident, dontFragment: false, moreFragments: r.mf, fragmentOffset: r.fo * 8, payloadLength: l4len }, f, ETH_HEADER_LEN);
        f.set(l4.subarray(0, l4len), ETH_HEADER_LEN + 20);
        fixChecksums(f, f.length);
        return f;
      }),
    );
    fc.assert(
      fc.property(fc.array(frame, { maxLength: 100 }), (frames) => {
        for (const f of frames) {
          iface.input(f, 0, f.length, sim.clock.now());
          fcFrames++;
        }
        pump(sim, 5);
      }),
      { numRuns: FC_RUNS, seed },
    );
    checkBounded(sim);

    // Drain: timers expire ARP queues, reassembly, embryonic and TIME_WAIT state.
    sim.runFor(200_000);
    const after = heapAfterGc();
    const total = fed + fcFrames;
    const st = sim.a.stack.stats();
    console.log(
      `[iface-fuzz] frames fuzzed: ${total.toLocaleString()} (${fed.toLocaleString()} mutated corpus of ${corpus.length}, ${fcFrames.toLocaleString()} fast-check); ` +
        `heap after GC: before ${mib(before)}, after ${mib(after)} (delta ${mib(after - before)}); ` +
        `neighbours ${iface.neighbors.size}, tcp connections ${sim.a.stack.tcp.connections().length}, ` +
        `nic free slots ${sim.a.raw.freeSlots}/${sim.a.raw.slotCount}`,
    );
    console.log(`[iface-fuzz] A's counters: ${JSON.stringify(st[`iface.${iface.name}`])}`);
    console.log(`[iface-fuzz] A's tcp: ${JSON.stringify(st.tcp)}`);
    expect(total).toBeGreaterThanOrEqual(1_000_000);
    // Every frame was counted as received, and drops were counted by reason.
    expect(st[`iface.${iface.name}`]!.rx_frames).toBeGreaterThanOrEqual(total);
    // Memory flat: within 8 MiB of the post-warm-up heap.
    expect(after - before).toBeLessThan(8 * 1048576);
    // NIC slots: all free once the ARP queues timed out (nothing kept by reference).
    expect(sim.a.raw.freeSlots).toBe(sim.a.raw.slotCount);
    expect(sim.b.raw.freeSlots).toBe(sim.b.raw.slotCount);
    checkBounded(sim);
  });
});
