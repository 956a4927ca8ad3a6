/**
 * Measurement, not a gate: retransmissions with RACK on vs off over the
 * impaired in-memory link, counting at the receivers how many data segments
 * arrived when every byte of them already had (spurious copies).
 *
 *   USTACK_RACK_COMPARE=1 MB=16 SEEDS=1,2,3 npx vitest run test/property/tcp-rack-compare.test.ts
 *
 * Skipped unless USTACK_RACK_COMPARE is set. Data integrity is asserted.
 */
import { expect, it } from 'vitest';
import { SimNet, BulkEnd, DataSource, type Impairments } from '../helpers/tcp-link.js';

function run(imp: Impairments, size: number, config: object, seed = 1) {
  const net = new SimNet(seed, imp, imp, config);
  // Receive-side accounting: data segments whose every byte had already arrived = spurious copies.
  const iss = new Map<number, number>();
  const seen = new Map<number, Uint8Array>();
  let spurious = 0, spuriousBytes = 0, dataArrivals = 0;
  for (const layer of [net.a, net.b]) {
    const orig = layer.input.bind(layer);
    (layer as unknown as { input: typeof orig }).input = (src: number, dst: number, d: Uint8Array, off: number, len: number, x: boolean, now: number) => {
      const seq = ((d[off + 4]! << 24) | (d[off + 5]! << 16) | (d[off + 6]! << 8) | d[off + 7]!) >>> 0;
      const hl = (d[off + 12]! >> 4) * 4;
      const flags = d[off + 13]!;
      if (flags & 2) iss.set(src, seq);
      const plen = len - hl;
      const base = iss.get(src);
      if (plen > 0 && base !== undefined) {
        dataArrivals++;
        let m = seen.get(src);
        if (!m) seen.set(src, (m = new Uint8Array(size + 4)));
        const rel = (seq - base - 1) >>> 0;
        let all = true;
        for (let i = 0; i < plen && rel + i < m.length; i++) {
          if (!m[rel + i]) all = false;
          m[rel + i] = 1;
        }
        if (all) { spurious++; spuriousBytes += plen; }
      }
      return orig(src, dst, d, off, len, x, now);
    };
  }
  let server: BulkEnd | null = null;
  net.b.listen(5001, 0, 128, (conn) => { server = new BulkEnd(conn, new DataSource(size, seed + 1000)); });
  const client = new BulkEnd(net.a.connect(net.addrB, 5001), new DataSource(size, seed));
  for (;;) {
    client.pump(); (server as BulkEnd | null)?.pump();
    if (net.a.stats.currentConnections === 0 && net.b.stats.currentConnections === 0 && server !== null) break;
    if (!net.step()) break;
    if (net.clock.now() > 24 * 3600_000) break;
  }
  const s = server as unknown as BulkEnd;
  const ok = s.received === size && client.received === size && s.rxHash.copy().digest('hex') === client.txHash.copy().digest('hex') && client.rxHash.copy().digest('hex') === s.txHash.copy().digest('hex');
  const a = net.a.stats.conn, b = net.b.stats.conn;
  return { ok, vms: Math.round(net.clock.now()), rtx: a.retransmits + b.retransmits, spurious, spuriousBytes,
    linkDups: net.endA.stats.duplicated + net.endB.stats.duplicated,
    fast: a.fastRetransmits + b.fastRetransmits, rto: a.rtoTimeouts + b.rtoTimeouts, tlp: a.tailLossProbes + b.tailLossProbes,
    tlpRec: a.tlpLossRecoveries + b.tlpLossRecoveries, rackLost: a.rackLosses + b.rackLosses, reoTimer: a.rackReorderTimeouts + b.rackReorderTimeouts, dsackIn: a.dsacksIn + b.dsacksIn, dataArrivals };
}

it.skipIf(!process.env.USTACK_RACK_COMPARE)('RACK on vs off: retransmissions and spurious copies', () => {
  const MB = 1024 * 1024;
  const size = Number(process.env.MB ?? 16) * MB;
  const profiles: [string, Impairments][] = JSON.parse(process.env.PROFILES ?? 'null') ?? [
    ['5% loss + 5% reorder', { loss: 0.05, reorder: 0.05 }],
    ['5% loss + 5% reorder + 1% dup (bulk test)', { loss: 0.05, reorder: 0.05, duplicate: 0.01 }],
    ['5% loss + 5% reorder, 25 ms delay', { loss: 0.05, reorder: 0.05, delayMs: 25 }],
  ];
  const seeds = (process.env.SEEDS ?? '1').split(',').map(Number);
  for (const [name, imp] of profiles) {
    for (const rack of [false, true]) {
      for (const seed of seeds) {
      const t0 = Date.now();
      const r = run(imp, size, { rack }, seed);
      console.log(`${name} | rack=${rack} seed=${seed} | ${JSON.stringify(r)} wall=${Date.now() - t0}ms`);
      expect(r.ok, `${name} rack=${rack} seed=${seed}`).toBe(true);
      }
    }
  }
}, 1200_000);
