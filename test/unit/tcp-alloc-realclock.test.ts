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
import { tcpBulkRig } from '../helpers/pool-link.js';
import { stackAllocations, sumSites } from '../helpers/alloc-profile.js';

/** Bulk both ways; returns bytes allocated by TCP/wire code per segment over the measured part. */
async function measure(seed: number): Promise<{ perSeg: number; segs: number; sites: [string, number][]; high: boolean }> {
  // A real clock is far from 0 and fractional.
  const { a, b, client, server, run } = tcpBulkRig({ seed, start: 123456.789, step: 1.37 });
  run(64 * 1024 * 1024); // warm-up (JIT settled)
  const srv = server();
  // Whether this seed exercises values >= 2^31 (sequence numbers or timestamp offsets).
  const high = client.iss >= 2 ** 31 || (srv !== null && srv.iss >= 2 ** 31) || client.rcvNxt >= 2 ** 31 || client.sndNxt >= 2 ** 31;
  const segsBefore = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut;
  // Large copies (>= 8 KiB, application buffer <-> ring) may go through
  // TypedArray.set with a subarray view: per application call, not per
  // segment (see wire/bytes.ts copyBytes). The timer wheel is not TCP's.
  const all = await stackAllocations(() => run(64 * 1024 * 1024), (fn) => fn === 'subarray');
  const counted = (name: string): boolean => !name.includes('src/time/');
  const segs = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut - segsBefore;
  const bytes = sumSites(all, counted);
  const sites = [...all].filter(([name]) => counted(name)).sort((x, y) => y[1] - x[1]);
  return { perSeg: bytes / segs, segs, sites, high };
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
