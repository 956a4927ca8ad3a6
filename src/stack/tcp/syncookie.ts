/**
 * SYN cookies (RFC 4987 §3.6): a listener under SYN flood answers a SYN with
 * a SYN-ACK whose sequence number encodes everything it needs, keeps no
 * state, and rebuilds the connection from the final ACK.
 *
 * Cookie layout (32 bits):
 *
 *   bits 31..9  MAC: low 23 bits of SipHash-2-4(secret; local addr, local
 *               port, remote addr, remote port, client ISN, time counter,
 *               data)
 *   bits  8..0  data: bit 8 timestamps, bit 7 SACK permitted,
 *               bits 6..3 window scale (0..14, 15 = no option),
 *               bits 2..0 index into MSS_TABLE
 *
 * The time counter is floor(now / 64 s); a cookie is accepted for the
 * current and the previous counter, so it lives between 64 and 128 s. The
 * counter is not stored in the cookie: decode tries both values (two hashes).
 *
 * Security trade-off: the options ride in the cookie in clear (they are not
 * secret) but are covered by the MAC, so a forged or altered cookie is
 * accepted only by guessing a 23-bit MAC: probability 2 * 2^-23 ≈ 2.4e-7 per
 * attempt (two counters), a little weaker than Linux's ~2^-24 check, in
 * exchange for carrying SACK/window-scale/timestamps without needing the
 * timestamp echo. The cookie has no clock component, so unlike a normal ISN
 * it does not advance with time for a given 4-tuple (as for any SYN cookie,
 * that only matters for old duplicates of a previous incarnation).
 * The MSS is quantised down to the table (the largest entry <= the client's
 * MSS; a client MSS below 536 still gets 536, as Linux does).
 */
import { randomKey, SipHash24 } from './siphash.js';

export const MSS_TABLE: readonly number[] = [536, 1220, 1300, 1380, 1440, 1452, 1460, 8960];

export interface SynCookieOptions {
  sackPermitted: boolean;
  /** Window scale shift 0..14, or -1 when the SYN had no window scale option. */
  windowScale: number;
  timestamps: boolean;
}

export interface SynCookieData extends SynCookieOptions {
  mss: number;
}

/** Length of one counter period, ms. */
export const COOKIE_PERIOD_MS = 64_000;
const MAC_BITS = 23;
const MAC_MASK = (1 << MAC_BITS) - 1;
const DATA_BITS = 9;
const DATA_MASK = (1 << DATA_BITS) - 1;
const WS_NONE = 15;

export class SynCookies {
  private readonly sip: SipHash24;
  private readonly msg = new Uint8Array(22);

  /** `secret`: 16 bytes; random (crypto.getRandomValues) if omitted. */
  constructor(secret?: Uint8Array) {
    this.sip = new SipHash24(secret ?? randomKey());
  }

  /** Index of the largest MSS_TABLE entry <= mss (0 if none). */
  static mssIndex(mss: number): number {
    let idx = 0;
    for (let i = 1; i < MSS_TABLE.length; i++) if (MSS_TABLE[i]! <= mss) idx = i;
    return idx;
  }

  /** The cookie to use as our ISN in the SYN-ACK. */
  encode(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    clientIsn: number,
    mss: number,
    nowMs: number,
    opts: SynCookieOptions,
  ): number {
    let ws = opts.windowScale;
    ws = ws < 0 ? WS_NONE : ws > 14 ? 14 : ws | 0;
    const data =
      SynCookies.mssIndex(mss) | (ws << 3) | (opts.sackPermitted ? 1 << 7 : 0) | (opts.timestamps ? 1 << 8 : 0);
    const mac = this.mac(localAddr, localPort, remoteAddr, remotePort, clientIsn, counterAt(nowMs), data);
    return ((mac << DATA_BITS) | data) >>> 0;
  }

  /**
   * Checks the cookie from a final ACK (`cookieSeq` = its ack - 1,
   * `clientIsn` = its seq - 1). Returns null for forged, altered or expired
   * cookies, else what encode() was given (MSS quantised to the table).
   */
  decode(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    cookieSeq: number,
    clientIsn: number,
    nowMs: number,
  ): SynCookieData | null {
    const cookie = cookieSeq >>> 0;
    const data = cookie & DATA_MASK;
    const mac = cookie >>> DATA_BITS;
    const c = counterAt(nowMs);
    if (
      this.mac(localAddr, localPort, remoteAddr, remotePort, clientIsn, c, data) !== mac &&
      this.mac(localAddr, localPort, remoteAddr, remotePort, clientIsn, (c - 1) >>> 0, data) !== mac
    ) {
      return null;
    }
    const ws = (data >>> 3) & 15;
    return {
      mss: MSS_TABLE[data & 7]!,
      windowScale: ws === WS_NONE ? -1 : ws,
      sackPermitted: (data & (1 << 7)) !== 0,
      timestamps: (data & (1 << 8)) !== 0,
    };
  }

  private mac(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    clientIsn: number,
    counter: number,
    data: number,
  ): number {
    const m = this.msg;
    put32(m, 0, localAddr);
    put32(m, 4, remoteAddr);
    m[8] = localPort >>> 8;
    m[9] = localPort;
    m[10] = remotePort >>> 8;
    m[11] = remotePort;
    put32(m, 12, clientIsn);
    put32(m, 16, counter);
    m[20] = data >>> 8;
    m[21] = data;
    return this.sip.hash(m, 0, 22) & MAC_MASK;
  }
}

function counterAt(nowMs: number): number {
  return Math.floor(nowMs / COOKIE_PERIOD_MS) >>> 0;
}

function put32(b: Uint8Array, i: number, v: number): void {
  b[i] = v >>> 24;
  b[i + 1] = v >>> 16;
  b[i + 2] = v >>> 8;
  b[i + 3] = v;
}
