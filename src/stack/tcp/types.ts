/**
 * The vocabulary of the TCP engine: connection states (RFC 9293 §3.3.2),
 * configuration, application events, error codes and counters. Imports
 * nothing else of the engine.
 */
import type { CongestionControlName } from './contracts.js';

export const State = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  FIN_WAIT_1: 5,
  FIN_WAIT_2: 6,
  CLOSING: 7,
  TIME_WAIT: 8,
  CLOSE_WAIT: 9,
  LAST_ACK: 10,
} as const;
export type TcpState = (typeof State)[keyof typeof State];
export const STATE_NAMES = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RECEIVED',
  'ESTABLISHED',
  'FIN_WAIT_1',
  'FIN_WAIT_2',
  'CLOSING',
  'TIME_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
] as const;

export type TcpErrorCode = 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ECONNABORTED' | 'EHOSTUNREACH' | 'ENETUNREACH';

export interface TcpConfig {
  /** Send ring capacity in bytes. */
  sendBufferSize: number;
  /** Receive ring capacity in bytes: the largest window we ever advertise. */
  recvBufferSize: number;
  /** Disable Nagle (RFC 9293 §3.7.4). */
  noDelay: boolean;
  /** Delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2); false ACKs every segment. */
  delayedAck: boolean;
  /** Upper bound on how long an ACK is delayed (RFC 1122: < 500 ms; Linux 40 ms). */
  delayedAckMs: number;
  /** 2*MSL (RFC 9293 §3.4.2). Linux uses 60 s. */
  timeWaitMs: number;
  /** How long a closed (orphaned) connection waits in FIN_WAIT_2 for the peer's FIN. */
  finWait2TimeoutMs: number;
  keepAlive: boolean;
  keepIdleMs: number;
  keepIntervalMs: number;
  keepCount: number;
  /** Retransmissions of data/FIN before ETIMEDOUT (Linux tcp_retries2 = 15). */
  maxRetries: number;
  /** Retransmissions of SYN / SYN-ACK before giving up (Linux tcp_syn_retries = 6). */
  synRetries: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  congestion: CongestionControlName;
  sack: boolean;
  timestamps: boolean;
  windowScaling: boolean;
  /** RFC 5961 §7: challenge ACKs allowed per connection per second. */
  challengeAckLimit: number;
  /** Bound on separate out-of-order ranges held (memory bound against hostile peers). */
  maxOooRanges: number;
  /** Bound on SACK scoreboard ranges kept by the sender. */
  maxSackRanges: number;
  /** Cap on our advertised MSS (route MTU clamps it further). */
  mss: number;
  /** Tail loss probes (RFC 8985 §7); used only with SACK, as the RFC requires. */
  tailLossProbe: boolean;
  /**
   * RACK time-based loss detection (RFC 8985 §6) and the RFC 8985 TLP rules
   * (probe timeout, one probe per episode, TLP loss detection), used when
   * SACK is negotiated; also makes the receiver send D-SACK (RFC 2883).
   * false: losses are found by RFC 6675 IsLost / DupThresh only, and a
   * tail loss probe is sent only once SRTT is known, its episode ended by
   * any ACK of new data.
   * Without SACK, DupThresh (RFC 5681 / 6582) is always used.
   */
  rack: boolean;
  /**
   * RFC 5482 user timeout (Linux TCP_USER_TIMEOUT): give up with ETIMEDOUT
   * when sent data stays unacknowledged, or a zero window stays shut, for
   * this long; 0 = off (then maxRetries bounds retransmission, and a zero
   * window answered by the peer is probed forever, RFC 1122 §4.2.2.17).
   */
  userTimeoutMs: number;
  /**
   * After close(), nobody waits for the data any more: zero-window probes
   * stop after this many even if answered (Linux tcp_orphan_retries = 8).
   */
  orphanRetries: number;
}

export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = Object.freeze({
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  noDelay: false,
  delayedAck: true,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  keepAlive: false,
  keepIdleMs: 7_200_000,
  keepIntervalMs: 75_000,
  keepCount: 9,
  maxRetries: 15,
  synRetries: 6,
  initialRtoMs: 1000,
  minRtoMs: 200,
  maxRtoMs: 120_000,
  congestion: 'cubic' as CongestionControlName,
  sack: true,
  timestamps: true,
  windowScaling: true,
  challengeAckLimit: 10,
  maxOooRanges: 32,
  maxSackRanges: 32,
  mss: 65495,
  tailLossProbe: true,
  rack: true,
  userTimeoutMs: 0,
  orphanRetries: 8,
});

export interface TcpEvents {
  /** Handshake completed (both active and passive opens). */
  onConnected?(): void;
  /** New in-order bytes are readable. */
  onReadable?(): void;
  /** Send-ring space was freed after a short write. */
  onWritable?(): void;
  /** The peer's FIN arrived: no more data will come (after what is readable). */
  onPeerClosed?(): void;
  /** The connection is finished for the application; error for abnormal ends. */
  onClosed?(error?: TcpErrorCode): void;
  /**
   * The read target (Connection.setReadTarget) has no room for a segment of
   * `need` in-order bytes: take its fill (takeReadTarget) and set a new one
   * with at least that much room, or leave it (the bytes go to the receive
   * ring). Called while a segment is being processed: it may call only
   * takeReadTarget, setReadTarget and clearReadTarget.
   */
  onReadTargetFull?(need: number): void;
}

/** Counters; one object may be shared by all connections of a layer. */
export interface TcpConnStats {
  segmentsIn: number;
  segmentsOut: number;
  bytesIn: number;
  bytesOut: number;
  retransmits: number;
  retransmittedBytes: number;
  fastRetransmits: number;
  rtoTimeouts: number;
  sackRecoveries: number;
  newRenoRecoveries: number;
  challengeAcks: number;
  challengeAcksSuppressed: number;
  pawsDrops: number;
  outOfWindow: number;
  outOfOrderSegments: number;
  outOfOrderBytes: number;
  outOfOrderDropped: number;
  duplicateBytes: number;
  persistProbes: number;
  keepaliveProbes: number;
  tailLossProbes: number;
  /** RFC 8985 §7.4: tail loss probes that repaired a loss (congestion response taken). */
  tlpLossRecoveries: number;
  /** Segments RACK marked lost (RFC 8985 §6.2 step 5). */
  rackLosses: number;
  /** RACK reorder timer expiries (RFC 8985 §6.2). */
  rackReorderTimeouts: number;
  /** D-SACK blocks received (RFC 2883: the peer got something twice). */
  dsacksIn: number;
  /** D-SACK blocks sent. */
  dsacksOut: number;
  delayedAcks: number;
  /** RSTs received, acted on or answered with a challenge ACK (RFC 5961 §3.2). */
  resetsIn: number;
  /** RSTs a connection sent (abort, or an unacceptable ACK in SYN_SENT). */
  resetsOut: number;
  /**
   * Connections a peer's RST ended before they closed (TIME_WAIT excepted:
   * there the connection is already closed, and RFC 9293 §3.10.7.4 lets a RST
   * end the wait early).
   */
  connectionsReset: number;
  timeouts: number;
  badAcks: number;
}

export function newConnStats(): TcpConnStats {
  return {
    segmentsIn: 0,
    segmentsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    retransmittedBytes: 0,
    fastRetransmits: 0,
    rtoTimeouts: 0,
    sackRecoveries: 0,
    newRenoRecoveries: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    pawsDrops: 0,
    outOfWindow: 0,
    outOfOrderSegments: 0,
    outOfOrderBytes: 0,
    outOfOrderDropped: 0,
    duplicateBytes: 0,
    persistProbes: 0,
    keepaliveProbes: 0,
    tailLossProbes: 0,
    tlpLossRecoveries: 0,
    rackLosses: 0,
    rackReorderTimeouts: 0,
    dsacksIn: 0,
    dsacksOut: 0,
    delayedAcks: 0,
    resetsIn: 0,
    resetsOut: 0,
    connectionsReset: 0,
    timeouts: 0,
    badAcks: 0,
  };
}

/** A layer's counters (TcpLayer.stats). */
export interface TcpLayerStats {
  /** Shared by all connections. */
  conn: TcpConnStats;
  segmentsReceived: number;
  /** Segments merged into the one before them (gro.ts: processed as one with it), counted in segmentsReceived too. */
  segmentsMerged: number;
  malformed: number;
  badChecksum: number;
  badPorts: number;
  /** Segments for no connection and no listener. */
  noSocket: number;
  resetsSent: number;
  activeOpens: number;
  passiveOpens: number;
  /** SYNs dropped because the accept queue was full. */
  listenOverflows: number;
  /** SYNs dropped because the SYN queue was full and cookies are off. */
  synQueueDrops: number;
  synCookiesSent: number;
  synCookiesAccepted: number;
  synCookiesRejected: number;
  timeWaitRecycled: number;
  outputDrops: number;
  currentConnections: number;
  established: number;
  icmpErrors: number;
}

export function newLayerStats(): TcpLayerStats {
  return {
    conn: newConnStats(),
    segmentsReceived: 0,
    segmentsMerged: 0,
    malformed: 0,
    badChecksum: 0,
    badPorts: 0,
    noSocket: 0,
    resetsSent: 0,
    activeOpens: 0,
    passiveOpens: 0,
    listenOverflows: 0,
    synQueueDrops: 0,
    synCookiesSent: 0,
    synCookiesAccepted: 0,
    synCookiesRejected: 0,
    timeWaitRecycled: 0,
    outputDrops: 0,
    currentConnections: 0,
    established: 0,
    icmpErrors: 0,
  };
}

/** Options a passive open learned from a SYN (or from a SYN cookie). */
export interface PeerSynOptions {
  mss: number; // -1 when absent
  windowScale: number; // -1 when absent
  sackPermitted: boolean;
  timestamps: boolean;
  tsVal: number;
}
