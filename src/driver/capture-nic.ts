/**
 * Wraps a NIC and writes every frame received and transmitted to a pcap file
 * while a capture is active; a single branch per burst when it is not.
 */
import type { Nic } from './nic.js';
import { ForwardingNic } from './forwarding-nic.js';
import { PcapWriter } from './pcap.js';

export class CaptureNic extends ForwardingNic {
  private writer: PcapWriter | null = null;

  constructor(
    inner: Nic,
    private readonly now: () => number,
  ) {
    super(inner);
  }

  /** Starts writing to `path` (replacing an earlier capture). */
  start(path: string): void {
    this.stop();
    this.writer = PcapWriter.open(path);
  }

  stop(): void {
    this.writer?.close();
    this.writer = null;
  }

  get capturing(): boolean {
    return this.writer !== null;
  }

  override rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    if (this.writer === null) return this.inner.rxBurst(slots, lens, max, flags);
    // While capturing, ask for complete checksums (no per-frame flags) so the
    // capture shows what the stack verifies.
    const n = this.inner.rxBurst(slots, lens, flags !== undefined ? Math.min(max, flags.length) : max);
    if (flags !== undefined) flags.fill(0, 0, n);
    if (n > 0) this.record(slots, lens, n);
    return n;
  }

  override txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.writer === null) return this.inner.txBurst(slots, lens, n);
    const sent = this.inner.txBurst(slots, lens, n);
    // Recording after the hand-over is safe: a slot the NIC took is only
    // reused after a later alloc(), and only the frames it took were sent.
    this.record(slots, lens, sent);
    return sent;
  }

  private record(slots: Uint32Array, lens: Uint32Array, n: number): void {
    const w = this.writer!;
    const t = this.now();
    const size = this.inner.slotSize;
    for (let i = 0; i < n; i++) w.write(this.inner.pool, slots[i]! * size, lens[i]!, t);
  }

  override async close(): Promise<void> {
    this.stop();
    await this.inner.close();
  }
}
