/**
 * An in-memory link between two TcpLayers that allocates nothing per packet:
 * a preallocated pool of packet slots and typed-array queues. Used by the
 * allocation tests (tcp-alloc*.test.ts), where the link's own garbage would
 * hide the stack's. It offloads checksums (the TAP/e1000 path): the wire
 * checksum routine is not what those tests measure.
 */
import type { IpOutput, L4Writer } from '../../src/stack/iface/ip-output.js';
import { TcpLayer } from '../../src/stack/tcp/tcp-layer.js';
import type { Connection } from '../../src/stack/tcp/connection.js';
import { VirtualClock } from '../../src/time/clock.js';
import { TimerWheel } from '../../src/time/timer-wheel.js';
import { key16 } from './tcp-link.js';


const SLOTS = 4096;
const SLOT_SIZE = 2048;

export class PoolLink {
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

/**
 * Two TcpLayers on a PoolLink with a bulk transfer both ways: the client
 * connects to the server's port 5001, and run(bytes) has each side write
 * 64 KiB and read everything it can until `bytes` more were read, the clock
 * advancing `step` ms per round.
 */
export function tcpBulkRig(opts: { seed: number; start: number; step: number }): {
  a: TcpLayer;
  b: TcpLayer;
  client: Connection;
  server(): Connection | null;
  run(bytes: number): void;
  moved(): number;
} {
  const clock = new VirtualClock(opts.start);
  const wheel = new TimerWheel(opts.start);
  const link = new PoolLink();
  const cfg = { sendBufferSize: 256 * 1024, recvBufferSize: 256 * 1024 };
  const a = new TcpLayer(link.ends[0]!, wheel, clock, { config: cfg, ephemeralSeed: 1, isnSecret: key16(opts.seed, 1) });
  const b = new TcpLayer(link.ends[1]!, wheel, clock, { config: cfg, ephemeralSeed: 2, isnSecret: key16(opts.seed, 2) });
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
      sum = (sum + dst[n - 1]!) | 0; // the reads are used
    }
  };
  return {
    a,
    b,
    client,
    server: () => server,
    moved: () => moved,
    run(bytes: number): void {
      const target = moved + bytes;
      let guard = 0;
      while (moved < target && guard++ < 10_000_000) {
        pump(client);
        if (server !== null) pump(server);
        link.deliverAll(clock.now());
        clock.advance(opts.step);
        wheel.advance(clock.now());
      }
    },
  };
}
