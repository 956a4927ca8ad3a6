/** UDP over IPv6 at the stack level (virtual clock, in-process link): echo, the pseudo-header checksum, closed ports. */
import { describe, expect, it } from 'vitest';
import { Sim, inject } from '../helpers/sim.js';
import { ipv6Frame } from '../helpers/frames6.js';
import { parseIpv6Address as a6, ipv6PseudoSum } from '../../src/wire/ipv6.js';
import { internetChecksum } from '../../src/wire/checksum.js';

const A = a6('fd00::1');
const B = a6('fd00::2');

function sim(): Sim {
  const s = new Sim({
    ifaceA: { ipv6: { addresses: [{ address: A, prefixLength: 64 }] } },
    ifaceB: { ipv6: { addresses: [{ address: B, prefixLength: 64 }] } },
  });
  s.runFor(1_500);
  return s;
}

function udp6(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number, data: Uint8Array, checksum: 'good' | 'bad' | 'zero'): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  u[0] = srcPort >>> 8; u[1] = srcPort & 0xff; u[2] = dstPort >>> 8; u[3] = dstPort & 0xff;
  u[4] = u.length >>> 8; u[5] = u.length & 0xff;
  u.set(data, 8);
  if (checksum !== 'zero') {
    let c = internetChecksum(u, 0, u.length, ipv6PseudoSum(src, dst, u.length, 17));
    if (c === 0) c = 0xffff;
    if (checksum === 'bad') c ^= 0x0101;
    u[6] = c >>> 8;
    u[7] = c & 0xff;
  }
  return u;
}

describe('UDP over IPv6 (stack level)', () => {
  it('echoes datagrams of 1 to 8,000 bytes between two stacks, fragmented above the MTU, payload intact', () => {
    const s = sim();
    const echo = s.a.stack.udp6.bind(7, {
      onDatagram: (src, srcPort, buf, off, len) => {
        echo.send(src.slice(), srcPort, buf, off, len);
      },
    });
    const got: Uint8Array[] = [];
    const client = s.b.stack.udp6.bind(40000, { onDatagram: (_src, srcPort, buf, off, len) => { if (srcPort === 7) got.push(buf.slice(off, off + len)); } });
    const sizes = [1, 100, 1452, 1453, 8000];
    for (const n of sizes) {
      const data = new Uint8Array(n).map((_, i) => (i * 7 + n) & 0xff);
      expect(client.send(A, 7, data)).toBe(true);
      expect(s.runUntil(() => got.length === sizes.indexOf(n) + 1, 5_000), `size ${n}`).toBe(true);
      expect(got[got.length - 1]).toStrictEqual(data);
    }
    expect(s.a.stack.stats().udp6!.udp6_rx_delivered).toBe(sizes.length);
    expect(s.a.iface.v6!.stats.ip6_tx_fragmented).toBe(2);
  });

  it('drops a bad or zero checksum and a truncated header (counted), answers a closed port with ICMPv6 port unreachable', () => {
    const s = sim();
    const a = s.a.stack;
    a.udp6.bind(9, { onDatagram: () => { throw new Error('must not be delivered'); } });
    const m = s.a.iface.mac;
    const bm = s.b.iface.mac;
    inject(s.b.raw, ipv6Frame(m, bm, B, A, 17, udp6(B, A, 1234, 9, new Uint8Array(10), 'bad')));
    inject(s.b.raw, ipv6Frame(m, bm, B, A, 17, udp6(B, A, 1234, 9, new Uint8Array(10), 'zero')));
    inject(s.b.raw, ipv6Frame(m, bm, B, A, 17, new Uint8Array(5)));
    s.settle();
    const st = a.stats().udp6!;
    expect(st.udp6_rx_drop_bad_checksum).toBe(1);
    expect(st.udp6_rx_drop_zero_checksum).toBe(1);
    expect(st.udp6_rx_drop_malformed).toBe(1);
    // Closed port: b learns it (ICMPv6 destination unreachable, port unreachable), once per datagram.
    const before = s.b.iface.v6!.stats.icmp6_rx_errors;
    expect(s.b.stack.udp6.bind(5555, { onDatagram: () => {} }).send(A, 4444, new Uint8Array(3))).toBe(true);
    s.settle();
    expect(a.stats().udp6!.udp6_rx_no_port).toBe(1);
    expect(s.b.iface.v6!.stats.icmp6_rx_errors).toBe(before + 1);
    expect(() => a.udp6.bind(9, { onDatagram: () => {} })).toThrow(/EADDRINUSE/);
  });
});
