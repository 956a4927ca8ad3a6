/**
 * DHCP codec properties: encode/decode round trip on arbitrary messages;
 * arbitrary and mutated bytes never throw anything but DhcpFormatError, and
 * interpreting whatever decodes never throws.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DhcpFormatError, decodeDhcp, dhcpInfo, encodeDhcp, type DhcpPacket } from '../../src/stack/services/dhcp.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const option = fc.record({
  code: fc.integer({ min: 1, max: 254 }),
  data: fc.uint8Array({ maxLength: 255 }),
});
const packet: fc.Arbitrary<DhcpPacket> = fc.record({
  op: fc.integer({ min: 0, max: 255 }),
  htype: fc.integer({ min: 0, max: 255 }),
  hlen: fc.integer({ min: 0, max: 255 }),
  hops: fc.integer({ min: 0, max: 255 }),
  xid: u32,
  secs: fc.integer({ min: 0, max: 0xffff }),
  flags: fc.integer({ min: 0, max: 0xffff }),
  ciaddr: u32,
  yiaddr: u32,
  siaddr: u32,
  giaddr: u32,
  chaddr: bytes(16),
  sname: bytes(64),
  file: bytes(128),
  options: fc.array(option, { maxLength: 12 }),
});

function onlyFormatErrors(buf: Uint8Array): void {
  try {
    const p = decodeDhcp(buf);
    dhcpInfo(p);
    // What decodes re-encodes and decodes to the same thing.
    expect(decodeDhcp(encodeDhcp(p))).toEqual(p);
  } catch (e) {
    if (!(e instanceof DhcpFormatError)) throw e;
  }
}

describe('DHCP codec', () => {
  it('round-trips arbitrary messages', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const wire = encodeDhcp(p);
        expect(wire.length).toBeGreaterThanOrEqual(300);
        expect(decodeDhcp(wire)).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes decode or throw DhcpFormatError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), onlyFormatErrors), { numRuns: 2000 });
  });

  it('mutated valid messages (flipped, truncated, extended) decode or throw DhcpFormatError only', () => {
    fc.assert(
      fc.property(
        packet,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
        fc.nat(),
        fc.uint8Array({ maxLength: 40 }),
        (p, flips, cut, tail) => {
          const wire = encodeDhcp(p);
          for (const [i, v] of flips) wire[240 + (i % Math.max(1, wire.length - 240))] = v;
          onlyFormatErrors(wire.subarray(0, wire.length - (cut % 64)));
          const longer = new Uint8Array(wire.length + tail.length);
          longer.set(wire);
          longer.set(tail, wire.length);
          onlyFormatErrors(longer);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('concatenates repeated options (RFC 3396) and ignores malformed lengths', () => {
    const p = decodeDhcp(
      encodeDhcp({
        op: 2, htype: 1, hlen: 6, hops: 0, xid: 1, secs: 0, flags: 0, ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0,
        chaddr: new Uint8Array(16), sname: new Uint8Array(64), file: new Uint8Array(128),
        options: [
          { code: 6, data: Uint8Array.of(10, 0, 0, 53) },
          { code: 6, data: Uint8Array.of(10, 0, 0, 54) },
          { code: 51, data: Uint8Array.of(1, 2, 3) },
          { code: 53, data: Uint8Array.of(5) },
        ],
      }),
    );
    const info = dhcpInfo(p);
    expect(info.dns).toEqual([0x0a000035, 0x0a000036]);
    expect(info.leaseTime).toBeUndefined();
    expect(info.messageType).toBe(5);
  });
});
