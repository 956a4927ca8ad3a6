/**
 * An exception thrown while the Interface handles a receive burst (a bug, or
 * a callback run inside the poll) propagates to the caller, but only after
 * every slot of the burst is back in the pool and the burst is closed: it is
 * counted (link.poll_exceptions, link.rx_drop_burst_aborted) and the stack
 * keeps working when the caller carries on.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import { injectFrom, udpFrame } from '../helpers/hostile.js';
import type { Connection } from '../../src/stack/tcp/connection.js';

class InjectedBug extends Error {}

describe('a throw in the receive path', () => {
  it('leaks no slot of the burst, is counted, and propagates; the next poll works', () => {
    const sim = new Sim();
    const a = sim.a;
    sim.settle();
    const got: number[] = [];
    a.stack.udp.bind(0, 7, {
      onDatagram: (_src, _sport, _dst, buf, off) => {
        if (buf[off] === 0xee) throw new InjectedBug('handler bug');
        got.push(buf[off]!);
      },
    });
    // One burst of 10 datagrams; the 4th makes the handler throw.
    for (let i = 0; i < 10; i++) {
      injectFrom(sim.b.raw, udpFrame(a.iface.mac, sim.b.iface.mac, sim.b.address, a.address, 5000, 7, Uint8Array.of(i === 3 ? 0xee : i)));
    }
    expect(a.raw.rxPending).toBe(10);
    expect(() => a.stack.poll()).toThrow(InjectedBug);
    expect(got).toEqual([0, 1, 2]);
    // Every slot of the burst is back: nothing is held, nothing waits in the RX ring.
    expect(a.raw.rxPending).toBe(0);
    expect(a.raw.freeSlots).toBe(a.raw.slotCount);
    const link = a.stack.stats().link!;
    expect(link.poll_exceptions).toBe(1);
    expect(link.rx_drop_burst_aborted).toBe(7);
    // The stack carries on.
    injectFrom(sim.b.raw, udpFrame(a.iface.mac, sim.b.iface.mac, sim.b.address, a.address, 5000, 7, Uint8Array.of(42)));
    a.stack.poll();
    expect(got).toEqual([0, 1, 2, 42]);
    expect(a.raw.freeSlots).toBe(a.raw.slotCount);
  });

  it('a throw from a callback at the end of the burst (coalesced TCP reads) is counted too; TCP keeps working', () => {
    const sim = new Sim();
    let throwOnce = true;
    const server: Connection[] = [];
    let read = 0;
    sim.a.stack.tcp.listen(80, 0, 8, (c) => {
      server.push(c);
      c.events.onReadable = () => {
        const b = new Uint8Array(65536);
        read += c.read(b, 0, b.length);
        if (throwOnce) {
          throwOnce = false;
          throw new InjectedBug('reader bug');
        }
      };
    });
    const c = sim.b.stack.tcp.connect(sim.a.address, 80);
    sim.settle();
    c.write(new Uint8Array(1000), 0, 1000);
    sim.b.stack.poll();
    expect(() => sim.a.stack.poll()).toThrow(InjectedBug);
    expect(sim.a.stack.stats().link!.poll_exceptions).toBe(1);
    c.write(new Uint8Array(1000), 0, 1000);
    sim.runFor(1000);
    expect(read).toBe(2000);
    expect(sim.a.raw.freeSlots + sim.a.raw.rxPending).toBe(sim.a.raw.slotCount);
  });
});
