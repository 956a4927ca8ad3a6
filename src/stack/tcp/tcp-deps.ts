/**
 * The helper modules the TCP core depends on, gathered in one place so that
 * connection.ts and tcp-layer.ts import them from a single module.
 */
export { ByteRing } from './ring-buffer.js';
export { Assembler } from './assembler.js';
export { RttEstimator } from './rtt.js';
export { createCongestionControl } from './congestion/index.js';
export { Timer, TimerWheel } from '../time/timer-wheel.js';

// STAND-INs for ./isn.js and ./syncookie.js until they land (same signatures).
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
function secretWord(secret: Uint8Array | undefined): number {
  let s = 0x6a09e667;
  if (secret) for (let i = 0; i < secret.length; i++) s = mix(s, secret[i]!);
  return s;
}
export class IsnGenerator {
  private readonly key: number;
  constructor(secret?: Uint8Array) {
    this.key = secretWord(secret);
  }
  next(localAddr: number, localPort: number, remoteAddr: number, remotePort: number, nowMs: number): number {
    const h = mix(mix(mix(this.key, localAddr), remoteAddr), (localPort << 16) | remotePort);
    return (h + Math.floor(nowMs * 250)) >>> 0; // RFC 6528: hash + 4 µs clock
  }
}
const COOKIE_MSS = [536, 1300, 1440, 1460];
export class SynCookies {
  private readonly key: number;
  constructor(secret?: Uint8Array) {
    this.key = secretWord(secret);
  }
  private h(la: number, lp: number, ra: number, rp: number, isn: number, t: number): number {
    return mix(mix(mix(mix(this.key, la), ra), (lp << 16) | rp), mix(isn, t));
  }
  encode(
    la: number,
    lp: number,
    ra: number,
    rp: number,
    clientIsn: number,
    mss: number,
    nowMs: number,
    opts: { sackPermitted: boolean; windowScale: number; timestamps: boolean },
  ): number {
    const t = Math.floor(nowMs / 64000) & 7;
    let mi = 0;
    for (let i = 0; i < COOKIE_MSS.length; i++) if (COOKIE_MSS[i]! <= mss) mi = i;
    const ws = opts.windowScale < 0 ? 15 : Math.min(opts.windowScale, 14);
    const data = (t << 9) | (mi << 7) | ((opts.sackPermitted ? 1 : 0) << 6) | ((opts.timestamps ? 1 : 0) << 5) | (ws << 1);
    const hv = this.h(la, lp, ra, rp, clientIsn, t);
    return (((hv & 0xfffff000) | data) ^ (hv & 0xfff & 0)) >>> 0;
  }
  decode(
    la: number,
    lp: number,
    ra: number,
    rp: number,
    cookieSeq: number,
    clientIsn: number,
    nowMs: number,
  ): null | { mss: number; sackPermitted: boolean; windowScale: number; timestamps: boolean } {
    const data = cookieSeq & 0xfff;
    const t = (data >>> 9) & 7;
    const cur = Math.floor(nowMs / 64000) & 7;
    if (((cur - t) & 7) > 1) return null;
    const hv = this.h(la, lp, ra, rp, clientIsn, t);
    if (((hv & 0xfffff000) >>> 0) !== ((cookieSeq & 0xfffff000) >>> 0)) return null;
    const ws = (data >>> 1) & 15;
    return {
      mss: COOKIE_MSS[(data >>> 7) & 3]!,
      sackPermitted: ((data >>> 6) & 1) === 1,
      timestamps: ((data >>> 5) & 1) === 1,
      windowScale: ws === 15 ? -1 : ws,
    };
  }
}
