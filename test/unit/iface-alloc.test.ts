/**
 * The packet path allocates nothing per packet in steady state: UDP datagrams
 * sent through one stack's Interface (IPv4 + Ethernet + UDP checksum built in
 * a slot, neighbour lookup, TX batch) and received by the other's (Ethernet,
 * IPv4 and UDP checks, demultiplexing), on a MemoryNic pair with a
 * fractional clock far from 0, as a real one is. Bytes allocated by stack
 * code (src/stack/) are sampled with V8's heap profiler over the measured
 * part; the handler reads the payload in place. Complements
 * tcp-alloc-realclock.test.ts (TCP) and the raw rows of `npm run bench`.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { stackAllocations, sumSites } from '../helpers/alloc-profile.js';

describe('Interface packet path', () => {
  it('UDP send and receive through two Interfaces: below 1 byte allocated per packet by stack code', async () => {
    const sim = new Sim();
    sim.clock.advance(123456.789);
    let received = 0;
    let check = 0;
    sim.b.stack.udp.bind(0, 9000, {
      onDatagram(_src, _port, _dst, buf, off, len) {
        received++;
        check += buf[off]! + len;
      },
    });
    const ep = sim.a.stack.udp.bind(0, 40000, { onDatagram() {} });
    const payload = new Uint8Array(64).fill(9);
    const run = (n: number): void => {
      for (let i = 0; i < n; i++) {
        ep.send(sim.b.address, 9000, payload, 0, payload.length);
        if ((i & 31) === 31) {
          sim.a.stack.poll();
          sim.b.stack.poll();
          sim.clock.advance(0.013);
        }
      }
      sim.settle();
    };
    run(200_000); // warm-up: ARP resolved, JIT settled
    const before = received;
    const sites = await stackAllocations(() => run(200_000));
    const packets = received - before;
    const bytes = sumSites(sites);
    const perPacket = bytes / packets;
    console.log(`[iface-alloc] ${packets} datagrams: ${perPacket.toFixed(3)} B per packet by stack code; sites:`, [...sites].sort((x, y) => y[1] - x[1]).slice(0, 6));
    expect(packets).toBe(200_000);
    expect(check).toBeGreaterThan(0);
    expect(perPacket).toBeLessThan(1);
  });
});
