/**
 * What the software-GSO property tests (test/property/tcp-gso.test.ts over
 * IPv4, tcp6-gso.test.ts over IPv6) share: a payload source shaped like the
 * send ring, the arbitrary TCP segment (options, sequence numbers across the
 * 2^32 wrap, flags), and the check of one frame's TCP header and payload
 * against the segment it was cut from.
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import type { PayloadSource } from '../../src/stack/tcp/output.js';
import { copySum } from '../../src/stack/tcp/buffers.js';
import { copyBytes } from '../../src/wire/bytes.js';
import { nativeCopySumScatter } from '../../src/wire/kernels.js';
import { TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, newTcpRepr, type TcpRepr } from '../../src/wire/tcp.js';

/** Payload from a plain buffer, through the same copy + sum the send ring uses (the burst in one native call, or chunk by chunk). */
export class BufferSource implements PayloadSource {
  scatter = true;
  constructor(private readonly data: Uint8Array) {}
  copyPayloadSumScatter(ringOffset: number, dst: Uint8Array, offs: Uint32Array, count: number, unit: number, total: number, sums: Int32Array): void {
    if (this.scatter && nativeCopySumScatter !== null) {
      expect(nativeCopySumScatter(dst, offs, count, this.data, ringOffset, unit, total, sums)).toBe(0);
      return;
    }
    for (let k = 0; k < count; k++) sums[k] = this.copyPayloadSum(ringOffset + k * unit, dst, offs[k]!, Math.min(unit, total - k * unit));
  }
  copyPayload(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    copyBytes(dst, dstOff, this.data, ringOffset, len);
    return len;
  }
  copyPayloadSum(ringOffset: number, dst: Uint8Array, dstOff: number, len: number): number {
    return copySum(dst, dstOff, this.data, ringOffset, len);
  }
}

const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

/** An arbitrary segment's header fields and shape: payload from `minPayload` bytes, how far the frames fall below the MTU, where the payload starts in the ring. */
export function segmentFields(minPayload: number, maxPayload: number) {
  return {
    seq: int32,
    ack: int32,
    psh: fc.boolean(),
    fin: fc.boolean(),
    cwr: fc.boolean(),
    ece: fc.boolean(),
    window: fc.integer({ min: 0, max: 65535 }),
    ts: fc.option(fc.tuple(int32, int32), { nil: undefined }),
    sackBlocks: fc.integer({ min: 0, max: 3 }),
    payload: fc.integer({ min: minPayload, max: maxPayload }),
    unitCut: fc.integer({ min: 0, max: 2000 }),
    ringOffset: fc.integer({ min: 0, max: 5_000 }),
    scatter: fc.boolean(),
  };
}

export interface SegmentCase {
  seq: number;
  ack: number;
  psh: boolean;
  fin: boolean;
  cwr: boolean;
  ece: boolean;
  window: number;
  ts: [number, number] | undefined;
  sackBlocks: number;
}

/** The segment's repr (ports 40000 -> `dstPort`, payload length left to the caller) and its SACK edges. */
export function segmentRepr(p: SegmentCase, dstPort: number): { r: TcpRepr; sack: number[] } {
  const r = newTcpRepr();
  r.srcPort = 40000;
  r.dstPort = dstPort;
  r.seq = p.seq;
  r.ack = p.ack;
  r.flags = TCP_ACK | (p.psh ? TCP_PSH : 0) | (p.fin ? TCP_FIN : 0) | (p.cwr ? TCP_CWR : 0) | (p.ece ? TCP_ECE : 0);
  r.window = p.window;
  r.urgent = 0;
  if (p.ts !== undefined) {
    r.tsVal = p.ts[0];
    r.tsEcr = p.ts[1];
  }
  const sack: number[] = [];
  for (let b = 0; b < p.sackBlocks; b++) sack.push((p.ack + 5000 * (b + 1)) | 0, (p.ack + 5000 * (b + 1) + 1000) | 0);
  r.sack = sack;
  return { r, sack };
}

/**
 * Frame `i` of `n` (parsed as `seg`, its payload at pool[payloadAt...]) is
 * the segment's: sequence number advanced by the payload before, CWR on the
 * first frame only (RFC 3168 §6.1.3: a repeated CWR could cancel a later CE
 * echo; Linux's tcp_gso_segment clears it after the first), PSH and FIN on
 * the last only, ECE and every other field on all, payload exact.
 */
export function expectFrameOfSegment(seg: TcpRepr, i: number, n: number, r: TcpRepr, p: SegmentCase & { ringOffset: number }, sack: number[], unit: number, data: Uint8Array, pool: Uint8Array, payloadAt: number): void {
  const last = i === n - 1;
  const len = last ? r.payloadLength - i * unit : unit;
  expect(seg.payloadLength).toBe(len);
  expect(seg.srcPort).toBe(r.srcPort);
  expect(seg.dstPort).toBe(r.dstPort);
  expect(seg.seq).toBe((p.seq + i * unit) >>> 0);
  expect(seg.ack).toBe(p.ack >>> 0);
  let wantFlags = r.flags;
  if (i > 0) wantFlags &= ~TCP_CWR;
  if (!last) wantFlags &= ~(TCP_PSH | TCP_FIN);
  expect(seg.flags).toBe(wantFlags);
  expect(seg.window).toBe(p.window);
  expect(seg.tsVal).toBe(p.ts === undefined ? undefined : p.ts[0] >>> 0);
  expect(seg.tsEcr).toBe(p.ts === undefined ? undefined : p.ts[1] >>> 0);
  expect(seg.sack ?? []).toEqual(sack.map((x) => x >>> 0));
  const want = data.subarray(p.ringOffset + i * unit, p.ringOffset + i * unit + len);
  expect(Buffer.compare(Buffer.from(pool.subarray(payloadAt, payloadAt + len)), Buffer.from(want))).toBe(0);
}
