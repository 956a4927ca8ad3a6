/** ipv6CommonPrefixLength (RFC 6724's CommonPrefixLen, used by source selection) against the bit-by-bit definition. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv6CommonPrefixLength, ipv6PrefixMatch } from '../../src/wire/ipv6.js';

/** The longest prefix length n for which ipv6PrefixMatch holds. */
function byBits(a: Uint8Array, b: Uint8Array): number {
  let n = 0;
  while (n < 128 && ipv6PrefixMatch(a, 0, b, 0, n + 1)) n++;
  return n;
}

describe('ipv6CommonPrefixLength', () => {
  it('equals the longest matching prefix, for arbitrary pairs and for pairs differing in one chosen bit', () => {
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(fc.property(addr, addr, (a, b) => {
      expect(ipv6CommonPrefixLength(a, 0, b, 0)).toBe(byBits(a, b));
    }), { numRuns: 2000 });
    fc.assert(
      fc.property(addr, fc.integer({ min: 0, max: 127 }), (a, bit) => {
        const b = a.slice();
        b[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        expect(ipv6CommonPrefixLength(a, 0, b, 0)).toBe(bit);
        expect(ipv6CommonPrefixLength(a, 0, a.slice(), 0)).toBe(128);
      }),
      { numRuns: 1000 },
    );
  });
});
