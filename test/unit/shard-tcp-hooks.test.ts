/**
 * The two TCP layer hooks a shard worker uses (tcp-layer.ts):
 * acceptsLocalPort — the ephemeral port choice skips ports whose replies
 * would be steered to another worker — and onConnectionTable — every
 * connection is announced when it enters the table, before its first
 * segment leaves, and when it leaves it, with its 4-tuple. On two layers
 * joined by an in-memory link on a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { SimNet } from '../helpers/tcp-link.js';
import { State } from '../../src/stack/tcp/connection.js';

type Notice = { opened: boolean; la: number; lp: number; ra: number; rp: number; sentBefore: number };

function run(sim: SimNet, maxSteps = 200_000): void {
  for (let i = 0; i < maxSteps && sim.step(); i++);
}

describe('shard hooks in the TCP layer', () => {
  it('acceptsLocalPort: ephemeral ports are only those the hook accepts', () => {
    const asked: number[] = [];
    const sim = new SimNet(7, {}, {}, {}, {
      a: {
        acceptsLocalPort: (la, lp, ra, rp) => {
          asked.push(lp);
          expect([la, ra, rp]).toEqual([0x0a000001, 0x0a000002, 80]);
          return lp % 3 === 0;
        },
      },
    });
    sim.b.listen(80);
    const conns = Array.from({ length: 40 }, () => sim.a.connect(sim.addrB, 80));
    run(sim);
    for (const c of conns) {
      expect(c.localPort % 3).toBe(0);
      expect(c.state).toBe(State.ESTABLISHED);
    }
    expect(new Set(conns.map((c) => c.localPort)).size).toBe(40);
    expect(asked.some((p) => p % 3 !== 0)).toBe(true); // it was asked, and refused some
  });

  it('acceptsLocalPort refusing every port: EADDRNOTAVAIL', () => {
    const sim = new SimNet(8, {}, {}, {}, { a: { ephemeralLow: 60000, ephemeralHigh: 60100, acceptsLocalPort: () => false } });
    sim.b.listen(80);
    expect(() => sim.a.connect(sim.addrB, 80)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });

  it('onConnectionTable: opened before the first segment, closed when the connection leaves the table', () => {
    const notices: { a: Notice[]; b: Notice[] } = { a: [], b: [] };
    let sim!: SimNet;
    const hook = (side: 'a' | 'b') => (opened: boolean, la: number, lp: number, ra: number, rp: number) => {
      const end = side === 'a' ? sim.endA : sim.endB;
      notices[side].push({ opened, la, lp, ra, rp, sentBefore: end.stats.sent });
    };
    sim = new SimNet(9, {}, {}, { timeWaitMs: 1000 }, { a: { onConnectionTable: hook('a') }, b: { onConnectionTable: hook('b') } });
    let accepted: import('../../src/stack/tcp/connection.js').Connection | null = null;
    sim.b.listen(80, 0, 511, (conn) => (accepted = conn));
    const sentBefore = sim.endA.stats.sent;
    const c = sim.a.connect(sim.addrB, 80);
    // Announced inside connect(), before the SYN went out.
    expect(notices.a).toEqual([{ opened: true, la: sim.addrA, lp: c.localPort, ra: sim.addrB, rp: 80, sentBefore }]);
    run(sim, 50);
    expect(c.state).toBe(State.ESTABLISHED);
    // The passive side: announced on the SYN, before its SYN-ACK.
    expect(notices.b).toHaveLength(1);
    expect(notices.b[0]).toMatchObject({ opened: true, la: sim.addrB, lp: 80, ra: sim.addrA, rp: c.localPort, sentBefore: 0 });
    c.close();
    run(sim, 50);
    expect(accepted).not.toBeNull();
    accepted!.close();
    run(sim);
    expect(c.state).toBe(State.CLOSED);
    // Both sides announced the close, after TIME_WAIT on the active closer.
    expect(notices.a.map((n) => n.opened)).toEqual([true, false]);
    expect(notices.b.map((n) => n.opened)).toEqual([true, false]);
    expect(notices.a[1]).toMatchObject({ la: sim.addrA, lp: c.localPort, ra: sim.addrB, rp: 80 });
    expect(sim.clock.now()).toBeGreaterThanOrEqual(1000);
  });

  it('onConnectionTable: a reset connection leaves the table once', () => {
    const opened: boolean[] = [];
    const sim = new SimNet(10, {}, {}, {}, { a: { onConnectionTable: (o) => opened.push(o) } });
    // Nobody listens: the SYN is answered with RST.
    const c = sim.a.connect(sim.addrB, 81);
    run(sim);
    expect(c.state).toBe(State.CLOSED);
    expect(opened).toEqual([true, false]);
  });
});
