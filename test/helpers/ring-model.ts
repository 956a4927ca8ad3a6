/**
 * Reference model of a ByteRing for property tests: `data` is the readable
 * bytes, `pending` maps a position past the readable tail to a byte placed
 * there by writeAt (bytes never placed read back as -1, unspecified).
 */
export class RingModel {
  data: number[] = [];
  pending = new Map<number, number>();
  constructor(readonly capacity: number) {}
  get free(): number {
    return this.capacity - this.data.length;
  }
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    for (let i = 0; i < n; i++) this.data.push(src[i]!);
    this.shiftPending(n);
    return n;
  }
  writeAt(offset: number, src: Uint8Array): void {
    for (let i = 0; i < src.length; i++) this.pending.set(offset + i, src[i]!);
  }
  commit(n: number): void {
    for (let i = 0; i < n; i++) this.data.push(this.pending.get(i) ?? -1);
    this.shiftPending(n);
  }
  read(len: number): number[] {
    return this.data.splice(0, Math.min(len, this.data.length));
  }
  peek(off: number, len: number): number[] {
    return this.data.slice(off, off + len);
  }
  private shiftPending(n: number): void {
    const next = new Map<number, number>();
    for (const [k, v] of this.pending) if (k >= n) next.set(k - n, v);
    this.pending = next;
  }
}
