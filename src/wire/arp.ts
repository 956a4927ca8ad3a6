/** ARP for Ethernet/IPv4 (RFC 826). Other hardware/protocol types are 'unsupported'. */
import { WireError, checkBounds } from './errors.js';
import { readMac, writeMac } from './ethernet.js';
import { u32, w32 } from './bytes.js';

export const ARP_LEN = 28;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
export const ARP_HTYPE_ETHERNET = 1;

export interface ArpRepr {
  op: number;
  senderMac: number;
  senderIp: number;
  targetMac: number;
  targetIp: number;
}

export class ArpPacket {
  buf: Uint8Array = new Uint8Array(0);
  off = 0;

  wrap(buf: Uint8Array, off: number, len: number): this {
    checkBounds(buf, off, len);
    if (len < ARP_LEN) throw new WireError('truncated', 'ARP packet shorter than 28 bytes');
    const htype = (buf[off]! << 8) | buf[off + 1]!;
    const ptype = (buf[off + 2]! << 8) | buf[off + 3]!;
    if (htype !== ARP_HTYPE_ETHERNET || ptype !== 0x0800 || buf[off + 4] !== 6 || buf[off + 5] !== 4) {
      throw new WireError('unsupported', 'ARP is not Ethernet/IPv4');
    }
    this.buf = buf;
    this.off = off;
    return this;
  }

  get op(): number {
    return (this.buf[this.off + 6]! << 8) | this.buf[this.off + 7]!;
  }
  get senderMac(): number {
    return readMac(this.buf, this.off + 8);
  }
  get senderIp(): number {
    return u32(this.buf, this.off + 14);
  }
  get targetMac(): number {
    return readMac(this.buf, this.off + 18);
  }
  get targetIp(): number {
    return u32(this.buf, this.off + 24);
  }
}

const scratch = new ArpPacket();

export function parseArp(buf: Uint8Array, off: number, len: number): ArpRepr {
  const p = scratch.wrap(buf, off, len);
  return { op: p.op, senderMac: p.senderMac, senderIp: p.senderIp, targetMac: p.targetMac, targetIp: p.targetIp };
}

/** Writes a 28-byte Ethernet/IPv4 ARP packet; returns 28. */
export function emitArp(repr: ArpRepr, buf: Uint8Array, off: number): number {
  if (off < 0 || off + ARP_LEN > buf.length) throw new Error('emitArp: buffer too small');
  buf[off] = 0;
  buf[off + 1] = ARP_HTYPE_ETHERNET;
  buf[off + 2] = 0x08;
  buf[off + 3] = 0x00;
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  buf[off + 6] = repr.op >>> 8;
  buf[off + 7] = repr.op;
  writeMac(buf, off + 8, repr.senderMac);
  w32(buf, off + 14, repr.senderIp);
  writeMac(buf, off + 18, repr.targetMac);
  w32(buf, off + 24, repr.targetIp);
  return ARP_LEN;
}
