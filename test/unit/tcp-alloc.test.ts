/**
 * No allocation per segment in the steady state of a bulk transfer.
 *
 * How it is shown: two TcpLayers exchange data over a link that itself
 * allocates nothing (a preallocated pool of packet slots and typed-array
 * queues), the application writes from and reads into fixed buffers, and
 * after a warm-up (JIT, ring and table growth) we transfer 64 MB more while
 * V8's sampling heap profiler (node:inspector, one sample per 64 bytes
 * allocated) records allocation stacks. Bytes allocated with stack code
 * (src/stack/...) on the stack must stay below 1 per segment; one object per
 * segment (12-16 bytes at least) would show up as ~1 MB.
 *
 * The link offloads checksums (as TAP with IFF_VNET_HDR and the e1000 do),
 * so the software checksum routine of wire/checksum.ts is out of the loop:
 * in Node 20 it was seen boxing one number per call (sampling heap profiler).
 */
import { describe, expect, it } from 'vitest';
import { tcpBulkRig } from '../helpers/pool-link.js';
import { stackAllocations, sumSites } from '../helpers/alloc-profile.js';

describe('tcp steady state allocates nothing per segment', () => {
  it('bulk transfer both ways: nothing allocated by the stack over ~70k segments', async () => {
    const { a, b, run, moved } = tcpBulkRig({ seed: 1, start: 0, step: 1 });
    run(64 * 1024 * 1024); // warm-up: JIT, rings, maps, hidden classes
    const segsBefore = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut;
    const movedBefore = moved();
    // Anything allocated while stack code is on the call stack counts.
    const sites = await stackAllocations(() => run(64 * 1024 * 1024));
    const movedMB = (moved() - movedBefore) / (1024 * 1024);
    const segs = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut - segsBefore;
    // Copies of >= 8 KiB between the application's buffers and the rings go
    // through TypedArray.set with one subarray view each (copyBytes; the
    // profile keys those views by the builtin, "subarray@..."): garbage
    // per application read/write, not per segment. Counted apart and bounded
    // per MB moved instead.
    const isBulkCopy = (name: string): boolean => name.startsWith('subarray@');
    const bulkCopyBytes = sumSites(sites, isBulkCopy);
    // The connection, the layer, the rings/assembler and the wire codec are
    // what this test asserts on; the timer wheel (per millisecond tick, not
    // per segment) and congestion/ (separate module, separately owned) are printed.
    const tcpBytes = sumSites(sites, (name) => !isBulkCopy(name) && !name.includes('src/time/') && !name.includes('stack/tcp/congestion/'));
    const perSeg = tcpBytes / segs;
    const copyPerMB = bulkCopyBytes / movedMB;
    console.log(`steady state: ${segs} segments, ${tcpBytes} bytes allocated by TCP/wire code (${perSeg.toFixed(3)} B/segment); ` +
      `bulk-copy views ${bulkCopyBytes} bytes for ${movedMB.toFixed(0)} MB moved (${copyPerMB.toFixed(0)} B/MB); TLPs ${a.stats.conn.tailLossProbes + b.stats.conn.tailLossProbes}; by site:`, [...sites]);
    expect(segs).toBeGreaterThan(40_000);
    // One object per segment would be >= 12-16 bytes per segment.
    expect(perSeg).toBeLessThan(1);
    // One ~100-byte view per 8 KiB copied at most (the 64 KiB buffers here
    // make it far fewer): < 16 KiB per MB; node:net allocates ~11 KB per MB.
    expect(copyPerMB).toBeLessThan(16 * 1024);
  });
});
