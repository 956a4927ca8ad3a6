/**
 * The name lookup of a dgram socket: node's lookup4/lookup6 (lib/internal/dgram.js).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { LookupFunction } from './host.js';
import { stripZone } from './net-args.js';
import { tryParseIpv6 } from '../wire/ipv6.js';

export type FamilyLookup = (address: string, cb: (err: Error | null, ip?: string) => void) => void;

/**
 * node's lookup4/lookup6: no address means the family's loopback. With the
 * default lookup a 'udp6' socket's literal (either family, as dns.lookup
 * returns a literal as it is) resolves to itself.
 */
export function familyLookup(fn: LookupFunction, loopback: string, family: 4 | 6, literals: boolean): FamilyLookup {
  const call = fn as unknown as (h: string, f: number, c: (e: Error | null, a?: string) => void) => void;
  // The last literal seen: a socket mostly sends to one peer, and the checks are regular expressions.
  let lastLiteral = '';
  return (address, cb) => {
    const a = address || loopback;
    if (literals && (a === lastLiteral || isIPv6(a) || isIPv4(a) || tryParseIpv6(stripZone(a)) !== null)) {
      lastLiteral = a;
      process.nextTick(cb, null, a);
    } else call(a, family, cb);
  };
}
