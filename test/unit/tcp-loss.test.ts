/** Retransmission: RTO backoff and Karn, fast retransmit / NewReno, SACK recovery (RFC 6298, 6582, 6675). */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

const PEER = 5001;

function established(config = {}, peer: Parameters<ConnScript['establishPassive']>[0] = {}) {
  const s = new ConnScript({ iss: 1000, config: { timestamps: false, sack: false, windowScaling: false, ...config } });
  s.establishPassive({ iss: 5000, mss: 1000, ...peer });
  return s;
}

describe('tcp RTO', () => {
  it('retransmits with exponential backoff and gives up with ETIMEDOUT after maxRetries', () => {
    const s = established({ maxRetries: 3, initialRtoMs: 1000, minRtoMs: 200 });
    const rto = s.conn.rtt.rto;
    s.conn.write(pattern(500), 0, 500);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ seq: 1001, len: 500, t: 0 });
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      s.advance(rto * 2 ** i);
      const r = s.recvOne();
      expect(r).toMatchObject({ seq: 1001, len: 500 });
      times.push(r.t);
    }
    expect(times).toEqual([rto, 3 * rto, 7 * rto]);
    expect(s.conn.stats.rtoTimeouts).toBe(3);
    s.advance(8 * rto);
    s.recvNone();
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
  });

  it("Karn: an ACK for a retransmitted segment gives no RTT sample; the backoff is dropped on new ACKs", () => {
    const s = established();
    const srtt0 = s.conn.rtt.srtt;
    const rto = s.conn.rtt.rto;
    s.conn.write(pattern(500), 0, 500);
    s.dispatch();
    s.recv();
    s.advance(rto);
    expect(s.recvOne()).toMatchObject({ seq: 1001, t: rto });
    expect(s.conn.rtt.backoffCount).toBe(1);
    s.now += 700; // a 700 ms "RTT" that is ambiguous: must not be sampled
    s.send({ seq: PEER, ack: 1501, flags: 'A' });
    expect(s.conn.rtt.srtt).toBe(srtt0);
    expect(s.conn.rtt.backoffCount).toBe(0);
    // A fresh, unambiguous segment is timed.
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    s.recv();
    s.now += 50;
    s.send({ seq: PEER, ack: 1601, flags: 'A' });
    expect(s.conn.rtt.srtt).not.toBe(srtt0);
  });

  it('after an RTO resends from SND.UNA in slow start, one segment first', () => {
    const s = established();
    s.conn.write(pattern(4000), 0, 4000);
    s.dispatch();
    expect(s.recv().length).toBe(4);
    s.advance(s.conn.rtt.rto);
    expect(s.recv().map((x) => [x.seq, x.len])).toEqual([[1001, 1000]]);
    expect(s.conn.cc.cwnd).toBe(1000);
    s.send({ seq: PEER, ack: 2001, flags: 'A' });
    // cwnd grew to 2 segments: the next two go back-to-back.
    expect(s.recv().map((x) => [x.seq, x.len])).toEqual([
      [2001, 1000],
      [3001, 1000],
    ]);
  });
});

describe('tcp fast retransmit / NewReno (RFC 5681, 6582)', () => {
  it('retransmits on the third duplicate ACK, inflates, and leaves recovery on the full ACK', () => {
    const s = established({ congestion: 'newreno' });
    s.conn.write(pattern(20000), 0, 20000);
    s.dispatch();
    const first = s.recv();
    expect(first.length).toBe(10); // initial window: 10 segments of 1000 (RFC 6928)
    s.now = 10;
    s.send({ seq: PEER, ack: 1001, flags: 'A' }); // dup 1 (nothing acked yet? ack == SND.UNA)
    // Limited transmit (RFC 3042): one new segment per early dup ACK.
    expect(s.recv().map((x) => x.seq)).toEqual([11001]);
    s.send({ seq: PEER, ack: 1001, flags: 'A' }); // dup 2
    expect(s.recv().map((x) => x.seq)).toEqual([12001]);
    s.send({ seq: PEER, ack: 1001, flags: 'A' }); // dup 3: fast retransmit
    const fr = s.recv();
    expect(fr[0]).toMatchObject({ seq: 1001, len: 1000, t: 10 });
    expect(s.conn.stats.fastRetransmits).toBe(1);
    expect(s.conn.debugSender().inRecovery).toBe(true);
    const ssthresh = s.conn.cc.ssthresh;
    expect(ssthresh).toBeLessThan(12000);
    // Partial ACK: retransmit the next hole at once (RFC 6582 §3.2 step 5).
    s.send({ seq: PEER, ack: 3001, flags: 'A' });
    expect(s.recv()[0]).toMatchObject({ seq: 3001, len: 1000 });
    expect(s.conn.debugSender().inRecovery).toBe(true);
    // Full ACK (covers everything sent before recovery): exit.
    s.send({ seq: PEER, ack: 13001, flags: 'A' });
    expect(s.conn.debugSender().inRecovery).toBe(false);
    expect(s.conn.cc.cwnd).toBe(ssthresh);
  });

  it('two duplicate ACKs are not enough', () => {
    const s = established();
    s.conn.write(pattern(5000), 0, 5000);
    s.dispatch();
    s.recv();
    s.send({ seq: PEER, ack: 1001, flags: 'A' });
    s.send({ seq: PEER, ack: 1001, flags: 'A' });
    expect(s.recv().every((x) => x.seq !== 1001)).toBe(true);
    expect(s.conn.stats.fastRetransmits).toBe(0);
  });
});

describe('tcp SACK recovery (RFC 2018, 6675)', () => {
  it('retransmits every hole once, never SACKed data, and recovers without an RTO', () => {
    const s = established({ sack: true }, { sack: true });
    s.conn.write(pattern(10000), 0, 10000);
    s.dispatch();
    expect(s.recv().length).toBe(10); // 1001 .. 11001
    // Holes: [1001,2001), [4001,5001), [7001,8001). SACKed: 2001-4001, 5001-7001, 8001-11001.
    s.now = 5; // before the tail loss probe (PTO >= 10 ms)
    s.send({ seq: PEER, ack: 1001, flags: 'A', sack: [2001, 4001] });
    s.send({ seq: PEER, ack: 1001, flags: 'A', sack: [5001, 7001, 2001, 4001] });
    s.send({ seq: PEER, ack: 1001, flags: 'A', sack: [8001, 11001, 5001, 7001, 2001, 4001] });
    const rtx = s.recv();
    expect(s.conn.stats.sackRecoveries).toBe(1);
    expect(s.conn.debugSender().scoreboard).toEqual([2001, 4001, 5001, 7001, 8001, 11001]);
    const seqs = rtx.map((x) => x.seq);
    expect(seqs).toEqual([1001, 4001, 7001]);
    for (const r of rtx) expect(r.len).toBe(1000);
    // The receiver fills holes one by one.
    s.send({ seq: PEER, ack: 4001, flags: 'A', sack: [8001, 11001, 5001, 7001] });
    s.send({ seq: PEER, ack: 7001, flags: 'A', sack: [8001, 11001] });
    s.send({ seq: PEER, ack: 11001, flags: 'A' });
    expect(s.conn.debugSender().inRecovery).toBe(false);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
    expect(s.conn.stats.retransmits).toBe(3);
    expect(s.conn.sendQueued).toBe(0);
  });

  it('ignores SACK blocks outside (SND.UNA, SND.MAX] (RFC 2018 validity, hostile input)', () => {
    const s = established({ sack: true }, { sack: true });
    s.conn.write(pattern(3000), 0, 3000);
    s.dispatch();
    s.recv();
    s.send({ seq: PEER, ack: 1001, flags: 'A', sack: [900000, 900100, 500, 700, 3000, 2000] });
    expect(s.conn.debugSender().scoreboard).toEqual([]);
  });
});

describe('tcp tail loss probe (RFC 8985 §7)', () => {
  it('a probe at 2*SRTT resends the last segment when ACKs stop, long before the RTO', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false } });
    s.establishPassive({ iss: 5000, mss: 1000, sack: true });
    // Give the estimator a 50 ms sample.
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    s.recv();
    s.now = 50;
    s.send({ seq: PEER, ack: 1101, flags: 'A' });
    const srtt = s.conn.rtt.srtt;
    expect(srtt).toBeGreaterThan(0);
    s.conn.write(pattern(3000), 0, 3000);
    s.dispatch();
    expect(s.recv().map((x) => x.seq)).toEqual([1101, 2101, 3101]);
    // Only the first is acknowledged, then silence (the tail or its ACKs were lost).
    s.now = 100;
    s.send({ seq: PEER, ack: 2101, flags: 'A' });
    s.recvNone();
    const pto = Math.max(2 * s.conn.rtt.srtt, 10); // two segments in flight: no delayed-ACK allowance
    s.advanceTo(100 + pto - 0.001);
    s.recvNone();
    s.advanceTo(100 + pto);
    const probe = s.recvOne();
    expect(probe).toMatchObject({ seq: 3101, len: 1000 });
    expect(probe.t).toBeLessThan(100 + s.conn.rtt.rto);
    expect(s.conn.stats.tailLossProbes).toBe(1);
    // The probe draws the ACK that was missing.
    s.send({ seq: PEER, ack: 4101, flags: 'A' });
    expect(s.conn.sendQueued).toBe(0);
    expect(s.conn.stats.rtoTimeouts).toBe(0);
  });

  it('rack: false (legacy): with no SRTT there is no probe, the RTO comes first', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false, rack: false } });
    s.establishPassive({ iss: 5000, mss: 1000, sack: true });
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    s.recv();
    s.advance(s.conn.rtt.rto);
    expect(s.conn.stats.tailLossProbes).toBe(0); // RTO came first
    expect(s.conn.stats.rtoTimeouts).toBe(1);
  });

  it('is off without SACK', () => {
    const s = established();
    s.conn.write(pattern(500), 0, 500);
    s.dispatch();
    s.recv();
    s.advance(s.conn.rtt.rto - 1);
    s.recvNone();
    expect(s.conn.stats.tailLossProbes).toBe(0);
  });
});

describe('tcp SACK reneging', () => {
  it('after an RTO, SACKed data is resent too (the receiver may have dropped it)', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, windowScaling: false, tailLossProbe: false } });
    s.establishPassive({ iss: 5000, mss: 1000, sack: true });
    s.conn.write(pattern(3000), 0, 3000);
    s.dispatch();
    s.recv();
    s.send({ seq: PEER, ack: 1001, flags: 'A', sack: [2001, 4001] });
    s.recv();
    s.advance(s.conn.rtt.rto * 4);
    const rtx = s.recv().map((x) => x.seq);
    expect(rtx[0]).toBe(1001);
    // Still no ACK beyond 1001: the next round goes past the once-SACKed range.
    s.send({ seq: PEER, ack: 2001, flags: 'A' });
    expect(s.recv().map((x) => x.seq)).toContain(2001);
  });
});
