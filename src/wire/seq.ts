/**
 * TCP sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4, RFC 1982 style).
 * Numbers are kept as unsigned 32-bit integers in JS numbers.
 */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
/**
 * seqAdd as an int32 bit pattern (`>>> 0` for the unsigned value): for sums
 * that are only compared (modulo 2^32, with the helpers here) or stored in an
 * int32 field. A uint32 >= 2^31 returned by a call V8 does not inline is a
 * heap number; an int32 never is.
 */
export function seqAdd32(a: number, n: number): number {
  return (a + n) | 0;
}
/** a - b as a signed distance in (-2^31, 2^31]. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}
/** lo <= x < hi, modulo 2^32. */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return seqLe(lo, x) && seqLt(x, hi);
}
