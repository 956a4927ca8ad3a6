/**
 * PCI device discovery and driver binding through sysfs, for the `ustack
 * devices` / `bind` / `unbind` / `hugepages` commands. Plain synchronous file
 * operations; errors carry Node-style / ustack codes and say what to do.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { codedError } from '../errors/node-errors.js';

export const SYS_PCI = '/sys/bus/pci/devices';
const SYS_DRIVERS = '/sys/bus/pci/drivers';

export interface PciDevice {
  address: string;
  vendor: number;
  device: number;
  /** PCI class, e.g. 0x020000 for Ethernet. */
  class: number;
  /** Bound kernel driver, '' if none. */
  driver: string;
  /** Kernel network interfaces (when bound to a kernel NIC driver). */
  interfaces: string[];
  iommuGroup: string | null;
}

/** The models addon/e1000 drives (legacy-descriptor 8254x). */
export const E1000_MODELS: Record<number, string> = {
  0x100e: '82540EM',
  0x100f: '82545EM',
  0x1011: '82545EM (fiber)',
  0x1015: '82540EM (LOM)',
  0x1016: '82540EP (LOM)',
  0x1017: '82540EP',
  0x101e: '82540EP (mobile)',
  0x1026: '82545GM',
  0x1076: '82541GI',
  0x107c: '82541PI',
};

export function e1000Model(vendor: number, device: number): string | null {
  return vendor === 0x8086 ? (E1000_MODELS[device] ?? null) : null;
}

/** The virtio-net devices addon/virtio drives (virtio 1.x; a transitional one through its modern interface). */
export const VIRTIO_MODELS: Record<number, string> = {
  0x1041: 'virtio-net',
  0x1000: 'virtio-net (transitional)',
};

export function virtioModel(vendor: number, device: number): string | null {
  return vendor === 0x1af4 ? (VIRTIO_MODELS[device] ?? null) : null;
}

/** Which ustack driver takes a device ('e1000' or 'virtio', the --nic kind) and its model, or null. */
export function nicDriver(vendor: number, device: number): { kind: 'e1000' | 'virtio'; model: string } | null {
  const e = e1000Model(vendor, device);
  if (e !== null) return { kind: 'e1000', model: e };
  const v = virtioModel(vendor, device);
  return v === null ? null : { kind: 'virtio', model: v };
}

function readHex(path: string): number {
  return parseInt(readFileSync(path, 'utf8').trim(), 16);
}

function linkBase(path: string): string {
  try {
    return basename(readlinkSync(path));
  } catch {
    return '';
  }
}

const PCI_ADDRESS = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/;
const CANONICAL_PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/;

function invalidPci(addr: unknown, why: string): TypeError & { code: string } {
  const shown = typeof addr === 'string' ? `'${addr.length > 64 ? `${addr.slice(0, 64)}...` : addr}'` : `type ${typeof addr}`;
  const e = new TypeError(`invalid PCI address ${shown}: ${why}`) as TypeError & { code: string };
  e.code = 'ERR_INVALID_ARG_VALUE';
  return e;
}

/**
 * Normalises '00:03.0' to '0000:00:03.0'. Anything but DDDD:BB:SS.F (hex,
 * device 00-1f, function 0-7; the domain may be left out) throws a TypeError
 * with code ERR_INVALID_ARG_VALUE: the address becomes part of sysfs paths
 * written as root, where '../' would lead anywhere.
 */
export function normalizePci(addr: string): string {
  if (typeof addr !== 'string' || addr.length > 12) {
    throw invalidPci(addr, 'expected DDDD:BB:SS.F, e.g. 0000:00:03.0');
  }
  const m = PCI_ADDRESS.exec(addr);
  if (!m) throw invalidPci(addr, 'expected DDDD:BB:SS.F, e.g. 0000:00:03.0');
  if (parseInt(m[3]!, 16) > 0x1f) throw invalidPci(addr, `device number ${m[3]!} is above 1f`);
  return `${(m[1] ?? '0000').toLowerCase()}:${m[2]!.toLowerCase()}:${m[3]!.toLowerCase()}.${m[4]}`;
}

/** Throws ERR_INVALID_ARG_VALUE unless `addr` is a canonical address as sysfs names devices (0000:00:03.0). */
export function assertPciAddress(addr: string): void {
  if (typeof addr !== 'string' || !CANONICAL_PCI_ADDRESS.test(addr)) {
    throw invalidPci(addr, 'expected a canonical DDDD:BB:SS.F (lower-case hex, device <= 1f, function <= 7), e.g. 0000:00:03.0');
  }
}

export function readPciDevice(address: string): PciDevice {
  assertPciAddress(address);
  const dir = join(SYS_PCI, address);
  if (!existsSync(dir)) throw codedError('ERR_USTACK_NO_DEVICE', `no PCI device ${address} (see: ustack devices)`);
  let interfaces: string[] = [];
  try {
    interfaces = readdirSync(join(dir, 'net'));
  } catch {
    /* not a kernel netdev now */
  }
  // A virtio device's netdev hangs off its virtio bus device (…/virtio0/net/eth0).
  if (interfaces.length === 0) {
    try {
      for (const v of readdirSync(dir).filter((n) => /^virtio\d+$/.test(n))) {
        try {
          interfaces.push(...readdirSync(join(dir, v, 'net')));
        } catch {
          /* not a network virtio device */
        }
      }
    } catch {
      /* unreadable */
    }
  }
  const group = linkBase(join(dir, 'iommu_group'));
  return {
    address,
    vendor: readHex(join(dir, 'vendor')),
    device: readHex(join(dir, 'device')),
    class: readHex(join(dir, 'class')),
    driver: linkBase(join(dir, 'driver')),
    interfaces,
    iommuGroup: group === '' ? null : group,
  };
}

/** Every network-class PCI device (class 0x02). */
export function listNetworkDevices(): PciDevice[] {
  let names: string[];
  try {
    names = readdirSync(SYS_PCI);
  } catch {
    return [];
  }
  return names
    .map((a) => {
      try {
        return readPciDevice(a);
      } catch {
        return null;
      }
    })
    .filter((d): d is PciDevice => d !== null && d.class >> 16 === 0x02)
    .sort((a, b) => a.address.localeCompare(b.address));
}

function sysWrite(path: string, value: string, what: string): void {
  try {
    writeFileSync(path, value);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EACCES' || e.code === 'EPERM') {
      throw codedError('ERR_USTACK_NO_PERMISSION', `no permission to ${what} (writing ${path}): run as root`);
    }
    throw codedError(e.code ?? 'EIO', `cannot ${what}: ${e.code ?? ''} ${e.message}`);
  }
}

/** Loads kernel modules with modprobe when their driver directory is missing. */
function ensureDriver(driver: string, modules: string[]): void {
  if (existsSync(join(SYS_DRIVERS, driver))) return;
  for (const m of modules) {
    try {
      execFileSync('modprobe', [m], { stdio: 'ignore' });
    } catch {
      /* reported below if the driver is still missing */
    }
  }
  if (!existsSync(join(SYS_DRIVERS, driver))) {
    throw codedError('ERR_USTACK_NO_KERNEL_DRIVER', `kernel driver ${driver} is not available (modprobe ${modules.join(' ')} failed)`);
  }
}

function iommuGroupMembers(group: string): string[] {
  try {
    return readdirSync(`/sys/kernel/iommu_groups/${group}/devices`);
  } catch {
    return [];
  }
}

export interface BindResult {
  device: PciDevice;
  previousDriver: string;
  /** The file JavaScript opens to use the device (/dev/uioN or /dev/vfio/G). */
  node: string;
}

/** Hands a NIC to uio_pci_generic or vfio-pci (driver_override, so only this device is affected). */
export function bindDevice(address: string, access: 'uio' | 'vfio', opts: { force?: boolean } = {}): BindResult {
  const dev = readPciDevice(address); // checks the address before any path is built from it
  // A virtio device that is not a NIC (1af4:1009 is the 9p share a guest may run on) is refused like any other.
  if (!opts.force && (nicDriver(dev.vendor, dev.device) === null || dev.class >> 16 !== 0x02)) {
    throw codedError(
      'ERR_USTACK_UNSUPPORTED_DEVICE',
      `device ${address} (${hex4(dev.vendor)}:${hex4(dev.device)}) is not a NIC ustack drives: an 8254x ` +
        `(82540EM 8086:100e, 82545EM 8086:100f, ...) or a virtio-net device (1af4:1041, 1af4:1000); --force binds it anyway`,
    );
  }
  const target = access === 'uio' ? 'uio_pci_generic' : 'vfio-pci';
  if (access === 'vfio' && dev.iommuGroup === null) {
    throw codedError(
      'ERR_USTACK_NO_IOMMU',
      `device ${address} has no IOMMU group: VFIO needs an IOMMU (boot with intel_iommu=on) — or use --uio`,
    );
  }
  // Refuse before touching anything: binding this device to vfio-pci while a
  // group peer stays on its kernel driver would leave the device unusable.
  if (access === 'vfio') assertGroupViable(address, dev.iommuGroup!);
  if (access === 'uio') ensureDriver(target, ['uio', 'uio_pci_generic']);
  else ensureDriver(target, ['vfio', 'vfio_iommu_type1', 'vfio-pci']);

  const dir = join(SYS_PCI, address);
  if (dev.driver !== target) {
    sysWrite(join(dir, 'driver_override'), target, `set the driver override of ${address}`);
    if (dev.driver !== '') sysWrite(join(dir, 'driver', 'unbind'), address, `unbind ${address} from ${dev.driver}`);
    try {
      writeFileSync('/sys/bus/pci/drivers_probe', address);
    } catch {
      sysWrite(join(SYS_DRIVERS, target, 'bind'), address, `bind ${address} to ${target}`);
    }
  }
  const now = readPciDevice(address);
  if (now.driver !== target) throw codedError('EIO', `binding ${address} to ${target} failed (driver now: '${now.driver || 'none'}')`);
  let node: string;
  if (access === 'uio') {
    const uio = readdirSync(join(dir, 'uio')).find((n) => n.startsWith('uio')) ?? '?';
    node = `/dev/${uio}`;
  } else {
    node = `/dev/vfio/${now.iommuGroup!}`;
  }
  return { device: now, previousDriver: dev.driver, node };
}

/**
 * VFIO hands out a whole IOMMU group or nothing: every other device in it
 * must be driverless or on vfio-pci / pci-stub (bridges on pcieport are fine).
 */
function assertGroupViable(address: string, group: string): void {
  const others = iommuGroupMembers(group).filter((a) => a !== address);
  const blocking = others.filter((a) => {
    const d = linkBase(join(SYS_PCI, a, 'driver'));
    return d !== '' && d !== 'vfio-pci' && d !== 'pci-stub' && d !== 'pcieport';
  });
  if (blocking.length > 0) {
    const drivers = blocking.map((a) => `${a} (${linkBase(join(SYS_PCI, a, 'driver'))})`);
    throw codedError(
      'ERR_USTACK_GROUP_NOT_VIABLE',
      `IOMMU group ${group} is not viable: ${drivers.join(', ')} in the same group ${blocking.length === 1 ? 'is' : 'are'} ` +
        `bound to a kernel driver; bind ${blocking.length === 1 ? 'it' : 'them'} to vfio-pci too (ustack bind <pci> --vfio), ` +
        `or use --uio`,
    );
  }
}

/** Gives a device back to its kernel driver (clears the override and reprobes). */
export function unbindDevice(address: string): { device: PciDevice; previousDriver: string } {
  const dev = readPciDevice(address);
  const dir = join(SYS_PCI, address);
  if (dev.driver !== '') sysWrite(join(dir, 'driver', 'unbind'), address, `unbind ${address} from ${dev.driver}`);
  sysWrite(join(dir, 'driver_override'), '\n', `clear the driver override of ${address}`);
  try {
    writeFileSync('/sys/bus/pci/drivers_probe', address);
  } catch {
    /* no kernel driver claims it: left unbound */
  }
  return { device: readPciDevice(address), previousDriver: dev.driver };
}

export function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}

export interface HugepageState {
  total: number;
  free: number;
  sizeKiB: number;
  mount: string | null;
}

export function hugepageState(): HugepageState {
  const info = readFileSync('/proc/meminfo', 'utf8');
  const num = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  let mount: string | null = null;
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === 'hugetlbfs') {
      mount = f[1]!;
      break;
    }
  }
  return { total: num('HugePages_Total'), free: num('HugePages_Free'), sizeKiB: num('Hugepagesize'), mount };
}

/** Reserves n default-size huge pages and mounts hugetlbfs at /dev/hugepages if none is mounted. */
export function reserveHugepages(n: number): HugepageState {
  sysWrite('/proc/sys/vm/nr_hugepages', String(n), 'reserve huge pages');
  let st = hugepageState();
  if (st.mount === null) {
    const dir = '/dev/hugepages';
    try {
      mkdirSync(dir, { recursive: true });
      execFileSync('mount', ['-t', 'hugetlbfs', 'nodev', dir], { stdio: 'pipe' });
    } catch (err) {
      throw codedError('ERR_USTACK_NO_HUGEPAGES', `cannot mount hugetlbfs on ${dir}: ${(err as Error).message.trim()}`);
    }
    st = hugepageState();
  }
  return st;
}
