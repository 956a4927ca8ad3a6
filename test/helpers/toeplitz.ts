/**
 * The RSS Toeplitz hash in JavaScript, for tests that predict which shard
 * worker a flow reaches (the owner computes it natively: addon/shm). The
 * bitwise definition of Microsoft's RSS specification over the IPv4
 * 4-tuple, source first, as the owner hashes a received frame.
 */
export const MICROSOFT_RSS_KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
  0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** The 32 key bits from bit position `bit` on. */
function keyWindow(key: Uint8Array, bit: number): number {
  const byte = bit >>> 3;
  const shift = bit & 7;
  const hi = ((key[byte]! << 24) | (key[byte + 1]! << 16) | (key[byte + 2]! << 8) | key[byte + 3]!) >>> 0;
  const next = key[byte + 4]!;
  return shift === 0 ? hi : ((hi << shift) | (next >>> (8 - shift))) >>> 0;
}

export function toeplitz(data: Uint8Array, key: Uint8Array = MICROSOFT_RSS_KEY): number {
  let result = 0;
  for (let i = 0; i < data.length; i++) {
    for (let b = 0; b < 8; b++) {
      if ((data[i]! & (0x80 >>> b)) !== 0) result = (result ^ keyWindow(key, i * 8 + b)) >>> 0;
    }
  }
  return result;
}

/** The 4-tuple hash of an IPv4 flow (addresses as 32-bit numbers), source first. */
export function rssHashIpv4(saddr: number, daddr: number, sport: number, dport: number): number {
  const d = new Uint8Array(12);
  const v = new DataView(d.buffer);
  v.setUint32(0, saddr >>> 0);
  v.setUint32(4, daddr >>> 0);
  v.setUint16(8, sport);
  v.setUint16(10, dport);
  return toeplitz(d);
}

/** The 2-tuple (addresses only) hash. */
export function rssHashIpv4Addresses(saddr: number, daddr: number): number {
  const d = new Uint8Array(8);
  const v = new DataView(d.buffer);
  v.setUint32(0, saddr >>> 0);
  v.setUint32(4, daddr >>> 0);
  return toeplitz(d);
}

/** '10.0.0.1' as a 32-bit number. */
export function ipv4(text: string): number {
  return text.split('.').reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
}
