/**
 * The shard API's refusals, before anything is opened: Stack.open({ workers })
 * outside a worker process, ShardOwner.open() inside one, a worker count out
 * of range, devices without software steering (e1000, virtio through VFIO,
 * AF_XDP's shared-address mode and queue=all), a malformed address; and
 * USTACK_SHARD's parsing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Stack } from '../../src/ustack.js';
import { ShardOwner } from '../../src/shard/owner.js';
import { SHARD_ENV, parseShardDescription } from '../../src/shard/messages.js';
import { loadAddon } from '../../src/driver/addon.js';

describe('shard options', () => {
  const saved = process.env[SHARD_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[SHARD_ENV];
    else process.env[SHARD_ENV] = saved;
  });

  it('Stack.open({ workers }) in a process that is no worker: ERR_USTACK_SHARD_OWNER', async () => {
    delete process.env[SHARD_ENV];
    await expect(Stack.open({ nic: 'tap:x', address: '10.0.0.2/24', workers: 2 })).rejects.toMatchObject({ code: 'ERR_USTACK_SHARD_OWNER' });
  });

  it('ShardOwner.open() in a worker: ERR_USTACK_SHARD_WORKER', async () => {
    process.env[SHARD_ENV] = '{}';
    await expect(ShardOwner.open({ nic: 'tap:x', address: '10.0.0.2/24', workers: 2 })).rejects.toMatchObject({ code: 'ERR_USTACK_SHARD_WORKER' });
  });

  it('refuses what it cannot steer, before opening anything', async () => {
    delete process.env[SHARD_ENV];
    const bad: [Partial<Parameters<typeof ShardOwner.open>[0]>, RegExp][] = [
      [{ workers: 0 }, /workers/],
      [{ workers: 65 }, /workers/],
      [{ workers: 1.5 }, /workers/],
      [{ nic: 'e1000:00:03.0' }, /cannot be shared by workers yet/],
      [{ nic: 'virtio:00:04.0?access=vfio' }, /access=vfio is not supported with workers yet/],
      [{ nic: 'xdp:eth0?shared=1' }, /shared=1/],
      [{ nic: 'xdp:eth0?queue=all' }, /queue=all/],
      [{ address: '10.0.0.2' }, /prefix length/],
    ];
    for (const [opts, message] of bad) {
      await expect(ShardOwner.open({ nic: 'tap:x', address: '10.0.0.2/24', workers: 2, ...opts })).rejects.toThrow(message);
    }
  });

  it('USTACK_SHARD: absent is no worker; malformed throws; well-formed parses', () => {
    expect(parseShardDescription(undefined)).toBeNull();
    expect(parseShardDescription('')).toBeNull();
    expect(() => parseShardDescription('{"place":-1}')).toThrow(/place/);
    const d = {
      place: 1,
      workers: 2,
      fd: 4,
      wakeFd: 5,
      ownerWakeFd: 6,
      device: 'tap0',
      mac: 0x020000000001,
      mtu: 1500,
      offloads: { txChecksum: true, tso: true, rxChecksumVerified: false },
      rxPerFrameFlags: true,
      address: 0x0a000002,
      prefixLength: 24,
      gateway: 0,
      ephemeralLow: 49152,
      ephemeralHigh: 65535,
    };
    expect(parseShardDescription(JSON.stringify(d))).toEqual(d);
    expect(() => parseShardDescription(JSON.stringify({ ...d, device: 3 }))).toThrow(/device/);
  });
});

describe('the shared region (ShmOwner) refuses a hugePages option that is not a boolean', () => {
  it.each([['yes'], [1], [{}]])('hugePages: %j -> ERR_INVALID_ARG_TYPE', (hugePages) => {
    const { ShmOwner } = loadAddon();
    const Ctor = ShmOwner as unknown as new (o: object) => { close(): void };
    expect(() => new Ctor({ workers: 2, ownerSlots: 64, workerSlots: 64, slotSize: 2048, hugePages })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
