/**
 * Initial sequence numbers per RFC 6528:
 *
 *   ISN = M + F(localip, localport, remoteip, remoteport, secretkey)
 *
 * M is a timer that ticks every 4 microseconds (derived from the `nowMs`
 * handed in; nothing here reads a clock), F is SipHash-2-4 keyed with a
 * 128-bit secret over the connection 4-tuple (low 32 bits of the result).
 * ISNs of one 4-tuple therefore advance with time like the RFC 9293 clock,
 * while an off-path attacker cannot predict another tuple's ISN.
 */
import { randomKey, SipHash24 } from './siphash.js';

/** 4 µs ticks per millisecond. */
const TICKS_PER_MS = 250;
const TWO_32 = 4294967296;

export class IsnGenerator {
  private readonly sip: SipHash24;
  private readonly msg = new Uint8Array(12);

  /** `secret`: 16 bytes; random (crypto.getRandomValues) if omitted. */
  constructor(secret?: Uint8Array) {
    this.sip = new SipHash24(secret ?? randomKey());
  }

  /** Addresses are IPv4 as uint32 (network order value), ports 0..65535. */
  next(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, nowMs: number): number {
    const m = this.msg;
    m[0] = localAddr >>> 24;
    m[1] = localAddr >>> 16;
    m[2] = localAddr >>> 8;
    m[3] = localAddr;
    m[4] = remoteAddr >>> 24;
    m[5] = remoteAddr >>> 16;
    m[6] = remoteAddr >>> 8;
    m[7] = remoteAddr;
    m[8] = localPort >>> 8;
    m[9] = localPort;
    m[10] = remotePort >>> 8;
    m[11] = remotePort;
    const f = this.sip.hash(m, 0, 12);
    const ticks = Math.floor(nowMs * TICKS_PER_MS) % TWO_32;
    return (ticks + f) >>> 0;
  }
}
