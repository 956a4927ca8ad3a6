/**
 * The stub resolver on a virtual clock against a fake DNS server on the other
 * stack of a Sim link: A answers, CNAME chains (inside one answer and by a
 * follow-up query), NXDOMAIN, retries then EAI_AGAIN, spoofed answers
 * ignored, and node's dns.lookup argument handling.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../helpers/sim.js';
import {
  DNS_CLASS_IN,
  DNS_RCODE_NXDOMAIN,
  DNS_TYPE_A,
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
  const log: { at: number; name: string; id: number; port: number }[] = [];
  const ep = sim.b.stack.udp.bind(0, 53, {
    onDatagram(src, srcPort, _dst, buf, off, len) {
      const q = decodeMessage(buf.slice(off, off + len));
      const name = q.questions[0]!.name;
      log.push({ at: sim.clock.now(), name, id: q.id, port: srcPort });
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

function resolver(sim: Sim, server = '10.0.0.2') {
  return new Resolver({ udp: sim.a.stack.udp, wheel: sim.a.stack.wheel, clock: sim.clock, server: () => server }, { timeoutMs: 1000, attempts: 3 });
}

const A = (name: string, data: string): DnsRecord => ({ name, type: DNS_TYPE_A, class: DNS_CLASS_IN, ttl: 60, data });
const CNAME = (name: string, data: string): DnsRecord => ({ name, type: DNS_TYPE_CNAME, class: DNS_CLASS_IN, ttl: 60, data });

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
});
