import { describe, expect, it } from 'vitest';
import { ConnScript } from '../helpers/tcp-script.js';
import { State } from '../../src/stack/tcp/connection.js';

describe('tcp handshakes', () => {
  it('active open: SYN with options, SYN-ACK, ACK', () => {
    const s = new ConnScript({ iss: 1000, config: { recvBufferSize: 256 * 1024 } });
    s.conn.connect(0);
    s.dispatch();
    const syn = s.recvOne();
    expect(syn).toMatchObject({ flags: 'S', seq: 1000, mss: 1460, windowScale: 3, sackPermitted: true, len: 0, window: 65535 });
    expect(syn.tsVal).toBe(0);
    expect(s.conn.state).toBe(State.SYN_SENT);
    s.now = 10;
    s.send({ seq: 5000, ack: 1001, flags: 'SA', window: 29200, mss: 1400, windowScale: 7, sackPermitted: true, tsVal: 777, tsEcr: 0 });
    const ack = s.recvOne();
    expect(ack).toMatchObject({ flags: 'A', seq: 1001, ack: 5001, tsEcr: 777, tsVal: 10 });
    expect(ack.window).toBe((256 * 1024) >> 3);
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.ev.connected).toBe(1);
    // Effective MSS: min(1400+20, 1480) - 20 - 12 (timestamps) = 1388.
    expect(s.conn.mss).toBe(1388);
    expect(s.conn.sndWindowShift).toBe(7);
  });

  it('passive open: SYN-ACK echoes only offered options; ACK establishes', () => {
    const s = new ConnScript({ iss: 9000 });
    const sa = s.establishPassive({ iss: 300, mss: 1460, sack: false, windowScale: undefined, ts: false });
    expect(sa).toMatchObject({ flags: 'SA', seq: 9000, ack: 301, mss: 1460 });
    expect(sa.windowScale).toBeUndefined();
    expect(sa.sackPermitted).toBeUndefined();
    expect(sa.tsVal).toBeUndefined();
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.ev.connected).toBe(1);
  });

  it('simultaneous open: SYN crossing SYN, both SYN-ACKs, ESTABLISHED', () => {
    const s = new ConnScript({ iss: 1000, config: { timestamps: false } });
    s.conn.connect(0);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'S', seq: 1000 });
    // Peer's SYN crosses ours.
    s.send({ seq: 7000, flags: 'S', mss: 1460, windowScale: 2, sackPermitted: true });
    expect(s.conn.state).toBe(State.SYN_RECEIVED);
    expect(s.recvOne()).toMatchObject({ flags: 'SA', seq: 1000, ack: 7001 });
    // Peer's SYN-ACK for our SYN.
    s.send({ seq: 7000, ack: 1001, flags: 'SA', mss: 1460, windowScale: 2, sackPermitted: true });
    expect(s.conn.state).toBe(State.ESTABLISHED);
    expect(s.ev.connected).toBe(1);
  });

  it('SYN retransmission with backoff, then ETIMEDOUT after synRetries', () => {
    const s = new ConnScript({ iss: 1, config: { synRetries: 2, timestamps: false } });
    s.conn.connect(0);
    s.dispatch();
    expect(s.recvOne().t).toBe(0);
    s.advance(999);
    s.recvNone();
    s.advance(1);
    expect(s.recvOne()).toMatchObject({ t: 1000, flags: 'S', seq: 1 });
    s.advance(2000);
    expect(s.recvOne()).toMatchObject({ t: 3000, flags: 'S' });
    s.advance(4000);
    s.recvNone();
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ETIMEDOUT');
  });

  it('RST|ACK for our SYN: ECONNREFUSED', () => {
    const s = new ConnScript({ iss: 1 });
    s.conn.connect(0);
    s.dispatch();
    s.recv();
    s.send({ seq: 0, ack: 2, flags: 'RA' });
    expect(s.conn.state).toBe(State.CLOSED);
    expect(s.ev.closeError).toBe('ECONNREFUSED');
  });

  it('SYN_SENT: SYN-ACK with a bad ACK draws RST <SEQ=SEG.ACK>', () => {
    const s = new ConnScript({ iss: 1000 });
    s.conn.connect(0);
    s.dispatch();
    s.recv();
    s.send({ seq: 5000, ack: 4242, flags: 'SA' });
    expect(s.recvOne()).toMatchObject({ flags: 'R', seq: 4242 });
    expect(s.conn.state).toBe(State.SYN_SENT);
  });

  it('SYN_RECEIVED: retransmitted SYN gets the SYN-ACK again', () => {
    const s = new ConnScript({ iss: 9000, config: { timestamps: false } });
    s.conn.acceptSyn({ srcPort: 1, dstPort: 2, seq: 300, ack: 0, flags: 2, window: 1000, urgent: 0, payloadLength: 0 }, 0);
    s.dispatch();
    expect(s.recvOne()).toMatchObject({ flags: 'SA', seq: 9000, ack: 301 });
    s.now = 50;
    s.send({ seq: 300, flags: 'S' });
    expect(s.recvOne()).toMatchObject({ flags: 'SA', seq: 9000, ack: 301, t: 50 });
  });
});
