/** The `address` option with IPv6: parsing into IPv4 / dhcp / IPv6 / slaac, and what is refused by name. */
import { describe, expect, it } from 'vitest';
import { Stack, parseAddresses, splitHostAddresses } from '../../src/ustack.js';
import { ipv6ToString } from '../../src/wire/ipv6.js';

describe('address option with IPv6', () => {
  it('splits IPv4, IPv6 with prefix lengths and slaac', () => {
    const p = parseAddresses(['10.11.0.2/24', 'fd00:11::2/64', 'slaac', '2001:db8::5/48']);
    expect(p.v4).toStrictEqual({ address: 0x0a0b0002, prefixLength: 24, netmask: 0xffffff00 });
    expect(p.dhcp).toBe(false);
    expect(p.slaac).toBe(true);
    expect(p.v6.map((a) => `${ipv6ToString(a.address)}/${a.prefixLength}`)).toStrictEqual(['fd00:11::2/64', '2001:db8::5/48']);
    expect(parseAddresses('fd00::2/64').v4).toBeNull();
    expect(parseAddresses(['dhcp', 'slaac'])).toMatchObject({ dhcp: true, slaac: true, v4: null });
    expect(splitHostAddresses(['10.11.0.1/24', 'FD00:11:0::1/64'])).toStrictEqual({ v4: '10.11.0.1/24', v6: ['fd00:11::1/64'] });
  });

  it('refuses two IPv4 addresses, a missing or bad prefix, an empty list, by name with ERR_INVALID_ARG_VALUE', () => {
    const bad: Array<[unknown, RegExp]> = [
      [['10.0.0.2/24', '10.0.0.3/24'], /takes one IPv4 address/],
      [['dhcp', '10.0.0.3/24'], /takes one IPv4 address/],
      [['fd00::2'], /must be an address with a prefix length.*fd00::2/],
      [['fd00::2/129'], /must be an address with a prefix length/],
      [['fd00::g/64'], /must be an address with a prefix length/],
      [[], /must not be an empty array/],
    ];
    for (const [input, message] of bad) {
      expect(() => parseAddresses(input as string[]), JSON.stringify(input)).toThrow(message);
      try {
        parseAddresses(input as string[]);
      } catch (e) {
        expect((e as { code: string }).code).toBe('ERR_INVALID_ARG_VALUE');
      }
    }
    expect(() => parseAddresses([5 as unknown as string])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('Stack.open refuses IPv6 in AF_XDP shared-address mode and a list with workers before opening anything', async () => {
    await expect(Stack.open({ nic: 'xdp:nonexistent0?shared=1', address: ['10.0.0.2/24', 'fd00::2/64'] })).rejects.toThrow(/IPv6 is not supported in AF_XDP shared-address mode/);
    await expect(Stack.open({ nic: 'tap:x', address: ['10.0.0.2/24', 'fd00::2/64'], workers: 2 })).rejects.toThrow(/one IPv4 address with workers/);
  });
});
