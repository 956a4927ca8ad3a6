/** RST rules (RFC 9293 §3.10.7), RFC 5961 challenge ACKs, PAWS (RFC 7323), keepalive, MSS clamping. */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

const PEER = 5001;

function established(config = {}, peer: Parameters<ConnScript['establishPassive']>[0] = {}) {
  const s = new ConnScript({ iss: 1000, config: { timestamps: false, sack: false, windowScaling: false, ...config } });
  s.establishPassive({ iss: 5000, mss: 1460, ...peer });
  return s;
}

describe('tcp RST handling and RFC 5961', () => {
  it('a RST exactly at RCV.NXT resets the connection (ECONNRESET)', () => {
    const s = established();
    s.send({ seq: PEER, flags: 'R' });
    s.recvNone();
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ECONNRESET');
  });

  it('an in-window RST that is not exact draws a challenge ACK and changes nothing', () => {
    const s = established();
    s.send({ seq: PEER + 100, flags: 'R' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1001, ack: PEER });
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.conn.stats.challengeAcks).toBe(1);
  });

  it('an out-of-window RST is dropped silently', () => {
    const s = established();
    s.send({ seq: PEER + 1_000_000, flags: 'R' });
    s.send({ seq: PEER - 10, flags: 'R' });
    s.recvNone();
    expect(s.conn.state).toBe(State.ESTABLISHED);
  });

  it('a SYN in a synchronized state draws a challenge ACK, in or out of window (RFC 5961 §4)', () => {
    const s = established();
    s.send({ seq: PEER + 10, flags: 'S' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1001, ack: PEER });
    s.send({ seq: 123456, flags: 'S' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER });
    expect(s.conn.state).toBe(State.ESTABLISHED);
  });

  it('challenge ACKs are rate limited per connection', () => {
    const s = established({ challengeAckLimit: 3 });
    for (let i = 0; i < 10; i++) s.send({ seq: PEER + 100 + i, flags: 'R' });
    expect(s.recv().length).toBe(3);
    expect(s.conn.stats.challengeAcksSuppressed).toBe(7);
    s.now += 1000;
    s.send({ seq: PEER + 100, flags: 'R' });
    expect(s.recv().length).toBe(1);
  });

  it('an ACK for data never sent draws a challenge ACK and the segment is dropped (RFC 5961 §5.2)', () => {
    const s = established();
    s.send({ seq: PEER, ack: 999_999, flags: 'PA', payload: 'injected' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1001, ack: PEER });
    expect(s.conn.readable).toBe(0);
    expect(s.conn.stats.badAcks).toBe(1);
  });

  it('an ACK too far below SND.UNA (older than MAX.SND.WND) is rejected', () => {
    const s = established({}, { window: 1000 });
    s.send({ seq: PEER, ack: 1001 - 5000, flags: 'PA', payload: 'x' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER });
    expect(s.conn.readable).toBe(0);
  });

  it('RST in SYN_RECEIVED (passive) closes the embryonic connection quietly', () => {
    const s = new ConnScript({ iss: 9000, config: { timestamps: false } });
    s.conn.acceptSyn({ srcPort: 1, dstPort: 2, seq: 300, ack: 0, flags: 2, window: 1000, urgent: 0, payloadLength: 0 }, 0);
    s.dispatch();
    s.recv();
    s.send({ seq: 301, flags: 'R' });
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBeUndefined();
  });

  it('a bad ACK in SYN_RECEIVED gets RST <SEQ=SEG.ACK>', () => {
    const s = new ConnScript({ iss: 9000, config: { timestamps: false } });
    s.conn.acceptSyn({ srcPort: 1, dstPort: 2, seq: 300, ack: 0, flags: 2, window: 1000, urgent: 0, payloadLength: 0 }, 0);
    s.dispatch();
    s.recv();
    s.send({ seq: 301, ack: 77777, flags: 'A' });
    expect(s.recvOne()).toMatchObject({ flags: 'R', seq: 77777 });
    expect(s.conn.state).toBe(State.SYN_RECEIVED);
  });
});

describe('tcp PAWS (RFC 7323 §5)', () => {
  it('drops a segment whose timestamp is older than TS.Recent, ACKs it, and keeps the data out', () => {
    const s = new ConnScript({ iss: 1000, config: { sack: false } });
    s.establishPassive({ iss: 5000, ts: true }); // peer tsVal 100, then 101
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: 'new', tsVal: 200, tsEcr: 0 });
    s.advance(100);
    expect(s.recvOne()).toMatchObject({ ack: PEER + 3, tsEcr: 200 });
    // An old duplicate from a previous incarnation / wrapped sequence space.
    s.send({ seq: PEER + 3, ack: 1001, flags: 'PA', payload: 'old', tsVal: 150, tsEcr: 0 });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 3 });
    expect(s.conn.readable).toBe(3);
    expect(s.conn.stats.pawsDrops).toBe(1);
    // Same segment with a fresh timestamp is accepted.
    s.send({ seq: PEER + 3, ack: 1001, flags: 'PA', payload: 'old', tsVal: 201, tsEcr: 0 });
    expect(s.conn.readable).toBe(6);
  });

  it('a RST is not subject to PAWS', () => {
    const s = new ConnScript({ iss: 1000, config: { sack: false } });
    s.establishPassive({ iss: 5000, ts: true });
    s.send({ seq: PEER, flags: 'R', tsVal: 1, tsEcr: 0 });
    expect(s.conn.state).toBe(State.CLOSED);
  });

  it('timestamps give RTT samples from echoed values, retransmitted or not', () => {
    const s = new ConnScript({ iss: 1000, config: { sack: false } });
    s.establishPassive({ iss: 5000, ts: true });
    s.conn.write(pattern(10), 0, 10);
    s.now = 1000;
    s.dispatch();
    const d = s.recvOne();
    expect(d.tsVal).toBe(1000);
    s.now = 1080;
    s.send({ seq: PEER, ack: 1011, flags: 'A', tsVal: 300, tsEcr: d.tsVal });
    expect(s.conn.rtt.srtt).toBeGreaterThan(0);
  });
});

describe('tcp keepalive (RFC 1122 §4.2.3.6)', () => {
  it('probes after idle, every interval, and times out after count unanswered probes', () => {
    const s = established({ keepIntervalMs: 100, keepCount: 3 });
    s.conn.setKeepAlive(true, 1000);
    s.dispatch();
    s.advance(999);
    s.recvNone();
    s.advance(1);
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1000, len: 0, t: 1000 }); // SND.UNA - 1
    s.advance(100);
    expect(s.recvOne()).toMatchObject({ seq: 1000, t: 1100 });
    s.advance(100);
    expect(s.recvOne()).toMatchObject({ seq: 1000, t: 1200 });
    s.advance(100);
    expect(s.recvOne()).toMatchObject({ flags: 'RA', t: 1300 });
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
  });

  it('an answered probe resets the idle timer', () => {
    const s = established({ keepIntervalMs: 100, keepCount: 2 });
    s.conn.setKeepAlive(true, 1000);
    s.advance(1000);
    expect(s.recvOne()).toMatchObject({ t: 1000 });
    s.send({ seq: PEER, ack: 1001, flags: 'A' });
    s.advance(999);
    s.recvNone();
    s.advance(1);
    expect(s.recvOne()).toMatchObject({ t: 2000 });
    expect(s.conn.state).toBe(State.ESTABLISHED);
  });

  it('answers a peer keepalive probe (SEQ = RCV.NXT - 1) with an ACK', () => {
    const s = established();
    s.send({ seq: PEER - 1, ack: 1001, flags: 'A' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1001, ack: PEER });
    s.send({ seq: PEER - 1, ack: 1001, flags: 'A' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER });
  });
});

describe('tcp MSS', () => {
  it('advertises route MTU - 40 and clamps the send MSS to the route', () => {
    const s = new ConnScript({ iss: 1000, mmsS: 1380, config: { timestamps: false } }); // MTU 1400
    s.conn.connect(0);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'S', mss: 1360 });
    s.send({ seq: 5000, ack: 1001, flags: 'SA', mss: 1460 });
    expect(s.conn.mss).toBe(1360);
    s.recv();
    s.conn.write(pattern(3000), 0, 3000);
    s.dispatch();
    expect(s.recv().map((x) => x.len)).toEqual([1360, 1360, 280]);
  });

  it("uses the peer's smaller MSS, and 536 when it sent none", () => {
    const a = new ConnScript({ iss: 1000, config: { timestamps: false } });
    a.establishActive({ mss: 700 });
    expect(a.conn.mss).toBe(700);
    const b = new ConnScript({ iss: 1000, config: { timestamps: false } });
    b.conn.connect(0);
    b.dispatch();
    b.recv();
    b.send({ seq: 5000, ack: 1001, flags: 'SA' });
    expect(b.conn.mss).toBe(536);
  });

  it('timestamps take 12 bytes out of each segment, counted once', () => {
    const s = new ConnScript({ iss: 1000 });
    s.establishActive({ mss: 1460, ts: true });
    expect(s.conn.mss).toBe(1448);
  });
});

describe('tcp resource bounds against hostile peers', () => {
  it('clamps a tiny peer MSS to 48 bytes (Linux tcp_min_snd_mss; CVE-2019-11479)', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false } });
    s.establishActive({ mss: 1 });
    expect(s.conn.mss).toBe(48);
  });

  it('user timeout (RFC 5482): unacknowledged data gives up after userTimeoutMs', () => {
    const s = established({ userTimeoutMs: 10_000, maxRetries: 100 });
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    s.recv();
    s.advance(9_000);
    expect(s.conn.state).toBe(State.ESTABLISHED);
    s.advance(60_000);
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
  });

  it('user timeout also bounds a zero window that the peer keeps shut while answering probes', () => {
    const s = established({ userTimeoutMs: 60_000 });
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.conn.write(pattern(1000), 0, 1000);
    s.dispatch();
    for (let i = 0; i < 50 && s.conn.state !== State.CLOSED; i++) {
      s.advanceTo(s.conn.pollAt());
      if (s.recv().length > 0) s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    }
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
    expect(s.now).toBeLessThan(60_000 + 130_000);
  });

  it('without a user timeout an answered zero window is probed indefinitely (RFC 1122 §4.2.2.17)', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.conn.write(pattern(1000), 0, 1000);
    s.dispatch();
    for (let i = 0; i < 60; i++) {
      s.advanceTo(s.conn.pollAt());
      if (s.recv().length > 0) s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    }
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.conn.stats.persistProbes).toBe(60);
  });

  it('after close(), zero-window probing stops after orphanRetries even if answered', () => {
    const s = established({ orphanRetries: 3 });
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.conn.write(pattern(1000), 0, 1000);
    s.conn.close();
    s.dispatch();
    let probes = 0;
    for (let i = 0; i < 20 && s.conn.state !== State.CLOSED; i++) {
      s.advanceTo(s.conn.pollAt());
      const out = s.recv();
      probes += out.length;
      if (out.length > 0) s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    }
    expect(s.conn.state).toBe(State.CLOSED);
    expect(probes).toBe(3);
  });

  it('a segment the output refuses counts as lost: RTO backoff, no busy retry', () => {
    const s = established({ maxRetries: 3 });
    s.blockOutput = true;
    s.conn.write(pattern(100), 0, 100);
    s.dispatch();
    expect(s.conn.pollAt()).toBeGreaterThan(s.now); // no immediate retry
    s.advance(600_000);
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
  });
});
