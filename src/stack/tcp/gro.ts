/**
 * Receive segment merging, as Linux's GRO does for every NIC
 * (net/ipv4/tcp_offload.c tcp_gro_receive): consecutive in-order data
 * segments of one connection within one receive burst are merged, so TCP
 * input — acceptability, PAWS, the ACK, the text, the delayed-ACK decision,
 * the readable event — runs once per run instead of once per segment.
 *
 * What is merged, and nothing else: segments whose checksum the NIC did not
 * verify (the layer verifies each one's, summing its payload while copying
 * it: buffers.ts placeInOrder/placeAfter), of the same addresses and ports,
 * each starting where the run ends, with ACK and no other flag but PSH, the
 * same acknowledgment number, window and header length, urgent pointer 0,
 * the same option bytes (timestamps included: a segment with another TSval
 * starts a new run) and no options but timestamps; each the size of the
 * first, except a shorter last one. A PSH or a shorter segment ends the run
 * (it is merged, then the run is processed), as a segment that does not
 * continue it does (the run first, then that segment). The payload is
 * placed in the receive ring or the reader's memory as it arrives, so the
 * run holds no frame: the NIC's slot goes back at once.
 *
 * The layer processes a held run at the end of the burst, before any other
 * segment, and before the application touches the connection's receive side
 * (Connection calls ConnectionHost.flushHeld): the connection never shows a
 * state the segment-by-segment processing would not have reached.
 */
import { TCP_ACK, TCP_PSH, newTcpRepr, type TcpRepr, type TcpSegmentView } from '../../wire/tcp.js';
import type { Connection } from './connection.js';

const TCP_HEADER_LEN = 20;

export class SegmentMerger {
  /** The connection of the held run, or null when none is held. */
  conn: Connection | null = null;
  /** The run as one segment: the first segment's header, payloadLength the run's. */
  readonly repr: TcpRepr = newTcpRepr();
  /** Segments in the held run. */
  segments = 0;
  /** Payload length of the run's first segment (every merged one has it but a shorter last). */
  segmentSize = 0;
  /** Clock reading of the burst the run arrived in. */
  now = 0;
  /** True when the last merged segment ends the run (PSH, or shorter than the first). */
  ended = false;
  private src = 0;
  private dst = 0;
  private headerLength = 0;
  /** The first segment's header bytes (ports, ack, offset, flags, window, urgent, options). */
  private readonly header = new Uint8Array(60);

  /**
   * Whether `rx` (parsed, its checksum verified, its payload placed in order
   * by placeInOrder) may start a run: data, ACK only (a PSH segment is
   * processed at once), urgent pointer 0, no options but timestamps.
   */
  static canStart(rx: TcpRepr): boolean {
    return (
      rx.flags === TCP_ACK &&
      rx.payloadLength > 0 &&
      rx.urgent === 0 &&
      rx.mss === undefined &&
      rx.windowScale === undefined &&
      rx.sackPermitted === undefined &&
      rx.sack === undefined
    );
  }

  /** Holds `rx` (see canStart) as the first segment of a run of conn's. */
  start(conn: Connection, rx: TcpRepr, v: TcpSegmentView, src: number, dst: number, now: number): void {
    const r = this.repr;
    r.srcPort = rx.srcPort;
    r.dstPort = rx.dstPort;
    r.seq = rx.seq;
    r.ack = rx.ack;
    r.flags = rx.flags;
    r.window = rx.window;
    r.urgent = 0;
    r.mss = undefined;
    r.windowScale = undefined;
    r.sackPermitted = undefined;
    r.sack = undefined;
    r.tsVal = rx.tsVal;
    r.tsEcr = rx.tsEcr;
    r.payloadLength = rx.payloadLength;
    const hl = v.headerLength;
    const h = this.header;
    const b = v.buf;
    for (let i = 0; i < hl; i++) h[i] = b[v.off + i]!;
    this.headerLength = hl;
    this.src = src >>> 0;
    this.dst = dst >>> 0;
    this.segmentSize = rx.payloadLength;
    this.segments = 1;
    this.ended = false;
    this.now = now;
    this.conn = conn;
  }

  /**
   * Whether the segment in `v` (wrapped, checksum not verified yet)
   * continues the held run: its header bytes are compared with the first
   * segment's, its sequence number with the run's end.
   */
  continues(v: TcpSegmentView, src: number, dst: number): boolean {
    const hl = this.headerLength;
    if (v.headerLength !== hl || src >>> 0 !== this.src || dst >>> 0 !== this.dst) return false;
    const len = v.payloadLength;
    if (len <= 0 || len > this.segmentSize) return false;
    const b = v.buf;
    const o = v.off;
    const h = this.header;
    const r = this.repr;
    if (v.seqBits !== ((r.seq + r.payloadLength) | 0)) return false;
    // Ports 0-3, ack 8-11, offset 12; flags 13 (ACK, or ACK|PSH); window, checksum skipped, urgent 14-19; options.
    for (let i = 0; i < 4; i++) if (b[o + i] !== h[i]) return false;
    for (let i = 8; i < 13; i++) if (b[o + i] !== h[i]) return false;
    if ((b[o + 13]! & ~TCP_PSH) !== TCP_ACK) return false;
    if (b[o + 14] !== h[14] || b[o + 15] !== h[15] || b[o + 18] !== 0 || b[o + 19] !== 0) return false;
    for (let i = TCP_HEADER_LEN; i < hl; i++) if (b[o + i] !== h[i]) return false;
    return true;
  }

  /** Adds the segment continues() accepted (its checksum verified, its payload placed after the run's). */
  append(v: TcpSegmentView): void {
    const len = v.payloadLength;
    const r = this.repr;
    r.payloadLength += len;
    this.segments++;
    const psh = (v.buf[v.off + 13]! & TCP_PSH) !== 0;
    if (psh) r.flags |= TCP_PSH;
    if (psh || len < this.segmentSize) this.ended = true;
  }

  /** Lets go of the held run (the layer processes it): returns its connection. */
  take(): Connection | null {
    const c = this.conn;
    this.conn = null;
    return c;
  }
}
