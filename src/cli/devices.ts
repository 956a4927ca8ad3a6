/**
 * `ustack devices`, `ustack bind`, `ustack unbind`, `ustack hugepages`,
 * `ustack selftest`: handing NICs to userspace and back.
 */
import { commandLine, integerOption, runCommand, usageError } from './args.js';
import {
  bindDevice,
  hex4,
  hugepageState,
  listNetworkDevices,
  nicDriver,
  normalizePci,
  reserveHugepages,
  unbindDevice,
} from '../driver/pci-sysfs.js';

export const DEVICES_USAGE = `usage: ustack devices                       network PCI devices (e1000, virtio-net, ...), their driver, and whether ustack can use them
       ustack bind <pci> [--uio|--vfio] [--force]  hand a NIC to userspace (default --uio)
       ustack unbind <pci>                  give it back to its kernel driver
       ustack hugepages <n>                 reserve n 2 MiB huge pages and mount hugetlbfs
       ustack selftest <pci> [--vfio]       MII-loopback self-test of a bound e1000`;

function fail(err: unknown): number {
  const e = err as Error & { code?: string };
  process.stderr.write(`ustack: ${e.message}${e.code ? ` [${e.code}]` : ''}\n`);
  return 1;
}

const DEVICES_CLI = commandLine({ command: 'devices', usage: DEVICES_USAGE, options: {} });
const BIND_CLI = commandLine({
  command: 'bind',
  usage: DEVICES_USAGE,
  options: { uio: { type: 'boolean' }, vfio: { type: 'boolean' }, force: { type: 'boolean' } },
  positionals: [1, 1],
  argument: 'the PCI address',
});
const UNBIND_CLI = commandLine({ command: 'unbind', usage: DEVICES_USAGE, options: {}, positionals: [1, 1], argument: 'the PCI address' });
const HUGEPAGES_CLI = commandLine({ command: 'hugepages', usage: DEVICES_USAGE, options: {}, positionals: [0, 1] });
const SELFTEST_CLI = commandLine({
  command: 'selftest',
  usage: DEVICES_USAGE,
  options: { uio: { type: 'boolean' }, vfio: { type: 'boolean' } },
  positionals: [1, 1],
  argument: 'the PCI address',
});

export function devicesCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, DEVICES_CLI, listDevices);
}

function listDevices(): number {
  const devs = listNetworkDevices();
  if (devs.length === 0) {
    process.stdout.write('no network PCI devices found under /sys/bus/pci/devices\n');
    return 0;
  }
  const rows = devs.map((d) => {
    const drv = nicDriver(d.vendor, d.device);
    const model = drv?.model ?? null;
    let status: string;
    if (drv === null) status = 'not supported by ustack';
    else if (d.driver === 'uio_pci_generic') status = `ready: --nic ${drv.kind}:${d.address}`;
    else if (d.driver === 'vfio-pci') status = `ready: --nic ${drv.kind}:${d.address}?access=vfio`;
    else if (d.driver === '') status = `unbound: ustack bind ${d.address}`;
    else status = `kernel driver in use: ustack bind ${d.address}`;
    return [
      d.address,
      `${hex4(d.vendor)}:${hex4(d.device)}`,
      model ?? '-',
      d.driver || '-',
      d.interfaces.join(',') || '-',
      d.iommuGroup ?? '-',
      status,
    ];
  });
  const head = ['PCI', 'ID', 'MODEL', 'DRIVER', 'IF', 'IOMMU', 'USTACK'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  for (const r of all) process.stdout.write(`${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')}\n`);
  return 0;
}

export function bindCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, BIND_CLI, ({ values, positionals }) => {
    if (values.uio && values.vfio) throw usageError('--uio and --vfio exclude each other');
    const access = values.vfio ? 'vfio' : 'uio';
    try {
      const addr = normalizePci(positionals[0]!);
      const r = bindDevice(addr, access, { force: values.force === true });
      const was = r.previousDriver || 'no driver';
      const kind = nicDriver(r.device.vendor, r.device.device)?.kind;
      const use = kind === undefined ? '' : `; use --nic ${kind}:${addr}${access === 'vfio' ? '?access=vfio' : ''}`;
      process.stdout.write(`${addr} bound to ${r.device.driver} (was: ${was}); device ${r.node}${use}\n`);
      return 0;
    } catch (err) {
      return fail(err);
    }
  });
}

export function unbindCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, UNBIND_CLI, ({ positionals }) => {
    try {
      const addr = normalizePci(positionals[0]!);
      const r = unbindDevice(addr);
      process.stdout.write(`${addr} released from ${r.previousDriver || 'no driver'}; now: ${r.device.driver || 'no driver'}` +
        `${r.device.interfaces.length ? ` (${r.device.interfaces.join(',')})` : ''}\n`);
      return 0;
    } catch (err) {
      return fail(err);
    }
  });
}

export function hugepagesCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, HUGEPAGES_CLI, ({ positionals }) => {
    const n = integerOption(positionals[0], '<n>', 0, 1 << 20);
    try {
      if (n === undefined) {
        const st = hugepageState();
        process.stdout.write(`huge pages: ${st.total} x ${st.sizeKiB} KiB, ${st.free} free; hugetlbfs: ${st.mount ?? 'not mounted'}\n`);
        return 0;
      }
      const st = reserveHugepages(n);
      process.stdout.write(`huge pages: ${st.total} x ${st.sizeKiB} KiB reserved (${st.free} free); hugetlbfs mounted on ${st.mount}\n`);
      if (st.total < n) {
        process.stderr.write(`ustack: only ${st.total} of ${n} huge pages could be reserved (memory is fragmented; reserve at boot with hugepages=${n}) [ERR_USTACK_NO_HUGEPAGES]\n`);
        return 1;
      }
      return 0;
    } catch (err) {
      return fail(err);
    }
  });
}

export function selftestCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, SELFTEST_CLI, async ({ values, positionals }) => {
    if (values.uio && values.vfio) throw usageError('--uio and --vfio exclude each other');
    try {
      const { E1000Nic } = await import('../driver/e1000-nic.js');
      const r = await E1000Nic.selfTest(normalizePci(positionals[0]!), values.vfio ? 'vfio' : 'uio');
      process.stdout.write(`selftest ${r.model} MII loopback: sent ${r.sent}, received ${r.received}, intact ${r.intact}: ${r.ok ? 'PASS' : 'FAIL'}\n`);
      return r.ok ? 0 : 1;
    } catch (err) {
      return fail(err);
    }
  });
}
