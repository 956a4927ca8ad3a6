/**
 * What "a clean close, no RST" can promise over a lossy, reordering link.
 *
 * Two TcpLayers exchange data both ways over the impaired in-memory link
 * (test/helpers/tcp-link.ts) and close as the interop test's sockets do
 * (end, then close() once the peer's FIN has been read). A stray segment can
 * still reach the passive closer after LAST_ACK -> CLOSED, or the active
 * closer's TIME_WAIT can acknowledge a duplicate the peer no longer has a
 * connection for; the RST either draws is correct (RFC 9293 §3.10.7.1,
 * §3.10.7.4; test/unit/tcp-close-late-segments.test.ts has both sequences).
 * What must hold instead: no connection ever sends a RST, every RST that
 * arrives finds no connection or a TIME_WAIT (never a connection still
 * exchanging data or FINs), nobody sees an error, and the data is intact.
 *
 * One exception, which is TCP working as designed: a duplicate of the
 * client's SYN delayed past the close makes the listener open a new
 * embryonic connection (SYN_RECEIVED) that nobody wants. Its SYN-ACK draws
 * the old connection's ACK from TIME_WAIT (or a RST from a closed port), it
 * answers an unacceptable ACK with a RST, and a RST tears it down — RFC 9293
 * §3.5, "recovery from old duplicate SYN" (seed 1388511761 with 2 % loss,
 * 20 % reordering and 2 % duplication does exactly that). RSTs sent by or
 * reaching such a connection are allowed; none may touch the connections
 * that carry the data.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BulkEnd, DataSource, SimNet, type Impairments } from '../helpers/tcp-link.js';
import { State, type Connection } from '../../src/stack/tcp/connection.js';
import type { TcpLayer } from '../../src/stack/tcp/tcp-layer.js';
import { TCP_RST } from '../../src/wire/tcp.js';

interface CloseRun {
  /** RSTs that reached a connection other than TIME_WAIT, besides old-duplicate-SYN embryos: "state@time". */
  rstToLive: string[];
  /** Connections the listener opened after the first: embryos of old duplicate SYNs. */
  embryos: number;
  /** RSTs that reached such an embryo. */
  rstToEmbryo: number;
  /** RSTs that reached no connection or a TIME_WAIT. */
  rstAfterClose: number;
  resetsOut: number;
  errors: Array<string | undefined | null>;
  intact: boolean;
  remaining: number;
}

/**
 * Records, for each RST a layer receives, the state of the connection it is
 * for; `embryo(c)` says whether c is a connection the listener opened for an
 * old duplicate SYN (not one of the two that carry the data).
 */
function watchResets(layer: TcpLayer, run: CloseRun, embryo: (c: Connection) => boolean): void {
  const input = layer.input.bind(layer);
  layer.input = (src, dst, buf, off, len, verified, now) => {
    if (len >= 20 && (buf[off + 13]! & TCP_RST) !== 0) {
      const srcPort = (buf[off]! << 8) | buf[off + 1]!;
      const dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
      const c = layer.connections().find((x) => x.localPort === dstPort && x.remotePort === srcPort);
      if (c !== undefined && embryo(c)) run.rstToEmbryo++;
      else if (c !== undefined && c.state !== State.TIME_WAIT) run.rstToLive.push(`${c.stateName}@${now}`);
      else run.rstAfterClose++;
    }
    input(src, dst, buf, off, len, verified, now);
  };
}

function closeRun(seed: number, imp: Impairments, ab: number, ba: number): CloseRun {
  const run: CloseRun = { rstToLive: [], embryos: 0, rstToEmbryo: 0, rstAfterClose: 0, resetsOut: 0, errors: [], intact: false, remaining: 0 };
  const net = new SimNet(seed, imp, imp);
  let server: BulkEnd | null = null;
  let client: BulkEnd | null = null;
  // b's connections other than the first the listener opened (the one accepted as `server`).
  const dataConns = new Set<Connection>();
  const embryo = (c: Connection): boolean => net.b.connections().includes(c) && !dataConns.has(c);
  watchResets(net.a, run, () => false);
  watchResets(net.b, run, embryo);
  net.b.listen(5001, 0, 128, (conn) => {
    if (server !== null) return; // an old duplicate SYN's connection, completed: nobody reads it
    server = new BulkEnd(conn, new DataSource(ba, seed + 1000));
  });
  const countEmbryos = (): void => {
    for (const c of net.b.connections()) {
      if (dataConns.size === 0) dataConns.add(c);
      else if (!dataConns.has(c) && !seenEmbryos.has(c)) {
        seenEmbryos.add(c);
        run.embryos++;
      }
    }
  };
  const seenEmbryos = new Set<Connection>();
  client = new BulkEnd(net.a.connect(net.addrB, 5001), new DataSource(ab, seed));
  const closed = new Set<BulkEnd>();
  for (;;) {
    countEmbryos();
    for (const end of [client, server as BulkEnd | null]) {
      if (end === null) continue;
      end.pump();
      // As a node:net socket with allowHalfOpen: destroyed (close()) once it
      // has ended its side and read the peer's FIN.
      if (!closed.has(end) && end.shut && end.conn.peerFinished && end.conn.readable === 0) {
        closed.add(end);
        end.conn.close();
      }
    }
    if (net.a.stats.currentConnections === 0 && net.b.stats.currentConnections === 0 && server !== null) break;
    if (!net.step() || net.clock.now() > 3_600_000) break;
  }
  countEmbryos();
  const s = server as BulkEnd | null;
  run.resetsOut = net.a.stats.conn.resetsOut + net.b.stats.conn.resetsOut;
  run.errors = [client.closedError, s?.closedError];
  run.intact =
    s !== null &&
    s.received === ab &&
    client.received === ba &&
    s.rxHash.copy().digest('hex') === client.txHash.copy().digest('hex') &&
    client.rxHash.copy().digest('hex') === s.txHash.copy().digest('hex');
  run.remaining = net.a.stats.currentConnections + net.b.stats.currentConnections;
  return run;
}

describe('tcp: RSTs around a clean close over an impaired link', () => {
  it('property: no connection sends a RST and no RST reaches a connection before TIME_WAIT', () => {
    const profile = fc.record({
      loss: fc.constantFrom(0, 0.02, 0.05),
      reorder: fc.constantFrom(0, 0.05, 0.2),
      duplicate: fc.constantFrom(0, 0.02),
      delayMs: fc.constantFrom(0.5, 5, 25),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        profile,
        fc.integer({ min: 0, max: 100_000 }),
        fc.integer({ min: 0, max: 100_000 }),
        (seed, imp, ab, ba) => {
          const r = closeRun(seed, imp, ab, ba);
          const msg = `seed=${seed} profile=${JSON.stringify(imp)} ab=${ab} ba=${ba} rstToLive=${r.rstToLive.join(',')} errors=${r.errors.join('/')}`;
          expect(r.rstToLive, msg).toEqual([]);
          // RSTs only where an old duplicate SYN opened an embryo (RFC 9293 §3.5).
          if (r.embryos === 0) expect(r.resetsOut, msg).toBe(0);
          else expect(r.rstToEmbryo + r.rstAfterClose, msg).toBeGreaterThan(0);
          expect(r.errors, msg).toEqual([undefined, undefined]);
          expect(r.intact, msg).toBe(true);
          expect(r.remaining, msg).toBe(0);
        },
      ),
      { numRuns: Number(process.env.USTACK_PROP_RUNS ?? 300), seed: process.env.USTACK_PROP_SEED ? Number(process.env.USTACK_PROP_SEED) : undefined },
    );
  });
});
