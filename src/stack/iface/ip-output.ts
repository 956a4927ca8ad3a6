/**
 * What transport protocols (TCP, UDP) see of the IP layer. The Interface
 * implements it; tests implement it with an in-memory link.
 */

/** Writes the transport header and payload of one packet at buf[off, off + length). */
export type L4Writer = (buf: Uint8Array, off: number) => void;

/**
 * A TCP segment longer than one frame that IP output may cut into frames
 * itself (software GSO, as Linux segments for a NIC without TSO): every
 * frame repeats the transport header, and carries `unit` payload bytes (the
 * last one the rest). IP output takes the frames' slots, has the payload
 * of all of them copied at once (`copyPayloads`: one native call per
 * burst), then builds the IPv4 header once and patches its length, ID and
 * checksum per frame, and has the transport write each frame's header
 * (`writeHeader`, in payload order, the first frame first). So the
 * sender's logic runs once per burst of frames, and no byte is copied more
 * than once on the way to the frames.
 */
export interface L4Segmenter {
  /** Transport header bytes each frame carries. */
  readonly headerLength: number;
  /** Payload bytes per frame (the last frame may carry fewer). */
  readonly unit: number;
  /**
   * Copies the payload of frames [0, count) — frame k carries the bytes
   * from k * unit, `total` bytes in all — to buf[offs[k]...], leaving each
   * frame's folded one's complement payload sum in sums[k].
   */
  copyPayloads(buf: Uint8Array, offs: Uint32Array, count: number, total: number, sums: Int32Array): void;
  /** Writes the header of the frame carrying payload [payloadOff, payloadOff + len) at buf[off...], given that payload's sum. */
  writeHeader(buf: Uint8Array, off: number, payloadOff: number, len: number, payloadSum: number): void;
}

export interface IpSendOptions {
  ttl?: number;
  dontFragment?: boolean;
  /** DSCP/ECN byte. */
  tos?: number;
}

export interface IpOutput {
  /** Source address to use toward `dst`, or -1 when there is no route. */
  sourceFor(dst: number): number;
  /** Largest transport payload + header that fits one IP packet toward `dst` (route MTU - 20). */
  mtuFor(dst: number): number;
  /**
   * True when the NIC on the route to `dst` computes TCP/UDP checksums: the
   * writer then emits checksum mode 'pseudo' instead of 'full'.
   */
  checksumOffloadFor(dst: number): boolean;
  /**
   * Largest TCP segment (header + payload) the route toward `dst` accepts in
   * one send: above mtuFor(dst) when its NIC does TSO (it cuts the segment
   * into MTU-sized ones) or IP output segments in software (send's
   * `segmenter`). Optional; absent means mtuFor(dst).
   */
  tsoMaxFor?(dst: number): number;
  /**
   * Builds one IPv4 packet of `length` transport bytes (written by `write`)
   * and sends it. Returns false when it was dropped (no route, no buffer,
   * neighbour queue full); the drop is counted by the IP layer.
   * `segmenter`: how a TCP packet longer than the MTU may be cut into frames
   * in software (above); without it such a packet is fragmented. A burst
   * that fails part-way returns false with its first frames sent.
   */
  send(src: number, dst: number, protocol: number, length: number, write: L4Writer, opts?: IpSendOptions, segmenter?: L4Segmenter): boolean;
  /**
   * Present when the addresses a transport sees are ids into an address
   * table (IPv6: src/stack/tcp6/), absent for IPv4, whose uint32 addresses
   * are their own values.
   */
  readonly addressIds?: AddressIds;
}

/**
 * What a transport needs of an address it sees as an id, besides comparing
 * ids (equal addresses have equal ids while anything holds them). Id 0 is
 * the unspecified address (any).
 */
export interface AddressIds {
  /**
   * The address's share of the pseudo-header checksum as a value that
   * pseudoHeaderSum (wire/checksum.ts) splits into two 16-bit halves: the
   * folded sum of the address's 16-bit words (below 0x10000).
   */
  pseudoValue(id: number): number;
  /**
   * A keyed 32-bit hash of the address bytes, the same for the same address
   * whatever its id: ISNs, SYN cookies and timestamp offsets are computed
   * over it (a cookie's ACK may arrive after the SYN's ids were freed).
   */
  hash(id: number): number;
  /** The transport stores the id (a connection entered its table, a listener bound it). */
  retain(id: number): void;
  /** The transport no longer stores it; the table frees it once nothing does. */
  release(id: number): void;
}

/** What the IP layer hands a transport protocol for each received packet. */
export interface TransportInput {
  /**
   * `buf[off, off + len)` is the transport header and payload; valid only
   * during the call (the slot is recycled afterwards). `verified` is true when
   * the NIC already verified the transport checksum.
   */
  input(src: number, dst: number, buf: Uint8Array, off: number, len: number, verified: boolean, now: number): void;
  /**
   * An ICMP error about a packet this transport sent from `localAddr` to
   * `remoteAddr`: buf[off, off + len) holds the start of that packet's
   * transport header as quoted by the ICMP message (at least 8 bytes).
   * `mtu` is the next-hop MTU for 'frag-needed', else 0.
   */
  icmpError?(localAddr: number, remoteAddr: number, buf: Uint8Array, off: number, len: number, error: IcmpErrorKind, mtu: number, now: number): void;
  /**
   * A receive burst (the frames one rxBurst returned) begins/ends: a
   * transport may hold its output until the end, as the packets of one burst
   * arrived together (one ACK per burst instead of one per two segments, as
   * Linux's GRO makes). Calls nest and always pair.
   */
  rxBurstStart?(): void;
  rxBurstEnd?(now: number): void;
}

export type IcmpErrorKind = 'port-unreachable' | 'host-unreachable' | 'net-unreachable' | 'protocol-unreachable' | 'frag-needed' | 'admin-prohibited' | 'ttl-exceeded';
