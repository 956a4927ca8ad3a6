/**
 * TapNic: a Nic over a Linux TAP device. The kernel's own TCP/IP sits on the
 * other side of the link (the "host" side), which makes it the reference peer
 * for interop tests.
 *
 * Packet memory is one ArrayBuffer attached to the addon once; rxBurst hands
 * the addon free slot indices to read into, txBurst hands it filled slots.
 * Nothing is allocated per burst.
 *
 * Offloads (the default): the device is opened with IFF_VNET_HDR and
 * TUN_F_CSUM | TUN_F_TSO4, so every frame crosses the fd behind a 12-byte
 * virtio_net_hdr, which the addon builds and reads (addon/vnet_hdr, the one
 * implementation the virtio-net driver shares). Frames still start at slot
 * offset 0.
 *  - TX: an IPv4 TCP/UDP packet whose checksum field holds the pseudo-header
 *    sum (what the stack writes when offloads.txChecksum is set) goes with
 *    NEEDS_CSUM; a TCP frame longer than mtu + 14 also with GSO_TCPV4
 *    (gso_size = mtu - IP header - TCP header), and the kernel cuts it into
 *    MTU-sized segments.
 *  - RX: the kernel may hand us GSO super-frames (up to 64 KiB of TCP) and
 *    partial checksums (NEEDS_CSUM, as Linux's CHECKSUM_PARTIAL). With a
 *    `flags` array (rxPerFrameFlags) such frames, and DATA_VALID ones, are
 *    marked RX_FLAG_CSUM_VERIFIED; without one the addon completes the
 *    checksum itself, so wrappers that do not forward flags (capture,
 *    impairment) still see valid frames.
 *
 * Device gone: a TAP deleted while open (`ip link del`) detaches the fd for
 * good. The addon notices it (a read, write or wake-up error) and stops
 * polling the fd; the NIC then goes down once: rxBurst returns 0, txBurst
 * takes and drops every frame (txDropDown), armWake does nothing, stats()
 * shows down/deviceGone = 1, `downError` holds an ERR_USTACK_DEVICE_GONE
 * error, and NODE_DEBUG=ustack logs it. The stack on top simply goes idle.
 */
import { loadAddon, type TapDevice, type TapDeviceStats } from './addon.js';
import {
  macToString,
  parseIpv4Cidr,
  parseMac,
  randomLocalMac,
  type Ipv4Cidr,
} from './host-config.js';
import { SlotAllocator, type Nic, type NicOffloads, type NicStats } from './nic.js';
import { codedError } from '../errors/node-errors.js';
import { debuglog, getSystemErrorName } from 'node:util';
import { spawnSync } from 'node:child_process';

/**
 * Gives the kernel side of the TAP an IPv6 address with iproute2 (the addon
 * configures IPv4 with ioctls, which IPv6 does not have; rtnetlink would
 * be the native path). `nodad`: the address is usable at once — the stack
 * side runs its own DAD against it. An address it already has is fine.
 */
function addHostIpv6(ifname: string, cidr: string): void {
  if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(cidr)) throw codedError('ERR_INVALID_ARG_VALUE', `TapNic.open: bad IPv6 host address ${JSON.stringify(cidr)}`, TypeError);
  const r = spawnSync('ip', ['-6', 'addr', 'add', cidr, 'dev', ifname, 'nodad'], { encoding: 'utf8' });
  if (r.error !== undefined) throw codedError('ERR_USTACK_HOST_CONFIG', `TapNic.open: cannot run ip(8) to add ${cidr}: ${r.error.message}`);
  if (r.status !== 0 && !/File exists/.test(r.stderr)) {
    throw codedError('ERR_USTACK_HOST_CONFIG', `TapNic.open: ip -6 addr add ${cidr} dev ${ifname}: ${r.stderr.trim()}`);
  }
}

/** NODE_DEBUG=ustack (the driver layer logs the device going away; stack/iface/debug.ts is above it). */
const debug = debuglog('ustack');

export interface TapNicOptions {
  /** Interface name (at most 15 bytes). Created if missing; a persistent one is attached to. */
  name: string;
  /** Address given to the kernel side, e.g. '10.11.0.1/24'. */
  hostAddress?: string;
  /** IPv6 addresses given to the kernel side, e.g. ['fd00:11::1/64'] (`ip -6 addr add ... nodad`). */
  hostAddresses6?: string[];
  /** IP MTU; sets the device's MTU. Default: the device's current MTU (1500 for a new TAP). */
  mtu?: number;
  /** Slots in the packet pool (default 1024). */
  slotCount?: number;
  /** Our MAC as a 48-bit number; default a random locally administered unicast address. */
  mac?: number;
  /**
   * virtio_net_hdr offloads: TX checksum + TSO/GSO, RX partial checksums and
   * 64 KiB GSO frames (slots of 65 KiB). Default true; when left undefined and
   * the kernel refuses IFF_VNET_HDR, the device opens without offloads.
   */
  offloads?: boolean;
  /**
   * Owner mode (one NIC, many workers: src/driver/steering-pump.ts): the
   * packet memory comes from the caller — called once with the slot size
   * the device needs, it returns the pool (shared memory) and its slot
   * count. The owner then moves frames with readInto()/writeFrom() into and
   * from slots it manages itself; this NIC's own allocator is empty.
   */
  pool?: (slotSize: number) => { buffer: ArrayBuffer; slotCount: number };
}

const DEFAULT_SLOT_COUNT = 1024;
/** With offloads every slot holds a 64 KiB frame: fewer of them by default. */
const DEFAULT_SLOT_COUNT_OFFLOADS = 512;
/** Largest IPv4 packet: what a GSO super-frame can carry. */
const GSO_MAX_IP = 65535;
const VNET_HDR_LEN = 12;

/** Slot size for an MTU: 2048 up to MTU 2030, then whole KiB holding mtu + 18 (Ethernet + VLAN). */
function tapSlotSizeFor(mtu: number): number {
  const frame = mtu + 18;
  return frame <= 2048 ? 2048 : Math.ceil(frame / 1024) * 1024;
}


export class TapNic implements Nic {
  readonly name: string;
  readonly mac: number;
  readonly mtu: number;
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly offloads: NicOffloads;
  /** rxBurst() fills per-frame RX_FLAG_* when given a flags array (offloads only). */
  readonly rxPerFrameFlags: boolean;
  /** The kernel side's MAC (48-bit number). */
  readonly hostMac: number;
  /** The kernel side's IPv4 address, if one was configured. */
  readonly hostAddress: Ipv4Cidr | undefined;
  /** The device existed (persistent) before open; close() then leaves it in place. */
  readonly preExisted: boolean;

  private readonly dev: TapDevice;
  private readonly slots: SlotAllocator;
  private wakeHandler: (() => void) | null = null;
  private closed = false;
  /** The device is gone (deleted under us): see the file comment. */
  private down = false;
  private goneError: (Error & { code: string; errno: number }) | null = null;
  private txDropDown = 0;
  private finalStats: TapDeviceStats | undefined;
  private rxNoSlot = 0;
  private wakeups = 0;
  /** Frames cross the fd behind a virtio_net_hdr (offloads). */
  private readonly vnet: boolean;
  private readonly onDeviceWake = (): void => {
    this.wakeups++;
    // Only an idle NIC is woken, so this accessor call is off the data path.
    if (!this.down && this.dev.deviceGone) this.goDown();
    const h = this.wakeHandler;
    if (h !== null) h();
  };

  private constructor(
    dev: TapDevice,
    mtu: number,
    slotSize: number,
    slotCount: number,
    mac: number,
    hostMac: number,
    hostAddress: Ipv4Cidr | undefined,
    external: { buffer: ArrayBuffer; slotCount: number } | undefined,
  ) {
    this.dev = dev;
    this.vnet = dev.vnetHdrLen === VNET_HDR_LEN;
    // IPv6 TCP too: addon/vnet_hdr marks it NEEDS_CSUM / GSO_TCPV6 (the kernel takes either whatever TUNSETOFFLOAD says).
    this.offloads = { txChecksum: this.vnet, tso: this.vnet, rxChecksumVerified: false, txChecksum6: this.vnet, tso6: this.vnet };
    this.rxPerFrameFlags = this.vnet;
    this.name = dev.name;
    this.preExisted = dev.preExisted;
    this.mtu = mtu;
    this.slotSize = slotSize;
    this.slotCount = external?.slotCount ?? slotCount;
    this.mac = mac;
    this.hostMac = hostMac;
    this.hostAddress = hostAddress;
    const buffer = external?.buffer ?? new ArrayBuffer(slotSize * slotCount);
    dev.attachPool(buffer, slotSize, mtu);
    this.pool = new Uint8Array(buffer, 0, slotSize * this.slotCount);
    this.slots = new SlotAllocator(external === undefined ? slotCount : 0);
  }

  /**
   * Creates (or attaches to) the TAP device, configures the kernel side
   * (MTU, address, link up) and allocates the packet pool. Throws Node-style
   * errors: `EPERM` without CAP_NET_ADMIN, `EBUSY` if another process has the
   * device, `EINVAL` for a bad name, `ERR_INVALID_ARG_VALUE` for bad options.
   */
  static open(opts: TapNicOptions): TapNic {
    if (typeof opts !== 'object' || opts === null || typeof opts.name !== 'string') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'TapNic.open: options.name must be a string', TypeError);
    }
    const host = opts.hostAddress === undefined ? undefined : parseIpv4Cidr(opts.hostAddress);
    if (opts.mtu !== undefined && (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535)) {
      throw codedError('ERR_INVALID_ARG_VALUE', `TapNic.open: mtu must be an integer in [68, 65535], got ${String(opts.mtu)}`, TypeError);
    }
    if (opts.offloads !== undefined && typeof opts.offloads !== 'boolean') {
      throw codedError('ERR_INVALID_ARG_TYPE', 'TapNic.open: offloads must be a boolean', TypeError);
    }
    const wantOffloads = opts.offloads ?? true;
    const slotCount = opts.slotCount ?? (wantOffloads ? DEFAULT_SLOT_COUNT_OFFLOADS : DEFAULT_SLOT_COUNT);
    if (!Number.isInteger(slotCount) || slotCount < 1 || slotCount > 1 << 20) {
      throw codedError('ERR_INVALID_ARG_VALUE', `TapNic.open: slotCount must be an integer in [1, 1048576], got ${String(slotCount)}`, TypeError);
    }
    if (opts.mac !== undefined && (!Number.isInteger(opts.mac) || opts.mac < 0 || opts.mac >= 2 ** 48)) {
      throw codedError('ERR_INVALID_ARG_VALUE', `TapNic.open: mac must be a 48-bit integer`, TypeError);
    }

    const { TapDevice } = loadAddon();
    let dev: TapDevice;
    try {
      dev = new TapDevice(opts.name, { offloads: wantOffloads });
    } catch (err) {
      // "if it works": an explicit request fails loudly, the default falls back.
      const code = (err as { code?: string }).code;
      if (!wantOffloads || opts.offloads === true || (code !== 'EINVAL' && code !== 'EOPNOTSUPP')) throw err;
      dev = new TapDevice(opts.name);
    }
    const vnet = dev.vnetHdrLen !== 0;
    try {
      dev.configureHost({
        ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
        ...(host ? { address: host.address, prefixLength: host.prefixLength } : {}),
        up: true,
      });
      for (const cidr of opts.hostAddresses6 ?? []) addHostIpv6(opts.name, cidr);
      const mtu = opts.mtu ?? dev.hostMtu();
      const hostMac = parseMac(dev.hostMac());
      if (opts.mac !== undefined && opts.mac === hostMac) {
        throw codedError('ERR_INVALID_ARG_VALUE', `TapNic.open: mac ${macToString(opts.mac)} equals the kernel side's MAC`, TypeError);
      }
      const mac = opts.mac ?? randomLocalMac(hostMac);
      // With offloads a slot must hold a GSO super-frame (64 KiB IP packet).
      const slotSize = tapSlotSizeFor(vnet ? Math.max(mtu, GSO_MAX_IP) : mtu);
      const external = opts.pool?.(slotSize);
      if (external !== undefined && !(external.slotCount >= 1 && external.buffer.byteLength >= slotSize * external.slotCount)) {
        throw codedError('ERR_INVALID_ARG_VALUE', 'TapNic.open: the pool does not hold slotCount slots', TypeError);
      }
      return new TapNic(dev, mtu, slotSize, slotCount, mac, hostMac, host, external);
    } catch (err) {
      dev.close();
      throw err;
    }
  }

  /** Our MAC as text, 'aa:bb:cc:dd:ee:ff'. */
  get macString(): string {
    return macToString(this.mac);
  }

  get hostMacString(): string {
    return macToString(this.hostMac);
  }

  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number {
    if (this.closed || this.down) return 0;
    let n = Math.min(max, slots.length, lens.length);
    if (flags !== undefined && flags.length < n) n = flags.length;
    let k = 0;
    while (k < n) {
      const s = this.slots.alloc();
      if (s < 0) break;
      slots[k++] = s;
    }
    if (k === 0) {
      if (n > 0) this.rxNoSlot++;
      return 0;
    }
    let got = this.dev.readBurst(slots, lens, k, flags);
    if (got < 0) {
      got = 0; // counted by the addon (rxErrors, lastRxErrno)
      if (this.dev.deviceGone) this.goDown();
    }
    // Give back the slots that were not filled, last first, so the next burst reuses the same ones.
    for (let i = k - 1; i >= got; i--) this.slots.release(slots[i]!);
    return got;
  }

  /**
   * Owner mode: reads up to n frames into the given slots (the caller's, not
   * this NIC's allocator's). Returns how many were filled, 0 once down.
   */
  readInto(slots: Uint32Array, lens: Uint32Array, n: number, flags?: Uint8Array): number {
    if (this.closed || this.down || n === 0) return 0;
    const got = this.dev.readBurst(slots, lens, n, flags);
    if (got >= 0) return got;
    if (this.dev.deviceGone) this.goDown();
    return 0; // counted by the addon (rxErrors, lastRxErrno)
  }

  /**
   * Owner mode: writes n frames from the given slots; returns how many the
   * device took (the slots stay the caller's either way). Once down, every
   * frame is taken and dropped (txDropDown).
   */
  writeFrom(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    if (this.down) {
      this.txDropDown += n;
      return n;
    }
    const taken = this.dev.writeBurst(slots, lens, n);
    // A gone device takes the rest of the burst as dropped, so taken = n then too; a short burst is EAGAIN.
    if (taken < n && this.dev.deviceGone) this.goDown();
    return taken;
  }

  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number {
    if (this.closed) return 0;
    if (this.down) {
      // Nowhere to send to: take the frames, as a link without carrier drops them.
      const k = Math.min(n, slots.length, lens.length);
      for (let i = 0; i < k; i++) this.slots.release(slots[i]!);
      this.txDropDown += k;
      return k;
    }
    const taken = this.dev.writeBurst(slots, lens, n);
    for (let i = 0; i < taken; i++) this.slots.release(slots[i]!);
    return taken;
  }

  alloc(): number {
    return this.slots.alloc();
  }

  release(slot: number): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slotCount) {
      throw codedError('ERR_OUT_OF_RANGE', `TapNic.release: slot ${slot} out of range`, RangeError);
    }
    this.slots.release(slot);
  }

  /** Free slots in the pool. */
  get availableSlots(): number {
    return this.slots.available;
  }

  setWakeHandler(onWake: (() => void) | null): void {
    this.wakeHandler = onWake;
    if (this.closed || this.down) return;
    // Only hold a callback in the addon while a handler is set, so a dropped
    // TapNic without a handler can still be garbage-collected (and closed).
    this.dev.setWakeCallback(onWake === null ? null : this.onDeviceWake);
  }

  /** One-shot: the wake handler runs once when the TAP fd becomes readable. No-op after close() or once down. */
  armWake(): void {
    if (!this.closed && !this.down) this.dev.armWake();
  }

  /**
   * Once, when the addon reports the device gone: stop using it. The addon
   * already stopped polling the fd; the wake callback goes too, so nothing
   * native holds this NIC any more.
   */
  private goDown(): void {
    if (this.down) return;
    this.down = true;
    const errno = this.dev.stats().goneErrno;
    const name = errno > 0 ? getSystemErrorName(-errno) : 'unknown';
    const err = codedError('ERR_USTACK_DEVICE_GONE', `TAP device ${this.name} is gone (${name}): the NIC is down`) as Error & {
      code: string;
      errno: number;
    };
    err.errno = -errno;
    this.goneError = err;
    this.dev.setWakeCallback(null);
    debug('nic %s: device gone (%s), the NIC is down; close the stack', this.name, name);
  }

  /** True once the device was deleted under us (see the file comment). */
  get isDown(): boolean {
    return this.down;
  }

  /** Why the NIC is down (code ERR_USTACK_DEVICE_GONE, errno -EBADFD...), or null while it is up. */
  get downError(): Error | null {
    return this.goneError;
  }

  /** An armed wake keeps the event loop alive (the default). */
  ref(): this {
    if (!this.closed) this.dev.ref();
    return this;
  }

  /** An armed wake no longer keeps the event loop alive. */
  unref(): this {
    if (!this.closed) this.dev.unref();
    return this;
  }

  hasRef(): boolean {
    return !this.closed && this.dev.hasRef();
  }

  pollAt(): number {
    return Infinity;
  }

  stats(): NicStats {
    const d = this.closed ? this.finalStats! : this.dev.stats();
    return {
      framesIn: d.rxFrames,
      bytesIn: d.rxBytes,
      framesOut: d.txFrames,
      bytesOut: d.txBytes,
      readErrors: d.rxErrors,
      writeErrors: d.txErrors,
      readEagain: d.rxEagain,
      writeEagain: d.txEagain,
      rxTruncated: d.rxTruncated,
      rxNoSlot: this.rxNoSlot,
      lastReadErrno: d.lastRxErrno,
      lastWriteErrno: d.lastTxErrno,
      wakeups: this.wakeups,
      wakeErrors: d.wakeErrors,
      down: this.down ? 1 : 0,
      deviceGone: d.deviceGone,
      txDropDown: this.txDropDown,
      freeSlots: this.slots.available,
      offloads: this.vnet ? 1 : 0,
      gsoFramesOut: d.txGsoFrames,
      gsoBytesOut: d.txGsoBytes,
      csumOffloadOut: d.txCsumOffload,
      largestFrameOut: d.txLargest,
      gsoFramesIn: d.rxGsoFrames,
      gsoBytesIn: d.rxGsoBytes,
      csumPartialIn: d.rxCsumPartial,
      csumValidIn: d.rxCsumValid,
      csumCompletedIn: d.rxCsumCompleted,
      largestFrameIn: d.rxLargest,
    };
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes the device (a device we created disappears). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.finalStats = this.dev.stats();
      this.closed = true;
      this.wakeHandler = null;
      this.dev.close();
    }
    return Promise.resolve();
  }
}
