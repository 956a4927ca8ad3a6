/**
 * UDP over IPv6 at the stack level (RFC 768 with RFC 8200 §8.1): endpoints
 * bound to a port on every IPv6 address of the stack, the checksum over the
 * IPv6 pseudo-header (mandatory: a zero checksum is dropped; 0 computed is
 * sent as 0xffff), ICMPv6 port unreachable for a closed port (rate limited
 * by the IPv6 layer).
 *
 * Beside the IPv4 UdpLayer rather than inside it: that layer's demux and
 * its sockets are keyed by 32-bit addresses on the hot path. Not yet: a
 * node:dgram 'udp6' socket over it (src/socket), binding to one address,
 * connected endpoints, ICMPv6 errors delivered to endpoints.
 */
import { onesSum, internetChecksum } from '../../wire/checksum.js';
import { UDP_HEADER_LEN } from '../../wire/udp.js';
import { ipv6PseudoSum } from '../../wire/ipv6.js';
import { IPPROTO_UDP } from '../../wire/ipv4.js';
import { ICMPV6_PORT_UNREACHABLE } from '../../wire/icmpv6.js';
import type { Ipv6Layer, Ipv6TransportInput } from '../iface/ipv6-layer.js';
import { UdpBindError } from './udp-layer.js';

export interface Udp6Stats {
  udp6_rx: number;
  udp6_rx_delivered: number;
  udp6_rx_drop_malformed: number;
  udp6_rx_drop_zero_checksum: number;
  udp6_rx_drop_bad_checksum: number;
  udp6_rx_no_port: number;
  udp6_tx: number;
  udp6_tx_drop: number;
}

export interface Udp6Handler {
  /** `src` and buf[off, off + len) are valid only during the call. */
  onDatagram(src: Uint8Array, srcPort: number, buf: Uint8Array, off: number, len: number): void;
}

export class Udp6Endpoint {
  constructor(
    private readonly layer: Udp6Layer,
    readonly port: number,
    readonly handler: Udp6Handler,
  ) {}

  /** Sends `data[off, off + len)` to [dst]:dstPort from the stack's best source address. */
  send(dst: Uint8Array, dstPort: number, data: Uint8Array, off = 0, len = data.length - off): boolean {
    return this.layer.send(this.port, dst, dstPort, data, off, len);
  }

  close(): void {
    this.layer.unbind(this);
  }
}

export class Udp6Layer implements Ipv6TransportInput {
  readonly stats: Udp6Stats = {
    udp6_rx: 0, udp6_rx_delivered: 0, udp6_rx_drop_malformed: 0, udp6_rx_drop_zero_checksum: 0,
    udp6_rx_drop_bad_checksum: 0, udp6_rx_no_port: 0, udp6_tx: 0, udp6_tx_drop: 0,
  };
  private readonly ports = new Map<number, Udp6Endpoint>();
  private readonly layers: Ipv6Layer[] = [];

  /** An interface's IPv6 layer to receive from and send through. */
  attach(v6: Ipv6Layer): void {
    this.layers.push(v6);
    v6.registerTransport(IPPROTO_UDP, this);
  }

  bind(port: number, handler: Udp6Handler): Udp6Endpoint {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`Udp6Layer.bind: port ${String(port)}`);
    if (this.ports.has(port)) throw new UdpBindError('EADDRINUSE', `bind EADDRINUSE [::]:${port}`);
    const ep = new Udp6Endpoint(this, port, handler);
    this.ports.set(port, ep);
    return ep;
  }

  unbind(ep: Udp6Endpoint): void {
    if (this.ports.get(ep.port) === ep) this.ports.delete(ep.port);
  }

  input6(src: Uint8Array, dst: Uint8Array, buf: Uint8Array, off: number, len: number, verified: boolean, layer: Ipv6Layer, now: number): void {
    const st = this.stats;
    st.udp6_rx++;
    if (len < UDP_HEADER_LEN) {
      st.udp6_rx_drop_malformed++;
      return;
    }
    const ulen = (buf[off + 4]! << 8) | buf[off + 5]!;
    if (ulen < UDP_HEADER_LEN || ulen > len) {
      st.udp6_rx_drop_malformed++;
      return;
    }
    // Unless the NIC checked it (or the sending kernel left it partial, as over a TAP with offloads).
    if (!verified) {
      if (buf[off + 6] === 0 && buf[off + 7] === 0) {
        st.udp6_rx_drop_zero_checksum++;
        return;
      }
      if (onesSum(buf, off, ulen, ipv6PseudoSum(src, dst, ulen, IPPROTO_UDP)) !== 0xffff) {
        st.udp6_rx_drop_bad_checksum++;
        return;
      }
    }
    const dstPort = (buf[off + 2]! << 8) | buf[off + 3]!;
    const ep = this.ports.get(dstPort);
    if (ep === undefined) {
      st.udp6_rx_no_port++;
      layer.replyUnreachable(ICMPV6_PORT_UNREACHABLE, now);
      return;
    }
    st.udp6_rx_delivered++;
    ep.handler.onDatagram(src, (buf[off]! << 8) | buf[off + 1]!, buf, off + UDP_HEADER_LEN, ulen - UDP_HEADER_LEN);
  }

  /** Sends a datagram through the first interface with a route and a source address toward `dst`. */
  send(srcPort: number, dst: Uint8Array, dstPort: number, data: Uint8Array, off: number, len: number): boolean {
    const length = UDP_HEADER_LEN + len;
    for (const v6 of this.layers) {
      if (v6.nextHop(dst) === null) continue;
      const src = v6.sourceFor(dst);
      if (src === null) continue;
      const ok = v6.send(src, dst, IPPROTO_UDP, length, (out, o) => {
        out[o] = srcPort >>> 8;
        out[o + 1] = srcPort & 0xff;
        out[o + 2] = dstPort >>> 8;
        out[o + 3] = dstPort & 0xff;
        out[o + 4] = length >>> 8;
        out[o + 5] = length & 0xff;
        out[o + 6] = 0;
        out[o + 7] = 0;
        out.set(data.subarray(off, off + len), o + UDP_HEADER_LEN);
        let c = internetChecksum(out, o, length, ipv6PseudoSum(src, dst, length, IPPROTO_UDP));
        if (c === 0) c = 0xffff;
        out[o + 6] = c >>> 8;
        out[o + 7] = c & 0xff;
      });
      if (ok) this.stats.udp6_tx++;
      else this.stats.udp6_tx_drop++;
      return ok;
    }
    this.stats.udp6_tx_drop++;
    return false;
  }
}
