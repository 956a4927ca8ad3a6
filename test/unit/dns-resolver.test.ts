/**
 * The stub resolver on a virtual clock against a fake DNS server on the other
 * stack of a Sim link: A answers, CNAME chains (inside one answer and by a
 * follow-up query), NXDOMAIN, retries then EAI_AGAIN, spoofed answers
 * ignored, and node's dns.lookup argument handling.
 */
import dnsConst from 'node:dns';
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import {
  DNS_CLASS_IN,
  DNS_RCODE_NXDOMAIN,
  DNS_TYPE_A,
  DNS_TYPE_AAAA,
  DNS_TYPE_CNAME,
  Resolver,
  decodeMessage,
  encodeMessage,
  type DnsMessage,
  type DnsRecord,
} from '../../src/stack/services/dns.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

type Zone = Record<string, DnsRecord[] | 'nxdomain' | 'drop'>;

function fakeDns(sim: Sim, zone: Zone, opts: { spoof?: boolean } = {}) {
  const log: { at: number; name: string; id: number; port: number; type: number }[] = [];
  const ep = sim.b.stack.udp.bind(0, 53, {
    onDatagram(src, srcPort, _dst, buf, off, len) {
      const q = decodeMessage(buf.slice(off, off + len));
      const name = q.questions[0]!.name;
      log.push({ at: sim.clock.now(), name, id: q.id, port: srcPort, type: q.questions[0]!.type });
      const entry = zone[name.toLowerCase()];
      if (entry === 'drop' || entry === undefined) return;
      const reply: DnsMessage = { ...q, response: true, recursionAvailable: true, rcode: entry === 'nxdomain' ? DNS_RCODE_NXDOMAIN : 0, answers: entry === 'nxdomain' ? [] : entry };
      if (opts.spoof) {
        // A wrong ID first, from the right place: must be ignored.
        const bad = encodeMessage({ ...reply, id: (q.id + 1) & 0xffff, answers: [{ name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 1, data: '6.6.6.6' }] });
        ep.send(src, srcPort, bad, 0, bad.length);
      }
      const bytes = encodeMessage(reply);
      ep.send(src, srcPort, bytes, 0, bytes.length);
    },
  });
  return log;
}

function resolver(sim: Sim, server = '10.0.0.2', v6: { hasIpv6?: () => boolean; reaches6?: (a: string) => boolean } = {}) {
  return new Resolver({ udp: sim.a.stack.udp, wheel: sim.a.stack.wheel, clock: sim.clock, server: () => server, ...v6 }, { timeoutMs: 1000, attempts: 3 });
}

const A = (name: string, data: string): DnsRecord => ({ name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 60, data });
const CNAME = (name: string, data: string): DnsRecord => ({ name, type: DNS_TYPE_CNAME, class: DNS_CLASS_IN, ttl: 60, data });
const AAAA = (name: string, data: string): DnsRecord => ({ name, type: DNS_TYPE_AAAA, class: DNS_CLASS_IN, ttl: 60, data });

/** Runs lookups until each has called back; returns their callback arguments in call order. */
async function lookups(sim: Sim, r: Resolver, calls: [string, unknown][]): Promise<unknown[][]> {
  const out: (unknown[] | undefined)[] = calls.map(() => undefined);
  calls.forEach(([name, opts], i) => r.lookup(name, opts as never, (...a: unknown[]) => (out[i] = a)));
  for (let i = 0; i < 100 && out.some((x) => x === undefined); i++) {
    sim.runFor(100);
    await tick();
  }
  if (out.some((x) => x === undefined)) throw new Error('a lookup did not call back');
  return out as unknown[][];
}

async function resolve(sim: Sim, r: Resolver, name: string, limit = 30_000): Promise<{ err: NodeJS.ErrnoException | null; addrs: string[] }> {
  let out: { err: NodeJS.ErrnoException | null; addrs: string[] } | undefined;
  r.resolve4(name, (err, addrs) => (out = { err, addrs }));
  for (let i = 0; i < 100 && out === undefined; i++) {
    sim.runFor(limit / 100);
    await tick();
  }
  if (out === undefined) throw new Error('no answer');
  return out;
}

describe('DNS stub resolver on a virtual clock', () => {
  it('resolves A records from a random source port with a random ID', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, { 'host.test': [A('host.test', '10.9.8.7'), A('host.test', '10.9.8.6')] });
    const r = resolver(sim);
    expect(await resolve(sim, r, 'host.test')).toEqual({ err: null, addrs: ['10.9.8.7', '10.9.8.6'] });
    expect(await resolve(sim, r, 'HOST.test.')).toEqual({ err: null, addrs: ['10.9.8.7', '10.9.8.6'] });
    expect(log).toHaveLength(2);
    expect(log[0]!.port).toBeGreaterThanOrEqual(49152);
    expect(new Set(log.map((l) => `${l.port}/${l.id}`)).size).toBe(2);
  });

  it('follows CNAMEs inside an answer and by asking again', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, {
      'www.test': [CNAME('www.test', 'web.test'), A('web.test', '10.1.1.1')],
      'alias.test': [CNAME('alias.test', 'far.test')],
      'far.test': [A('far.test', '10.2.2.2')],
    });
    const r = resolver(sim);
    expect((await resolve(sim, r, 'www.test')).addrs).toEqual(['10.1.1.1']);
    expect((await resolve(sim, r, 'alias.test')).addrs).toEqual(['10.2.2.2']);
    expect(log.map((l) => l.name)).toEqual(['www.test', 'alias.test', 'far.test']);
  });

  it('NXDOMAIN and empty answers are ENOTFOUND, shaped like getaddrinfo errors', async () => {
    const sim = new Sim();
    fakeDns(sim, { 'gone.test': 'nxdomain', 'empty.test': [] });
    const r = resolver(sim);
    for (const name of ['gone.test', 'empty.test']) {
      const { err } = await resolve(sim, r, name);
      expect(err).toMatchObject({ code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: name, message: `getaddrinfo ENOTFOUND ${name}` });
    }
  });

  it('retries with doubling timeouts, then fails with EAI_AGAIN', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, { 'slow.test': 'drop' });
    const r = resolver(sim);
    const { err } = await resolve(sim, r, 'slow.test', 60_000);
    expect(err).toMatchObject({ code: 'EAI_AGAIN', syscall: 'getaddrinfo', hostname: 'slow.test' });
    expect(log).toHaveLength(3);
    expect(log[1]!.at - log[0]!.at).toBe(1000);
    expect(log[2]!.at - log[1]!.at).toBe(2000);
    expect(r.stats.dns_retries).toBe(2);
    expect(r.stats.dns_timeouts).toBe(1);
  });

  it('ignores answers with the wrong ID', async () => {
    const sim = new Sim();
    fakeDns(sim, { 'host.test': [A('host.test', '10.9.8.7')] }, { spoof: true });
    const r = resolver(sim);
    expect((await resolve(sim, r, 'host.test')).addrs).toEqual(['10.9.8.7']);
    expect(r.stats.dns_ignored).toBe(1);
  });

  it('answers numeric addresses and localhost without a query; no server is ENOTFOUND', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, {});
    const r = resolver(sim);
    expect((await resolve(sim, r, '10.0.0.9')).addrs).toEqual(['10.0.0.9']);
    expect((await resolve(sim, r, 'localhost')).addrs).toEqual(['127.0.0.1']);
    expect(log).toHaveLength(0);
    const none = new Resolver({ udp: sim.a.stack.udp, wheel: sim.a.stack.wheel, clock: sim.clock, server: () => undefined });
    expect((await resolve(sim, none, 'x.test')).err?.code).toBe('ENOTFOUND');
  });

  it("lookup() follows node's dns.lookup signature", async () => {
    const sim = new Sim();
    fakeDns(sim, { 'host.test': [A('host.test', '10.9.8.7'), A('host.test', '10.9.8.6')] });
    const r = resolver(sim);
    const results: unknown[][] = [];
    r.lookup('host.test', (...a: unknown[]) => results.push(a));
    r.lookup('host.test', { all: true }, (...a: unknown[]) => results.push(a));
    r.lookup('host.test', 4, (...a: unknown[]) => results.push(a));
    r.lookup('::1', { family: 6 }, (...a: unknown[]) => results.push(a));
    r.lookup('', (...a: unknown[]) => results.push(a));
    for (let i = 0; i < 20 && results.length < 5; i++) {
      sim.runFor(100);
      await tick();
    }
    expect(results).toContainEqual([null, '10.9.8.7', 4]);
    expect(results).toContainEqual([null, [{ address: '10.9.8.7', family: 4 }, { address: '10.9.8.6', family: 4 }]]);
    expect(results).toContainEqual([null, '::1', 6]);
    expect(results).toContainEqual([null, null, 4]);
    expect(() => r.lookup('x', {}, undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => r.lookup('x', 5, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('AAAA: family 6 asks for AAAA records and follows CNAMEs; an A-only name is ENOTFOUND for family 6', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, {
      'six.test': [AAAA('six.test', '2001:db8::1'), AAAA('six.test', '2001:db8::2'), A('six.test', '10.1.1.1')],
      'alias.test': [CNAME('alias.test', 'six.test')],
      'four.test': [A('four.test', '10.2.2.2')],
    });
    const r = resolver(sim);
    const [six, alias, four, fourAs4] = await lookups(sim, r, [
      ['six.test', { family: 6, all: true }],
      ['alias.test', 6],
      ['four.test', { family: 'IPv6' }],
      ['four.test', { family: 'IPv4' }],
    ]);
    expect(six).toEqual([null, [{ address: '2001:db8::1', family: 6 }, { address: '2001:db8::2', family: 6 }]]);
    expect(alias).toEqual([null, '2001:db8::1', 6]);
    expect(four![0]).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'four.test' });
    expect(fourAs4).toEqual([null, '10.2.2.2', 4]);
    expect(log.filter((q) => q.name === 'six.test').map((q) => q.type)).toEqual([DNS_TYPE_AAAA, DNS_TYPE_AAAA]);
    expect(log.filter((q) => q.name === 'four.test').map((q) => q.type).sort()).toEqual([DNS_TYPE_A, DNS_TYPE_AAAA]);
  });

  it('family 0 asks both: reachable IPv6 first (RFC 6724 rule 1), else IPv4 first; order/verbatim as node; ADDRCONFIG without IPv6 asks A only', async () => {
    const zone = { 'dual.test': [A('dual.test', '10.3.3.3'), AAAA('dual.test', '2001:db8::3')] };
    const sim = new Sim();
    const log = fakeDns(sim, zone);
    const reach = resolver(sim, '10.0.0.2', { hasIpv6: () => true, reaches6: () => true });
    const both = [{ address: '2001:db8::3', family: 6 }, { address: '10.3.3.3', family: 4 }];
    const got = await lookups(sim, reach, [
      ['dual.test', { all: true }],
      ['dual.test', {}],
      ['dual.test', { all: true, order: 'ipv4first' }],
      ['dual.test', { all: true, verbatim: false }],
      ['dual.test', { all: true, order: 'ipv6first' }],
      ['dual.test', { all: true, hints: dnsConst.ADDRCONFIG }],
    ]);
    expect(got).toEqual([
      [null, both],
      [null, '2001:db8::3', 6],
      [null, [...both].reverse()],
      [null, [...both].reverse()],
      [null, both],
      [null, both],
    ]);
    const unreach = resolver(sim, '10.0.0.2', { hasIpv6: () => false, reaches6: () => false });
    const before = log.length;
    const [noRoute, addrconfig, ipv6first] = await lookups(sim, unreach, [
      ['dual.test', { all: true }],
      ['dual.test', { all: true, hints: dnsConst.ADDRCONFIG }],
      ['dual.test', { order: 'ipv6first' }],
    ]);
    expect(noRoute).toEqual([null, [...both].reverse()]);
    expect(addrconfig).toEqual([null, [{ address: '10.3.3.3', family: 4 }]]);
    expect(ipv6first).toEqual([null, '2001:db8::3', 6]);
    // The ADDRCONFIG lookup asked for A only: 2 + 1 + 2 queries.
    expect(log.length - before).toBe(5);
  });

  it('localhost and ip6-localhost as node with Debian\'s hosts file; V4MAPPED maps A answers when there is no AAAA; argument errors as node', async () => {
    const sim = new Sim();
    const log = fakeDns(sim, { 'four.test': [A('four.test', '10.2.2.2')] });
    const r = resolver(sim, '10.0.0.2', { hasIpv6: () => false, reaches6: (a) => a === '::1' });
    const got = await lookups(sim, r, [
      ['localhost', { all: true }],
      ['localhost', 4],
      ['localhost', 6],
      ['ip6-localhost', { all: true }],
      ['ip6-localhost', 4],
      ['localhost', { all: true, hints: dnsConst.ADDRCONFIG }],
      ['four.test', { family: 6, hints: dnsConst.V4MAPPED, all: true }],
    ]);
    expect(got[0]).toEqual([null, [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }]]);
    expect(got[1]).toEqual([null, '127.0.0.1', 4]);
    expect(got[2]).toEqual([null, '::1', 6]);
    expect(got[3]).toEqual([null, [{ address: '::1', family: 6 }]]);
    expect(got[4]![0]).toMatchObject({ code: 'ENOTFOUND', hostname: 'ip6-localhost' });
    expect(got[5]).toEqual([null, [{ address: '127.0.0.1', family: 4 }]]);
    expect(got[6]).toEqual([null, [{ address: '::ffff:10.2.2.2', family: 6 }]]);
    expect(log.map((q) => q.name)).toEqual(['four.test', 'four.test']);
    // node's own messages for the same mistakes.
    for (const bad of [{ order: 'bad' }, { verbatim: 1 }, { family: 5 }, 7]) {
      let nodes: Error | undefined;
      try {
        dnsConst.lookup('localhost', bad as never, () => {});
      } catch (e) {
        nodes = e as Error;
      }
      expect(nodes, JSON.stringify(bad)).toBeDefined();
      expect(() => r.lookup('localhost', bad as never, () => {})).toThrow(expect.objectContaining({ code: (nodes as NodeJS.ErrnoException).code, message: nodes!.message }));
    }
  });

  it('hostile AAAA answers: RDATA not 16 bytes counted and skipped, more than 64 addresses capped, a reply to another type ignored', async () => {
    const sim = new Sim();
    const many = Array.from({ length: 100 }, (_, i) => AAAA('many.test', `2001:db8::${(i + 1).toString(16)}`));
    const bad: DnsRecord = { name: 'odd.test', type: DNS_TYPE_AAAA, class: DNS_CLASS_IN, ttl: 1, rdata: new Uint8Array(5) };
    fakeDns(sim, { 'many.test': many, 'odd.test': [bad, AAAA('odd.test', 'fd00::9')] });
    // A server that answers an AAAA question with the question changed to A: not our question.
    const r = resolver(sim);
    const [m, odd] = await lookups(sim, r, [['many.test', { family: 6, all: true }], ['odd.test', { family: 6, all: true }]]);
    expect((m![1] as unknown[]).length).toBe(64);
    expect(r.stats.dns_addresses_capped).toBe(36);
    expect(odd).toEqual([null, [{ address: 'fd00::9', family: 6 }]]);
    expect(r.stats.dns_ignored_records).toBe(1);

    const sim2 = new Sim();
    const ep = sim2.b.stack.udp.bind(0, 53, {
      onDatagram(src, srcPort, _dst, buf, off, len) {
        const q = decodeMessage(buf.slice(off, off + len));
        const reply = encodeMessage({ ...q, response: true, questions: [{ ...q.questions[0]!, type: DNS_TYPE_A }], answers: [A(q.questions[0]!.name, '6.6.6.6')] });
        ep.send(src, srcPort, reply, 0, reply.length);
      },
    });
    const r2 = resolver(sim2);
    const [spoofed] = await lookups(sim2, r2, [['x.test', 6]]);
    expect(spoofed![0]).toMatchObject({ code: 'EAI_AGAIN' });
    expect(r2.stats.dns_ignored_question).toBe(3);
  });
});
