/** Data transfer, ACK patterns, delayed ACK, Nagle, windows and persist, on a virtual clock. */
import { describe, expect, it } from 'vitest';
import { ConnScript, pattern } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

const NO_OPTS = { timestamps: false, sack: false, windowScaling: false };
const PEER = 5001; // peer's first data sequence number (peer ISS 5000)

function established(config = {}, peer: Parameters<ConnScript['establishPassive']>[0] = {}) {
  const s = new ConnScript({ iss: 1000, config: { ...NO_OPTS, ...config } });
  s.establishPassive({ iss: 5000, mss: 1460, ...peer });
  return s;
}

describe('tcp data and ACK patterns', () => {
  it('sends queued data in MSS-sized segments, PSH on the last, and frees the ring on ACK', () => {
    const s = established();
    const data = pattern(3000);
    expect(s.conn.write(data, 0, data.length)).toBe(3000);
    s.dispatch();
    const out = s.recv();
    expect(out.map((x) => [x.flags, x.seq, x.len])).toEqual([
      ['A', 1001, 1460],
      ['A', 2461, 1460],
      ['PA', 3921, 80],
    ]);
    expect(Buffer.concat(out.map((x) => x.payload))).toEqual(Buffer.from(data));
    expect(s.conn.sendQueued).toBe(3000);
    s.send({ seq: PEER, ack: 2461, flags: 'A' });
    expect(s.conn.sendQueued).toBe(3000 - 1460);
    s.send({ seq: PEER, ack: 4001, flags: 'A' });
    expect(s.conn.sendQueued).toBe(0);
    expect(s.conn.retransmitTimeoutAt).toBe(Infinity);
  });

  it('ACKs every second full-sized segment at once and delays a single one by delayedAckMs', () => {
    const s = established({ delayedAckMs: 40 });
    s.send({ seq: PEER, ack: 1001, flags: 'A', payload: pattern(1460) });
    s.recvNone();
    s.send({ seq: PEER + 1460, ack: 1001, flags: 'A', payload: pattern(1460) });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 2920, t: 0 });
    // A lone segment: ACK exactly 40 ms later.
    s.now = 100;
    s.send({ seq: PEER + 2920, ack: 1001, flags: 'PA', payload: pattern(10) });
    s.recvNone();
    s.advance(39);
    s.recvNone();
    s.advance(1);
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 2930, t: 140 });
    expect(s.ev.readable).toBe(3);
    const buf = new Uint8Array(4000);
    expect(s.conn.read(buf, 0, buf.length)).toBe(2930);
  });

  it('piggybacks a pending ACK on outgoing data', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'PA', payload: 'hello' });
    s.recvNone();
    s.conn.write(new TextEncoder().encode('world'), 0, 5);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'PA', seq: 1001, ack: PEER + 5, len: 5 });
    s.advance(100);
    s.recvNone(); // the delayed ACK was satisfied by the data segment
  });

  it('Nagle holds a small segment while data is unacknowledged; noDelay sends at once', () => {
    const s = established();
    const small = pattern(100);
    s.conn.write(small, 0, 100);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ seq: 1001, len: 100 });
    s.conn.write(small, 0, 100);
    s.dispatch();
    s.recvNone(); // held: 100 bytes in flight
    s.conn.write(small, 0, 50);
    s.dispatch();
    s.recvNone(); // Minshall: one small segment unacknowledged holds the next
    s.now = 30;
    s.send({ seq: PEER, ack: 1101, flags: 'A' });
    expect(s.recvOne()).toMatchObject({ seq: 1101, len: 150, t: 30 });
    s.conn.setNoDelay(true);
    s.conn.write(small, 0, 10);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ seq: 1251, len: 10 });
    s.conn.write(small, 0, 10);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ seq: 1261, len: 10 });
  });

  it('out-of-order data draws an immediate duplicate ACK with SACK; filling the hole ACKs everything', () => {
    const s = established({ sack: true }, { sack: true });
    s.send({ seq: PEER + 1000, ack: 1001, flags: 'A', payload: pattern(500) });
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER, sack: [PEER + 1000, PEER + 1500] });
    s.send({ seq: PEER + 2000, ack: 1001, flags: 'A', payload: pattern(500) });
    expect(s.recvOne()).toMatchObject({ ack: PEER, sack: [PEER + 2000, PEER + 2500, PEER + 1000, PEER + 1500] });
    expect(s.conn.readable).toBe(0);
    s.send({ seq: PEER, ack: 1001, flags: 'A', payload: pattern(1000) });
    expect(s.recvOne()).toMatchObject({ ack: PEER + 1500, sack: [PEER + 2000, PEER + 2500] });
    s.send({ seq: PEER + 1500, ack: 1001, flags: 'A', payload: pattern(500) });
    const a = s.recvOne();
    expect(a).toMatchObject({ ack: PEER + 2500 });
    expect(a.sack).toBeUndefined();
    expect(s.conn.readable).toBe(2500);
    expect(s.conn.stats.outOfOrderBytes).toBe(1000);
  });

  it('a reader that stops reading closes the window; reading reopens it with a window update', () => {
    const s = established({ recvBufferSize: 4096 });
    const seg = pattern(1024);
    for (let i = 0; i < 4; i++) s.send({ seq: PEER + i * 1024, ack: 1001, flags: 'A', payload: seg });
    const acks = s.recv();
    expect(acks.at(-1)).toMatchObject({ ack: PEER + 4096, window: 0 });
    // More data beyond the window is not accepted; an ACK says where we are.
    s.send({ seq: PEER + 4096, ack: 1001, flags: 'A', payload: seg });
    expect(s.recvOne()).toMatchObject({ ack: PEER + 4096, window: 0 });
    expect(s.conn.readable).toBe(4096);
    const buf = new Uint8Array(4096);
    expect(s.conn.read(buf, 0, 1024)).toBe(1024);
    s.dispatch();
    s.recvNone(); // 1024 < min(buffer/2, MSS): not worth a window update yet (SWS)
    expect(s.conn.read(buf, 0, 1024)).toBe(1024);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'A', ack: PEER + 4096, window: 2048 });
  });

  it('receiver SWS avoidance: the window does not open by less than min(buffer/2, MSS)', () => {
    const s = established({ recvBufferSize: 8192 });
    for (let i = 0; i < 8; i++) s.send({ seq: PEER + i * 1024, ack: 1001, flags: 'A', payload: pattern(1024) });
    s.recv();
    const buf = new Uint8Array(8192);
    s.conn.read(buf, 0, 100);
    s.dispatch();
    s.recvNone(); // 100 bytes of space is not worth announcing
    s.send({ seq: PEER + 8192, ack: 1001, flags: 'A' , payload: pattern(1) });
    expect(s.recvOne()).toMatchObject({ window: 0 });
    s.conn.read(buf, 0, 2000);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ window: 2100 });
  });
});

describe('tcp zero window and persist', () => {
  it('probes a zero window with backoff, keeps probing while answered, then sends when it opens', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.conn.write(pattern(2000), 0, 2000);
    s.dispatch();
    s.recvNone();
    const rto = s.conn.rtt.rto;
    s.advance(rto - 1);
    s.recvNone();
    s.advance(1);
    const p1 = s.recvOne();
    expect(p1).toMatchObject({ flags: 'A', seq: 1000, len: 0, t: rto }); // SND.UNA - 1
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.advance(2 * rto - 1);
    s.recvNone();
    s.advance(1);
    expect(s.recvOne()).toMatchObject({ seq: 1000, len: 0, t: 3 * rto });
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 0 });
    s.advance(4 * rto);
    expect(s.recvOne()).toMatchObject({ seq: 1000, t: 7 * rto });
    expect(s.conn.stats.persistProbes).toBe(3);
    expect(s.conn.state).toBe(State.ESTABLISHED);
    // Window opens.
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 65535 });
    expect(s.recv().map((x) => [x.seq, x.len])).toEqual([
      [1001, 1460],
      [2461, 540],
    ]);
  });

  it('a small open window that SWS rules refuse is used after the override timeout', () => {
    const s = established();
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 65535 });
    s.send({ seq: PEER, ack: 1001, flags: 'A', window: 100 });
    s.conn.write(pattern(2000), 0, 2000);
    s.dispatch();
    s.recvNone();
    s.advance(s.conn.rtt.rto);
    expect(s.recvOne()).toMatchObject({ seq: 1001, len: 100 });
  });
});
