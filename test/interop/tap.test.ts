/**
 * TapNic against the Linux kernel over a real TAP device.
 *
 * Frames are built by hand here on purpose: this tests the driver, not the
 * wire codecs. Each run uses its own interface names and a 10.11.X.0/24
 * subnet no other interface on the machine uses.
 */
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/driver/addon.js';
import { isLocalUnicastMac } from '../../src/driver/host-config.js';
import { TapNic } from '../../src/driver/tap-nic.js';
import {
  ensureTools,
  freeSubnet24,
  ipAddrShow,
  linkExists,
  run,
  runBackground,
  tunUnavailableReason,
  uniqueIfName,
} from '../helpers/netns.js';
import { startChild, type TrackedChild } from '../helpers/children.js';
import {
  broadcastIndex,
  openQuietTap,
  queueBroadcasts,
  sendBroadcasts,
  tapLink,
  type QuietTap,
} from '../helpers/quiet-tap.js';
import { sleep, waitFor, withTimeout } from '../helpers/wait.js';

const skipReason = tunUnavailableReason();
if (skipReason !== undefined) console.log(`[tap.test] skipping TAP interop tests: ${skipReason}`);

// ---- hand-built frames ---------------------------------------------------------

const ETH_ARP = 0x0806;
const ETH_IPV4 = 0x0800;
const BROADCAST = 0xffffffffffff;

function ipBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

function macBytes(mac: number): number[] {
  const out: number[] = [];
  for (let shift = 40; shift >= 0; shift -= 8) out.push(Math.floor(mac / 2 ** shift) % 256);
  return out;
}

function readMac(b: Uint8Array, off: number): number {
  let v = 0;
  for (let i = 0; i < 6; i++) v = v * 256 + b[off + i]!;
  return v;
}

function readIp(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function checksum(b: Uint8Array, off: number, len: number): number {
  let sum = 0;
  for (let i = 0; i + 1 < len; i += 2) sum += (b[off + i]! << 8) | b[off + i + 1]!;
  if (len % 2 === 1) sum += b[off + len - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function ethernet(dst: number, src: number, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  f.set(macBytes(dst), 0);
  f.set(macBytes(src), 6);
  f[12] = type >> 8;
  f[13] = type & 0xff;
  f.set(payload, 14);
  return f;
}

function arp(op: 1 | 2, sha: number, spa: string, tha: number, tpa: string): Uint8Array {
  const a = new Uint8Array(28);
  a.set([0, 1, 0x08, 0x00, 6, 4, 0, op]);
  a.set(macBytes(sha), 8);
  a.set(ipBytes(spa), 14);
  a.set(macBytes(tha), 18);
  a.set(ipBytes(tpa), 24);
  return a;
}

function icmpEchoRequest(src: string, dst: string, id: number, seq: number, data: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + 8 + data.length);
  p[0] = 0x45;
  p[2] = p.length >> 8;
  p[3] = p.length & 0xff;
  p[4] = 0x12;
  p[5] = 0x34;
  p[6] = 0x40; // DF
  p[8] = 64;
  p[9] = 1; // ICMP
  p.set(ipBytes(src), 12);
  p.set(ipBytes(dst), 16);
  const hc = checksum(p, 0, 20);
  p[10] = hc >> 8;
  p[11] = hc & 0xff;
  p[20] = 8; // echo request
  p[24] = id >> 8;
  p[25] = id & 0xff;
  p[26] = seq >> 8;
  p[27] = seq & 0xff;
  p.set(data, 28);
  const ic = checksum(p, 20, 8 + data.length);
  p[22] = ic >> 8;
  p[23] = ic & 0xff;
  return p;
}

interface ArpInfo {
  op: number;
  sha: number;
  spa: string;
  tha: number;
  tpa: string;
}

function parseArp(f: Uint8Array): ArpInfo | undefined {
  if (f.length < 42 || ((f[12]! << 8) | f[13]!) !== ETH_ARP) return undefined;
  return { op: (f[20]! << 8) | f[21]!, sha: readMac(f, 22), spa: readIp(f, 28), tha: readMac(f, 32), tpa: readIp(f, 38) };
}

interface EchoReply {
  src: string;
  dst: string;
  id: number;
  seq: number;
  data: Uint8Array;
  ipChecksumOk: boolean;
  icmpChecksumOk: boolean;
}

function parseEchoReply(f: Uint8Array): EchoReply | undefined {
  if (f.length < 14 + 28 || ((f[12]! << 8) | f[13]!) !== ETH_IPV4) return undefined;
  const ip = 14;
  const ihl = (f[ip]! & 0x0f) * 4;
  const total = (f[ip + 2]! << 8) | f[ip + 3]!;
  if (f[ip + 9] !== 1 || f[ip + ihl] !== 0) return undefined;
  const icmp = ip + ihl;
  return {
    src: readIp(f, ip + 12),
    dst: readIp(f, ip + 16),
    id: (f[icmp + 4]! << 8) | f[icmp + 5]!,
    seq: (f[icmp + 6]! << 8) | f[icmp + 7]!,
    data: f.slice(icmp + 8, ip + total),
    ipChecksumOk: checksum(f, ip, ihl) === 0,
    icmpChecksumOk: checksum(f, icmp, total - ihl) === 0,
  };
}

// ---- driving a TapNic ----------------------------------------------------------

const BURST = 32;
const rxSlots = new Uint32Array(BURST);
const rxLens = new Uint32Array(BURST);
const txSlots = new Uint32Array(BURST);
const txLens = new Uint32Array(BURST);

/** Copies frames into slots and sends them all in one txBurst. */
function send(nic: TapNic, frames: Uint8Array[]): number {
  for (let i = 0; i < frames.length; i++) {
    const s = nic.alloc();
    expect(s).toBeGreaterThanOrEqual(0);
    nic.pool.set(frames[i]!, s * nic.slotSize);
    txSlots[i] = s;
    txLens[i] = frames[i]!.length;
  }
  const taken = nic.txBurst(txSlots, txLens, frames.length);
  for (let i = taken; i < frames.length; i++) nic.release(txSlots[i]!);
  return taken;
}

/** Reads everything queued now; returns copies of the frames and releases the slots. */
function drain(nic: TapNic): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (;;) {
    const n = nic.rxBurst(rxSlots, rxLens, BURST);
    for (let i = 0; i < n; i++) {
      const off = rxSlots[i]! * nic.slotSize;
      out.push(nic.pool.slice(off, off + rxLens[i]!));
      nic.release(rxSlots[i]!);
    }
    if (n < BURST) return out;
  }
}

/** Upper bound on waiting for a frame the kernel was made to send. */
const FRAME_WAIT_MS = 10_000;

/** Resolves on the next wake-up (arms it); rejects naming `what` after `timeoutMs`. */
function nextWake(nic: TapNic, what: string, timeoutMs = FRAME_WAIT_MS): Promise<void> {
  const woke = new Promise<void>((resolve) => {
    nic.setWakeHandler(() => {
      nic.setWakeHandler(null);
      resolve();
    });
    nic.armWake();
  });
  return withTimeout(woke, { timeoutMs, what: `a wake-up from ${nic.name}: ${what}` }).finally(() =>
    nic.setWakeHandler(null),
  );
}

/**
 * Reads frames (waiting on wake-ups in between) until `match` returns a value.
 * `onFrame` sees every frame first (e.g. to answer ARP). Gives up after
 * FRAME_WAIT_MS, naming `what` and the frames that did come.
 */
async function waitForFrame<T>(
  nic: TapNic,
  what: string,
  match: (f: Uint8Array) => T | undefined,
  onFrame?: (f: Uint8Array) => void,
): Promise<T> {
  const deadline = Date.now() + FRAME_WAIT_MS;
  const seen: string[] = [];
  for (;;) {
    for (const f of drain(nic)) {
      onFrame?.(f);
      const m = match(f);
      if (m !== undefined) return m;
      seen.push(`${f.length} B type 0x${((f[12]! << 8) | f[13]!).toString(16)}`);
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${FRAME_WAIT_MS} ms waiting for ${what}; other frames: [${seen.join(', ')}]`);
    try {
      await nextWake(nic, what, left);
    } catch (err) {
      throw new Error(`${(err as Error).message}; other frames: [${seen.join(', ')}]`);
    }
  }
}

/** Answers the kernel's ARP requests for `ourIp` with `nic.mac`. */
function arpResponder(nic: TapNic, ourIp: string): (f: Uint8Array) => void {
  return (f) => {
    const a = parseArp(f);
    if (a && a.op === 1 && a.tpa === ourIp) {
      send(nic, [ethernet(a.sha, nic.mac, ETH_ARP, arp(2, nic.mac, ourIp, a.sha, a.spa))]);
    }
  };
}

/** Sends an echo request from ourIp to hostIp and waits for the kernel's reply. */
async function pingKernel(nic: TapNic, ourIp: string, hostIp: string, id: number, seq: number, size: number) {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (i * 7 + seq) & 0xff;
  // Tell the kernel who we are (an ARP request makes it cache our MAC), then ping.
  const taken = send(nic, [
    ethernet(BROADCAST, nic.mac, ETH_ARP, arp(1, nic.mac, ourIp, 0, hostIp)),
    ethernet(nic.hostMac, nic.mac, ETH_IPV4, icmpEchoRequest(ourIp, hostIp, id, seq, data)),
  ]);
  expect(taken).toBe(2);
  const reply = await waitForFrame(
    nic,
    `the kernel's echo reply to ${ourIp} (id ${id}, seq ${seq})`,
    (f) => {
      const r = parseEchoReply(f);
      return r && r.id === id && r.seq === seq ? { frame: f, reply: r } : undefined;
    },
    arpResponder(nic, ourIp),
  );
  return { ...reply, data };
}

// ---- tests -------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)('TapNic over a kernel TAP device', () => {
  const ifname = uniqueIfName('ustap');
  const extraLinks: string[] = [];
  let nic: TapNic;
  let net = 0;
  let hostIp = '';
  let ourIp = '';

  beforeAll(() => {
    const missing = ensureTools(['ip', 'ping']);
    if (missing !== undefined) throw new Error(`cannot get test tools: ${missing}`);
    net = freeSubnet24();
    hostIp = `10.11.${net}.1`;
    ourIp = `10.11.${net}.2`;
    // A plain TAP (no virtio_net_hdr): test/interop/tap-offload.test.ts covers offloads.
    nic = TapNic.open({ name: ifname, hostAddress: `${hostIp}/24`, offloads: false });
  });

  afterAll(async () => {
    await nic?.close();
    for (const name of extraLinks) {
      if (linkExists(name)) {
        try {
          run('ip', ['link', 'del', 'dev', name]);
        } catch {
          // already gone
        }
      }
    }
  });

  it('gives the kernel side the host address and brings it up', () => {
    const link = ipAddrShow(ifname);
    expect(link).toBeDefined();
    expect(link!.flags).toContain('UP');
    expect(link!.addr_info).toEqual(
      expect.arrayContaining([expect.objectContaining({ family: 'inet', local: hostIp, prefixlen: 24 })]),
    );
    expect(link!.mtu).toBe(1500);
    expect(link!.address).toBe(nic.hostMacString);
    expect(nic.name).toBe(ifname);
    expect(nic.preExisted).toBe(false);
    expect(nic.hostAddress).toEqual({ address: hostIp, prefixLength: 24 });
  });

  it('has a pool of fixed-size slots and a random local MAC different from the kernel side', () => {
    expect(nic.mtu).toBe(1500);
    expect(nic.slotSize).toBe(2048);
    expect(nic.slotCount).toBe(1024);
    expect(nic.pool.byteLength).toBe(2048 * 1024);
    expect(isLocalUnicastMac(nic.mac)).toBe(true);
    expect(nic.mac).not.toBe(nic.hostMac);
    expect(nic.pollAt()).toBe(Infinity);
    expect(nic.offloads).toEqual({ txChecksum: false, tso: false, rxChecksumVerified: false, txChecksum6: false, tso6: false });
  });

  it('wakes up and reads the ARP requests the kernel sends into the TAP', async () => {
    drain(nic);
    let wakes = 0;
    const woke = new Promise<void>((resolve) => {
      nic.setWakeHandler(() => {
        wakes++;
        nic.setWakeHandler(null);
        resolve();
      });
    });
    nic.armWake();
    // ping makes the kernel resolve 10.11.X.2 on our link: ARP requests come out of the TAP.
    const ping = runBackground('ping', ['-n', '-c', '1', '-W', '1', '-I', ifname, ourIp]);
    try {
      await withTimeout(woke, {
        timeoutMs: FRAME_WAIT_MS,
        what: `a wake-up from ${ifname} (ping of ${ourIp} makes the kernel send ARP requests)`,
        detail: () => ping.describe(),
      });
      expect(wakes).toBe(1);
      const req = await waitForFrame(nic, `the kernel's ARP request for ${ourIp}`, (f) => {
        const a = parseArp(f);
        return a && a.op === 1 && a.tpa === ourIp ? { a, f } : undefined;
      });
      expect(readMac(req.f, 0)).toBe(BROADCAST);
      expect(readMac(req.f, 6)).toBe(nic.hostMac);
      expect(req.a.sha).toBe(nic.hostMac);
      expect(req.a.spa).toBe(hostIp);
    } finally {
      await ping.stop();
    }
  });

  it('sends hand-built frames and receives the kernel echo reply', async () => {
    const before = nic.stats();
    const free = nic.availableSlots;
    const { frame, reply, data } = await pingKernel(nic, ourIp, hostIp, 0x4242, 1, 56);
    expect(readMac(frame, 0)).toBe(nic.mac);
    expect(readMac(frame, 6)).toBe(nic.hostMac);
    expect(reply.src).toBe(hostIp);
    expect(reply.dst).toBe(ourIp);
    expect(reply.ipChecksumOk).toBe(true);
    expect(reply.icmpChecksumOk).toBe(true);
    expect(Array.from(reply.data)).toEqual(Array.from(data));

    const after = nic.stats();
    expect(after.framesOut! - before.framesOut!).toBeGreaterThanOrEqual(2);
    expect(after.bytesOut! - before.bytesOut!).toBeGreaterThanOrEqual(42 + 14 + 20 + 8 + 56);
    expect(after.framesIn! - before.framesIn!).toBeGreaterThanOrEqual(1);
    expect(after.bytesIn! - before.bytesIn!).toBeGreaterThanOrEqual(frame.length);
    expect(after.readEagain!).toBeGreaterThan(0);
    expect(after.writeErrors).toBe(0);
    expect(after.readErrors).toBe(0);
    // Every slot went back to the pool.
    expect(nic.availableSlots).toBe(free);
  });

  it('fires the wake handler once per armWake when a frame arrives', async () => {
    drain(nic);
    let calls = 0;
    for (let round = 1; round <= 3; round++) {
      const woke = new Promise<void>((resolve) =>
        nic.setWakeHandler(() => {
          calls++;
          resolve();
        }),
      );
      nic.armWake();
      nic.armWake(); // arming twice is the same as once
      send(nic, [
        ethernet(nic.hostMac, nic.mac, ETH_IPV4, icmpEchoRequest(ourIp, hostIp, 0x5151, round, new Uint8Array(8))),
      ]);
      await withTimeout(woke, {
        timeoutMs: FRAME_WAIT_MS,
        what: `wake-up ${round} from ${ifname} (after an echo request to the kernel)`,
      });
      expect(calls).toBe(round);
      await waitForFrame(
        nic,
        `the kernel's echo reply seq ${round}`,
        (f) => {
          const r = parseEchoReply(f);
          return r && r.id === 0x5151 && r.seq === round ? r : undefined;
        },
        arpResponder(nic, ourIp),
      );
    }
    nic.setWakeHandler(null);
  });

  it('leaves slots it could not fill in the pool and never reads past max', () => {
    drain(nic);
    const free = nic.availableSlots;
    expect(nic.rxBurst(rxSlots, rxLens, BURST)).toBe(0);
    expect(nic.rxBurst(rxSlots, rxLens, 0)).toBe(0);
    expect(nic.availableSlots).toBe(free);
  });

  it('rejects slot indices outside the pool instead of touching memory', () => {
    const bad = new Uint32Array([nic.slotCount]);
    const lens = new Uint32Array([60]);
    expect(() => nic.txBurst(bad, lens, 1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    const s = nic.alloc();
    try {
      const tooLong = new Uint32Array([nic.slotSize + 1]);
      expect(() => nic.txBurst(new Uint32Array([s]), tooLong, 1)).toThrow(
        expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
      );
    } finally {
      nic.release(s);
    }
  });

  it('fails with EBUSY when the device is already open', () => {
    let err: (Error & { code?: string; syscall?: string; errno?: number }) | undefined;
    try {
      TapNic.open({ name: ifname });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err!.code).toBe('EBUSY');
    expect(err!.syscall).toBe('ioctl(TUNSETIFF)');
    expect(err!.errno).toBeLessThan(0);
    expect(err!.message).toMatch(/^EBUSY: /);
    // The open device is unaffected.
    expect(ipAddrShow(ifname)?.flags).toContain('UP');
  });

  it.each(['x'.repeat(16), 'bad/name', ''])('fails with EINVAL for the bad name %j', (name) => {
    expect(() => TapNic.open({ name })).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'ioctl(TUNSETIFF)' }));
  });

  it('rejects a bad host address before touching the kernel', () => {
    const name = uniqueIfName('ustbad');
    expect(() => TapNic.open({ name, hostAddress: '10.11.0.300/24' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(linkExists(name)).toBe(false);
  });

  it('removes the device on close(), and close() is idempotent', async () => {
    const name = uniqueIfName('ustcls');
    extraLinks.push(name);
    const other = TapNic.open({ name });
    expect(linkExists(name)).toBe(true);
    expect(ipAddrShow(name)?.flags).toContain('UP');
    await other.close();
    expect(linkExists(name)).toBe(false);
    await other.close();
    expect(other.rxBurst(rxSlots, rxLens, BURST)).toBe(0);
    other.armWake(); // no-op after close
    expect(other.stats().framesIn).toBe(0);
  });

  it('attaches to a persistent device and leaves it in place on close()', async () => {
    const name = uniqueIfName('ustper');
    extraLinks.push(name);
    run('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    const other = TapNic.open({ name });
    expect(other.preExisted).toBe(true);
    await other.close();
    expect(linkExists(name)).toBe(true);
    run('ip', ['link', 'del', 'dev', name]);
    expect(linkExists(name)).toBe(false);
  });

  it('uses bigger slots for a jumbo MTU and carries jumbo frames', async () => {
    const name = uniqueIfName('ustjmb');
    extraLinks.push(name);
    const j = freeSubnet24();
    const jumbo = TapNic.open({ name, hostAddress: `10.11.${j}.1/24`, mtu: 9000, slotCount: 64 });
    try {
      expect(jumbo.mtu).toBe(9000);
      expect(jumbo.slotSize).toBeGreaterThanOrEqual(9018);
      expect(jumbo.pool.byteLength).toBe(jumbo.slotSize * 64);
      expect(ipAddrShow(name)?.mtu).toBe(9000);
      const size = 8000;
      const { frame, reply } = await pingKernel(jumbo, `10.11.${j}.2`, `10.11.${j}.1`, 0x7777, 1, size);
      expect(frame.length).toBe(14 + 20 + 8 + size);
      expect(reply.data.length).toBe(size);
      expect(reply.icmpChecksumOk).toBe(true);
    } finally {
      await jumbo.close();
    }
  });
});

// The event-loop behaviour (ref/unref, finalizer, close racing a wake-up)
// needs a process of its own.
describe.skipIf(skipReason !== undefined)('TapDevice wake-up and the event loop', () => {
  const addonPath = join(packageRoot(), 'build/Release/ustack.node');
  const wakeChildPath = join(packageRoot(), 'test/fixtures/tap-wake-child.cjs');
  /** Upper bound on a child's whole life (it ends itself after 60 s). */
  const CHILD_EXIT_MS = 30_000;
  /** How long an armed child is watched for exiting with no frame sent: a window, not a speed expectation. */
  const QUIET_MS = 1000;

  beforeAll(() => {
    const missing = ensureTools(['ip', 'tc']);
    if (missing !== undefined) throw new Error(`cannot get test tools: ${missing}`);
  });

  function node(what: string, script: string, args: string[] = []): TrackedChild {
    return startChild(process.execPath, [...args, '-e', script], { what });
  }

  /** test/fixtures/tap-wake-child.cjs running `scenario` on quiet TAPs `links`; stdin piped for 'go'. */
  function wakeChild(scenario: string, links: Array<{ name: string; subnet: number }>): TrackedChild {
    return startChild(process.execPath, [wakeChildPath, JSON.stringify({ addon: addonPath, scenario, links })], {
      what: `the '${scenario}' child (TAPs ${links.map((l) => l.name).join(', ')})`,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  function exited(child: TrackedChild, what: string) {
    return withTimeout(child.done, { timeoutMs: CHILD_EXIT_MS, what, detail: () => child.describe() });
  }

  /** Waits until the child has printed `line`; fails at once if it exits first. */
  function printed(child: TrackedChild, line: string): Promise<true> {
    return waitFor(
      () => {
        if (child.stdout().split('\n').includes(line)) return true;
        if (child.exited) throw new Error(`the child exited before printing '${line}': ${child.describe()}`);
        return false;
      },
      { timeoutMs: CHILD_EXIT_MS, what: `${child.what} to print '${line}'`, detail: () => child.describe() },
    );
  }

  it('an armed but unref()d device lets node exit; the device goes with the process', async () => {
    const name = uniqueIfName('ustunr');
    const child = node(
      'an armed, unref()d TapDevice child',
      `
      const { TapDevice } = require(${JSON.stringify(addonPath)});
      const d = new TapDevice(${JSON.stringify(name)});
      d.configureHost({ up: true });
      d.setWakeCallback(() => console.log('woke'));
      d.armWake();
      d.unref();
      console.log('hasRef', d.hasRef());
      process.on('exit', () => console.log('exiting'));
    `,
    );
    const res = await exited(child, 'the child with an unref()d device to exit by itself');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('hasRef false');
    expect(res.stdout).toContain('exiting');
    expect(linkExists(name)).toBe(false);
  });

  it('an armed, ref()d device keeps node alive until a frame wakes it', async () => {
    const link = { name: uniqueIfName('ustref'), subnet: freeSubnet24() };
    const child = wakeChild('keepalive', [link]);
    await printed(child, 'armed true');
    // Its link is up and quiet (IPv6 off): nothing wakes it, so only the armed
    // device holds node's event loop — and node is still running.
    const stillRunning = (): void =>
      expect(child.exited, `the child exited with no frame sent: ${child.describe()}`).toBe(false);
    stillRunning();
    expect(ipAddrShow(link.name)?.flags).toContain('UP');
    await sleep(QUIET_MS);
    stillRunning();
    // The test's frame wakes it; it closes the device and node exits.
    await sendBroadcasts(tapLink(link.name, link.subnet), 1);
    const res = await exited(child, `the child to wake on the test's broadcast into ${link.name}, close it and exit`);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    // Frames the kernel sent unasked, if any, woke it too: it printed and re-armed.
    const lines = res.stdout.trimEnd().split('\n');
    const unsolicited = lines.slice(1, -1);
    if (unsolicited.length > 0) console.log(`[tap.test] unsolicited wake-ups on ${link.name}:\n  ${unsolicited.join('\n  ')}`);
    expect(lines[0]).toBe('armed true');
    expect(lines.at(-1)).toBe('woke true');
    for (const l of unsolicited) expect(l).toMatch(/^(ignored |re-armed$)/);
    expect(linkExists(link.name)).toBe(false);
  });

  it('close() right after armWake(): no wake-up, and node exits', async () => {
    const link = { name: uniqueIfName('ustcwa'), subnet: freeSubnet24() };
    const res = await exited(wakeChild('close-while-armed', [link]), 'the child that closed an armed device to exit');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('closed\n');
    expect(linkExists(link.name)).toBe(false);
  });

  it('close() in the tick that armed a device with frames queued: the pending wake-up never runs', async () => {
    const link = { name: uniqueIfName('ustcar'), subnet: freeSubnet24() };
    const child = wakeChild('close-armed-readable', [link]);
    await printed(child, 'ready');
    await queueBroadcasts(tapLink(link.name, link.subnet), 3);
    child.process.stdin!.write('go\n');
    const res = await exited(child, 'the child that closed a readable, armed device to exit');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('ready\nclosed\n');
    expect(linkExists(link.name)).toBe(false);
  });

  it('a wake-up racing close(): the device closed while its readiness is already reported gets no callback', async () => {
    const links = [
      { name: uniqueIfName('ustrca'), subnet: freeSubnet24() },
      { name: uniqueIfName('ustrcb'), subnet: freeSubnet24() },
    ];
    const child = wakeChild('close-races-wake', links);
    await printed(child, 'ready');
    // Both TAPs readable before they are armed: one epoll_wait reports both,
    // and the first callback closes both devices.
    for (const l of links) await queueBroadcasts(tapLink(l.name, l.subnet), 2);
    child.process.stdin!.write('go\n');
    const res = await exited(child, 'the child whose wake-up closed both devices to exit');
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 2)).toEqual(['ready', 'armed']);
    expect(lines.slice(2)).toHaveLength(1);
    expect(lines[2]).toMatch(new RegExp(`^woke (${links.map((l) => l.name).join('|')})$`));
    for (const l of links) expect(linkExists(l.name)).toBe(false);
  });

  it('closes the device when a TapDevice is garbage-collected', async () => {
    const name = uniqueIfName('ustgc');
    const child = node(
      'a child dropping an unclosed TapDevice',
      `
      const { existsSync } = require('node:fs');
      const { TapDevice } = require(${JSON.stringify(addonPath)});
      (function () { new TapDevice(${JSON.stringify(name)}); })();
      console.log('open', existsSync('/sys/class/net/${name}'));
      (async () => {
        for (let i = 0; i < 100 && existsSync('/sys/class/net/${name}'); i++) {
          globalThis.gc();
          await new Promise((r) => setImmediate(r));
        }
        console.log('after gc', existsSync('/sys/class/net/${name}'));
      })();
    `,
      ['--expose-gc'],
    );
    const res = await exited(child, 'the child to collect its TapDevice and exit');
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('open true\nafter gc false\n');
  });
});

// Wake-up edge cases in this process, on a TAP the kernel sends nothing into
// unasked (test/helpers/quiet-tap.ts): every frame that arrives is the test's.
describe.skipIf(skipReason !== undefined)('TapNic wake-up edge cases on a quiet TAP', () => {
  let tap: QuietTap | undefined;

  beforeAll(() => {
    const missing = ensureTools(['ip', 'tc']);
    if (missing !== undefined) throw new Error(`cannot get test tools: ${missing}`);
  });

  afterEach(async () => {
    await tap?.close();
    tap = undefined;
  });

  /** Reads everything queued, returning the test broadcasts' indices (and failing on any other frame). */
  function drainIndices(nic: TapNic): number[] {
    return drain(nic).map((f) => {
      const i = broadcastIndex(f);
      if (i === undefined) throw new Error(`unexpected frame on a quiet TAP: ${Buffer.from(f).toString('hex')}`);
      return i;
    });
  }

  /** A wake-up counter on `nic`: `woken` resolves on the first one. */
  function countWakes(nic: TapNic) {
    const w = { count: 0, woken: undefined as unknown as Promise<void> };
    w.woken = new Promise<void>((resolve) =>
      nic.setWakeHandler(() => {
        w.count++;
        resolve();
      }),
    );
    return w;
  }

  it('wakes at once when frames are already queued as armWake() is called', async () => {
    tap = openQuietTap(uniqueIfName('ustq'), freeSubnet24());
    const nic = tap.nic;
    expect(drainIndices(nic)).toEqual([]);
    await queueBroadcasts(tap, 3);
    const w = countWakes(nic);
    nic.armWake();
    // Nothing else will ever arrive on this link: only the queued frames can wake it.
    await withTimeout(w.woken, { timeoutMs: FRAME_WAIT_MS, what: `a wake-up for 3 frames queued in ${nic.name} before armWake()` });
    expect(w.count).toBe(1);
    expect(drainIndices(nic)).toEqual([0, 1, 2]);
    // Drained and re-armed: the next frame wakes it again.
    const w2 = countWakes(nic);
    nic.armWake();
    await queueBroadcasts(tap, 1, 3);
    await withTimeout(w2.woken, { timeoutMs: FRAME_WAIT_MS, what: `a wake-up for a frame sent to ${nic.name} after re-arming` });
    expect(drainIndices(nic)).toEqual([3]);
    expect(nic.stats().wakeErrors).toBe(0);
  });

  it('close() while armed with frames queued: the wake handler never runs, nothing crashes', async () => {
    tap = openQuietTap(uniqueIfName('ustqc'), freeSubnet24());
    const nic = tap.nic;
    await queueBroadcasts(tap, 2);
    const w = countWakes(nic);
    nic.armWake();
    await nic.close();
    // Let the event loop go round (poll phase included) a few times.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    await sleep(50);
    expect(w.count).toBe(0);
    nic.armWake(); // no-op after close
    nic.setWakeHandler(() => w.count++);
    expect(nic.rxBurst(rxSlots, rxLens, BURST)).toBe(0);
    expect(nic.stats().framesIn).toBe(0);
    expect(w.count).toBe(0);
  });

  it('a receive burst of exactly the batch size: rxBurst returns 32, then 0, nothing lost, and the wake-up still works', async () => {
    tap = openQuietTap(uniqueIfName('ustqb'), freeSubnet24());
    const nic = tap.nic;
    const free = nic.availableSlots;
    await queueBroadcasts(tap, BURST);
    const w = countWakes(nic);
    nic.armWake();
    await withTimeout(w.woken, { timeoutMs: FRAME_WAIT_MS, what: `a wake-up for ${BURST} frames queued in ${nic.name}` });
    const eagainBefore = nic.stats().readEagain!;
    expect(nic.rxBurst(rxSlots, rxLens, BURST)).toBe(BURST);
    const got: number[] = [];
    for (let i = 0; i < BURST; i++) {
      const off = rxSlots[i]! * nic.slotSize;
      got.push(broadcastIndex(nic.pool.subarray(off, off + rxLens[i]!))!);
      nic.release(rxSlots[i]!);
    }
    expect(got).toEqual(Array.from({ length: BURST }, (_, i) => i));
    // The full burst stopped at the batch size, not at EAGAIN; the next one finds the queue empty.
    expect(nic.stats().readEagain).toBe(eagainBefore);
    expect(nic.rxBurst(rxSlots, rxLens, BURST)).toBe(0);
    expect(nic.stats().readEagain).toBe(eagainBefore + 1);
    expect(nic.availableSlots).toBe(free);
    // Armed on an empty queue, it sleeps until the next frame, and wakes for it.
    const w2 = countWakes(nic);
    nic.armWake();
    await queueBroadcasts(tap, 1, BURST);
    await withTimeout(w2.woken, { timeoutMs: FRAME_WAIT_MS, what: `a wake-up for frame ${BURST} after a full burst` });
    expect(drainIndices(nic)).toEqual([BURST]);
    expect(nic.stats().framesIn).toBe(BURST + 1);
  });
});
