/**
 * RFC 3396 option concatenation under hostile input: a reply may split an
 * option into any number of pieces. Each code's pieces are copied once into
 * a buffer sized first (work linear in the message; copying the growing
 * concatenation for every piece was quadratic), and each result is at most
 * MAX_MERGED_OPTION bytes, the rest ignored and counted. Work is measured in
 * bytes copied, never in time; a failing property prints its seed (FC_SEED
 * replays).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Sim } from '../helpers/sim.js';
import {
  BOOTREPLY,
  DHCPACK,
  DHCPOFFER,
  DhcpClient,
  MAX_MERGED_OPTION,
  OPT_DNS,
  OPT_LEASE_TIME,
  OPT_MESSAGE,
  OPT_MESSAGE_TYPE,
  OPT_ROUTER,
  OPT_SERVER_ID,
  OPT_SUBNET_MASK,
  addrOption,
  byteOption,
  decodeDhcp,
  dhcpInfo,
  emptyPacket,
  encodeDhcp,
  mergeOptions,
  u32Option,
  type DhcpOption,
} from '../../src/stack/services/dhcp.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';

if (process.env.FC_SEED) fc.configureGlobal({ seed: Number(process.env.FC_SEED) });

/** `data` cut into pieces of `size` bytes, each a separate option `code`. */
function pieces(code: number, data: Uint8Array, size: number): DhcpOption[] {
  const out: DhcpOption[] = [];
  for (let i = 0; i < data.length; i += size) out.push({ code, data: data.slice(i, i + size) });
  return out;
}

/** Bytes copied by Uint8Array.prototype.set while `fn` runs. */
function bytesCopied<T>(fn: () => T): { result: T; copied: number } {
  let copied = 0;
  const real = Uint8Array.prototype.set;
  const spy = vi.spyOn(Uint8Array.prototype, 'set').mockImplementation(function (this: Uint8Array, src: ArrayLike<number>, off?: number) {
    copied += src.length;
    real.call(this, src, off);
  });
  try {
    return { result: fn(), copied };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('RFC 3396 concatenation is linear and bounded', () => {
  it('20,000 one-byte pieces and a DNS list in 2-byte pieces: correct, capped, each byte copied once', () => {
    const text = new Uint8Array(20_000).map((_, i) => 0x61 + (i % 26));
    const dnsBytes = new Uint8Array(4 * 300);
    for (let i = 0; i < 300; i++) dnsBytes.set([10, 1, i >>> 8, i & 0xff], 4 * i);
    const p = emptyPacket();
    p.op = BOOTREPLY;
    p.options = [
      byteOption(OPT_MESSAGE_TYPE, DHCPACK),
      ...pieces(OPT_ROUTER, Uint8Array.of(10, 0, 0, 1), 1),
      ...pieces(OPT_MESSAGE, text, 1),
      ...pieces(OPT_DNS, dnsBytes, 2),
    ];
    const wire = encodeDhcp(p);
    const decoded = decodeDhcp(wire);
    expect(decoded.options.length).toBe(1 + 4 + 20_000 + 600);
    const { result: info, copied } = bytesCopied(() => dhcpInfo(decoded));
    console.log(`[dhcp] ${wire.length}-byte reply, ${decoded.options.length} option pieces: ${copied} bytes copied merging them (quadratic: ~${((20_000 * 20_000) / 2).toExponential(1)})`);
    expect(info.messageType).toBe(DHCPACK);
    expect(info.routers).toEqual([parseIpv4Address('10.0.0.1')]);
    expect(info.message).toBe(Buffer.from(text.subarray(0, MAX_MERGED_OPTION)).toString('latin1'));
    expect(info.dns).toHaveLength(MAX_MERGED_OPTION / 4);
    expect(info.dns.slice(0, 3)).toEqual([0x0a010000, 0x0a010001, 0x0a010002]);
    expect(info.dns.at(-1)).toBe(0x0a010000 + MAX_MERGED_OPTION / 4 - 1);
    expect(info.truncated).toBe(2);
    // Each kept byte copied once: no more than the results hold.
    expect(copied).toBeLessThanOrEqual(4 + 2 * MAX_MERGED_OPTION);
  });

  it('property: equals the naive concatenation, cut at MAX_MERGED_OPTION', () => {
    const option = fc.record({ code: fc.integer({ min: 1, max: 6 }), data: fc.uint8Array({ maxLength: 255 }) });
    fc.assert(
      fc.property(fc.array(option, { maxLength: 40 }), (opts) => {
        const { merged, truncated } = mergeOptions(opts);
        const codes = new Set(opts.map((o) => o.code));
        expect([...merged.keys()].sort()).toEqual([...codes].sort());
        let cut = 0;
        for (const code of codes) {
          const all = Buffer.concat(opts.filter((o) => o.code === code).map((o) => o.data));
          if (all.length > MAX_MERGED_OPTION) cut++;
          expect(Buffer.from(merged.get(code)!)).toEqual(all.subarray(0, MAX_MERGED_OPTION));
        }
        expect(truncated).toBe(cut);
      }),
      { numRuns: 500 },
    );
  });
});

describe('the client counts what it cut', () => {
  it('a lease from a reply with an oversized DNS list keeps the first 256 servers; dhcp_rx_options_truncated counts it', () => {
    const sim = new Sim();
    sim.a.iface.setAddress(0, 0, 0);
    const dnsBytes = new Uint8Array(4 * 400).map((_, i) => (i % 4 === 0 ? 10 : i & 0xff));
    const ep = sim.b.stack.udp.bind(0, 67, {
      onDatagram(_src, _sp, _dst, buf, off, len) {
        const req = decodeDhcp(buf.slice(off, off + len));
        const offer = dhcpInfo(req).messageType === 1;
        const reply = encodeDhcp({
          ...req,
          op: BOOTREPLY,
          yiaddr: parseIpv4Address('10.0.0.50'),
          options: [
            byteOption(OPT_MESSAGE_TYPE, offer ? DHCPOFFER : DHCPACK),
            addrOption(OPT_SERVER_ID, parseIpv4Address('10.0.0.2')),
            addrOption(OPT_SUBNET_MASK, parseIpv4Address('255.255.255.0')),
            u32Option(OPT_LEASE_TIME, 3600),
            ...pieces(OPT_DNS, dnsBytes, 4),
          ],
        });
        ep.send(0xffffffff, 68, reply, 0, reply.length);
      },
    });
    let n = 0;
    const client = new DhcpClient(sim.a.stack, sim.a.iface, { random: () => 0.5, xid: () => 0x1000 + n++ });
    client.start();
    expect(sim.runUntil(() => client.state === 'bound', 10_000)).toBe(true);
    expect(client.lease!.dns).toHaveLength(MAX_MERGED_OPTION / 4);
    expect(client.stats.dhcp_rx_options_truncated).toBe(2); // the OFFER and the ACK
    client.stop();
  });
});
