import { describe, expect, it } from 'vitest';
import { WireError, type WireErrorReason } from '../../src/wire/errors.js';
import {
  EthernetFrame,
  parseEthernet,
  emitEthernet,
  parseMac,
  macToString,
  isMulticastMac,
  MAC_BROADCAST,
  ETHERTYPE_IPV4,
} from '../../src/wire/ethernet.js';
import { parseArp, emitArp, ARP_REQUEST } from '../../src/wire/arp.js';
import {
  Ipv4Packet,
  parseIpv4,
  emitIpv4,
  parseIpv4Address,
  parseCidr,
  prefixToNetmask,
  ipToString,
  type Ipv4Repr,
} from '../../src/wire/ipv4.js';
import { parseIcmp, emitIcmp, ICMP_DEST_UNREACHABLE, ICMP_FRAG_NEEDED } from '../../src/wire/icmp.js';
import { parseUdp, emitUdp } from '../../src/wire/udp.js';
import {
  TcpSegmentView,
  parseTcp,
  emitTcp,
  tcpHeaderLength,
  TCP_SYN,
  TCP_ACK,
  type TcpRepr,
} from '../../src/wire/tcp.js';
import { internetChecksum } from '../../src/wire/checksum.js';

function reason(fn: () => unknown): WireErrorReason | 'no error' {
  try {
    fn();
    return 'no error';
  } catch (e) {
    if (e instanceof WireError) return e.reason;
    throw e;
  }
}

const SRC = 0x0a4d0001;
const DST = 0x0a4d0002;

const ipRepr: Ipv4Repr = {
  src: SRC,
  dst: DST,
  protocol: 17,
  ttl: 64,
  dscp: 0,
  ecn: 0,
  ident: 0x1234,
  dontFragment: true,
  moreFragments: false,
  fragmentOffset: 0,
  payloadLength: 8,
};

function ipPacket(repr = ipRepr): Uint8Array {
  const b = new Uint8Array(20 + repr.payloadLength);
  emitIpv4(repr, b, 0);
  return b;
}
function fixIpChecksum(b: Uint8Array): void {
  b[10] = 0;
  b[11] = 0;
  const c = internetChecksum(b, 0, (b[0]! & 15) * 4);
  b[10] = c >>> 8;
  b[11] = c & 0xff;
}

describe('IPv4 malformed', () => {
  it('rejects short input, bad version, IHL < 5, header past the end', () => {
    expect(reason(() => parseIpv4(new Uint8Array(19), 0, 19))).toBe('truncated');
    const b = ipPacket();
    b[0] = 0x65;
    expect(reason(() => parseIpv4(b, 0, b.length))).toBe('bad-version');
    for (const ihl of [0, 1, 4]) {
      b[0] = 0x40 | ihl;
      expect(reason(() => parseIpv4(b, 0, b.length))).toBe('bad-header-length');
    }
    b[0] = 0x4f; // 60-byte header in a 28-byte packet
    expect(reason(() => parseIpv4(b, 0, b.length))).toBe('truncated');
  });

  it('rejects a lying totalLength', () => {
    const b = ipPacket();
    b[2] = 0;
    b[3] = 29; // one more than we have
    fixIpChecksum(b);
    expect(reason(() => parseIpv4(b, 0, 28))).toBe('bad-length');
    b[3] = 19; // shorter than the header
    fixIpChecksum(b);
    expect(reason(() => parseIpv4(b, 0, 28))).toBe('bad-length');
    b[3] = 24; // shorter than the buffer is fine (Ethernet padding)
    fixIpChecksum(b);
    expect(parseIpv4(b, 0, 28).payloadLength).toBe(4);
  });

  it('rejects a bad checksum only when verifying', () => {
    const b = ipPacket();
    b[8] = 63;
    expect(reason(() => parseIpv4(b, 0, b.length))).toBe('bad-checksum');
    expect(parseIpv4(b, 0, b.length, false).ttl).toBe(63);
  });

  it('rejects fragmentOffset + payloadLength > 65535', () => {
    const b = ipPacket({ ...ipRepr, fragmentOffset: 65528, payloadLength: 8, dontFragment: false });
    expect(reason(() => parseIpv4(b, 0, b.length))).toBe('bad-length');
    const ok = ipPacket({ ...ipRepr, fragmentOffset: 65520, payloadLength: 15, dontFragment: false });
    expect(parseIpv4(ok, 0, ok.length).fragmentOffset).toBe(65520);
  });

  it('skips options without interpreting them', () => {
    const b = new Uint8Array(32);
    emitIpv4({ ...ipRepr, payloadLength: 8 }, b, 0);
    // Rebuild as IHL 6 with a 4-byte option (NOP NOP NOP EOL) before the payload.
    b.copyWithin(24, 20, 28);
    b.set([1, 1, 1, 0], 20);
    b[0] = 0x46;
    b[3] = 32;
    fixIpChecksum(b);
    const v = new Ipv4Packet().wrap(b, 0, 32);
    expect(v.hasOptions).toBe(true);
    expect(v.headerLength).toBe(24);
    expect(v.payloadOffset).toBe(24);
    expect(v.payloadLength).toBe(8);
    expect(v.verifyChecksum()).toBe(true);
    expect(parseIpv4(b, 0, 32).payloadLength).toBe(8);
  });
});

describe('IPv4 text', () => {
  it('parses and prints addresses and prefixes', () => {
    expect(parseIpv4Address('10.0.0.2')).toBe(0x0a000002);
    expect(parseIpv4Address('255.255.255.255')).toBe(0xffffffff);
    expect(ipToString(0xc0a80101)).toBe('192.168.1.1');
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.-4', ' 1.2.3.4', '1.2.3.4/8', 'a.b.c.d']) {
      expect(reason(() => parseIpv4Address(bad))).toBe('unsupported');
    }
    expect(parseCidr('10.0.0.2/24')).toEqual({ address: 0x0a000002, prefixLength: 24, netmask: 0xffffff00 });
    expect(parseCidr('0.0.0.0/0').netmask).toBe(0);
    expect(parseCidr('1.2.3.4/32').netmask).toBe(0xffffffff);
    for (const bad of ['10.0.0.2', '10.0.0.2/33', '10.0.0.2/', '10.0.0.2/024', '/24']) {
      expect(reason(() => parseCidr(bad))).toBe('unsupported');
    }
    expect(prefixToNetmask(8)).toBe(0xff000000);
    expect(reason(() => prefixToNetmask(33))).toBe('unsupported');
  });
});

describe('Ethernet, ARP', () => {
  it('handles 802.1Q tags and short frames', () => {
    const b = new Uint8Array(18);
    const n = emitEthernet(
      { dst: MAC_BROADCAST, src: 0x020000000001, ethertype: ETHERTYPE_IPV4, vlan: { pcp: 5, dei: true, vid: 100 } },
      b,
      0,
    );
    expect(n).toBe(18);
    expect(Array.from(b.subarray(12, 18))).toEqual([0x81, 0x00, 0xb0, 0x64, 0x08, 0x00]);
    const f = new EthernetFrame().wrap(b, 0, 18);
    expect([f.vlanId, f.ethertype, f.headerLength, f.payloadOffset, f.payloadLength]).toEqual([100, 0x0800, 18, 18, 0]);
    expect(reason(() => parseEthernet(b, 0, 17))).toBe('truncated');
    expect(reason(() => parseEthernet(b, 0, 13))).toBe('truncated');
    expect(reason(() => parseEthernet(b, 10, 14))).toBe('truncated');
  });

  it('MAC text', () => {
    expect(macToString(0x020000000001)).toBe('02:00:00:00:00:01');
    expect(parseMac('02:00:00:00:00:01')).toBe(0x020000000001);
    expect(parseMac('FF-FF-FF-FF-FF-FF')).toBe(MAC_BROADCAST);
    for (const bad of ['', '02:00:00:00:00', '02:00:00:00:00:001', '02:00-00:00:00:01', 'zz:00:00:00:00:01']) {
      expect(reason(() => parseMac(bad))).toBe('unsupported');
    }
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isMulticastMac(0x01005e000001)).toBe(true);
    expect(isMulticastMac(0x020000000001)).toBe(false);
  });

  it('ARP rejects other hardware/protocol types', () => {
    const b = new Uint8Array(28);
    emitArp({ op: ARP_REQUEST, senderMac: 1, senderIp: SRC, targetMac: 0, targetIp: DST }, b, 0);
    expect(parseArp(b, 0, 28).targetIp).toBe(DST);
    expect(reason(() => parseArp(b, 0, 27))).toBe('truncated');
    for (const [i, v] of [[1, 6], [2, 0x86], [4, 8], [5, 16]] as const) {
      const c = b.slice();
      c[i] = v;
      expect(reason(() => parseArp(c, 0, 28))).toBe('unsupported');
    }
  });
});

describe('ICMP, UDP', () => {
  it('ICMP fragmentation needed carries the next-hop MTU', () => {
    const b = new Uint8Array(36);
    emitIcmp({ type: ICMP_DEST_UNREACHABLE, code: ICMP_FRAG_NEEDED, nextHopMtu: 1400, payloadLength: 28 }, b, 0);
    expect(parseIcmp(b, 0, 36)).toStrictEqual({ type: 3, code: 4, nextHopMtu: 1400, payloadLength: 28 });
    expect(reason(() => parseIcmp(b, 0, 7))).toBe('truncated');
    b[20] ^= 1;
    expect(reason(() => parseIcmp(b, 0, 36))).toBe('bad-checksum');
  });

  it('UDP length field is validated; a computed 0 checksum is sent as 0xffff', () => {
    const b = new Uint8Array(12);
    emitUdp({ srcPort: 1, dstPort: 2, payloadLength: 4 }, b, 0, SRC, DST);
    expect(reason(() => parseUdp(b, 0, 11, SRC, DST))).toBe('bad-length');
    b[5] = 7;
    expect(reason(() => parseUdp(b, 0, 12, SRC, DST))).toBe('bad-length');
    b[5] = 12;
    expect(reason(() => parseUdp(b, 0, 7, SRC, DST))).toBe('truncated');
    // Choose payload so that the checksum computes to 0: then 0xffff must be on the wire.
    const p = new Uint8Array(10);
    emitUdp({ srcPort: 0, dstPort: 0, payloadLength: 2 }, p, 0, 0, 0, 'none');
    // Sum so far: pseudo(0,0,17,10)=0x1b and header words 0x000a; pick payload word w with 0x1b+0x0a+w = 0xffff.
    const w = 0xffff - 0x1b - 0x0a;
    p[8] = w >>> 8;
    p[9] = w & 0xff;
    emitUdp({ srcPort: 0, dstPort: 0, payloadLength: 2 }, p, 0, 0, 0, 'full');
    expect((p[6]! << 8) | p[7]!).toBe(0xffff);
    expect(parseUdp(p, 0, 10, 0, 0).payloadLength).toBe(2);
  });
});

describe('TCP malformed options and headers', () => {
  const base: TcpRepr = { srcPort: 40000, dstPort: 80, seq: 1, ack: 0, flags: TCP_SYN, window: 65535, urgent: 0, payloadLength: 0 };

  function withOptions(opts: number[]): Uint8Array {
    const hl = 20 + opts.length;
    const b = new Uint8Array(hl);
    emitTcp(base, b, 0, SRC, DST, 'none');
    b[12] = (hl / 4) << 4;
    b.set(opts, 20);
    return b;
  }

  it('rejects data offset < 5 and a header past the end', () => {
    const b = withOptions([]);
    b[12] = 4 << 4;
    expect(reason(() => parseTcp(b, 0, 20, SRC, DST, false))).toBe('bad-header-length');
    b[12] = 6 << 4;
    expect(reason(() => parseTcp(b, 0, 20, SRC, DST, false))).toBe('truncated');
    expect(reason(() => parseTcp(b, 0, 19, SRC, DST, false))).toBe('truncated');
  });

  it('rejects option lengths 0 and 1 and options running past the header', () => {
    expect(reason(() => parseTcp(withOptions([19, 0, 0, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([19, 1, 0, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([1, 1, 1, 19]), 0, 24, SRC, DST, false))).toBe('bad-option'); // no length byte
    expect(reason(() => parseTcp(withOptions([1, 19, 4, 0]), 0, 24, SRC, DST, false))).toBe('bad-option'); // overruns by one
    expect(reason(() => parseTcp(withOptions([2, 4, 5, 0xb4, 8, 10, 0, 0]), 0, 28, SRC, DST, false))).toBe('bad-option');
  });

  it('rejects known kinds with the wrong length', () => {
    expect(reason(() => parseTcp(withOptions([2, 3, 5, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([3, 4, 7, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([4, 3, 0, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([8, 8, 0, 0, 0, 0, 0, 0]), 0, 28, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([5, 2, 0, 0]), 0, 24, SRC, DST, false))).toBe('bad-option');
    expect(reason(() => parseTcp(withOptions([5, 6, 0, 0, 0, 0, 0, 0]), 0, 28, SRC, DST, false))).toBe('bad-option');
  });

  it('rejects SACK with 5 blocks (and accepts 4)', () => {
    // 5 blocks = 42 bytes: cannot fit in 40 bytes of options, whatever the length byte says.
    const five = [5, 42, ...new Array<number>(38).fill(0)];
    expect(reason(() => parseTcp(withOptions(five), 0, 60, SRC, DST, false))).toBe('bad-option');
    const lies = [5, 34 + 8, ...new Array<number>(32).fill(0), 1, 1, 1, 1, 1, 0];
    expect(reason(() => parseTcp(withOptions(lies), 0, 60, SRC, DST, false))).toBe('bad-option');
    const four = [1, 1, 5, 34, ...Array.from({ length: 32 }, (_, i) => i), 1, 1, 1, 0];
    const r = parseTcp(withOptions(four), 0, 60, SRC, DST, false);
    expect(r.sack).toHaveLength(8);
  });

  it('stops at EOL, skips NOP and unknown kinds, keeps windowScale > 14 as received', () => {
    const r = parseTcp(withOptions([1, 3, 3, 20, 34, 4, 1, 2, 0, 2, 4, 5]), 0, 32, SRC, DST, false);
    expect(r.windowScale).toBe(20);
    expect('mss' in r).toBe(false); // after EOL nothing is read
    expect(Object.keys(r).sort()).toEqual([...Object.keys(base), 'windowScale'].sort());
  });

  it('emits Linux layout and rejects more than 40 bytes of options', () => {
    const syn: TcpRepr = { ...base, mss: 1460, sackPermitted: true, tsVal: 0x01020304, tsEcr: 0, windowScale: 7 };
    const b = new Uint8Array(40);
    expect(emitTcp(syn, b, 0, SRC, DST)).toBe(40);
    expect(Array.from(b.subarray(20, 40))).toEqual([2, 4, 5, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7]);
    const noTs: TcpRepr = { ...base, sackPermitted: true, windowScale: 2 };
    expect(emitTcp(noTs, b, 0, SRC, DST)).toBe(28);
    expect(Array.from(b.subarray(20, 28))).toEqual([1, 1, 4, 2, 1, 3, 3, 2]);
    const ack: TcpRepr = { ...base, flags: TCP_ACK, tsVal: 5, tsEcr: 6, sack: [1, 2, 3, 4, 5, 6] };
    expect(tcpHeaderLength(ack)).toBe(60);
    expect(() => tcpHeaderLength({ ...ack, sack: [1, 2, 3, 4, 5, 6, 7, 8] })).toThrow(Error);
    expect(() => tcpHeaderLength({ ...ack, sack: [1, 2, 3] })).toThrow(Error);
  });

  it('readOptions deletes absent keys and reuses the SACK array', () => {
    const b = new Uint8Array(40);
    const n = emitTcp({ ...base, flags: TCP_ACK, sack: [10, 20] }, b, 0, SRC, DST);
    const into: TcpRepr = { ...base, mss: 1, windowScale: 2, sackPermitted: true, tsVal: 3, tsEcr: 4, sack: [0, 0, 0, 0] };
    const arr = into.sack;
    new TcpSegmentView().wrap(b, 0, n).readOptions(into);
    expect(into.sack).toBe(arr);
    expect(into.sack).toEqual([10, 20]);
    for (const k of ['mss', 'windowScale', 'sackPermitted', 'tsVal', 'tsEcr']) expect(k in into).toBe(false);
  });
});
