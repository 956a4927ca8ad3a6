import { describe, expect, it } from 'vitest';
import { parseImpairSpec, parseNicSpec } from '../../src/driver/nic-spec.js';

function expectInvalid(fn: () => unknown, mention: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TypeError);
  expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
  expect((err as Error).message).toContain(mention);
}

describe('parseNicSpec', () => {
  it('parses tap, e1000 and memory', () => {
    expect(parseNicSpec('tap:ustack0')).toEqual({ kind: 'tap', name: 'ustack0' });
    expect(parseNicSpec('e1000:0000:00:03.0')).toEqual({ kind: 'e1000', pci: '0000:00:03.0', access: 'uio' });
    expect(parseNicSpec('e1000:0000:00:03.0?access=vfio')).toEqual({
      kind: 'e1000',
      pci: '0000:00:03.0',
      access: 'vfio',
    });
    expect(parseNicSpec('e1000:0000:00:03.0?access=uio')).toEqual({ kind: 'e1000', pci: '0000:00:03.0', access: 'uio' });
    expect(parseNicSpec('e1000:00:1F.7')).toEqual({ kind: 'e1000', pci: '0000:00:1f.7', access: 'uio' });
    expect(parseNicSpec('e1000:ABCD:Ef:03.0')).toEqual({ kind: 'e1000', pci: 'abcd:ef:03.0', access: 'uio' });
    expect(parseNicSpec('e1000:0000:00:03.0?tso=off')).toStrictEqual({ kind: 'e1000', pci: '0000:00:03.0', access: 'uio', tso: false });
    expect(parseNicSpec('e1000:0000:00:03.0?access=vfio&tso=on')).toStrictEqual({
      kind: 'e1000',
      pci: '0000:00:03.0',
      access: 'vfio',
      tso: true,
    });
    expect(parseNicSpec('e1000:0000:00:03.0?access=uio')).not.toHaveProperty('tso');
    expect(parseNicSpec('memory')).toEqual({ kind: 'memory' });
    expect(parseNicSpec('  tap:t-1.x_2 ')).toEqual({ kind: 'tap', name: 't-1.x_2' });
  });

  it('rejects bad specs, naming the bad part', () => {
    expectInvalid(() => parseNicSpec(''), "unknown kind ''");
    expectInvalid(() => parseNicSpec('eth0'), "unknown kind 'eth0'");
    expectInvalid(() => parseNicSpec('virtio2:0000:00:03.0'), "unknown kind 'virtio2'");
    expectInvalid(() => parseNicSpec('tap:'), "TAP interface name ''");
    expectInvalid(() => parseNicSpec('tap:this-name-is-too-long'), 'this-name-is-too-long');
    expectInvalid(() => parseNicSpec('tap:a/b'), "'a/b'");
    expectInvalid(() => parseNicSpec('tap:..'), "'..'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03'), "PCI address '0000:00:03'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.8'), '0000:00:03.8');
    expectInvalid(() => parseNicSpec('e1000:0000:00:20.0'), 'device number 20');
    expectInvalid(() => parseNicSpec('e1000:0000:zz:03.0'), 'zz');
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?access=dpdk'), "access 'dpdk'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?mode=vfio'), "option 'mode'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?access=uio&access=vfio'), "'access'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?tso=yes'), "tso 'yes'");
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?tso=on&tso=off'), "'tso'");
    expectInvalid(() => parseNicSpec('memory:x'), "unknown kind 'memory'");
  });

  it('parses virtio:PCI with access, queues and tso', () => {
    expect(parseNicSpec('virtio:0000:00:03.0')).toStrictEqual({ kind: 'virtio', pci: '0000:00:03.0', access: 'uio' });
    expect(parseNicSpec('virtio:00:04.0?access=vfio&queues=2&tso=off')).toStrictEqual({
      kind: 'virtio',
      pci: '0000:00:04.0',
      access: 'vfio',
      queues: 2,
      tso: false,
    });
    expect(parseNicSpec('virtio:0000:00:03.0?queues=16')).toStrictEqual({ kind: 'virtio', pci: '0000:00:03.0', access: 'uio', queues: 16 });
    expect(parseNicSpec('virtio:0000:00:03.0?tso=on')).toStrictEqual({ kind: 'virtio', pci: '0000:00:03.0', access: 'uio', tso: true });
  });

  it('rejects bad virtio specs, naming the bad part', () => {
    expectInvalid(() => parseNicSpec('virtio:0000:00:03'), "PCI address '0000:00:03'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:20.0'), 'device number 20');
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queues=0'), "invalid queues '0'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queues=17'), "invalid queues '17'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queues=2.5'), "invalid queues '2.5'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queues='), "invalid queues ''");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queues=1&queues=2'), "repeats the option 'queues'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?access=dpdk'), "access 'dpdk'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?tso=1'), "tso '1'");
    expectInvalid(() => parseNicSpec('virtio:0000:00:03.0?queue=2'), "unknown option 'queue' (supported: access=uio|vfio, queues=N, tso=on|off)");
    // queues is virtio's: the e1000 has one queue.
    expectInvalid(() => parseNicSpec('e1000:0000:00:03.0?queues=2'), "unknown option 'queues'");
  });

  it('parses xdp:IFNAME with queue, mode, zerocopy and busy', () => {
    const base = { kind: 'xdp', ifname: 'veth0', queue: 0, mode: 'auto', zerocopy: 'auto', busyPoll: false, shared: false };
    expect(parseNicSpec('xdp:veth0')).toEqual(base);
    expect(parseNicSpec('xdp:veth0?queue=3&mode=native&zerocopy=on&busy=1')).toEqual({
      ...base,
      queue: 3,
      mode: 'native',
      zerocopy: 'on',
      busyPoll: true,
    });
    expect(parseNicSpec('xdp:eth0.100?mode=generic&zerocopy=off')).toEqual({ ...base, ifname: 'eth0.100', mode: 'generic', zerocopy: 'off' });
    expect(parseNicSpec('xdp:eth0?shared=1')).toEqual({ ...base, ifname: 'eth0', shared: true });
    expect(parseNicSpec('xdp:eth0?queue=all')).toEqual({ ...base, ifname: 'eth0', queue: 'all' });
  });

  it('rejects bad xdp specs, naming the bad part', () => {
    expectInvalid(() => parseNicSpec('xdp:'), "invalid interface name ''");
    expectInvalid(() => parseNicSpec('xdp:../x'), 'invalid interface name');
    expectInvalid(() => parseNicSpec('xdp:a-name-too-long-for-linux'), 'invalid interface name');
    expectInvalid(() => parseNicSpec('xdp:veth0?queue=-1'), "invalid queue '-1'");
    expectInvalid(() => parseNicSpec('xdp:veth0?queue=70000'), "invalid queue '70000'");
    expectInvalid(() => parseNicSpec('xdp:veth0?mode=skb'), "invalid mode 'skb'");
    expectInvalid(() => parseNicSpec('xdp:veth0?zerocopy=yes'), "invalid zerocopy 'yes'");
    expectInvalid(() => parseNicSpec('xdp:veth0?busy=2'), "invalid busy '2'");
    expectInvalid(() => parseNicSpec('xdp:veth0?shared=yes'), "invalid shared 'yes'");
    expectInvalid(() => parseNicSpec('xdp:veth0?queue=1&queue=2'), "repeats the option 'queue'");
    expectInvalid(() => parseNicSpec('xdp:veth0?tso=on'), "unknown option 'tso'");
  });

  it('rejects non-strings with ERR_INVALID_ARG_TYPE', () => {
    expect(() => parseNicSpec(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('parseImpairSpec', () => {
  it('parses the full example', () => {
    expect(parseImpairSpec('loss=0.02,reorder=0.05,duplicate=0.01,corrupt=0.001,delay=5ms,jitter=1ms,rate=10mbit,seed=1')).toEqual({
      loss: 0.02,
      reorder: 0.05,
      duplicate: 0.01,
      corrupt: 0.001,
      delay: 5,
      jitter: 1,
      rate: 10_000_000,
      seed: 1,
    });
  });

  it('handles units, percentages, aliases and whitespace', () => {
    expect(parseImpairSpec('')).toEqual({});
    expect(parseImpairSpec('  ')).toEqual({});
    expect(parseImpairSpec('loss=2%')).toEqual({ loss: 0.02 });
    expect(parseImpairSpec('loss=100%')).toEqual({ loss: 1 });
    expect(parseImpairSpec('delay=5')).toEqual({ delay: 5 });
    expect(parseImpairSpec('delay=0.5s')).toEqual({ delay: 500 });
    expect(parseImpairSpec('delay=250us')).toEqual({ delay: 0.25 });
    expect(parseImpairSpec('jitter=1.5ms')).toEqual({ jitter: 1.5 });
    expect(parseImpairSpec('rate=512kbit')).toEqual({ rate: 512_000 });
    expect(parseImpairSpec('rate=1gbit')).toEqual({ rate: 1e9 });
    expect(parseImpairSpec('rate=1.5Mbit')).toEqual({ rate: 1.5e6 });
    expect(parseImpairSpec('rate=9600')).toEqual({ rate: 9600 });
    expect(parseImpairSpec('rate=100bit')).toEqual({ rate: 100 });
    expect(parseImpairSpec(' loss = 0.1 , dup=0.2, queue=50 ')).toEqual({ loss: 0.1, duplicate: 0.2, queueLimit: 50 });
    expect(parseImpairSpec('limit=7')).toEqual({ queueLimit: 7 });
    expect(parseImpairSpec('seed=0')).toEqual({ seed: 0 });
  });

  it('rejects bad input, naming the bad part', () => {
    expectInvalid(() => parseImpairSpec('loss'), "'loss' without '='");
    expectInvalid(() => parseImpairSpec('los=0.1'), "unknown key 'los'");
    expectInvalid(() => parseImpairSpec('loss=1.5'), "loss '1.5'");
    expectInvalid(() => parseImpairSpec('loss=150%'), "loss '150%'");
    expectInvalid(() => parseImpairSpec('loss=-0.1'), "loss '-0.1'");
    expectInvalid(() => parseImpairSpec('loss=abc'), "loss 'abc'");
    expectInvalid(() => parseImpairSpec('loss=0.1ms'), "loss '0.1ms'");
    expectInvalid(() => parseImpairSpec('delay=5min'), "delay '5min'");
    expectInvalid(() => parseImpairSpec('delay=-5ms'), "delay '-5ms'");
    expectInvalid(() => parseImpairSpec('delay='), "delay ''");
    expectInvalid(() => parseImpairSpec('rate=10mbps'), "rate '10mbps'");
    expectInvalid(() => parseImpairSpec('rate=fast'), "rate 'fast'");
    expectInvalid(() => parseImpairSpec('seed=1.5'), "seed '1.5'");
    expectInvalid(() => parseImpairSpec('queue=0'), "queue '0'");
    expectInvalid(() => parseImpairSpec('loss=0.1,loss=0.2'), "'loss' more than once");
    expectInvalid(() => parseImpairSpec('loss=0.1,,delay=1'), "without '='");
  });
});
