/**
 * The protocol engine: interfaces, routing, UDP and TCP on one clock and one
 * timer wheel. It does no I/O scheduling of its own: whoever drives it (the
 * real-time PollLoop, or a test's virtual-time loop) calls poll() and asks
 * pollAt() when the next call is due.
 */
import type { Nic } from '../driver/nic.js';
import type { Clock } from './time/clock.js';
import { TimerWheel } from './time/timer-wheel.js';
import { Interface, type InterfaceConfig } from './iface/interface.js';
import { Router } from './iface/router.js';
import { UdpLayer } from './udp/udp-layer.js';
import { TcpLayer, type TcpLayerOptions } from './tcp/tcp-layer.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from './wire/ipv4.js';
import { ICMP_ECHO_REQUEST, ICMP_HEADER_LEN, emitIcmp } from './wire/icmp.js';

export interface EchoReply {
  from: number;
  ident: number;
  seqNo: number;
  length: number;
  at: number;
}

export class NetStack {
  readonly wheel: TimerWheel;
  readonly router = new Router();
  readonly udp: UdpLayer;
  readonly tcp: TcpLayer;
  private readonly echoListeners = new Set<(r: EchoReply) => void>();
  /** Called when output is queued outside poll() (the poll loop schedules a flush). */
  onOutput: (() => void) | null = null;
  private readonly notifyOutput = (): void => this.onOutput?.();

  constructor(
    readonly clock: Clock,
    opts: { tcp?: TcpLayerOptions } = {},
  ) {
    this.wheel = new TimerWheel(clock.now());
    this.udp = new UdpLayer(this.router);
    this.router.register(IPPROTO_UDP, this.udp);
    this.tcp = new TcpLayer(this.router, this.wheel, clock, opts.tcp);
    this.router.register(IPPROTO_TCP, this.tcp);
  }

  get interfaces(): readonly Interface[] {
    return this.router.interfaces;
  }

  addInterface(nic: Nic, config: InterfaceConfig): Interface {
    const iface = new Interface(nic, config, this.clock, this.wheel, this.router);
    iface.onTxPending = this.notifyOutput;
    iface.echoReplyHandler = (from, ident, seqNo, _buf, _off, len, now) => {
      for (const l of this.echoListeners) l({ from, ident, seqNo, length: len, at: now });
    };
    this.router.addInterface(iface);
    iface.announce();
    iface.flush();
    return iface;
  }

  /**
   * One round of work: a receive burst on every interface, due timers, and a
   * transmit flush. Returns the number of frames received.
   */
  poll(): number {
    let frames = 0;
    const ifaces = this.router.interfaces;
    for (let i = 0; i < ifaces.length; i++) frames += ifaces[i]!.poll();
    this.wheel.advance(this.clock.now());
    for (let i = 0; i < ifaces.length; i++) ifaces[i]!.flush();
    // Loopback traffic is answered within the same poll (as the kernel's lo
    // delivers synchronously): a handshake or request/response on 127.0.0.1
    // completes without extra trips through the event loop. Bounded, so a
    // flood on lo cannot starve the other interfaces.
    for (let round = 0; round < 4; round++) {
      let moved = 0;
      for (let i = 0; i < ifaces.length; i++) {
        const iface = ifaces[i]!;
        if (iface.loopback && iface.nic.pollAt() === -Infinity) moved += iface.poll();
      }
      if (moved === 0) break;
      frames += moved;
    }
    return frames;
  }

  /** When poll() next has something to do without new input (-Infinity: now). */
  pollAt(): number {
    let t = this.wheel.nextDeadline();
    const ifaces = this.router.interfaces;
    for (let i = 0; i < ifaces.length; i++) {
      const iface = ifaces[i]!;
      if (iface.hasPendingTx) return -Infinity;
      const n = iface.nic.pollAt();
      if (n < t) t = n;
    }
    return t;
  }

  /** Sends one ICMP echo request with `size` bytes of data. */
  ping(dst: number, ident: number, seqNo: number, size = 56): boolean {
    const src = this.router.sourceFor(dst);
    if (src < 0) return false;
    return this.router.send(src, dst, IPPROTO_ICMP, ICMP_HEADER_LEN + size, (buf, off) => {
      for (let i = 0; i < size; i++) buf[off + ICMP_HEADER_LEN + i] = (i + seqNo) & 0xff;
      emitIcmp({ type: ICMP_ECHO_REQUEST, code: 0, ident, seqNo, payloadLength: size }, buf, off);
    });
  }

  onEchoReply(listener: (r: EchoReply) => void): () => void {
    this.echoListeners.add(listener);
    return () => this.echoListeners.delete(listener);
  }

  /** Counters per layer, copied. */
  stats(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const i of this.router.interfaces) {
      out[`iface.${i.name}`] = { ...i.stats };
      out[`arp.${i.name}`] = { ...i.neighbors.stats };
      out[`ipfrag.${i.name}`] = { ...i.reassembler.stats };
      out[`nic.${i.name}`] = { ...i.nic.stats() };
    }
    out.udp = { ...this.udp.stats };
    const { conn, ...tcp } = this.tcp.stats;
    out.tcp = { ...tcp, ...conn };
    out.ip = { tx_drop_no_route: this.router.noRoute };
    return out;
  }

  /** Releases every NIC slot the engine holds. */
  shutdown(): void {
    for (const i of this.router.interfaces) i.shutdown();
  }
}
