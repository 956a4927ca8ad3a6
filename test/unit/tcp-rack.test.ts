/**
 * RACK-TLP (RFC 8985): time-based loss detection with the reordering window
 * and reorder timer, lost retransmissions, D-SACK, and tail loss probes with
 * their loss detection. Segment scripts on a virtual clock; expected times are
 * derived from the connection's own RTT state, never from wall-clock time.
 */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';

const PEER = 5001;

/** SACK connection (RACK on by default), MSS 1000, one 50 ms RTT sample on 100 bytes: SND.UNA = 1101 at t = 50. */
function rackConn(config = {}) {
  const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false, ...config } });
  s.establishPassive({ iss: 5000, mss: 1000, sack: true });
  s.conn.write(pattern(100), 0, 100);
  s.dispatch();
  s.recv();
  s.now = 50;
  s.send({ seq: PEER, ack: 1101, flags: 'A' });
  s.recvNone();
  return s;
}

/** Sends n full segments from SND.NXT at time t; returns their sequence numbers. */
function burst(s: ConnScript, t: number, n: number): number[] {
  s.now = t;
  s.conn.write(pattern(n * 1000), 0, n * 1000);
  s.dispatch();
  return s.recv().map((x) => x.seq);
}

describe('RACK loss detection (RFC 8985 §6)', () => {
  it('marks a segment lost once the reordering window has passed, with a single duplicate ACK, by the reorder timer', () => {
    const s = rackConn();
    expect(burst(s, 100, 4)).toEqual([1101, 2101, 3101, 4101]);
    // One duplicate ACK: 2101 arrived, 1101 did not (fewer than DupThresh SACKed segments).
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 3101] });
    s.recvNone();
    const d = s.conn.debugRack();
    expect(d.rtt).toBe(50); // RACK.rtt from the delivered 2101, sent at 100
    expect(d.reoWnd).toBeGreaterThan(0); // min_RTT/4 (capped by SRTT): no reordering seen, < DupThresh SACKed
    expect(d.reoWnd).toBeLessThanOrEqual(d.minRtt / 4);
    const due = 100 + d.rtt + d.reoWnd; // 1101's transmit time + RACK.rtt + reo_wnd
    expect(s.conn.pollAt()).toBe(due); // the reorder timer is armed (no TLP with SACKed data)
    // No further ACKs: nothing before the timer, the retransmission when it fires.
    s.advanceTo(due - 0.001);
    s.recvNone();
    s.advanceTo(due);
    expect(s.recvOne()).toMatchObject({ seq: 1101, len: 1000, t: due });
    expect(s.conn.stats.rackReorderTimeouts).toBe(1);
    expect(s.conn.stats.rackLosses).toBe(1); // only 1101: 3101 and 4101 were sent after 2101
    expect(s.conn.stats.fastRetransmits).toBe(1);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
    expect(s.conn.debugSender().inRecovery).toBe(true);
    s.send({ seq: PEER, ack: 5101, flags: 'A' });
    expect(s.conn.debugSender().inRecovery).toBe(false);
    expect(s.conn.stats.retransmits).toBe(1);
  });

  it('reordering within the window retransmits nothing and is remembered', () => {
    const s = rackConn();
    burst(s, 100, 4);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 3101] });
    const due = 100 + s.conn.debugRack().rtt + s.conn.debugRack().reoWnd;
    // The late segment arrives inside the window.
    s.advanceTo(due - 0.5);
    s.send({ seq: PEER, ack: 3101, flags: 'A' });
    expect(s.conn.debugRack().rackAt).toBe(Infinity);
    s.send({ seq: PEER, ack: 5101, flags: 'A' });
    s.advance(5000);
    s.recvNone();
    expect(s.conn.stats.retransmits).toBe(0);
    expect(s.conn.stats.fastRetransmits).toBe(0);
    expect(s.conn.stats.rackLosses).toBe(0);
    expect(s.conn.debugRack().reordering).toBe(true);
  });

  it('three SACKed segments with no reordering seen: lost at once (DupThresh-equivalent, window 0)', () => {
    const s = rackConn();
    burst(s, 100, 5);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 5101] });
    expect(s.conn.debugRack().reoWnd).toBe(0);
    expect(s.recv().map((x) => x.seq)[0]).toBe(1101);
    expect(s.conn.stats.rackReorderTimeouts).toBe(0);
  });

  it('detects a lost retransmission from later deliveries, without waiting for the RTO', () => {
    const s = rackConn();
    burst(s, 100, 4);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 5101] });
    expect(s.recv().map((x) => [x.seq, x.t])).toEqual([[1101, 150]]); // first retransmission
    // New data after the retransmission.
    expect(burst(s, 160, 1)).toEqual([5101]);
    // 5101 (sent at 160, after the retransmission at 150) is SACKed; 1101 is still missing.
    s.now = 210;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 6101] });
    expect(s.recv().map((x) => [x.seq, x.t])).toEqual([[1101, 210]]); // the retransmission was lost: again
    expect(s.conn.stats.retransmits).toBe(2);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
    expect(s.conn.stats.fastRetransmits).toBe(1); // one recovery episode, one window reduction
    expect(s.conn.retransmitTimeoutAt).toBeGreaterThan(210);
    s.send({ seq: PEER, ack: 6101, flags: 'A' });
    expect(s.conn.debugSender().inRecovery).toBe(false);
  });

  it('a D-SACK grows the reordering window (once per round trip)', () => {
    const s = rackConn();
    burst(s, 100, 4);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 3101] });
    const w1 = s.conn.debugRack().reoWnd;
    s.advance(100); // reorder timer: 1101 retransmitted
    expect(s.conn.stats.retransmits).toBe(1);
    // The original was only late: the receiver reports the duplicate (RFC 2883).
    burst(s, s.now, 1); // 5101 outstanding: the D-SACK round ends when it is acknowledged
    s.send({ seq: PEER, ack: 5101, flags: 'A', sack: [1101, 2101] });
    s.send({ seq: PEER, ack: 5101, flags: 'A', sack: [1101, 2101] });
    const d = s.conn.debugRack();
    expect(s.conn.stats.dsacksIn).toBe(2);
    expect(d.reoMult).toBe(2); // one step for the round, not per D-SACK
    expect(d.reordering).toBe(true);
    expect(d.reoWnd).toBe(Math.min(2 * w1, s.conn.rtt.srtt));
    s.now += 50;
    s.send({ seq: PEER, ack: 6101, flags: 'A' });
    expect(s.conn.debugRack().reoMult).toBe(2);
    burst(s, s.now, 1);
    s.send({ seq: PEER, ack: 7101, flags: 'A', sack: [5101, 6101] });
    expect(s.conn.debugRack().reoMult).toBe(3); // a new round
  });

  it('rack: false keeps RFC 6675 detection (one duplicate ACK never retransmits before the RTO)', () => {
    const s = rackConn({ rack: false, tailLossProbe: false });
    burst(s, 100, 4);
    s.now = 150;
    s.send({ seq: PEER, ack: 1101, flags: 'A', sack: [2101, 3101] });
    s.advanceTo(s.conn.retransmitTimeoutAt - 0.001);
    s.recvNone();
    expect(s.conn.stats.rackReorderTimeouts).toBe(0);
    expect(s.conn.stats.retransmits).toBe(0);
  });

  it('the RTO marks everything lost and resends it in order, skipping what is SACKed afterwards', () => {
    const s = rackConn({ tailLossProbe: false });
    burst(s, 100, 3);
    s.advanceTo(s.conn.retransmitTimeoutAt);
    expect(s.recv().map((x) => x.seq)).toEqual([1101]); // cwnd 1 segment
    expect(s.conn.debugRack().lostBytes).toBe(2000);
    s.now += 10;
    s.send({ seq: PEER, ack: 2101, flags: 'A', sack: [3101, 4101] });
    expect(s.recv().map((x) => x.seq)).toEqual([2101]);
    s.send({ seq: PEER, ack: 4101, flags: 'A' });
    expect(s.conn.sendQueued).toBe(0);
    expect(s.conn.stats.retransmits).toBe(2);
  });
});

describe('receiver D-SACK (RFC 2883)', () => {
  it('reports a duplicate segment in the first SACK block of the next ACK', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false, delayedAck: false } });
    s.establishPassive({ iss: 5000, mss: 1000, sack: true });
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: pattern(500) });
    expect(s.recvOne().sack).toBeUndefined();
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: pattern(500) });
    expect(s.recvOne()).toMatchObject({ ack: 5501, sack: [5001, 5501] });
    expect(s.conn.stats.dsacksOut).toBe(1);
    // Once only.
    s.send({ seq: 5501, ack: 1001, flags: 'PA', payload: pattern(100) });
    expect(s.recvOne().sack).toBeUndefined();
  });
});

describe('tail loss probe (RFC 8985 §7) with RACK', () => {
  /** Three segments at t = 100; only the first is acknowledged at 150; the probe goes at 150 + PTO. */
  function tail() {
    const s = rackConn();
    burst(s, 100, 3);
    s.now = 150;
    s.send({ seq: PEER, ack: 2101, flags: 'A' });
    const pto = Math.max(2 * s.conn.rtt.srtt, 10); // FlightSize 2 segments: no delayed-ACK allowance
    expect(s.conn.debugRack().tlpAt).toBe(150 + pto);
    s.advanceTo(150 + pto - 0.001);
    s.recvNone();
    s.advanceTo(150 + pto);
    // No new data: the highest-sequence segment again.
    expect(s.recvOne()).toMatchObject({ seq: 3101, len: 1000, t: 150 + pto });
    expect(s.conn.stats.tailLossProbes).toBe(1);
    expect(s.conn.debugRack().tlpEpisode).toBe(true);
    return { s, t: 150 + pto };
  }

  it('one probe per episode: none again before the RTO', () => {
    const { s } = tail();
    s.advanceTo(s.conn.retransmitTimeoutAt - 0.001);
    s.recvNone();
    expect(s.conn.stats.tailLossProbes).toBe(1);
    s.advanceTo(s.conn.retransmitTimeoutAt);
    expect(s.conn.stats.rtoTimeouts).toBe(1);
  });

  it('an ACK beyond the probe without a D-SACK: the probe repaired a loss, the window is reduced', () => {
    const { s, t } = tail();
    const cwnd = s.conn.cc.cwnd;
    s.now = t + 20;
    s.send({ seq: PEER, ack: 4101, flags: 'A' }); // ACK == TLP.end_seq: not yet decided
    expect(s.conn.debugRack().tlpEpisode).toBe(true);
    expect(burst(s, t + 30, 1)).toEqual([4101]);
    s.now = t + 80;
    s.send({ seq: PEER, ack: 5101, flags: 'A' });
    expect(s.conn.stats.tlpLossRecoveries).toBe(1);
    expect(s.conn.debugRack().tlpEpisode).toBe(false);
    expect(s.conn.cc.ssthresh).toBeLessThan(cwnd + 2000);
    expect(s.conn.cc.cwnd).toBeLessThan(cwnd);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
  });

  it('a D-SACK for the probe: nothing was lost, no reduction, and the next tail may be probed', () => {
    const { s, t } = tail();
    const ssthresh = s.conn.cc.ssthresh;
    s.now = t + 20;
    s.send({ seq: PEER, ack: 4101, flags: 'A', sack: [3101, 4101] });
    expect(s.conn.stats.tlpLossRecoveries).toBe(0);
    expect(s.conn.debugRack().tlpEpisode).toBe(false);
    expect(s.conn.cc.ssthresh).toBe(ssthresh);
    burst(s, t + 30, 2);
    s.now = t + 60;
    s.send({ seq: PEER, ack: 5101, flags: 'A' });
    s.advance(1000);
    expect(s.conn.stats.tailLossProbes).toBe(2);
  });

  it('a probe of new data ends its episode when acknowledged', () => {
    const s = rackConn();
    burst(s, 100, 2);
    s.now = 150;
    s.send({ seq: PEER, ack: 2101, flags: 'A' });
    // Two small writes: Nagle holds the second while the first is unacknowledged.
    s.conn.write(pattern(500), 0, 500);
    s.dispatch();
    s.conn.write(pattern(500), 0, 500);
    s.dispatch();
    expect(s.recv().map((x) => [x.seq, x.len])).toEqual([[3101, 500]]);
    s.advanceTo(s.conn.debugRack().tlpAt);
    // The probe is the unsent data (§7.3), not a retransmission.
    expect(s.recvOne()).toMatchObject({ seq: 3601, len: 500 });
    expect(s.conn.stats.tailLossProbes).toBe(1);
    expect(s.conn.stats.retransmits).toBe(0);
    s.send({ seq: PEER, ack: 4101, flags: 'A' });
    expect(s.conn.debugRack().tlpEpisode).toBe(false);
    expect(s.conn.stats.tlpLossRecoveries).toBe(0);
  });

  it('without an RTT sample the PTO is 1 s, but never later than the RTO (the probe replaces it)', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false } });
    s.establishPassive({ iss: 5000, mss: 1000, sack: true });
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    s.recv();
    const rtoAt = s.conn.retransmitTimeoutAt;
    expect(s.conn.debugRack().tlpAt).toBe(Math.min(1000, rtoAt));
    s.advanceTo(rtoAt);
    expect(s.recvOne()).toMatchObject({ seq: 1001, len: 100 });
    expect(s.conn.stats.tailLossProbes).toBe(1);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
    expect(s.conn.retransmitTimeoutAt).toBeGreaterThan(rtoAt); // re-armed after the probe
  });

  it('with one segment in flight the PTO adds the worst-case delayed ACK (and is clamped to the RTO)', () => {
    const s = rackConn();
    burst(s, 100, 1);
    const srtt = s.conn.rtt.srtt;
    expect(s.conn.debugRack().tlpAt).toBe(Math.min(100 + Math.max(2 * srtt, 10) + 200, s.conn.retransmitTimeoutAt));
  });
});
