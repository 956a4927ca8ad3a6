/**
 * `NODE_DEBUG=ustack` logging through util.debuglog. `DEBUG` is read once at
 * load, so a disabled log costs one constant branch at each site.
 */
import { debuglog } from 'node:util';

export const debug = debuglog('ustack');
export const DEBUG: boolean = debug.enabled;

export function ipStr(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 0xff}.${(ip >>> 8) & 0xff}.${ip & 0xff}`;
}

export function macStr(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}
