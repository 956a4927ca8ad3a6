/**
 * Small helpers for the kernel side of host-attached NICs (TAP): parsing the
 * host address and MAC formatting.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { codedError } from '../errors/node-errors.js';

export interface Ipv4Cidr {
  address: string;
  prefixLength: number;
}

function invalidArg(message: string): Error {
  return codedError('ERR_INVALID_ARG_VALUE', message, TypeError);
}

/** '10.11.0.1/24' -> { address: '10.11.0.1', prefixLength: 24 }; a bare address means /32. */
export function parseIpv4Cidr(text: string): Ipv4Cidr {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? '32' : text.slice(slash + 1);
  if (!isIPv4(address)) throw invalidArg(`not an IPv4 address: ${JSON.stringify(text)}`);
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    throw invalidArg(`bad prefix length in ${JSON.stringify(text)}`);
  }
  return { address, prefixLength: Number(prefixText) };
}

/** 48-bit MAC number -> 'aa:bb:cc:dd:ee:ff'. */
export function macToString(mac: number): string {
  const parts: string[] = [];
  for (let shift = 40; shift >= 0; shift -= 8) {
    parts.push((Math.floor(mac / 2 ** shift) % 256).toString(16).padStart(2, '0'));
  }
  return parts.join(':');
}

/** 'aa:bb:cc:dd:ee:ff' (or with '-') -> 48-bit number. */
export function parseMac(text: string): number {
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(
    text,
  );
  if (!m) throw invalidArg(`not a MAC address: ${JSON.stringify(text)}`);
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/** A random unicast, locally administered MAC (first octet x2/x6/xA/xE), never equal to `avoid`. */
export function randomLocalMac(avoid?: number): number {
  for (;;) {
    const b = randomBytes(6);
    b[0] = (b[0]! & 0xfc) | 0x02;
    let v = 0;
    for (const x of b) v = v * 256 + x;
    if (v !== avoid) return v;
  }
}

/** True if the first octet has the locally administered bit set and the group bit clear. */
export function isLocalUnicastMac(mac: number): boolean {
  const first = Math.floor(mac / 2 ** 40) & 0xff;
  return (first & 0x03) === 0x02;
}
