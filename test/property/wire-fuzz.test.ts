/**
 * Bad input is data: arbitrary bytes, random offsets/lengths, and mutations of
 * valid packets fed to every parser and every view (wrap + all accessors)
 * either return normally or throw WireError, never anything else.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { WireError } from '../../src/wire/errors.js';
import { EthernetFrame, parseEthernet, emitEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { ArpPacket, parseArp, emitArp, ARP_LEN } from '../../src/wire/arp.js';
import { Ipv4Packet, parseIpv4, emitIpv4, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { IcmpPacket, parseIcmp, emitIcmp } from '../../src/wire/icmp.js';
import { UdpDatagram, parseUdp, emitUdp } from '../../src/wire/udp.js';
import { TcpSegmentView, parseTcp, emitTcp, tcpHeaderLength, type TcpRepr } from '../../src/wire/tcp.js';
import { readPcap } from '../../src/driver/pcap.js';
import {
  fcParams,
  rawInput,
  mutations,
  applyMutations,
  onlyWireError,
  touchView,
  ethernetRepr,
  arpRepr,
  ipv4Repr,
  icmpCase,
  udpCase,
  tcpCase,
  u8,
  u32,
} from './wire-arbitraries.js';

const SRC = 0x0a000001;
const DST = 0x0a000002;

const views = {
  eth: new EthernetFrame(),
  arp: new ArpPacket(),
  ip: new Ipv4Packet(),
  icmp: new IcmpPacket(),
  udp: new UdpDatagram(),
  tcp: new TcpSegmentView(),
};

function dirtyTcp(): TcpRepr {
  return { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: 5, window: 6, urgent: 7, payloadLength: 8, mss: 1, sack: [1, 2], tsVal: 1, tsEcr: 2 };
}

type Exercise = (buf: Uint8Array, off: number, len: number) => void;

const exercise: Record<string, Exercise> = {
  ethernet(buf, off, len) {
    onlyWireError(() => parseEthernet(buf, off, len));
    onlyWireError(() => touchView(views.eth.wrap(buf, off, len)));
  },
  arp(buf, off, len) {
    onlyWireError(() => parseArp(buf, off, len));
    onlyWireError(() => touchView(views.arp.wrap(buf, off, len)));
  },
  ipv4(buf, off, len) {
    onlyWireError(() => parseIpv4(buf, off, len));
    onlyWireError(() => parseIpv4(buf, off, len, false));
    onlyWireError(() => {
      const v = views.ip.wrap(buf, off, len);
      touchView(v);
      v.verifyChecksum();
      expect(v.payloadOffset + v.payloadLength).toBeLessThanOrEqual(off + len);
    });
  },
  icmp(buf, off, len) {
    onlyWireError(() => parseIcmp(buf, off, len));
    onlyWireError(() => parseIcmp(buf, off, len, false));
    onlyWireError(() => {
      const v = views.icmp.wrap(buf, off, len);
      touchView(v);
      v.verifyChecksum();
    });
  },
  udp(buf, off, len) {
    onlyWireError(() => parseUdp(buf, off, len, SRC, DST));
    onlyWireError(() => parseUdp(buf, off, len, SRC, DST, false));
    onlyWireError(() => {
      const v = views.udp.wrap(buf, off, len);
      touchView(v);
      v.verifyChecksum(SRC, DST);
      expect(v.payloadOffset + v.payloadLength).toBeLessThanOrEqual(off + len);
    });
  },
  tcp(buf, off, len) {
    onlyWireError(() => parseTcp(buf, off, len, SRC, DST));
    onlyWireError(() => parseTcp(buf, off, len, SRC, DST, false));
    onlyWireError(() => {
      const v = views.tcp.wrap(buf, off, len);
      touchView(v);
      v.verifyChecksum(SRC, DST);
      expect(v.payloadOffset + v.payloadLength).toBe(off + len);
      // After a successful wrap nothing may throw, not even WireError.
      const r = v.readRepr(dirtyTcp());
      expect(r.sack === undefined || (r.sack.length >= 2 && r.sack.length <= 8 && r.sack.length % 2 === 0)).toBe(true);
      expect((r.tsVal === undefined) === (r.tsEcr === undefined)).toBe(true);
    });
  },
};

/** Emits one valid packet of each kind at `off`, returning its length. */
const validPacket: Record<string, fc.Arbitrary<(buf: Uint8Array, off: number) => number>> = {
  ethernet: ethernetRepr.map((r) => (buf: Uint8Array, off: number) => emitEthernet(r, buf, off) + 20),
  arp: arpRepr.map((r) => (buf: Uint8Array, off: number) => emitArp(r, buf, off)),
  ipv4: ipv4Repr.map((r) => (buf: Uint8Array, off: number) => {
    const repr = { ...r, payloadLength: r.payloadLength % 200 };
    return emitIpv4(repr, buf, off) + repr.payloadLength;
  }),
  icmp: icmpCase.map(({ repr, payload }) => (buf: Uint8Array, off: number) => {
    buf.set(payload.subarray(0, 150), off + 8);
    const r = { ...repr, payloadLength: Math.min(repr.payloadLength, 150) };
    return emitIcmp(r, buf, off) + r.payloadLength;
  }),
  udp: udpCase.map(({ repr, payload }) => (buf: Uint8Array, off: number) => {
    buf.set(payload.subarray(0, 150), off + 8);
    const r = { ...repr, payloadLength: Math.min(repr.payloadLength, 150) };
    return emitUdp(r, buf, off, SRC, DST) + r.payloadLength;
  }),
  tcp: tcpCase.map(({ repr, payload }) => (buf: Uint8Array, off: number) => {
    const r = { ...repr, payloadLength: Math.min(repr.payloadLength, 100) };
    buf.set(payload.subarray(0, 100), off + tcpHeaderLength(r));
    return emitTcp(r, buf, off, SRC, DST) + r.payloadLength;
  }),
};

const work = new Uint8Array(1024);

describe('arbitrary bytes never escape as anything but WireError', () => {
  for (const name of Object.keys(exercise)) {
    it(`${name}: random bytes at random offsets`, () => {
      fc.assert(
        fc.property(rawInput, ({ buf, off, len }) => {
          exercise[name]!(buf, off, len);
        }),
        fcParams(),
      );
    });

    it(`${name}: mutated valid packets`, () => {
      fc.assert(
        fc.property(validPacket[name]!, fc.integer({ min: 0, max: 200 }), mutations, (emit, off, m) => {
          const len = emit(work, off);
          const cut = applyMutations(work, off, len, m);
          exercise[name]!(work, off, cut);
        }),
        fcParams(),
      );
    });
  }
});

/** Everything a parser and its view report for one packet: results, or the WireError reason. */
function snapshot(name: string, buf: Uint8Array, off: number, len: number): unknown[] {
  const out: unknown[] = [];
  const attempt = (fn: () => unknown): void => {
    try {
      out.push(fn());
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      out.push(`WireError:${e.reason}`);
    }
  };
  const getters = (v: object): Record<string, unknown> => {
    const proto = Object.getPrototypeOf(v) as object;
    const r: Record<string, unknown> = {};
    for (const [k, d] of Object.entries(Object.getOwnPropertyDescriptors(proto))) {
      if (d.get !== undefined) r[k] = (v as Record<string, unknown>)[k];
    }
    return r;
  };
  switch (name) {
    case 'ethernet':
      attempt(() => parseEthernet(buf, off, len));
      attempt(() => getters(views.eth.wrap(buf, off, len)));
      break;
    case 'arp':
      attempt(() => parseArp(buf, off, len));
      attempt(() => getters(views.arp.wrap(buf, off, len)));
      break;
    case 'ipv4':
      attempt(() => parseIpv4(buf, off, len));
      attempt(() => ({ ...getters(views.ip.wrap(buf, off, len)), sum: views.ip.verifyChecksum() }));
      break;
    case 'icmp':
      attempt(() => parseIcmp(buf, off, len));
      attempt(() => ({ ...getters(views.icmp.wrap(buf, off, len)), sum: views.icmp.verifyChecksum() }));
      break;
    case 'udp':
      attempt(() => parseUdp(buf, off, len, SRC, DST));
      attempt(() => ({ ...getters(views.udp.wrap(buf, off, len)), sum: views.udp.verifyChecksum(SRC, DST) }));
      break;
    case 'tcp':
      attempt(() => parseTcp(buf, off, len, SRC, DST));
      attempt(() => ({ ...getters(views.tcp.wrap(buf, off, len)), sum: views.tcp.verifyChecksum(SRC, DST), r: views.tcp.readRepr(dirtyTcp()) }));
      break;
  }
  // Views expose buf/off/len fields; only compare what depends on packet bytes.
  return out.map((o) => (o !== null && typeof o === 'object' ? JSON.parse(JSON.stringify(o, (k, v) => (k === 'buf' ? undefined : v))) : o));
}

const bufA = new Uint8Array(1024);
const bufB = new Uint8Array(1024);

describe('views and parsers read nothing outside [off, off + len)', () => {
  for (const name of Object.keys(exercise)) {
    it(name, () => {
      fc.assert(
        fc.property(validPacket[name]!, fc.integer({ min: 0, max: 200 }), mutations, u8, (emit, off, m, fill) => {
          bufA.fill(fill);
          const len = applyMutations(bufA, off, emit(bufA, off), m);
          // Same packet bytes, different surroundings.
          bufB.fill(~fill & 0xff);
          bufB.set(bufA.subarray(off, off + len), off);
          expect(snapshot(name, bufB, off, len)).toEqual(snapshot(name, bufA, off, len));
        }),
        fcParams(5_000),
      );
    });
  }
});

/** Independent reference for TCP option-area validity (RFC 9293 §3.2 and the kind/length rules we enforce). */
function optionsValid(opts: Uint8Array): boolean {
  const fixed: Record<number, (l: number) => boolean> = {
    2: (l) => l === 4,
    3: (l) => l === 3,
    4: (l) => l === 2,
    5: (l) => [10, 18, 26, 34].includes(l),
    8: (l) => l === 10,
  };
  let i = 0;
  while (i < opts.length) {
    const kind = opts[i]!;
    if (kind === 0) return true;
    if (kind === 1) {
      i += 1;
      continue;
    }
    if (i + 1 >= opts.length) return false;
    const l = opts[i + 1]!;
    if (l < 2 || i + l > opts.length) return false;
    const check = fixed[kind];
    if (check !== undefined && !check(l)) return false;
    i += l;
  }
  return true;
}

const optionChunk = fc.oneof(
  fc.constant([1]),
  fc.constant([0]),
  fc.tuple(fc.constantFrom(2, 3, 4, 5, 8, 19, 30, 34, 254), fc.integer({ min: 0, max: 40 })).chain(([kind, l]) =>
    fc.uint8Array({ minLength: Math.max(0, l - 2), maxLength: Math.max(0, l - 2) }).map((body) => [kind, l, ...body]),
  ),
  fc.tuple(fc.constantFrom(2, 3, 4, 5, 8), u8).map(([kind, b]) => {
    const len = { 2: 4, 3: 3, 4: 2, 5: 10, 8: 10 }[kind]!;
    return [kind, len, ...new Array<number>(len - 2).fill(b)];
  }),
  fc.array(u8, { minLength: 1, maxLength: 3 }),
);

describe('TCP option walk', () => {
  it('accepts exactly the well-formed option areas', () => {
    const view = new TcpSegmentView();
    const buf = new Uint8Array(100);
    fc.assert(
      fc.property(fc.array(optionChunk, { maxLength: 8 }), fc.integer({ min: 0, max: 10 }), u32, (chunks, pad, seq) => {
        let opts = chunks.flat().slice(0, 40);
        const words = Math.ceil(opts.length / 4);
        opts = [...opts, ...new Array<number>(words * 4 - opts.length).fill(pad === 0 ? 1 : 0)];
        const hl = 20 + opts.length;
        buf.fill(0);
        new DataView(buf.buffer).setUint32(4, seq);
        buf[12] = (hl / 4) << 4;
        buf.set(opts, 20);
        const expected = optionsValid(Uint8Array.from(opts));
        let ok: boolean;
        try {
          view.wrap(buf, 0, hl);
          ok = true;
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
          expect((e as WireError).reason).toBe('bad-option');
          ok = false;
        }
        expect(ok).toBe(expected);
        if (ok) {
          const r = parseTcp(buf, 0, hl, SRC, DST, false);
          expect(r.seq).toBe(seq);
          // parse → emit → parse is stable for whatever options were understood.
          // (Linux's layout can need more room than the sender's packing: then it is a programming error to emit.)
          let fits = true;
          try {
            tcpHeaderLength(r);
          } catch {
            fits = false;
          }
          if (fits) {
            const out = new Uint8Array(60);
            const n = emitTcp(r, out, 0, SRC, DST);
            expect(parseTcp(out, 0, n, SRC, DST)).toStrictEqual(r);
          }
        }
      }),
      fcParams(),
    );
  });
});

describe('kernel frames, mutated, through the whole decode chain', () => {
  const frames = readPcap(new Uint8Array(readFileSync(new URL('../data/kernel-frames.pcap', import.meta.url))));
  const eth = new EthernetFrame();
  const ip = new Ipv4Packet();

  function decodeChain(buf: Uint8Array, off: number, len: number): void {
    onlyWireError(() => {
      eth.wrap(buf, off, len);
      touchView(eth);
      if (eth.ethertype === ETHERTYPE_ARP) exercise.arp!(buf, eth.payloadOffset, eth.payloadLength);
      if (eth.ethertype !== ETHERTYPE_IPV4) return;
      parseIpv4(buf, eth.payloadOffset, eth.payloadLength, false);
      ip.wrap(buf, eth.payloadOffset, eth.payloadLength);
      const p = ip.protocol;
      if (p === IPPROTO_ICMP) exercise.icmp!(buf, ip.payloadOffset, ip.payloadLength);
      else if (p === IPPROTO_UDP) exercise.udp!(buf, ip.payloadOffset, ip.payloadLength);
      else if (p === IPPROTO_TCP) exercise.tcp!(buf, ip.payloadOffset, ip.payloadLength);
    });
  }

  it('never throws anything but WireError', () => {
    expect(frames.length).toBeGreaterThan(10);
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 100 }), mutations, (pick, off, m) => {
        const f = frames[pick % frames.length]!.data;
        work.set(f, off);
        const len = applyMutations(work, off, f.length, m);
        decodeChain(work, off, len);
      }),
      fcParams(),
    );
  });
});
