/**
 * The test helper's RSS hash (test/helpers/toeplitz.ts) against the test
 * vectors of Microsoft's RSS specification ("Verifying the RSS Hash
 * Calculation"; the same five IPv4 flows in Intel's 82599 datasheet): with
 * the standard key, the 2-tuple and the 4-tuple hash of each. The owner's
 * native hash is checked against the same vectors (addon/shm/toeplitz_test.cc),
 * so the interop tests' predictions of which worker a flow reaches rest on
 * the same numbers.
 */
import { describe, expect, it } from 'vitest';
import { ipv4, rssHashIpv4, rssHashIpv4Addresses } from '../helpers/toeplitz.js';

const VECTORS: [dst: string, dport: number, src: string, sport: number, ipv4Only: number, ipv4Tcp: number][] = [
  ['161.142.100.80', 1766, '66.9.149.187', 2794, 0x323e8fc2, 0x51ccc178],
  ['65.69.140.83', 4739, '199.92.111.2', 14230, 0xd718262a, 0xc626b0ea],
  ['12.22.207.184', 38024, '24.19.198.95', 12898, 0xd2d0a5de, 0x5c2b394a],
  ['209.142.163.6', 2217, '38.27.205.30', 48228, 0x82989176, 0xafc7327f],
  ['202.188.127.2', 1303, '153.39.163.191', 44251, 0x5d1809c5, 0x10e828a2],
];

describe('Toeplitz RSS hash (Microsoft verification suite)', () => {
  for (const [dst, dport, src, sport, two, four] of VECTORS) {
    it(`${src}:${sport} -> ${dst}:${dport}`, () => {
      expect(rssHashIpv4Addresses(ipv4(src), ipv4(dst))).toBe(two);
      expect(rssHashIpv4(ipv4(src), ipv4(dst), sport, dport)).toBe(four);
    });
  }
});
