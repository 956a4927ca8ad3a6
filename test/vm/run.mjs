#!/usr/bin/env node
// The VM test (`npm run test:vm`): QEMU's e1000 and virtio-net models as
// the reference for the drivers. Installs what it needs from Debian, builds an initramfs
// (busybox + kernel modules; the host's root is shared read-only over
// virtio-9p so the host's node and this project run in the guest), boots
// qemu-system-x86_64 -accel tcg and drives test/vm/guest.sh through the
// serial console, acting as the network peer through slirp's hostfwd.
//
// Scenarios (USTACK_VM_SCENARIOS=full,vfio,em,tap,virtio,virtio-vfio,virtio-tap,shards-virtio
// to pick; all by default):
//   full  -device e1000 (82540EM), UIO + hugepages: CLI errors, bind, MII
//         self-test, ping of the gateway, the addon against bad input from
//         JavaScript (test/vm/native-checks.mjs), UDP echo, 1 MB TCP echo
//         (SHA-256), a second process opening the device refused while the
//         echo keeps serving, SIGKILL mid-transfer and restart, strace -c
//         around a 10 MB echo, and the same 10 MB echo through the guest
//         kernel's e1000 + node:net. Every scenario checks the echo's DMA
//         mapping is MADV_DONTFORK.
//   vfio  -machine q35 + intel-iommu, VFIO type1: bind, self-test, ping, echoes.
//   em    -device e1000-82545em, UIO: bind, self-test, ping, echoes.
//   tap   -device e1000 with -netdev tap: the host kernel is the peer.
//   virtio       -device virtio-net-pci,disable-legacy=on, UIO + hugepages, slirp:
//                errors (kernel driver in use, the 9p device, a legacy-only
//                device, queues beyond the device), bind, ping, echoes, the
//                interrupt wake-up after idle, SIGKILL mid-transfer and restart,
//                strace -c around a 10 MB echo, the same echo through the guest
//                kernel's virtio_net + node:net (test/vm/guest-virtio.sh).
//   virtio-vfio  the same device behind the emulated IOMMU (iommu_platform=on),
//                VFIO type1; one without iommu_platform refused; the addon
//                against bad input from JavaScript and its lifetimes
//                (test/vm/virtio-checks.mjs).
//   virtio-tap   -netdev tap,queues=2 and mq=on: ?queues=2, the host kernel as
//                peer, TSO super-frames seen on the host's TAP, frames on both
//                queue pairs.
//   shards-virtio  the same device and TAP, `ustack echo --workers 2` over
//                UIO (test/vm/guest-shards.sh, host side test/vm/shards-host.mjs):
//                the device's DMA memory is the shared region (the physical
//                pages behind each worker's mapping, test/vm/pool-phys.mjs);
//                64 concurrent echo clients from the host kernel spread over
//                both workers, SHA-256 each; worker 1 SIGKILLed mid-load: the
//                other's clients complete, its clients are reset (RST on the
//                TAP, no FIN), every slot accounted for before and after.
//   account      (not in the default run) the 10 MB echo through ustack on the
//                e1000 (--poll busy on node --single-threaded, and adaptive)
//                and through the guest kernel's e1000 + node:net, each warmed
//                up, timed, then traced: QEMU's trace events for the e1000's
//                MMIO and interrupt line switched on over HMP for that one echo
//                (test/vm/account.mjs), the guest's CPU time, packets and the
//                driver's counters around it (test/vm/guest-account.sh); prints
//                MMIO writes/reads and interrupts per 1,000 packets, time per
//                packet split JavaScript/native/kernel, and the ratio.
// Downloads and the initramfs are cached under .cache/vm (gitignored).
// Prints "N passed, N failed"; exits non-zero on any failure. Skips (exit 0,
// with the reason) only when QEMU cannot be installed or run.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { captureResets, echoClient } from './shards-host.mjs';
import { accountLines, accountRow, connectHmp, countTrace, traceOff, traceOn } from './account.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cache = join(root, '.cache/vm');
const here = join(root, 'test/vm');
let passed = 0;
let failed = 0;
const failures = [];
const figures = [];

function log(s) {
  process.stdout.write(`${s}\n`);
}
function pass(name) {
  passed++;
  log(`  PASS ${name}`);
}
function fail(name, why = '') {
  failed++;
  failures.push(name);
  log(`  FAIL ${name}${why ? `: ${why}` : ''}`);
}
function skip(reason) {
  log(`vm test skipped: ${reason}`);
  log('0 passed, 0 failed, 1 skipped');
  process.exit(0);
}
function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}
function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// ---- host setup -----------------------------------------------------------------

function aptInstall(pkgs) {
  if (pkgs.length === 0) return;
  if (process.getuid?.() !== 0 || !have('apt-get')) skip(`missing ${pkgs.join(' ')} and cannot apt-get install (not root)`);
  log(`vm: installing ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (r.status !== 0) skip(`apt-get install ${pkgs.join(' ')} failed`);
}

function busyboxIsStatic() {
  if (!existsSync('/bin/busybox')) return false;
  return spawnSync('ldd', ['/bin/busybox'], { stdio: 'ignore' }).status !== 0;
}

function ensureTools() {
  const need = [];
  for (const [cmd, pkg] of [
    ['qemu-system-x86_64', 'qemu-system-x86'],
    ['cpio', 'cpio'],
    ['depmod', 'kmod'],
    ['strace', 'strace'],
    ['ip', 'iproute2'],
    ['tcpdump', 'tcpdump'], // the virtio-tap scenario watches the host's TAP
  ]) {
    if (!have(cmd)) need.push(pkg);
  }
  if (!busyboxIsStatic()) need.push('busybox-static');
  aptInstall(need);
}

function ensureKernel() {
  const debs = join(cache, 'debs');
  mkdirSync(debs, { recursive: true });
  let version = '';
  for (let attempt = 0; attempt < 2 && !version; attempt++) {
    try {
      const out = sh('apt-cache', ['depends', 'linux-image-amd64']);
      version = /Depends: linux-image-(\S+)/.exec(out)?.[1] ?? '';
    } catch {
      /* no lists yet */
    }
    if (!version) spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  }
  if (!version) {
    // Offline: use whatever was unpacked before.
    const kdir = join(cache, 'kernel/boot');
    const v = existsSync(kdir) ? readdirSync(kdir).find((f) => f.startsWith('vmlinuz-')) : undefined;
    if (!v) skip('cannot find the linux-image-amd64 package');
    version = v.slice('vmlinuz-'.length);
  }
  const kroot = join(cache, `kernel-${version}`);
  const vmlinuz = join(kroot, 'boot', `vmlinuz-${version}`);
  if (!existsSync(join(kroot, 'lib/modules', version, 'modules.dep'))) {
    let deb = readdirSync(debs).find((f) => f.startsWith(`linux-image-${version}_`));
    if (!deb) {
      log(`vm: downloading linux-image-${version}`);
      const r = spawnSync('apt-get', ['download', `linux-image-${version}`], { cwd: debs, stdio: ['ignore', 'ignore', 'inherit'] });
      deb = readdirSync(debs).find((f) => f.startsWith(`linux-image-${version}_`));
      if (r.status !== 0 || !deb) skip(`apt-get download linux-image-${version} failed`);
    }
    rmSync(kroot, { recursive: true, force: true });
    mkdirSync(kroot, { recursive: true });
    sh('dpkg', ['-x', join(debs, deb), kroot]);
    sh('depmod', ['-b', kroot, version]);
  }
  return { version, kroot, vmlinuz };
}

const MODULE_ROOTS = ['virtio_pci', '9pnet_virtio', '9p', 'uio_pci_generic', 'vfio_iommu_type1', 'vfio-pci', 'e1000', 'virtio_net'];

function resolveModules(kroot, version) {
  const base = join(kroot, 'lib/modules', version);
  const deps = new Map();
  const byName = new Map();
  for (const line of readFileSync(join(base, 'modules.dep'), 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i < 0) continue;
    const path = line.slice(0, i);
    deps.set(path, line.slice(i + 1).trim().split(/\s+/).filter(Boolean));
    byName.set(basename(path).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_'), path);
  }
  const order = [];
  const seen = new Set();
  const visit = (p) => {
    if (seen.has(p)) return;
    seen.add(p);
    // modules.dep lists every (transitive) dependency; load them deepest first.
    for (const d of deps.get(p) ?? []) visit(d);
    order.push(p);
  };
  for (const m of MODULE_ROOTS) {
    const p = byName.get(m.replace(/-/g, '_'));
    if (p) visit(p); // absent: built into the kernel
  }
  return { base, order };
}

function ensureInitramfs(kernel) {
  const { base, order } = resolveModules(kernel.kroot, kernel.version);
  const init = readFileSync(join(here, 'init.sh'));
  const key = createHash('sha256').update(init).update(kernel.version).update(order.join('\n')).digest('hex').slice(0, 16);
  const out = join(cache, `initramfs-${key}.cpio.gz`);
  if (existsSync(out)) return out;
  log('vm: building initramfs');
  const dir = join(cache, 'initramfs-build');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'modules'), { recursive: true });
  copyFileSync('/bin/busybox', join(dir, 'bin/busybox'));
  writeFileSync(join(dir, 'init'), init, { mode: 0o755 });
  const names = [];
  for (const p of order) {
    const name = basename(p);
    copyFileSync(join(base, p), join(dir, 'modules', name));
    names.push(name);
  }
  writeFileSync(join(dir, 'modules/order'), `${names.join('\n')}\n`);
  execFileSync('sh', ['-c', `cd "${dir}" && chmod 755 bin/busybox && find . | cpio -o -H newc --quiet | gzip -1 > "${out}.tmp" && mv "${out}.tmp" "${out}"`]);
  return out;
}

// ---- network peer (host side, through hostfwd) --------------------------------------

function freePort(type) {
  return new Promise((res, rej) => {
    if (type === 'udp') {
      const s = dgram.createSocket('udp4');
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => res(p));
      });
      s.on('error', rej);
    } else {
      const s = net.createServer();
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => res(p));
      });
      s.on('error', rej);
    }
  });
}

async function udpEcho(port, count = 5) {
  const sock = dgram.createSocket('udp4');
  await new Promise((r) => sock.bind(0, peer.host === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0', r));
  let ok = 0;
  try {
    for (let i = 0; i < count; i++) {
      const payload = randomBytes([1, 64, 512, 1000, 1472][i % 5]);
      let got = false;
      for (let attempt = 0; attempt < 15 && !got; attempt++) {
        got = await new Promise((res) => {
          const t = setTimeout(() => {
            sock.off('message', on);
            res(false);
          }, 1000);
          const on = (msg) => {
            if (Buffer.compare(msg, payload) === 0) {
              clearTimeout(t);
              sock.off('message', on);
              res(true);
            }
          };
          sock.on('message', on);
          sock.send(payload, port, peer.host);
        });
      }
      if (got) ok++;
    }
  } finally {
    sock.close();
  }
  return ok;
}

/** Sends `bytes` of random data, reads the echo, compares SHA-256. */
// readAfterMs: the host reads nothing for that long (the windows fill, the
// guest's send buffer backs up), then everything: the guest then sends in
// bursts as large as its window allows (TSO super-frames on the e1000).
function tcpEcho(port, bytes, { timeoutMs = 600_000, onProgress, readAfterMs = 0, host = peer.host } = {}) {
  return new Promise((res) => {
    const data = randomBytes(bytes);
    const want = createHash('sha256').update(data).digest('hex');
    const h = createHash('sha256');
    let got = 0;
    const t0 = process.hrtime.bigint();
    const sock = net.connect({ port, host, allowHalfOpen: true });
    let done = false;
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      res({ ...r, got, ms: Number(process.hrtime.bigint() - t0) / 1e6, want });
    };
    const timer = setTimeout(() => finish({ ok: false, error: 'timeout' }), timeoutMs);
    sock.on('connect', () => {
      let off = 0;
      const pump = () => {
        while (off < bytes) {
          const n = Math.min(65536, bytes - off);
          const more = sock.write(data.subarray(off, off + n));
          off += n;
          if (!more) return sock.once('drain', pump);
        }
        sock.end();
      };
      pump();
    });
    sock.on('data', (d) => {
      got += d.length;
      h.update(d);
      onProgress?.(got, sock);
    });
    if (readAfterMs > 0) {
      sock.pause();
      setTimeout(() => sock.resume(), readAfterMs);
    }
    sock.on('end', () => {
      const sha = h.digest('hex');
      finish({ ok: got === bytes && sha === want, sha });
    });
    sock.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
    sock.on('close', () => finish({ ok: false, error: 'closed' }));
    sock.__abort = () => finish({ ok: false, error: 'aborted' });
  });
}

/** Names of virtio-net feature bits (addon/virtio/features.h). */
function virtioFeatureNames(low, high) {
  const bits = { 0: 'CSUM', 1: 'GUEST_CSUM', 3: 'MTU', 5: 'MAC', 7: 'GUEST_TSO4', 9: 'GUEST_ECN', 11: 'HOST_TSO4', 13: 'HOST_ECN',
    15: 'MRG_RXBUF', 16: 'STATUS', 17: 'CTRL_VQ', 18: 'CTRL_RX', 22: 'MQ', 32: 'VERSION_1', 33: 'ACCESS_PLATFORM', 36: 'ORDER_PLATFORM' };
  const out = [];
  for (const [b, n] of Object.entries(bits)) {
    const i = Number(b);
    if (i < 32 ? (low >>> i) & 1 : (high >>> (i - 32)) & 1) out.push(n);
  }
  return out.join(' ');
}

/**
 * tcpdump on a host interface (tcpdump ships with the interop tests' tools):
 * stop() ends it and resolves with the TCP payload length of every segment
 * it printed ("length N" of its one-line summaries).
 */
function startTcpdump(ifname, filter) {
  const p = spawn('tcpdump', ['-i', ifname, '-nn', '-l', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d.toString()));
  const listening = new Promise((res) => {
    p.stderr.on('data', (d) => {
      err += d.toString();
      if (err.includes('listening')) res();
    });
    setTimeout(res, 5000);
  });
  p.on('error', () => {});
  const exited = new Promise((res) => p.on('exit', res));
  return {
    listening,
    async stop() {
      await new Promise((r) => setTimeout(r, 500)); // the last lines
      p.kill('SIGINT');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      return [...out.matchAll(/length (\d+)/g)].map((m) => Number(m[1]));
    },
  };
}

// ---- scenarios -------------------------------------------------------------------

/** USTACK_VM_TSO=off: the guest opens the e1000 with ?tso=off (for a comparison). */
const tsoOff = process.env.USTACK_VM_TSO === 'off';
/**
 * The tap scenario's interface and 10.213.X.0/24 subnet are this process's
 * own: derived from the pid and skipped while another interface holds them,
 * so two runs of the suite on one machine do not take each other's link.
 */
function pickTapLink() {
  const used = sh('ip', ['-4', '-o', 'addr', 'show']);
  for (let i = 0; i < 250; i++) {
    const x = (process.pid + i) % 250;
    const ifname = `ustvm${(process.pid + i) % 1_000_000}`;
    if (used.includes(` 10.213.${x}.`) || existsSync(`/sys/class/net/${ifname}`)) continue;
    return { ifname, host: `10.213.${x}.1`, guest: `10.213.${x}.2`, host6: `fd00:213:${x}::1`, guest6: `fd00:213:${x}::2` };
  }
  return { ifname: `ustvm${process.pid % 1_000_000}`, host: '10.213.0.1', guest: '10.213.0.2', host6: 'fd00:213:0::1', guest6: 'fd00:213:0::2' };
}
let TAP_IF = '';
let TAP_HOST = '';
let TAP_GUEST = '';
let TAP_HOST6 = '';
let TAP_GUEST6 = '';
/** Where the host's clients reach the guest's echo (hostfwd or the TAP peer). */
const peer = { host: '127.0.0.1', tcp: 0, udp: 0 };

const SCENARIOS = {
  full: { machine: ['-machine', 'pc'], device: 'e1000', append: '', strace: true },
  vfio: {
    // Two more 8254x behind a conventional PCI bridge: they share one IOMMU
    // group (the bridge aliases their DMA requester IDs), which the guest uses
    // for the "IOMMU group not viable" error.
    machine: [
      '-machine', 'q35,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on',
      '-device', 'pci-bridge,id=br1,chassis_nr=1,bus=pcie.0,addr=0x10',
      '-netdev', 'user,id=n1', '-device', 'e1000,netdev=n1,bus=br1,addr=1',
      '-netdev', 'user,id=n2', '-device', 'e1000,netdev=n2,bus=br1,addr=2',
    ],
    device: 'e1000',
    append: 'intel_iommu=on',
  },
  em: { machine: ['-machine', 'pc'], device: 'e1000-82545em', append: '' },
  // -netdev tap: the host kernel is the peer (and the pinged gateway).
  tap: { machine: ['-machine', 'pc'], device: 'e1000', append: '', tap: true, ipv6: true },
  // virtio-net, modern only, at 00:05.0 (ustack.pci); a legacy-only one at 00:06.0 for the errors.
  virtio: {
    machine: ['-machine', 'pc', '-netdev', 'user,id=n1', '-device', 'virtio-net-pci,disable-modern=on,netdev=n1,addr=0x6'],
    device: 'virtio-net-pci,disable-legacy=on,addr=0x5',
    append: 'ustack.pci=0000:00:05.0 ustack.pci2=0000:00:06.0',
    nic: 'virtio',
    strace: true,
  },
  // VFIO: the device under test translates its DMA through the IOMMU (iommu_platform=on); the one at 00:06.0 does not.
  'virtio-vfio': {
    machine: [
      '-machine', 'q35,kernel-irqchip=split', '-device', 'intel-iommu,intremap=on',
      '-netdev', 'user,id=n1', '-device', 'virtio-net-pci,disable-legacy=on,netdev=n1,addr=0x6',
    ],
    device: 'virtio-net-pci,disable-legacy=on,iommu_platform=on,addr=0x5',
    append: 'intel_iommu=on ustack.pci=0000:00:05.0 ustack.pci2=0000:00:06.0',
    nic: 'virtio',
  },
  // Two queue pairs over a multi-queue TAP: the host kernel spreads flows over them.
  'virtio-tap': {
    machine: ['-machine', 'pc'],
    device: 'virtio-net-pci,disable-legacy=on,mq=on,vectors=6,addr=0x5',
    append: 'ustack.pci=0000:00:05.0',
    nic: 'virtio',
    tap: true,
    tapQueues: 2,
    ipv6: true,
  },
  // One NIC, many workers: the owner drives both queue pairs, two worker processes serve (guest-shards.sh).
  'shards-virtio': {
    machine: ['-machine', 'pc'],
    device: 'virtio-net-pci,disable-legacy=on,mq=on,vectors=6,addr=0x5',
    append: 'ustack.pci=0000:00:05.0',
    nic: 'virtio',
    tap: true,
    tapQueues: 2,
    shards: true,
  },
  // The accounting of the 10 MB echo, both paths (test/vm/guest-account.sh, test/vm/account.mjs).
  account: { machine: ['-machine', 'pc'], device: 'e1000', append: '', account: true },
  // Runs .cache/vm/debug.sh in the guest (development aid).
  debug: { machine: ['-machine', 'pc'], device: 'e1000', append: '' },
};

async function runScenario(name, kernel, initrd) {
  const sc = SCENARIOS[name];
  const tcpPort = await freePort('tcp');
  const udpPort = await freePort('udp');
  const tag = `[${name}]`;
  const acctDir = join(cache, `account-${process.pid}`);
  if (sc.account) {
    rmSync(acctDir, { recursive: true, force: true });
    mkdirSync(acctDir, { recursive: true });
  }
  if (sc.tap) ({ ifname: TAP_IF, host: TAP_HOST, guest: TAP_GUEST, host6: TAP_HOST6, guest6: TAP_GUEST6 } = pickTapLink());
  log(`\n=== ${name}: ${sc.device} ${sc.machine.join(' ')} ===`);
  const args = [
    '-accel', 'tcg', '-m', '1536', '-smp', '1',
    ...sc.machine,
    '-kernel', kernel.vmlinuz, '-initrd', initrd,
    '-append', `console=ttyS0 quiet loglevel=3 panic=-1 hugepages=64 ${sc.append} ustack.mode=${name} ustack.dir=${root}` +
      (tsoOff ? ' ustack.tso=off' : '') +
      (sc.account && process.env.USTACK_VM_PROFILE === '1' ? ' ustack.prof=1' : '') +
      (sc.tap ? ` ustack.addr=${TAP_GUEST}/24 ustack.gw=${TAP_HOST}` : '') +
      (sc.ipv6 ? ` ustack.addr6=${TAP_GUEST6}/64` : ''),
    '-display', 'none', '-serial', 'stdio', '-no-reboot',
    // account: the human monitor on a socket (trace events on and off), and the log
    // trace backend armed (-d trace:... sets its mask) with one harmless event.
    ...(sc.account
      ? ['-monitor', `unix:${acctDir}/hmp.sock,server=on,wait=off`, '-d', 'trace:e1000x_link_negotiation_done', '-D', `${acctDir}/boot.log`]
      : ['-monitor', 'none']),
    '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    ...(sc.tap
      ? ['-netdev', `tap,id=n0,ifname=${TAP_IF},script=no,downscript=no${sc.tapQueues ? `,queues=${sc.tapQueues}` : ''}`]
      : ['-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${tcpPort}-10.0.2.15:7,hostfwd=udp:127.0.0.1:${udpPort}-10.0.2.15:7`]),
    '-device', `${sc.device},netdev=n0`,
    ...(process.env.USTACK_VM_PCAP ? ['-object', `filter-dump,id=f0,netdev=n0,file=${process.env.USTACK_VM_PCAP}-${name}.pcap`] : []),
  ];
  if (sc.tap) {
    peer.host = TAP_GUEST;
    peer.tcp = 7;
    peer.udp = 7;
    try {
      sh('ip', ['tuntap', 'add', 'dev', TAP_IF, 'mode', 'tap', ...(sc.tapQueues ? ['multi_queue'] : [])]);
      sh('ip', ['addr', 'add', `${TAP_HOST}/24`, 'dev', TAP_IF]);
      if (sc.ipv6) sh('ip', ['-6', 'addr', 'add', `${TAP_HOST6}/64`, 'dev', TAP_IF, 'nodad']);
      sh('ip', ['link', 'set', TAP_IF, 'up']);
      // Traffic to the guest must leave over this run's own TAP, never the default route.
      const route = sh('ip', ['route', 'get', TAP_GUEST]);
      if (!route.includes(`dev ${TAP_IF} `)) throw new Error(`route to ${TAP_GUEST} is not over ${TAP_IF}: ${route.trim()}`);
      if (sc.ipv6) {
        const route6 = sh('ip', ['-6', 'route', 'get', TAP_GUEST6]);
        if (!route6.includes(`dev ${TAP_IF} `)) throw new Error(`route to ${TAP_GUEST6} is not over ${TAP_IF}: ${route6.trim()}`);
      }
    } catch (e) {
      fail(`${tag} create TAP ${TAP_IF}`, e.message);
      spawnSync('ip', ['link', 'del', TAP_IF], { stdio: 'ignore' });
      return;
    }
  } else {
    peer.host = '127.0.0.1';
    peer.tcp = tcpPort;
    peer.udp = udpPort;
  }
  const scenarioStart = Date.now();
  const qemu = spawn('qemu-system-x86_64', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const stats = [];
  let strace = null;
  let inStrace = false;
  let sawDone = false;
  let ustackMs = 0;
  let straceMs = 0;
  const fds = new Map();
  let kernelMs = 0;
  let midTransfer = null;
  const reply = () => qemu.stdin.write('go\n');
  const nicLabel = sc.nic === 'virtio' ? 'virtio-net' : 'e1000';
  const kernelDriver = sc.nic === 'virtio' ? 'virtio_net' : 'e1000';

  // IPv6 over the NIC: the host kernel resolves the guest's address with a
  // Neighbor Solicitation to its solicited-node group (33:33:ff:00:00:02),
  // which the e1000 receives only when the stack has put that group in its
  // multicast table (virtio-net passes every group: promiscuous by default).
  const ping6Check = async () => {
    const r = await new Promise((res) => {
      const p = spawn('ping', ['-6', '-c', '3', '-w', '30', '-I', TAP_IF, TAP_GUEST6]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      p.on('error', (e) => res({ status: -1, stdout, stderr: String(e) }));
      p.on('close', (status) => res({ status, stdout, stderr }));
    });
    const summary = r.stdout.split('\n').find((l) => l.includes('packets transmitted')) ?? r.stderr.trim();
    const got = Number(/(\d+) received/.exec(summary)?.[1] ?? 0);
    if (r.status === 0 && got === 3) pass(`${tag} ping -6 from the host to the guest's ${TAP_GUEST6} over ${TAP_IF}: ${summary}`);
    else fail(`${tag} ping -6 to the guest's ${TAP_GUEST6}`, `${summary} (exit ${r.status})`);
  };

  const echoChecks = async (what) => {
    const u = await udpEcho(peer.udp);
    if (u === 5) pass(`${tag} UDP echo from the host (${what}): 5/5`);
    else fail(`${tag} UDP echo (${what})`, `${u}/5 answered`);
    const r = await tcpEcho(peer.tcp, 1 << 20, { timeoutMs: 300_000 });
    if (r.ok) pass(`${tag} TCP echo of 1 MB verified by SHA-256 (${what}): ${r.sha.slice(0, 16)}..., ${r.ms.toFixed(0)} ms`);
    else fail(`${tag} TCP echo of 1 MB (${what})`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
    if (what !== 'ustack echo') return;
    if (sc.ipv6) {
      await ping6Check();
      // The echo listens on :: (dual-stack): the same server over IPv6.
      const r6 = await tcpEcho(peer.tcp, 1 << 20, { timeoutMs: 300_000, host: TAP_GUEST6 });
      if (r6.ok) pass(`${tag} TCP echo of 1 MB over IPv6 to [${TAP_GUEST6}]:7 verified by SHA-256: ${r6.ms.toFixed(0)} ms`);
      else fail(`${tag} TCP echo of 1 MB over IPv6`, `${r6.error ?? 'mismatch'}; ${r6.got} bytes back`);
    }
    // An echo answers each segment as it comes (nothing for TSO to merge);
    // a reader that stalls makes the guest's data back up, then leave in
    // window-sized bursts: TSO frames (counted below from stats()). With
    // virtio over a TAP the super-frames reach the host kernel whole
    // (GSO): tcpdump on the host's TAP sees them.
    const dump = sc.tap && sc.nic === 'virtio' ? startTcpdump(TAP_IF, `tcp and src host ${TAP_GUEST} and src port 7`) : null;
    if (dump) await dump.listening;
    const s = await tcpEcho(peer.tcp, 2 << 20, { timeoutMs: 300_000, readAfterMs: 2000 });
    if (s.ok) pass(`${tag} TCP echo of 2 MB, host reading only after 2 s, verified by SHA-256: ${s.ms.toFixed(0)} ms`);
    else fail(`${tag} TCP echo of 2 MB with a stalled reader`, `${s.error ?? 'mismatch'}; ${s.got} bytes back`);
    if (dump) {
      const lens = await dump.stop();
      const big = lens.filter((n) => n > 60_000);
      const line = `host TAP ${TAP_IF} saw ${lens.length} TCP segments from the guest's echo, ${big.length} of them TSO super-frames over 60,000 bytes of payload (largest ${Math.max(0, ...lens)})`;
      log(`${tag} ${line}`);
      figures.push(`[${name}] ${line}`);
      if (big.length > 0) pass(`${tag} a 64 KiB TSO segment from ustack seen on the host side (tcpdump on ${TAP_IF}: ${Math.max(...big)} bytes of TCP payload)`);
      else fail(`${tag} a 64 KiB TSO segment seen on the host side`, line);
    }
  };

  // 16 connections at once: the host kernel's multi-queue TAP spreads flows
  // over the guest's receive queues, the guest's flow hash over its transmit queues.
  const mqFlows = async () => {
    const rs = await Promise.all(Array.from({ length: 16 }, () => tcpEcho(peer.tcp, 128 << 10, { timeoutMs: 300_000 })));
    const ok = rs.filter((r) => r.ok).length;
    if (ok === 16) pass(`${tag} 16 TCP echoes of 128 KB at once verified by SHA-256`);
    else fail(`${tag} 16 TCP echoes at once`, `${ok}/16 verified: ${rs.map((r) => r.error ?? (r.ok ? 'ok' : 'mismatch')).join(' ')}`);
  };

  // ---- shards-virtio (guest-shards.sh): the guest's @@STATS lines are ShardOwner.stats() ----
  const shard = { load: null, kill: null, gateOpen: null, dump: null, victimPid: 0, survivorPid: 0 };
  // Sizes kept small: under TCG the guest echoes about 100 KB/s per client with 64 at once.
  const SHARD_LOAD_SIZE = 32 << 10;
  const SHARD_KILL_SIZE = 128 << 10;
  const SHARD_KILL_AT = 16 << 10;
  const lastStats = () => stats[stats.length - 1];
  // Every slot accounted for: each worker holds its whole partition, and the
  // owner's slots are on its free list or with the device (posted to a
  // receive queue, on the device's free stack), none elsewhere.
  const poolLine = (st) => {
    const c = st.census;
    const d = st.owner.device;
    const l = st.owner.layout;
    const home = c.atWorker.every((n) => n === l.workerSlots) && c.ownerFree + c.ownerHeld === l.ownerSlots &&
      c.ownerHeld === d.rxPosted + d.freeStack + d.txOutstanding;
    return {
      home,
      text: `owner slots ${l.ownerSlots}: ${c.ownerFree} free + ${c.ownerHeld} with the device (${d.rxPosted} posted to the receive queues + ${d.freeStack} on its free stack + ${d.txOutstanding} sending); worker slots held [${c.atWorker.join(', ')}] of ${l.workerSlots} each`,
    };
  };
  const shardClients = (n, size, extra = {}) => {
    const reta = lastStats().owner.reta;
    return Array.from({ length: n }, (_, i) =>
      echoClient({ host: TAP_HOST, guest: TAP_GUEST, port: 7, size, reta, ...(extra.onEchoed ? { onEchoed: (k) => extra.onEchoed(i, k) } : {}), ...extra.opts }),
    );
  };
  const shardsLoad = async () => {
    const t = Date.now();
    const results = await Promise.all(shardClients(64, SHARD_LOAD_SIZE, { opts: { timeoutMs: 300_000 } }));
    shard.load = { results, ms: Date.now() - t };
  };
  const shardsAfterLoad = () => {
    const [s0, s1] = [stats[0], stats[1]];
    const { results, ms } = shard.load;
    const opens = (st, place) => st.workers.find((w) => w.place === place)?.stack?.tcp?.passiveOpens ?? NaN;
    const perPlace = [0, 1].map((p) => results.filter((r) => r.place === p).length);
    const accepted = [0, 1].map((p) => opens(s1, p) - opens(s0, p));
    for (const p of [0, 1]) {
      const w = s1.workers.find((x) => x.place === p);
      const line = `worker ${p} (pid ${w?.pid}): ${accepted[p]} connections accepted, ${perPlace[p]} clients predicted by RSS; ${w?.steering?.rxFrames} frames steered to it`;
      log(`${tag} ${line}`);
      figures.push(`[${name}] ${line}`);
    }
    const ok = results.filter((r) => r.ok).length;
    if (ok === 64 && perPlace[0] > 0 && perPlace[1] > 0 && accepted[0] === perPlace[0] && accepted[1] === perPlace[1]) {
      pass(`${tag} 64 concurrent TCP echo clients from the host kernel (${SHARD_LOAD_SIZE >> 10} KiB each, ${ms} ms) spread over 2 workers (${accepted[0]} + ${accepted[1]}, as RSS predicts), all SHA-256 correct`);
    } else {
      fail(`${tag} 64 echo clients over 2 workers`, `${ok}/64 verified (${results.filter((r) => !r.ok).map((r) => r.error ?? 'mismatch').slice(0, 8).join(' ')}); accepted ${accepted}, predicted ${perPlace}`);
    }
    const d = s1.owner.device;
    const q = `rx ${d.q0RxFrames}/${d.q1RxFrames}, tx ${d.q0TxFrames}/${d.q1TxFrames}`;
    log(`${tag} frames per queue pair (0/1) after the load: ${q}; shared pool ${d.sharedPool}; owner bytes copied ${s1.owner.pump.bytesCopied}; merged receive buffers ${d.rxMerged}`);
    if (d.queuePairs === 2 && d.q0RxFrames > 0 && d.q1RxFrames > 0 && d.q0TxFrames > 0 && d.q1TxFrames > 0) pass(`${tag} 2 queue pairs feed the 2 workers, frames on both each way: ${q}`);
    else fail(`${tag} frames on both queue pairs`, q);
    // Slot indices cross, bytes do not: the owner's code copied nothing, the driver gathered nothing.
    const steered = s1.owner.steering.steered;
    if (d.sharedPool === 1 && s1.owner.pump.bytesCopied === 0 && d.rxMerged === 0 && steered > 0) {
      pass(`${tag} no frame copied between owner and workers: ${steered} frames steered by slot index from the device's pool (the shared region), owner process bytes copied 0, receive buffers merged 0`);
    } else fail(`${tag} no frame copied`, `sharedPool ${d.sharedPool}, bytesCopied ${s1.owner.pump.bytesCopied}, rxMerged ${d.rxMerged}, steered ${steered}`);
    const before = poolLine(s0);
    const after = poolLine(s1);
    log(`${tag} pool before the load: ${before.text}`);
    log(`${tag} pool after the load:  ${after.text}`);
    if (before.home && after.home) pass(`${tag} no slot lost over the load (before: ${before.text}; after: ${after.text})`);
    else fail(`${tag} every slot home before and after the load`, `before: ${before.text}; after: ${after.text}`);
  };
  const shardsKill = async () => {
    const st = lastStats();
    shard.victimPid = st.workers.find((w) => w.place === 1)?.pid;
    shard.survivorPid = st.workers.find((w) => w.place === 0)?.pid;
    shard.dump = captureResets(TAP_IF, TAP_GUEST);
    await shard.dump.listening;
    // Each client sends 16 KiB and waits until it is echoed (established and
    // flowing), then holds the rest until worker 1 is dead: no client of it
    // can finish before the kill.
    let open;
    const gate = new Promise((r) => (open = r));
    shard.gateOpen = open;
    const flowing = new Set();
    let allFlowing;
    const flowingP = new Promise((r) => (allFlowing = r));
    shard.t0 = Date.now();
    shard.kill = shardClients(64, SHARD_KILL_SIZE, {
      opts: { gate, gateAt: SHARD_KILL_AT, window: SHARD_KILL_AT, timeoutMs: 240_000 },
      onEchoed: (i, n) => {
        if (n >= SHARD_KILL_AT && !flowing.has(i)) {
          flowing.add(i);
          if (flowing.size === 64) allFlowing();
        }
      },
    });
    const settledEarly = Promise.all(shard.kill);
    await Promise.race([flowingP, settledEarly, new Promise((r) => setTimeout(r, 240_000))]);
    log(`${tag} host: ${flowing.size}/64 clients have ${SHARD_KILL_AT >> 10} KiB echoed; telling the guest to SIGKILL worker 1 (pid ${shard.victimPid})`);
  };
  const shardsKilled = async () => {
    shard.gateOpen?.();
    const results = await Promise.all(shard.kill);
    const ms = Date.now() - shard.t0;
    const wire = await shard.dump.stop();
    const mine = (p) => results.filter((r) => r.place === p);
    const survivors = mine(0);
    const victims = mine(1);
    const reset = victims.filter((r) => !r.ok && wire.rst.has(r.localPort) && !wire.fin.has(r.localPort) && r.echoed < SHARD_KILL_SIZE);
    // A survivor completed: every byte echoed, SHA-256 equal, the echo's FIN, no error (a reset before that would have broken it).
    const survivorsOk = survivors.filter((r) => r.ok);
    // A RST to a survivor's port after it completed answers a stray segment of the closed connection (a retransmitted ACK
    // reaching a worker that no longer knows it): said, not judged.
    const late = survivorsOk.filter((r) => wire.rst.has(r.localPort)).map((r) => `port ${r.localPort} ${wire.rstAt.get(r.localPort) - r.closedAt} ms after its socket closed`);
    const lateRst = late.length;
    const errors = [...new Set(victims.map((r) => r.error).filter(Boolean))].join(', ');
    const line = `SIGKILL of worker 1 (pid ${shard.victimPid}) mid-load: worker 0 (pid ${shard.survivorPid}) ${survivorsOk.length}/${survivors.length} clients completed with the right SHA-256; ` +
      `worker 1 ${reset.length}/${victims.length} reset (RST on the host's TAP, no FIN; node reported ${errors || 'no error'}), none hung (${ms} ms for all 64 to settle)` +
      (lateRst > 0 ? `; ${lateRst} completed survivor port(s) also saw a RST (${late.join(', ')})` : '');
    log(`${tag} ${line}`);
    figures.push(`[${name}] ${line}`);
    if (survivors.length > 0 && victims.length > 0 && survivorsOk.length === survivors.length && reset.length === victims.length && !results.some((r) => r.error === 'timeout')) {
      pass(`${tag} ${line}`);
    } else {
      const bad = results.filter((r) => (r.place === 0 ? !r.ok : !reset.includes(r))).slice(0, 8);
      fail(`${tag} a worker SIGKILLed mid-load`, `${line}; e.g. ${JSON.stringify(bad.map((r) => ({ ...r, rst: wire.rst.has(r.localPort), fin: wire.fin.has(r.localPort) })))}`);
    }
  };
  const shardsAfterKill = () => {
    const [s0, s2] = [stats[0], lastStats()];
    const p1 = s2.workers.find((w) => w.place === 1);
    const before = poolLine(s0);
    const after = poolLine(s2);
    log(`${tag} pool before the kill: ${poolLine(stats[1]).text}`);
    log(`${tag} pool after the kill and the replacement: ${after.text}`);
    const st = s2.owner.steering;
    const line = `${st.slotsReclaimed} owner slots reclaimed from the dead worker, ${st.flowsForgotten} flows forgotten, ${s2.owner.pump.probesSent} peers probed; replacement pid ${p1?.pid} (joins ${p1?.steering?.joins}, deaths ${p1?.steering?.deaths})`;
    log(`${tag} ${line}`);
    if (before.home && after.home && p1 && p1.pid !== shard.victimPid && p1.state === 'online' && p1.steering.joins === 2 && p1.steering.deaths === 1) {
      pass(`${tag} no slot lost to the SIGKILL: ${after.text}; ${line}`);
    } else fail(`${tag} every slot home after the kill, a replacement online`, `${after.text}; ${line}`);
  };

  // account: the guest's snapshots (acct[path][phase][kind]), echo times, trace counts.
  const acct = {};
  const acctMs = {};
  const acctTrace = {};
  let acctIrq = -1;
  let acctClk = 100;
  let hmp = null;
  const accountStep = async (step, path) => {
    const bytes = step === 'acct-warm' ? 30 << 20 : 10 << 20;
    if (step === 'acct-traced') {
      hmp ??= await connectHmp(join(acctDir, 'hmp.sock'));
      await traceOn(hmp, join(acctDir, `trace-${path}.log`));
    }
    let r;
    try {
      r = await tcpEcho(peer.tcp, bytes);
    } finally {
      if (step === 'acct-traced') await traceOff(hmp, join(acctDir, 'idle.log'));
    }
    const label = { 'acct-warm': 'warm-up', 'acct-timed': 'timed', 'acct-traced': 'traced' }[step];
    if (r.ok) pass(`${tag} ${path}: ${label} TCP echo of ${bytes >> 20} MB verified: ${r.ms.toFixed(0)} ms`);
    else fail(`${tag} ${path}: ${label} TCP echo of ${bytes >> 20} MB`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
    acctMs[path] ??= { 'acct-timed': [] };
    if (step === 'acct-timed') acctMs[path][step].push(r.ok ? r.ms : NaN);
    else acctMs[path][step] = r.ok ? r.ms : NaN;
    if (step === 'acct-traced') acctTrace[path] = countTrace(join(acctDir, `trace-${path}.log`), acctIrq);
  };

  const onWait = async (what) => {
    try {
      const [step, path] = what.split(/\s+/);
      if (step.startsWith('acct-')) await accountStep(step, path);
      else if (what === 'shards-load') await shardsLoad();
      else if (what === 'shards-after-load') shardsAfterLoad();
      else if (what === 'shards-kill') await shardsKill();
      else if (what === 'shards-killed') await shardsKilled();
      else if (what === 'shards-after-kill') shardsAfterKill();
      else if (what === 'echo-ready') await echoChecks('ustack echo');
      else if (what === 'mq-flows') await mqFlows();
      else if (what === 'echo-ready-after-kill') await echoChecks('restart after SIGKILL');
      else if (what === 'echo-after-second-open') {
        const u = await udpEcho(peer.udp);
        const r = await tcpEcho(peer.tcp, 256 << 10, { timeoutMs: 120_000 });
        if (u === 5 && r.ok) pass(`${tag} the echo still serves after the refused second open: UDP 5/5, 256 KB TCP verified`);
        else fail(`${tag} the echo still serves after the refused second open`, `UDP ${u}/5, TCP ${r.error ?? (r.ok ? 'ok' : 'mismatch')}`);
      }
      else if (what === 'echo-after-idle') {
        // One datagram, no retry: the first packet after idle must wake the server.
        const sock = dgram.createSocket('udp4');
        const payload = randomBytes(100);
        const t0 = Date.now();
        const ok = await new Promise((res) => {
          const t = setTimeout(() => res(false), 5000);
          sock.on('message', (m) => {
            if (Buffer.compare(m, payload) === 0) {
              clearTimeout(t);
              res(true);
            }
          });
          sock.send(payload, peer.udp, peer.host);
        });
        sock.close();
        if (ok) pass(`${tag} first datagram after 5 s idle answered (interrupt wake-up), ${Date.now() - t0} ms`);
        else fail(`${tag} first datagram after idle answered`);
      } else if (what === 'timed-ustack') {
        const r = await tcpEcho(peer.tcp, 10 << 20);
        ustackMs = r.ms;
        if (r.ok) pass(`${tag} TCP echo of 10 MB through ustack on the ${nicLabel} verified: ${r.ms.toFixed(0)} ms`);
        else fail(`${tag} TCP echo of 10 MB through ustack`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
      } else if (what === 'kill-mid') {
        // Start a long transfer; let the guest kill ustack once data flows.
        await new Promise((res) => {
          midTransfer = tcpEcho(peer.tcp, 64 << 20, {
            timeoutMs: 600_000,
            onProgress: (got, sock) => {
              if (got >= 256 << 10 && !sock.__signalled) {
                sock.__signalled = true;
                sock.__killTimer = setTimeout(() => sock.destroy(), 5000);
                res();
              }
            },
          });
          midTransfer.then(() => res());
        });
        log(`${tag} host: transfer in progress, telling the guest to SIGKILL ustack`);
      } else if (what === 'warm-up') {
        const r = await tcpEcho(peer.tcp, 20 << 20);
        if (r.ok) pass(`${tag} warm-up TCP echo of 20 MB (before strace attaches) verified: ${r.ms.toFixed(0)} ms`);
        else fail(`${tag} warm-up TCP echo of 20 MB`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
      } else if (what === 'strace-ready') {
        const r = await tcpEcho(peer.tcp, 10 << 20);
        straceMs = r.ms;
        if (r.ok) pass(`${tag} TCP echo of 10 MB through ustack (under strace) verified: ${r.ms.toFixed(0)} ms`);
        else fail(`${tag} TCP echo of 10 MB through ustack`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
      } else if (what === 'kernel-ready') {
        const u = await udpEcho(peer.udp);
        log(`${tag} kernel ${kernelDriver} + node:dgram UDP echo: ${u}/5`);
        const r = await tcpEcho(peer.tcp, 10 << 20);
        kernelMs = r.ms;
        if (r.ok) pass(`${tag} TCP echo of 10 MB through the guest kernel's ${kernelDriver} + node:net verified: ${r.ms.toFixed(0)} ms`);
        else fail(`${tag} TCP echo of 10 MB through the kernel`, `${r.error ?? 'mismatch'}; ${r.got} bytes back`);
      }
    } catch (e) {
      fail(`${tag} host step ${what}`, e.message);
    }
    reply();
  };

  let buf = '';
  const onLine = (line) => {
    line = line.replace(/\r$/, '');
    if (inStrace) {
      if (line.startsWith('@@STRACE-END')) inStrace = false;
      else strace.push(line);
    }
    if (line.startsWith('@@STRACE-BEGIN')) {
      inStrace = true;
      strace = [];
    }
    const am = /^@@ACCT (\S+) (before|after) (\w+) ?(.*)$/.exec(line);
    if (am) {
      const [, path, phase, kind, rest] = am;
      ((acct[path] ??= {})[phase] ??= {})[kind] = kind === 'nic' ? JSON.parse(rest) : kind === 'up' || kind === 'intr' ? Number(rest) : rest.trim().split(/\s+/).map(Number);
      if (kind === 'nic') return; // long; summarised in the table
    }
    if (line.startsWith('@@PROF ')) figures.push(`[account] ${line.slice(7)}`);
    const im = /^@@ACCT-(IRQ|CLK) (\d+)/.exec(line);
    if (im) {
      if (im[1] === 'IRQ') acctIrq = Number(im[2]);
      else acctClk = Number(im[2]);
    }
    const fm = /^@@FD (\d+) (.*)$/.exec(line);
    if (fm) fds.set(Number(fm[1]), fm[2]);
    const m = /@@(WAIT|STATS| PASS| FAIL| DONE)\s?(.*)$/.exec(line);
    if (!line.startsWith('@@STATS')) log(`${tag} ${line}`);
    if (!m) return;
    const [, kind, rest] = m;
    if (kind === 'WAIT') void onWait(rest.trim());
    else if (kind === 'STATS') {
      try {
        stats.push(JSON.parse(rest));
      } catch {
        log(`${tag} (unparsable stats) ${rest.slice(0, 200)}`);
      }
    } else if (kind === ' PASS') pass(`${tag} ${rest}`);
    else if (kind === ' FAIL') fail(`${tag} ${rest}`);
    else if (kind === ' DONE') sawDone = true;
  };
  qemu.stdout.on('data', (d) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      onLine(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  let stderr = '';
  qemu.stderr.on('data', (d) => (stderr += d.toString()));
  const limitMs = Number(process.env.USTACK_VM_TIMEOUT_MS ?? 900_000);
  const code = await new Promise((res) => {
    const t = setTimeout(() => {
      fail(`${tag} guest did not finish within ${limitMs / 1000} s`);
      qemu.kill('SIGKILL');
    }, limitMs);
    qemu.on('exit', (c) => {
      clearTimeout(t);
      res(c);
    });
  });
  if (buf) onLine(buf);
  if (sc.tap) spawnSync('ip', ['link', 'del', TAP_IF], { stdio: 'ignore' });
  if (stderr.trim()) log(`${tag} qemu stderr: ${stderr.trim().slice(0, 2000)}`);
  if (!sawDone) fail(`${tag} guest script completed`, `qemu exit ${code}`);

  // Stats of the running echo after the first echo checks.
  const nicStats = (s) => {
    const key = sc.nic === 'virtio' ? 'q0RxFrames' : 'hwRxGoodPackets';
    for (const v of Object.values(s ?? {})) if (v && typeof v === 'object' && key in v) return v;
    return null;
  };
  // Packets on the wire: the e1000's hardware counters (a TSO frame is many);
  // virtio's frames (the strace scenario runs over slirp: no TSO).
  const packetsOf = (n) => (sc.nic === 'virtio' ? n.framesIn + n.framesOut : n.hwRxGoodPackets + n.hwTxGoodPackets);
  // The stack's own traffic never trips the driver's trust checks: no
  // repair of the shared free stack, no refused TX burst, no device fault,
  // no RX length out of bounds (over every stats snapshot of the run).
  const trustChecks = (first) => {
    const trust = ['freeStackBadIndex', 'freeStackInRing', 'freeStackDuplicate', 'freeStackCountClamped', 'freeStackPushRefused',
      'txRefused', 'deviceFaults', 'rxBadLength'];
    const tripped = [];
    for (const snap of stats) {
      const n = nicStats(snap);
      for (const k of trust) if (n && n[k] !== 0) tripped.push(`${k}=${n[k]}`);
    }
    if (tripped.length === 0 && trust.every((k) => typeof first[k] === 'number')) {
      pass(`${tag} the echo's traffic tripped none of the driver's trust checks (${stats.length} snapshots: free-stack repairs, TX refusals, device faults, RX lengths all 0)`);
    } else fail(`${tag} the echo's traffic tripped none of the driver's trust checks`, tripped.join(' ') || 'counters missing');
  };
  hmp?.close();
  // (shards-virtio judges its own steps as they come, above; main() prints every scenario's duration.)
  if (sc.shards) log(`${tag} boot to power-off: ${((Date.now() - scenarioStart) / 1000).toFixed(0)} s`);
  else if (sc.account) accountReport();
  else if (sc.nic === 'virtio') virtioChecks();
  else e1000Checks();

  function accountReport() {
    const rows = [];
    for (const path of ['ustack-busy', 'ustack-adaptive', 'kernel']) {
      const g = acct[path];
      const ms = acctMs[path] ?? {};
      if (!g?.before || !g?.after || !acctTrace[path]) {
        fail(`${tag} ${path}: accounting`, `snapshots ${g?.before ? 'before ' : ''}${g?.after ? 'after ' : ''}trace ${acctTrace[path] ? 'yes' : 'no'}`);
        continue;
      }
      try {
        rows.push(accountRow(path, g, acctTrace[path], acctClk, ms['acct-timed'] ?? [], ms['acct-traced']));
      } catch (e) {
        fail(`${tag} ${path}: accounting`, e.message);
      }
    }
    const lines = accountLines(rows);
    log(`${tag} the 10 MB echo accounted (IRQ line ${acctIrq}, CLK_TCK ${acctClk}):`);
    for (const l of lines) {
      log(`${tag}   ${l}`);
      figures.push(`[account] ${l}`);
    }
    for (const r of rows) {
      if (r.packets > 0 && r.trace && r.trace.writes > 0) pass(`${tag} ${r.path}: packets (${r.packets}) and e1000 MMIO writes (${r.trace.writes}) counted over the traced echo`);
      else fail(`${tag} ${r.path}: counts`, `packets ${r.packets}, MMIO writes ${r.trace?.writes}`);
      // The driver's own count of its BAR0 writes agrees with QEMU's: nothing
      // else touches the device. The driver's window (stats before and after)
      // is a little wider than the trace's (the connection's last ACK or FIN
      // may leave after the host has switched tracing off): the trace may see
      // a few writes fewer, never more. (Busy polling only: in adaptive mode
      // the wake-up's IMS/IMC writes around the snapshots fall outside the trace.)
      // The interrupt line the trace is filtered on is the e1000's: the guest
      // counted (at least) as many interrupts on it.
      if (r.path === 'kernel') {
        const g = r.guestIrqs;
        const t = r.trace.irqRises;
        if (t > 0 && t <= g && g - t <= 2 + g / 50) pass(`${tag} kernel: interrupts on IRQ ${acctIrq} in QEMU's trace (${t}) agree with the guest's /proc/interrupts (${g})`);
        else fail(`${tag} kernel: interrupts in QEMU's trace agree with the guest's /proc/interrupts`, `trace ${t}, guest ${g}`);
      }
      if (r.driver && r.path === 'ustack-busy') {
        const dw = r.driver.mmioWrites;
        const tw = r.trace.writes;
        if (tw <= dw && dw - tw <= 2 + dw / 100) pass(`${tag} ${r.path}: the driver's MMIO write count agrees with QEMU's trace (driver ${dw}, trace ${tw})`);
        else fail(`${tag} ${r.path}: the driver's MMIO write count agrees with QEMU's trace`, `driver ${dw}, trace ${tw}`);
      }
    }
    rmSync(acctDir, { recursive: true, force: true });
  }

  function virtioChecks() {
    const first = nicStats(stats[0]);
    if (!first) {
      if (sawDone) fail(`${tag} stats from ustack echo (SIGUSR2)`);
      return;
    }
    const names = virtioFeatureNames(first.featuresLow, first.featuresHigh);
    log(`${tag} virtio features: ${names}`);
    log(`${tag} NIC counters after the echoes: rx ${first.framesIn} frames (GSO ${first.rxGsoFrames}, partial checksums ${first.rxCsumPartial}, merged ${first.rxMerged}), tx ${first.framesOut} (GSO ${first.txGsoFrames}, checksum offloaded ${first.txCsumOffload}), notifies rx ${first.rxNotifies} tx ${first.txNotifies}, irqs ${first.irqs}, queue pairs ${first.queuePairs}`);
    if (first.framesIn > 0 && first.framesOut > 0 && first.linkUp === 1) pass(`${tag} virtio-net counters in stack.stats(), link up (features: ${names})`);
    else fail(`${tag} virtio-net counters`, JSON.stringify(first).slice(0, 300));
    if (sc.tap) {
      // QEMU's TAP backend takes virtio_net_hdr offloads: TSO both ways.
      if (/HOST_TSO4/.test(names) && /GUEST_TSO4/.test(names) && first.txGsoFrames > 0) {
        pass(`${tag} TSO: ${first.txGsoFrames} TCP super-frames handed to the device as GSO_TCPV4 (${first.txCsumOffload} frames with NEEDS_CSUM); ${first.rxGsoFrames} GSO frames received`);
      } else fail(`${tag} TSO through virtio_net_hdr`, `features ${names}, txGsoFrames ${first.txGsoFrames}`);
    } else if (/CSUM|TSO/.test(names.replace(/ACCESS_PLATFORM/, ''))) {
      fail(`${tag} slirp offers no offloads`, names);
    } else pass(`${tag} slirp offers no offloads and none were taken (every checksum by the stack)`);
    trustChecks(first);
    if (sc.ipv6) {
      // The IPv6 checks ran with the device's receive filter on: promiscuous off, the solicited-node groups in its MAC table.
      if (/CTRL_RX/.test(names) && first.ctrlFailures === 0 && first.ctrlCommands >= 3) pass(`${tag} receive filter: CTRL_RX negotiated, the IPv6 groups in the MAC table and promiscuous off (${first.ctrlCommands} control commands, none refused)`);
      else fail(`${tag} receive filter (CTRL_RX, MAC table)`, `features ${names}, ctrl commands ${first.ctrlCommands}, failures ${first.ctrlFailures}`);
    }
    if (sc.tapQueues) {
      // After the 16 parallel echoes (second snapshot): frames on both pairs, each way.
      const mq = nicStats(stats[1]);
      const q = mq ? `rx ${mq.q0RxFrames}/${mq.q1RxFrames}, tx ${mq.q0TxFrames}/${mq.q1TxFrames}` : 'no stats';
      log(`${tag} frames per queue pair (0/1): ${q}`);
      figures.push(`[${name}] frames per queue pair (0/1) after 16 parallel echoes: ${q}`);
      if (mq && mq.queuePairs === 2 && mq.q0RxFrames > 0 && mq.q1RxFrames > 0 && mq.q0TxFrames > 0 && mq.q1TxFrames > 0) {
        pass(`${tag} 2 queue pairs (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET), frames on both, each way: ${q}`);
      } else fail(`${tag} frames on both queue pairs`, q);
    }
  }

  function e1000Checks() {
    const first = nicStats(stats[0]);
    if (first) {
      log(`${tag} NIC counters after the echoes: rx ${first.framesIn} frames (hw GPRC ${first.hwRxGoodPackets}), tx ${first.framesOut} (hw GPTC ${first.hwTxGoodPackets}), TX checksum offloaded ${first.txChecksumOffloaded}, contexts ${first.txContexts}, TSO frames ${first.txTsoFrames} -> ${first.txTsoSegments} segments (${first.txTsoSoftware} whole-MSS ones cut by the driver, ${first.txTsoMssLowered} with the MSS lowered; hw TSCTC ${first.hwTsoContexts}), irqs ${first.irqs}, missed ${first.hwMissedPackets}, no-buffer ${first.hwRxNoBuffers}`);
      if (first.hwRxGoodPackets > 0 && first.hwTxGoodPackets > 0) pass(`${tag} hardware statistics registers in stack.stats()`);
      else fail(`${tag} hardware statistics registers`, JSON.stringify(first).slice(0, 300));
      // TSO (default on): after the stalled-reader echo, replies have left as super-frames the e1000 cut.
      if (tsoOff) {
        if (first.txTsoFrames === 0) pass(`${tag} TSO off (ustack.tso=off): no TSO frames`);
        else fail(`${tag} TSO off`, `${first.txTsoFrames} TSO frames`);
      } else if (first.txTsoFrames > 0 && first.txTsoSegments > first.txTsoFrames) {
        pass(`${tag} TSO: ${first.txTsoFrames} TCP super-frames cut by the e1000 into ${first.txTsoSegments} segments`);
      } else fail(`${tag} TSO frames counted`, `txTsoFrames ${first.txTsoFrames}, txTsoSegments ${first.txTsoSegments}`);
      // What left the wire (QEMU counts each segment in GPTC) is exactly the
      // frames handed over with each TSO frame replaced by its segments: no
      // extra header-only segments (QEMU's whole-MSS quirk, see tx_context.h).
      const wire = first.framesOut - (first.txTsoFrames ?? 0) + (first.txTsoSegments ?? 0);
      if (first.hwTxGoodPackets === wire) pass(`${tag} frames on the wire (hw GPTC ${first.hwTxGoodPackets}) = frames sent with TSO frames counted as their segments`);
      else fail(`${tag} frames on the wire`, `hw GPTC ${first.hwTxGoodPackets}, expected ${wire}`);
      trustChecks(first);
      const later = nicStats(stats[stats.length - 1]);
      if (later && stats.length > 1) {
        log(`${tag} NIC counters at the last stats: tx ${later.framesOut} frames (hw GPTC ${later.hwTxGoodPackets}), TSO frames ${later.txTsoFrames} -> ${later.txTsoSegments} segments, contexts ${later.txContexts}`);
      }
    } else if (sawDone) fail(`${tag} stats from ustack echo (SIGUSR2)`);
  }

  if (sc.strace && strace) {
    const rows = [];
    for (const l of strace) {
      const f = /^\s*(\d+)\s+([a-z_0-9]+)\s*$/.exec(l);
      if (f) rows.push({ name: f[2], calls: Number(f[1]) });
    }
    const total = rows.reduce((a, r) => a + r.calls, 0);
    const rw = /^(read|readv|pread64|preadv2?|write|writev|pwrite64|pwritev2?)$/;
    const sr = /^(send|sendto|sendmsg|sendmmsg|recv|recvfrom|recvmsg|recvmmsg)$/;
    const rwRows = rows.filter((r) => rw.test(r.name));
    const srRows = rows.filter((r) => sr.test(r.name));
    // Packets on the wire while strace was attached: the NIC's hardware
    // counters (a TSO super-frame is many packets) just before and after.
    const s0 = nicStats(stats[stats.length - 2]);
    const s1 = nicStats(stats[stats.length - 1]);
    const packets = s0 && s1 ? packetsOf(s1) - packetsOf(s0) : 0;
    const per100 = packets ? ((total / packets) * 100).toFixed(2) : '?';
    log(`${tag} system calls of every ustack echo thread (strace -f, attached for the 10 MB echo; --poll busy, node --single-threaded, after a 20 MB warm-up):`);
    for (const r of rows) log(`${tag}    ${String(r.calls).padStart(8)} ${r.name}`);
    const fdText = [...fds].map(([fd, t]) => `fd ${fd} = ${t}`).join(', ');
    const line = `strace: ${total} system calls for ${packets} packets (${per100} per 100 packets); ` +
      `send/recv-family: ${srRows.map((r) => `${r.name}=${r.calls}`).join(' ') || 'none'}; ` +
      `read/write-family: ${rwRows.map((r) => `${r.name}=${r.calls}`).join(' ') || 'none'}${fdText ? ` (${fdText})` : ''}`;
    log(`${tag} ${line}`);
    figures.push(line);
    // libuv's own eventfd/pipe wake-ups (V8 platform tasks) are not the data path;
    // anything on a socket, the NIC or a TAP would be.
    const dataPathFds = [...fds].filter(([, t]) => !/eventfd|pipe:/.test(t));
    if (rows.length > 0 && srRows.length === 0 && dataPathFds.length === 0) {
      pass(`${tag} no read/write/send/recv-family system calls on the data path`);
    } else {
      fail(`${tag} no read/write/send/recv-family system calls on the data path`, line);
    }
    if (packets > 0 && total * 100 < packets) pass(`${tag} fewer than one system call per 100 packets (${total} for ${packets})`);
    else fail(`${tag} fewer than one system call per 100 packets`, line);
  }
  if (sc.strace && ustackMs > 0 && kernelMs > 0) {
    const line = `10 MB TCP echo from the host: ustack on the ${nicLabel} ${ustackMs.toFixed(0)} ms, guest kernel ${kernelDriver} + node:net ${kernelMs.toFixed(0)} ms, ratio ustack/kernel ${(ustackMs / kernelMs).toFixed(2)} (under strace: ${straceMs.toFixed(0)} ms)`;
    log(`${tag} ${line}`);
    figures.push(line);
  }
  if (midTransfer) await midTransfer.catch(() => {});
}

async function main() {
  ensureTools();
  if (!have('qemu-system-x86_64')) skip('qemu-system-x86_64 is not available');
  const kernel = ensureKernel();
  const initrd = ensureInitramfs(kernel);
  // Make sure the project is built (the guest runs dist/ and build/Release).
  if (!existsSync(join(root, 'build/Release/ustack.node')) || !existsSync(join(root, 'dist/cli/main.js'))) {
    skip('project not built (run npm run build first)');
  }
  const probe = spawnSync('qemu-system-x86_64', ['-accel', 'tcg', '-machine', 'none', '-display', 'none', '-monitor', 'none', '-S', '-no-user-config', '-nodefaults', '-version'], { encoding: 'utf8' });
  if (probe.status !== 0) skip(`qemu-system-x86_64 does not run: ${probe.stderr?.trim()}`);
  log(`vm: ${probe.stdout.split('\n')[0]}; kernel ${kernel.version}; initramfs ${basename(initrd)}`);
  const picked = (process.env.USTACK_VM_SCENARIOS ?? 'full,vfio,em,tap,virtio,virtio-vfio,virtio-tap,shards-virtio').split(',').map((s) => s.trim()).filter(Boolean);
  const t0 = Date.now();
  for (const s of picked) {
    if (!SCENARIOS[s]) {
      fail(`unknown scenario ${s}`);
      continue;
    }
    const ts = Date.now();
    await runScenario(s, kernel, initrd);
    figures.push(`scenario ${s}: ${((Date.now() - ts) / 1000).toFixed(0)} s`);
  }
  log(`\nvm test: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const f of figures) log(`figure: ${f}`);
  if (failures.length) log(`failures:\n  ${failures.join('\n  ')}`);
  log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
}

main().catch((e) => {
  log(`vm test crashed: ${e.stack ?? e}`);
  log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
});
