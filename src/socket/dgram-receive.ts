/**
 * A dgram socket's receive path. Datagrams are copied out of the packet
 * buffer into a queue bounded by the socket's receive buffer (payload + 64
 * bytes accounting per datagram; beyond it a datagram is dropped and counted,
 * as the kernel's SO_RCVBUF does), and delivered as 'message' events from one
 * process.nextTick after the stack's poll. Sources from the
 * receiveBlockList (node 22.13+) are dropped at delivery.
 */
import { Buffer } from 'node:buffer';
import type { EventEmitter } from 'node:events';
import { copyBytes } from '../wire/bytes.js';
import { ipToString } from '../wire/ipv4.js';
import { DEFAULT_BUF } from './dgram-buffer-size.js';
import type { RemoteInfo } from './dgram-types.js';
import type { BlockListLike } from './net-args.js';

/** Bytes charged per queued datagram on top of its payload. */
const DATAGRAM_OVERHEAD = 64;

/** The receive queue of one socket's handle (the handle extends it: one object per socket). */
export class DatagramQueue {
  receiving = false;
  recvBuf = DEFAULT_BUF;
  /**
   * Received datagrams waiting for the 'message' tick: parallel arrays read
   * from rxHead (no queue-entry object per datagram, no shift()).
   */
  rxMsgs: (Buffer | undefined)[] = [];
  rxSrcs: number[] = [];
  /** 'udp6' sockets: each datagram's source as text (rxSrcs unused). */
  rxSrcTexts: (string | undefined)[] = [];
  rxPorts: number[] = [];
  rxHead = 0;
  rxQueueBytes = 0;
  rxScheduled = false;
  rxDropped = 0;
  rxDelivered = 0;
  /** One-entry cache: the last IPv4 source formatted. */
  lastSrc = -1;
  lastSrcText = '';

  constructor(
    /** The socket the 'message' (and 'error') events go to. */
    readonly owner: EventEmitter,
    /** A 'udp6' socket: sources arrive as text (deliver), reported as IPv6. */
    readonly family6: boolean,
    readonly receiveBlockList: BlockListLike | undefined,
  ) {}

  /** An IPv4 datagram (UdpHandler). */
  onDatagram(src: number, srcPort: number, _dst: number, buf: Uint8Array, off: number, len: number): void {
    if (this.enqueue(srcPort, buf, off, len)) this.rxSrcs.push(src);
  }

  /** A 'udp6' socket's datagram (dgram6.ts formats the source). */
  deliver(address: string, srcPort: number, buf: Uint8Array, off: number, len: number): void {
    if (this.enqueue(srcPort, buf, off, len)) this.rxSrcTexts.push(address);
  }

  /** Datagrams queued and not delivered yet. */
  get queued(): number {
    return this.rxMsgs.length - this.rxHead;
  }

  /** Forgets every queued datagram (the socket closes). */
  clearQueue(): void {
    this.rxMsgs.length = 0;
    this.rxSrcs.length = 0;
    this.rxSrcTexts.length = 0;
    this.rxPorts.length = 0;
    this.rxHead = 0;
    this.rxQueueBytes = 0;
  }

  /**
   * Queues a copy of the payload for the next drain, within the receive
   * buffer (a datagram beyond it is dropped and counted, as the kernel's
   * SO_RCVBUF does); false when it was not queued. The caller then pushes
   * the datagram's source, so the queues stay in step.
   */
  private enqueue(srcPort: number, buf: Uint8Array, off: number, len: number): boolean {
    if (!this.receiving) return false;
    const charge = len + DATAGRAM_OVERHEAD;
    if (this.rxQueueBytes + charge > this.recvBuf) {
      this.rxDropped++;
      return false;
    }
    const msg = Buffer.allocUnsafe(len);
    copyBytes(msg, 0, buf, off, len);
    this.rxMsgs.push(msg);
    this.rxPorts.push(srcPort);
    this.rxQueueBytes += charge;
    if (!this.rxScheduled) {
      this.rxScheduled = true;
      process.nextTick(drain, this);
    }
    return true;
  }
}

/** Emits 'message' for each queued datagram while the socket receives. */
function drain(q: DatagramQueue): void {
  q.rxScheduled = false;
  const msgs = q.rxMsgs;
  while (q.rxHead < msgs.length && q.receiving) {
    const i = q.rxHead++;
    const msg = msgs[i]!;
    msgs[i] = undefined;
    q.rxQueueBytes -= msg.length + DATAGRAM_OVERHEAD;
    q.rxDelivered++;
    if (q.family6) {
      const text = q.rxSrcTexts[i]!;
      q.rxSrcTexts[i] = undefined;
      if (q.receiveBlockList?.check(text, 'ipv6')) continue;
      q.owner.emit('message', msg, { address: text, family: 'IPv6', port: q.rxPorts[i]!, size: msg.length } satisfies RemoteInfo);
      continue;
    }
    const src = q.rxSrcs[i]!;
    if (src !== q.lastSrc) {
      q.lastSrc = src;
      q.lastSrcText = ipToString(src);
    }
    const blocked = q.receiveBlockList;
    if (blocked !== undefined && blocked.check(q.lastSrcText, 'ipv4')) continue;
    const rinfo: RemoteInfo = { address: q.lastSrcText, family: 'IPv4', port: q.rxPorts[i]!, size: msg.length };
    q.owner.emit('message', msg, rinfo);
  }
  if (q.rxHead >= q.rxMsgs.length) {
    q.rxMsgs.length = 0;
    q.rxSrcs.length = 0;
    q.rxSrcTexts.length = 0;
    q.rxPorts.length = 0;
    q.rxHead = 0;
  }
}
