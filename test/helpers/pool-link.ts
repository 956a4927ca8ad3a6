/**
 * An in-memory link between two TcpLayers that allocates nothing per packet:
 * a preallocated pool of packet slots and typed-array queues. Used by the
 * allocation tests (tcp-alloc*.test.ts), where the link's own garbage would
 * hide the stack's. It offloads checksums (the TAP/e1000 path): the wire
 * checksum routine is not what those tests measure.
 */
import type { IpOutput, L4Writer } from '../../src/stack/iface/ip-output.js';
import type { TcpLayer } from '../../src/stack/tcp/tcp-layer.js';

/** A node of V8's sampling heap profile (HeapProfiler.stopSampling). */
export interface ProfileNode {
  callFrame: { functionName: string; url: string };
  selfSize: number;
  children: ProfileNode[];
}

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
