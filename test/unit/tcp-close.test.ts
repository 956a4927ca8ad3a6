/** Every close sequence of RFC 9293 §3.6, TIME_WAIT expiry, FIN_WAIT_2 timeout, half-close. */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

const PEER = 5001;

function established(config = {}) {
  const s = new ConnScript({ iss: 1000, config: { timestamps: false, sack: false, windowScaling: false, timeWaitMs: 60_000, ...config } });
  s.establishPassive({ iss: 5000, mss: 1460 });
  return s;
}

describe('tcp close sequences', () => {
  it('active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED after 2*MSL', () => {
    const s = established();
    s.conn.shutdown();
    expect(s.conn.state).toBe(State.FIN_WAIT_1);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'FA', seq: 1001, ack: PEER });
    s.now = 10;
    s.send({ seq: PEER, ack: 1002, flags: 'A' });
    expect(s.conn.state).toBe(State.FIN_WAIT_2);
    // Half-close: the peer can still send.
    s.send({ seq: PEER, ack: 1002, flags: 'PA', payload: 'late data' });
    expect(s.conn.readable).toBe(9);
    s.now = 20;
    s.send({ seq: PEER + 9, ack: 1002, flags: 'FA' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1002, ack: PEER + 10, t: 20 });
    expect(s.conn.state).toBe(State.TIME_WAIT);
    expect(s.ev.peerClosed).toBe(1);
    expect(s.ev.closed).toBe(1);
    // A retransmitted FIN is ACKed and restarts the 2MSL timer.
    s.now = 30_000;
    s.send({ seq: PEER + 9, ack: 1002, flags: 'FA' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 10 });
    s.advance(59_999);
    expect(s.conn.state).toBe(State.TIME_WAIT);
    s.advance(1);
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.conn.pollAt()).toBe(Infinity);
    s.recvNone();
    expect(s.ev.closeError).toBeUndefined();
  });

  it('passive close: CLOSE_WAIT -> LAST_ACK -> CLOSED', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'FA' });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 1 });
    expect(s.conn.state).toBe(State.CLOSE_WAIT);
    expect(s.ev.peerClosed).toBe(1);
    // We can still send in CLOSE_WAIT.
    s.conn.write(pattern(100), 0, 100);
    s.conn.shutdown();
    expect(s.conn.state).toBe(State.LAST_ACK);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'FPA', seq: 1001, len: 100 });
    s.send({ seq: PEER + 1, ack: 1102, flags: 'A' });
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closed).toBe(1);
    expect(s.ev.closeError).toBeUndefined();
  });

  it('simultaneous close: FIN_WAIT_1 -> CLOSING -> TIME_WAIT', () => {
    const s = established();
    s.conn.shutdown();
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'FA', seq: 1001 });
    s.send({ seq: PEER, ack: 1001, flags: 'FA' }); // their FIN crossed ours
    expect(s.conn.state).toBe(State.CLOSING);
    expect(s.recvOne()).toMatchObject({ flags: 'A', seq: 1002, ack: PEER + 1 });
    s.send({ seq: PEER + 1, ack: 1002, flags: 'A' });
    expect(s.conn.state).toBe(State.TIME_WAIT);
    s.advance(60_000);
    expect(s.conn.state).toBe(State.CLOSED);
  });

  it('FIN_WAIT_1 straight to TIME_WAIT when the FIN+ACK acknowledges our FIN', () => {
    const s = established();
    s.conn.shutdown();
    s.dispatch();
    s.recv();
    s.send({ seq: PEER, ack: 1002, flags: 'FA' });
    expect(s.conn.state).toBe(State.TIME_WAIT);
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 1 });
  });

  it('FIN is retransmitted by the RTO', () => {
    const s = established();
    s.conn.shutdown();
    s.dispatch();
    s.recv();
    s.advance(s.conn.rtt.rto);
    expect(s.recvOne()).toMatchObject({ flags: 'FA', seq: 1001 });
  });

  it('FIN waits for queued data (and Nagle does not hold the tail)', () => {
    const s = established();
    s.conn.write(pattern(3000), 0, 3000);
    s.conn.shutdown();
    s.dispatch();
    const out = s.recv();
    expect(out.map((x) => [x.flags, x.seq, x.len])).toEqual([
      ['A', 1001, 1460],
      ['A', 2461, 1460],
      ['FPA', 3921, 80],
    ]);
    expect(s.conn.write(pattern(1), 0, 1)).toBe(0); // no writes after shutdown
  });

  it('FIN beyond a hole takes effect when the hole fills', () => {
    const s = established();
    s.send({ seq: PEER + 5, ack: 1001, flags: 'FA', payload: 'world' });
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.recvOne()).toMatchObject({ ack: PEER });
    s.send({ seq: PEER, ack: 1001, flags: 'A', payload: 'hello' });
    expect(s.conn.state).toBe(State.CLOSE_WAIT);
    expect(s.recvOne()).toMatchObject({ ack: PEER + 11 });
    const b = new Uint8Array(20);
    expect(new TextDecoder().decode(b.subarray(0, s.conn.read(b, 0, 20)))).toBe('helloworld');
  });

  it('FIN_WAIT_2 times out after close() when the peer never sends FIN', () => {
    const s = established({ finWait2TimeoutMs: 5000 });
    s.conn.close();
    s.dispatch();
    s.recv();
    s.now = 1;
    s.send({ seq: PEER, ack: 1002, flags: 'A' });
    expect(s.conn.state).toBe(State.FIN_WAIT_2);
    s.advance(4998);
    expect(s.conn.state).toBe(State.FIN_WAIT_2);
    s.advance(2);
    expect(s.conn.state).toBe(State.CLOSED);
  });

  it('shutdown() (half-close) keeps FIN_WAIT_2 open without a timeout', () => {
    const s = established({ finWait2TimeoutMs: 5000 });
    s.conn.shutdown();
    s.dispatch();
    s.recv();
    s.send({ seq: PEER, ack: 1002, flags: 'A' });
    s.advance(100_000);
    expect(s.conn.state).toBe(State.FIN_WAIT_2);
    expect(s.conn.pollAt()).toBe(Infinity);
  });

  it('close() with unread data sends RST instead of FIN (RFC 2525 §2.17)', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: 'unread' });
    s.recv();
    s.conn.close();
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'RA', seq: 1001, ack: PEER + 6 });
    expect(s.conn.state).toBe(State.CLOSED);
  });

  it('data arriving after close() draws a RST', () => {
    const s = established();
    s.conn.close();
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'FA' });
    s.send({ seq: PEER, ack: 1002, flags: 'PA', payload: 'too late' });
    expect(s.recvOne()).toMatchObject({ flags: 'RA', seq: 1002 });
    expect(s.conn.state).toBe(State.CLOSED);
  });

  it('abort() sends RST and closes without error', () => {
    const s = established();
    s.conn.abort();
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'RA', seq: 1001, ack: PEER });
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closed).toBe(1);
  });

  it('shutdown() while connecting queues the FIN until the handshake completes', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false, sack: false, windowScaling: false } });
    s.conn.connect(0);
    s.conn.write(pattern(10), 0, 10);
    s.conn.shutdown();
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'S', seq: 1000 });
    expect(s.conn.state).toBe(State.SYN_SENT);
    s.send({ seq: 5000, ack: 1001, flags: 'SA', mss: 1460 });
    expect(s.conn.state).toBe(State.FIN_WAIT_1);
    expect(s.recv().map((x) => [x.flags, x.seq, x.len])).toEqual([['FPA', 1001, 10]]);
  });

  it('close() while connecting forgets the connection (RFC 9293 §3.10.4)', () => {
    const s = new ConnScript({ iss: 1000 });
    s.conn.connect(0);
    s.dispatch();
    s.recv();
    s.conn.close();
    s.dispatch();
    s.recvNone();
    expect(s.conn.state).toBe(State.CLOSED);
  });
});
