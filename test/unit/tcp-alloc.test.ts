/**
 * No allocation per segment in the steady state of a bulk transfer.
 *
 * How it is shown: two TcpLayers exchange data over a link that itself
 * allocates nothing (a preallocated pool of packet slots and typed-array
 * queues), the application writes from and reads into fixed buffers, and
 * after a warm-up (JIT, ring and table growth) we transfer many more
 * segments while watching V8: the used heap must not grow by more than a
 * few bytes per segment and no garbage collection may run. One object per
 * segment (the smallest JS object is 12-16 bytes with pointer compression)
 * would show up as tens of megabytes and several scavenges.
 *
 * The link offloads checksums (as TAP with IFF_VNET_HDR and the e1000 do),
 * so the software checksum routine of wire/checksum.ts is out of the loop:
 * in Node 20 it was seen boxing one number per call (sampling heap profiler).
 */
import { describe, expect, it } from 'vitest';
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { IpOutput, L4Writer } from '../../src/stack/iface/ip-output.js';
import { VirtualClock } from '../../src/stack/time/clock.js';
import { TimerWheel } from '../../src/stack/time/timer-wheel.js';
import { TcpLayer } from '../../src/stack/tcp/tcp-layer.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { key16 } from '../helpers/tcp-link.js';

const SLOTS = 4096;
const SLOT_SIZE = 2048;

class PoolLink {
  readonly pool = new Uint8Array(SLOTS * SLOT_SIZE);
  readonly slotViews: Uint8Array[] = [];
  readonly qSlot = new Int32Array(SLOTS);
  readonly qLen = new Int32Array(SLOTS);
  readonly qTo = new Int32Array(SLOTS);
  readonly qSrc = new Float64Array(SLOTS);
  readonly qDst = new Float64Array(SLOTS);
  head = 0;
  count = 0;
  next = 0;
  layers: TcpLayer[] = [];
  readonly ends: IpOutput[];
  constructor() {
    for (let i = 0; i < SLOTS; i++) this.slotViews.push(this.pool.subarray(i * SLOT_SIZE, (i + 1) * SLOT_SIZE));
    const mk = (me: number, addr: number): IpOutput => ({
      sourceFor: () => addr,
      mtuFor: () => 1480,
      // Checksum offload (the TAP/e1000 path): the wire checksum module is not
      // part of this measurement; see the note at the top.
      checksumOffloadFor: () => true,
      send: (src: number, dst: number, _p: number, length: number, write: L4Writer): boolean => {
        if (this.count === SLOTS) return false;
        const slot = this.next;
        this.next = (this.next + 1) % SLOTS;
        write(this.slotViews[slot]!, 0);
        const q = (this.head + this.count) % SLOTS;
        this.qSlot[q] = slot;
        this.qLen[q] = length;
        this.qTo[q] = 1 - me;
        this.qSrc[q] = src;
        this.qDst[q] = dst;
        this.count++;
        return true;
      },
    });
    this.ends = [mk(0, 0x0a000001), mk(1, 0x0a000002)];
  }
  deliverAll(now: number): void {
    let n = this.count;
    while (n-- > 0) {
      const q = this.head;
      this.head = (this.head + 1) % SLOTS;
      this.count--;
      this.layers[this.qTo[q]!]!.input(this.qSrc[q]!, this.qDst[q]!, this.slotViews[this.qSlot[q]!]!, 0, this.qLen[q]!, true, now);
    }
  }
}

describe('tcp steady state allocates nothing per segment', () => {
  it('bulk transfer both ways: no GC and no heap growth over ~40k segments', async () => {
    const clock = new VirtualClock(0);
    const wheel = new TimerWheel(0);
    const link = new PoolLink();
    const cfg = { sendBufferSize: 256 * 1024, recvBufferSize: 256 * 1024 };
    const a = new TcpLayer(link.ends[0]!, wheel, clock, { config: cfg, ephemeralSeed: 1, isnSecret: key16(1, 1) });
    const b = new TcpLayer(link.ends[1]!, wheel, clock, { config: cfg, ephemeralSeed: 2, isnSecret: key16(1, 2) });
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
    let sum = 0;
    const pump = (c: Connection): void => {
      c.write(src, 0, src.length);
      for (;;) {
        const n = c.read(dst, 0, dst.length);
        if (n <= 0) break;
        moved += n;
        sum = (sum + dst[n - 1]!) | 0;
      }
    };
    const run = (bytes: number): void => {
      const target = moved + bytes;
      let guard = 0;
      while (moved < target && guard++ < 10_000_000) {
        pump(client);
        if (server !== null) pump(server);
        link.deliverAll(clock.now());
        clock.advance(1);
        wheel.advance(clock.now());
      }
    };
    run(64 * 1024 * 1024); // warm-up: JIT, rings, maps, hidden classes
    const segsBefore = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut;
    let gcs = 0;
    const obs = new PerformanceObserver((list) => {
      gcs += list.getEntries().length;
    });
    obs.observe({ entryTypes: ['gc'] });
    const heap0 = v8.getHeapStatistics().used_heap_size;
    run(64 * 1024 * 1024);
    const heap1 = v8.getHeapStatistics().used_heap_size;
    await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    const segs = a.stats.conn.segmentsOut + b.stats.conn.segmentsOut - segsBefore;
    const perSeg = (heap1 - heap0) / segs;
    console.log(`steady state: ${segs} segments, heap delta ${heap1 - heap0} bytes (${perSeg.toFixed(3)} B/segment), GCs ${gcs}, sum ${sum}`);
    expect(segs).toBeGreaterThan(40_000);
    expect(gcs).toBe(0);
    expect(perSeg).toBeLessThan(4); // one object per segment would be >= 12
  });
});
