/**
 * No allocation per segment in a bulk transfer with the clock values a real
 * stack sees (issue 6): fractional milliseconds far from 0 (RealClock is
 * performance.now()), and sequence numbers and timestamp offsets >= 2^31.
 * Those are the cases tcp-alloc.test.ts (integer times from 0) does not
 * reach: a double or a uint32 >= 2^31 that crosses a call V8 does not
 * inline, or lands in a tagged field, is a new 16-byte heap number, and
 * before this test one or more of those were made per segment.
 *
 * Same method as tcp-alloc.test.ts: two TcpLayers over a preallocated
 * in-memory link, fixed application buffers, V8's sampling heap profiler
 * over the measured part; bytes allocated with TCP/wire code on the stack
 * must stay below 4 per segment: one heap number per segment is 16, one per
 * ACK about 8; what is left below that is sampling noise (it moves between
 * unrelated sites from run to run, ~1-2 B/segment).
 */
import { describe, expect, it } from 'vitest';
import { Session } from 'node:inspector';
import { VirtualClock } from '../../src/stack/time/clock.js';
import { TimerWheel } from '../../src/stack/time/timer-wheel.js';
import { TcpLayer } from '../../src/stack/tcp/tcp-layer.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { key16 } from '../helpers/tcp-link.js';
import { PoolLink, type ProfileNode } from '../helpers/pool-link.js';

const post = <T = unknown>(session: Session, method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));

/** Bulk both ways; returns bytes allocated by TCP/wire code per segment over the measured part. */
async function measure(seed: number): Promise<{ perSeg: number; segs: number; sites: [string, number][]; high: boolean }> {
  const start = 123456.789; // a real clock is far from 0 and fractional
  const clock = new VirtualClock(start);
  const wheel = new TimerWheel(start);
  const link = new PoolLink();
  const cfg = { sendBufferSize: 256 * 1024, recvBufferSize: 256 * 1024 };
  const a = new TcpLayer(link.ends[0]!, wheel, clock, { config: cfg, ephemeralSeed: 1, isnSecret: key16(seed, 1) });
  const b = new TcpLayer(link.ends[1]!, wheel, clock, { config: cfg, ephemeralSeed: 2, isnSecret: key16(seed, 2) });
  link.layers = [a, b];
  let server: Connection | null = null;
  b.listen(5001, 0, 16, (c) => {
    server = c;
  });
  const client = a.connect(0x0a000002, 5001);
  const src = new Uint8Array(65536);
  for (let i = 0; i < src.length; i++) src[i] = i * 7;
  const dst = new Uint8Array(65536);
  let moved = 0;
  const pump = (c: Connection): void => {
    c.write(src, 0, src.length);
    for (;;) {
      const n = c.read(dst, 0, dst.length);
      if (n <= 0) break;
      moved += n;
    }
  };
  const run = (bytes: number): void => {
    const target = moved + bytes;
    let guard = 0;
    while (moved < target && guard++ < 10_000_000) {
      pump(client);
      if (server !== null) pump(server);
      link.deliverAll(clock.now());
      clock.advance(1.37);
      wheel.advance(clock.now());
    }
  };
  run(64 * 1024 * 1024); // warm-up (JIT settled)
  const srv = server as Connection | null;
  // Whether this seed exercises values >= 2^31 (sequence numbers or timestamp offsets).
  const high = client.iss >= 2 ** 31 || (srv !== null && srv.iss >= 2 ** 31) || client.rcvNxt >= 2 ** 31 || client.sndNxt >= 2 ** 31;
  const segsBefore = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut;
  const session = new Session();
  session.connect();
  await post(session, 'HeapProfiler.enable');
  await post(session, 'HeapProfiler.startSampling', { samplingInterval: 64, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  run(64 * 1024 * 1024);
  const { profile } = await post<{ profile: { head: ProfileNode } }>(session, 'HeapProfiler.stopSampling');
  session.disconnect();
  const segs = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut - segsBefore;
  let bytes = 0;
  const sites = new Map<string, number>();
  const walk = (n: ProfileNode, site: string): void => {
    const inStack = n.callFrame.url.includes('/src/stack/');
    const name = inStack ? `${n.callFrame.functionName}@${n.callFrame.url.split('/src/')[1]}` : site;
    // Large copies (>= 8 KiB, application buffer <-> ring) may go through
    // TypedArray.set with a subarray view: per application call, not per
    // segment (see wire/bytes.ts copyBytes). The timer wheel is not TCP's.
    if (name !== '' && n.selfSize > 0 && n.callFrame.functionName !== 'subarray' && !name.includes('stack/time/')) {
      bytes += n.selfSize;
      sites.set(name, (sites.get(name) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, name);
  };
  walk(profile.head, '');
  return { perSeg: bytes / segs, segs, sites: [...sites].sort((x, y) => y[1] - x[1]), high };
}

describe('tcp bulk with a real-looking clock allocates nothing per segment', () => {
  it('fractional times, sequence numbers and timestamps >= 2^31: below 4 bytes per segment', async () => {
    let sawHigh = false;
    for (const seed of [2, 5]) {
      const r = await measure(seed);
      sawHigh ||= r.high;
      console.log(`seed ${seed}: ${r.segs} segments, ${r.perSeg.toFixed(3)} B/segment by TCP/wire code; sites:`, r.sites.slice(0, 6));
      expect(r.segs).toBeGreaterThan(40_000);
      expect(r.perSeg).toBeLessThan(4);
    }
    expect(sawHigh).toBe(true);
  });
});
