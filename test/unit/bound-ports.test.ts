/**
 * What the AF_XDP shared-address mode asks of the engine: the ports the
 * stack listens on (NetStack.boundPorts, protocol << 16 | port), a call when
 * they change (onPortsChanged: a port's first holder and its last leaving,
 * never a second holder), and an ephemeral range of its own for TCP connects
 * and UDP binds (ephemeralPorts).
 */
import { describe, expect, it } from 'vitest';
import { MemoryNic } from '../../src/driver/memory-nic.js';
import { NetStack } from '../../src/stack/net-stack.js';
import { VirtualClock } from '../../src/time/clock.js';
import { parseIpv4Address } from '../../src/wire/ipv4.js';

function stackWith(opts: ConstructorParameters<typeof NetStack>[1] = {}): NetStack {
  const stack = new NetStack(new VirtualClock(0), opts);
  const [nic] = MemoryNic.pair();
  stack.addInterface(nic, { name: 'm0', address: parseIpv4Address('10.0.0.1'), prefixLength: 24, gateway: 0 });
  return stack;
}

const TCP = 6 << 16;
const UDP = 17 << 16;
const noop = { onDatagram: (): void => {} };

describe('NetStack.boundPorts and onPortsChanged', () => {
  it('lists TCP listeners and UDP endpoints, and calls on a first holder and a last leaving only', () => {
    const stack = stackWith();
    let calls = 0;
    stack.onPortsChanged = () => calls++;
    const l80 = stack.tcp.listen(80);
    const u53 = stack.udp.bind(0, 53, noop, true);
    const u53b = stack.udp.bind(0, 53, noop, true);
    expect(calls).toBe(2); // port 80 and port 53 appeared; 53's second holder changed nothing
    expect(stack.boundPorts().sort()).toEqual([TCP | 80, UDP | 53].sort());
    stack.udp.unbind(u53);
    expect(calls).toBe(2); // 53 still held
    stack.udp.unbind(u53b);
    expect(calls).toBe(3);
    stack.tcp.unlisten(l80);
    expect(calls).toBe(4);
    expect(stack.boundPorts()).toEqual([]);
  });

  it('takes ephemeral ports from the range it is given, for TCP and UDP', () => {
    const stack = stackWith({ ephemeralPorts: { low: 61000, high: 61003 } });
    const seen = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const ep = stack.udp.bind(0, 0, noop);
      expect(ep.localPort).toBeGreaterThanOrEqual(61000);
      expect(ep.localPort).toBeLessThanOrEqual(61003);
      seen.add(ep.localPort);
    }
    expect(seen.size).toBe(4);
    expect(() => stack.udp.bind(0, 0, noop)).toThrow(/no ephemeral UDP port free/);
    const c = stack.tcp.connect(parseIpv4Address('10.0.0.2'), 80);
    expect(c.localPort).toBeGreaterThanOrEqual(61000);
    expect(c.localPort).toBeLessThanOrEqual(61003);
  });
});
