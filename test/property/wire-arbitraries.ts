/** Shared fast-check arbitraries and helpers for the wire codec properties (records are re-spread into plain objects: fc.record builds null-prototype ones, which toStrictEqual rejects). */
import fc from 'fast-check';
import { expect } from 'vitest';
import { WireError } from '../../src/wire/errors.js';
import type { EthernetRepr } from '../../src/wire/ethernet.js';
import type { ArpRepr } from '../../src/wire/arp.js';
import type { Ipv4Repr } from '../../src/wire/ipv4.js';
import type { IcmpRepr } from '../../src/wire/icmp.js';
import type { UdpRepr } from '../../src/wire/udp.js';
import { tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.js';

/** numRuns, plus the seed from FC_SEED when set so a failure replays exactly. */
export function fcParams(numRuns = 10_000): fc.Parameters<unknown> {
  const seed = process.env.FC_SEED;
  return seed !== undefined && seed !== '' ? { numRuns, seed: Number(seed) } : { numRuns };
}

export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const mac = fc.integer({ min: 0, max: 0xffffffffffff });
export const ipAddr = u32;

export const ethernetRepr: fc.Arbitrary<EthernetRepr> = fc.record(
  {
    dst: mac,
    src: mac,
    ethertype: u16.filter((t) => t !== 0x8100),
    vlan: fc
      .record({ pcp: fc.integer({ min: 0, max: 7 }), dei: fc.boolean(), vid: fc.integer({ min: 0, max: 4095 }) })
      .map((v) => ({ ...v })),
  },
  { requiredKeys: ['dst', 'src', 'ethertype'] },
).map((r) => ({ ...r }));

export const arpRepr: fc.Arbitrary<ArpRepr> = fc.record({
  op: fc.oneof(fc.constantFrom(1, 2), u16),
  senderMac: mac,
  senderIp: ipAddr,
  targetMac: mac,
  targetIp: ipAddr,
}).map((r) => ({ ...r }));

export const ipv4Repr: fc.Arbitrary<Ipv4Repr> = fc
  .tuple(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8191 })), fc.nat())
  .chain(([fo8, _]) =>
    fc.record({
      src: ipAddr,
      dst: ipAddr,
      protocol: fc.oneof(fc.constantFrom(1, 6, 17), u8),
      ttl: u8,
      dscp: fc.integer({ min: 0, max: 63 }),
      ecn: fc.integer({ min: 0, max: 3 }),
      ident: u16,
      dontFragment: fc.boolean(),
      moreFragments: fc.boolean(),
      fragmentOffset: fc.constant(fo8 * 8),
      payloadLength: fc.oneof(
        fc.integer({ min: 0, max: Math.min(1480, 65535 - fo8 * 8) }),
        fc.integer({ min: 0, max: Math.min(65515, 65535 - fo8 * 8) }),
      ),
    }).map((r) => ({ ...r })),
  );

/** An ICMP repr and its payload bytes. */
export const icmpCase: fc.Arbitrary<{ repr: IcmpRepr; payload: Uint8Array }> = fc
  .tuple(
    fc.oneof(fc.constantFrom(0, 3, 8, 11), u8),
    fc.oneof(fc.constantFrom(0, 3, 4), u8),
    u16,
    u16,
    u16,
    fc.uint8Array({ maxLength: 300 }),
  )
  .map(([type, code, ident, seqNo, mtu, payload]) => {
    const repr: IcmpRepr = { type, code, payloadLength: payload.length };
    if (type === 0 || type === 8) {
      repr.ident = ident;
      repr.seqNo = seqNo;
    } else if (type === 3 && code === 4) {
      repr.nextHopMtu = mtu;
    }
    return { repr, payload };
  });

export const udpCase: fc.Arbitrary<{ repr: UdpRepr; payload: Uint8Array; src: number; dst: number }> = fc
  .tuple(u16, u16, fc.uint8Array({ maxLength: 400 }), ipAddr, ipAddr)
  .map(([srcPort, dstPort, payload, src, dst]) => ({
    repr: { srcPort, dstPort, payloadLength: payload.length },
    payload,
    src,
    dst,
  }));

const sackBlocks = fc
  .array(fc.tuple(u32, u32), { minLength: 1, maxLength: 4 })
  .map((blocks) => blocks.flatMap(([l, r]) => [l, r]));

export const tcpRepr: fc.Arbitrary<TcpRepr> = fc
  .record(
    {
      srcPort: u16,
      dstPort: u16,
      seq: u32,
      ack: u32,
      flags: u8,
      window: u16,
      urgent: u16,
      payloadLength: fc.constant(0),
      mss: u16,
      windowScale: fc.oneof(fc.integer({ min: 0, max: 14 }), u8),
      sackPermitted: fc.constant(true),
      sack: sackBlocks,
      ts: fc.tuple(u32, u32),
    },
    { requiredKeys: ['srcPort', 'dstPort', 'seq', 'ack', 'flags', 'window', 'urgent', 'payloadLength'] },
  )
  .map(({ ts, ...rest }) => {
    const r: TcpRepr = { ...rest };
    if (ts !== undefined) {
      r.tsVal = ts[0];
      r.tsEcr = ts[1];
    }
    return r;
  })
  .filter((r) => {
    try {
      tcpHeaderLength(r);
      return true;
    } catch {
      return false;
    }
  });

export const tcpCase: fc.Arbitrary<{ repr: TcpRepr; payload: Uint8Array; src: number; dst: number }> = fc
  .tuple(tcpRepr, fc.uint8Array({ maxLength: 300 }), ipAddr, ipAddr)
  .map(([repr, payload, src, dst]) => ({ repr: { ...repr, payloadLength: payload.length }, payload, src, dst }));

/** Raw input: random bytes, a random offset inside them, a length mostly in bounds (sometimes not). */
export const rawInput: fc.Arbitrary<{ buf: Uint8Array; off: number; len: number }> = fc
  .tuple(fc.uint8Array({ maxLength: 260 }), fc.nat(), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 9 }))
  .map(([buf, a, b, pick]) => {
    const off = a % (buf.length + 1);
    const len = pick === 0 ? b : b % (buf.length - off + 1);
    return { buf, off, len };
  });

/** Byte mutations applied relative to a packet, plus an optional cut of its length. */
export const mutations = fc.record({
  edits: fc.array(fc.tuple(fc.nat(), u8), { minLength: 1, maxLength: 4 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
});

export function applyMutations(
  buf: Uint8Array,
  off: number,
  len: number,
  m: { edits: [number, number][]; cut: number | undefined },
): number {
  if (len > 0) for (const [i, v] of m.edits) buf[off + (i % len)] = v;
  return m.cut === undefined ? len : m.cut % (len + 1);
}

/** Runs fn; any exception other than WireError fails the property. */
export function onlyWireError(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (e instanceof WireError) return;
    throw new Error(`non-WireError thrown: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  }
}

/** Reads every getter of a view and checks each number is a finite integer. */
export function touchView(view: object): void {
  const proto = Object.getPrototypeOf(view) as object;
  for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
    if (d.get === undefined) continue;
    const v: unknown = (view as Record<string, unknown>)[name];
    if (typeof v === 'number') expect(Number.isInteger(v), `${proto.constructor.name}.${name} = ${v}`).toBe(true);
    else expect(typeof v === 'boolean', `${proto.constructor.name}.${name} is ${typeof v}`).toBe(true);
  }
}
