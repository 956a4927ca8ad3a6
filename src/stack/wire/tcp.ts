/**
 * TCP header codec (RFC 9293 §3.1) with options (RFC 9293 MSS, RFC 7323 window
 * scale and timestamps, RFC 2018 SACK).
 *
 * NOTE: the codec (TcpSegmentView, parseTcp, emitTcp) is being written; the
 * TcpRepr shape below is the contract shared with src/stack/tcp.
 */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number; // uint32
  ack: number; // uint32 (meaningful only with TCP_ACK)
  flags: number; // TCP_* bitmask
  window: number; // raw 16-bit field, unscaled
  urgent: number;
  /** Options; undefined means absent. */
  mss?: number;
  windowScale?: number; // shift count as sent (0..14 after clamping by the receiver)
  sackPermitted?: boolean;
  /** SACK blocks as [left0, right0, left1, right1, ...]; at most 4 blocks. */
  sack?: number[];
  tsVal?: number; // present iff tsEcr present
  tsEcr?: number;
  /** Length of the payload that follows the header (parse fills it; emit uses it). */
  payloadLength: number;
}
