/**
 * What the virtio-net driver refuses before it touches any device: malformed
 * PCI addresses (in VirtioNic.open, parseNicSpec and at the addon's boundary,
 * new VirtioDevice), options out of range (queue pairs), and which devices
 * `ustack devices` / `bind` take for it. No device or VM needed (the VM test,
 * test/vm/run.mjs, drives a real one): 0000:ff:1f.7 is a valid address no
 * machine here has, so a well-formed one reaches sysfs and names what is
 * missing there. Never an address of this host's own NICs.
 */
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/driver/addon.js';
import { parseNicSpec } from '../../src/driver/nic-spec.js';
import { nicDriver, virtioModel } from '../../src/driver/pci-sysfs.js';
import { VirtioNic } from '../../src/driver/virtio-nic.js';

const MALFORMED = ['', '../../x', '0000:00:03.0/../..', '0000:00:03', '0000:00:20.0', '0000:00:03.8', '/sys/bus/pci/devices/0000:00:03.0'];
const ABSENT = '0000:ff:1f.7';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

describe('virtio-net: what is refused before any device is touched', () => {
  it('VirtioNic.open and parseNicSpec refuse malformed addresses', () => {
    for (const a of MALFORMED) {
      expect(codeOf(() => VirtioNic.open({ pci: a }))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(() => parseNicSpec(`virtio:${a}`))).toBe('ERR_INVALID_ARG_VALUE');
    }
  });

  it('VirtioNic.open refuses queue counts and MTUs out of range', () => {
    for (const queues of [0, 17, 1.5, -1]) expect(codeOf(() => VirtioNic.open({ pci: ABSENT, queues }))).toBe('ERR_OUT_OF_RANGE');
    for (const mtu of [67, 65519, 1500.5]) expect(codeOf(() => VirtioNic.open({ pci: ABSENT, mtu }))).toBe('ERR_OUT_OF_RANGE');
  });

  it('the devices it drives: 1af4:1041 and transitional 1af4:1000; no other virtio device (9p is 1af4:1009)', () => {
    expect(virtioModel(0x1af4, 0x1041)).toBe('virtio-net');
    expect(virtioModel(0x1af4, 0x1000)).toBe('virtio-net (transitional)');
    expect(virtioModel(0x1af4, 0x1009)).toBeNull();
    expect(virtioModel(0x8086, 0x1041)).toBeNull();
    expect(nicDriver(0x1af4, 0x1041)).toEqual({ kind: 'virtio', model: 'virtio-net' });
    expect(nicDriver(0x8086, 0x100e)).toEqual({ kind: 'e1000', model: '82540EM' });
    expect(nicDriver(0x1af4, 0x1009)).toBeNull();
  });
});

let addon: ReturnType<typeof loadAddon> | null = null;
try {
  addon = loadAddon();
} catch {
  console.log('[virtio-args] addon checks skipped: the addon is not built');
}

describe.skipIf(addon === null)('virtio-net at the addon boundary', () => {
  it.each(MALFORMED)('new VirtioDevice(%j) fails with ERR_INVALID_ARG_VALUE', (addr) => {
    let err: unknown;
    try {
      new addon!.VirtioDevice(addr, 'uio', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect((err as { code?: string }).code).toBe('ERR_INVALID_ARG_VALUE');
    expect((err as Error).message).toMatch(/PCI address DDDD:BB:DD\.F/);
  });

  it('bad access, argument types and option values are refused first', () => {
    expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'dpdk' as 'uio'))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => new (addon!.VirtioDevice as unknown as new (...a: unknown[]) => unknown)(42, 'uio'))).toBe('ERR_INVALID_ARG_TYPE');
    for (const queues of [0, 17, -1, 2.5]) expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'uio', { queues }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'uio', { queueSize: 100 }))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'uio', { slotSize: 3000 }))).toBe('ERR_OUT_OF_RANGE');
  });

  it('a well-formed address reaches sysfs and names what is missing there', () => {
    expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'uio', {}))).toBe('ERR_USTACK_NO_DEVICE');
    expect(codeOf(() => new addon!.VirtioDevice(ABSENT, 'vfio', { queues: 2 }))).toBe('ERR_USTACK_NO_DEVICE');
    expect(addon!.virtioSupportedDevice(0x1af4, 0x1041)).toBe('virtio-net');
    expect(addon!.virtioSupportedDevice(0x1af4, 0x1009)).toBeNull();
  });
});
