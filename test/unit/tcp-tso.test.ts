/**
 * TSO on the TCP sender: with IpOutput.tsoMaxFor above the MTU, new data
 * goes out in segments of several MSS (up to the limit), the advertised MSS
 * stays MTU - 40, and transfers stay exact, clean and lossy (retransmissions
 * of large segments, SACK). Without tsoMaxFor (or with it equal to the MTU)
 * nothing changes: no segment exceeds the MTU.
 */
import { describe, expect, it } from 'vitest';
import { runBulk } from '../helpers/tcp-link.js';

const MB = 1024 * 1024;
const TSO_MAX = 65535 - 20; // largest TCP segment in one IPv4 packet

describe('TCP segments above the MSS when the route does TSO', () => {
  it('clean: 4 MB each way in segments of up to 64 KiB, data exact', () => {
    const r = runBulk(1, {}, 4 * MB, 4 * MB, { tsoMax: TSO_MAX });
    expect(r.aToB.rxHash).toBe(r.aToB.txHash);
    expect(r.bToA.rxHash).toBe(r.bToA.txHash);
    expect(r.aToB.bytes).toBe(4 * MB);
    expect(r.bToA.bytes).toBe(4 * MB);
    expect(r.aError ?? null).toBeNull();
    for (const end of [r.net.endA, r.net.endB]) {
      expect(end.largest).toBeGreaterThan(1480 * 4);
      expect(end.largest).toBeLessThanOrEqual(TSO_MAX);
    }
  });

  it('lossy and reordered: still exact, large segments retransmitted or re-cut as needed', () => {
    for (const seed of [2, 3, 4]) {
      const r = runBulk(seed, { loss: 0.02, reorder: 0.05, delayMs: 5 }, 2 * MB, 2 * MB, { tsoMax: TSO_MAX });
      expect(r.aToB.rxHash).toBe(r.aToB.txHash);
      expect(r.bToA.rxHash).toBe(r.bToA.txHash);
      expect(r.aToB.bytes).toBe(2 * MB);
      expect(r.bToA.bytes).toBe(2 * MB);
      expect(r.remaining).toBe(0);
      expect(r.net.endA.largest).toBeGreaterThan(1480);
    }
  });

  it('a segment limit equal to the MTU (no TSO) keeps every segment within the MTU', () => {
    const r = runBulk(5, {}, 1 * MB, 1 * MB, { tsoMax: 1480 });
    expect(r.aToB.rxHash).toBe(r.aToB.txHash);
    expect(r.net.endA.largest).toBeLessThanOrEqual(1480);
    expect(r.net.endB.largest).toBeLessThanOrEqual(1480);
  });

  it('a peer MSS below our MTU disables TSO (the NIC would cut by our MTU)', () => {
    const r = runBulk(6, {}, 1 * MB, 1 * MB, { tsoMax: TSO_MAX, config: { mss: 1000 } });
    expect(r.aToB.rxHash).toBe(r.aToB.txHash);
    expect(r.bToA.rxHash).toBe(r.bToA.txHash);
    expect(r.net.endA.largest).toBeLessThanOrEqual(1000 + 20 + 40);
    expect(r.net.endB.largest).toBeLessThanOrEqual(1000 + 20 + 40);
  });
});
