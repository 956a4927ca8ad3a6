/**
 * Loads the native addon (build/Release/ustack.node) and declares its exports.
 *
 * The package root is found by walking up from this file to the package.json
 * named "ustack", so this works both from src/ (vitest, ts sources) and from
 * dist/ (compiled output).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Counters kept by the addon for one TAP device. */
export interface TapDeviceStats {
  rxFrames: number;
  rxBytes: number;
  /** read() failures other than EAGAIN. */
  rxErrors: number;
  /** Frames longer than a slot (dropped). */
  rxTruncated: number;
  /** Read bursts that ended on EAGAIN (the queue was drained). */
  rxEagain: number;
  txFrames: number;
  txBytes: number;
  /** Frames the kernel refused (dropped, but counted as taken). */
  txErrors: number;
  /** Write bursts cut short by EAGAIN (backpressure). */
  txEagain: number;
  /** errno of the last read / write failure, 0 if none. */
  lastRxErrno: number;
  lastTxErrno: number;
  /** Wake-ups delivered with an error status from libuv (e.g. the device vanished). */
  wakeErrors: number;
  /** With offloads (virtio_net_hdr): GSO super-frames received / their bytes. */
  rxGsoFrames: number;
  rxGsoBytes: number;
  /** Frames received with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  rxCsumPartial: number;
  /** Frames received marked VIRTIO_NET_HDR_F_DATA_VALID. */
  rxCsumValid: number;
  /** Longest frame read / written, bytes. */
  rxLargest: number;
  /** With offloads: frames handed to the kernel for segmentation (GSO) / their bytes. */
  txGsoFrames: number;
  txGsoBytes: number;
  /** Frames written with NEEDS_CSUM (the kernel completes the checksum). */
  txCsumOffload: number;
  txLargest: number;
}

export interface TapHostConfig {
  /** IPv4 address for the kernel side, e.g. '10.11.0.1'. */
  address?: string;
  /** Netmask length; without it the kernel applies its classful default. */
  prefixLength?: number;
  mtu?: number;
  /** Set or clear IFF_UP. */
  up?: boolean;
}

/**
 * A TAP device opened through /dev/net/tun (IFF_TAP | IFF_NO_PI, non-blocking).
 * Errors are thrown as Node-style errors with `code` ('EBUSY', 'EPERM', ...),
 * negative `errno`, and `syscall`.
 */
export interface TapDevice {
  /** The kernel's name for the device. */
  readonly name: string;
  /** The /dev/net/tun file descriptor; -1 after close(). */
  readonly fd: number;
  /** True if the (persistent) device existed before we attached; it then survives close(). */
  readonly preExisted: boolean;
  /** Bytes of virtio_net_hdr in front of each frame: 12 when opened with offloads, else 0. */
  readonly vnetHdrLen: number;
  /** 0 until attachPool(). */
  readonly slotSize: number;
  readonly slotCount: number;

  /**
   * Once per device (ERR_USTACK_POOL_ATTACHED), or again after the attached
   * pool was detached. The addon keeps the ArrayBuffer alive and looks up its
   * memory on every burst: once it is detached (`transfer()`,
   * `structuredClone(pool, { transfer: [pool] })`) or a resizable one shrinks
   * below slotCount * slotSize, bursts throw ERR_USTACK_BUFFER_DETACHED.
   */
  attachPool(pool: ArrayBuffer, slotSize: number): void;
  /**
   * Reads up to `max` frames into slots[0..max) (frame i at slots[i] * slotSize),
   * lengths into lens. Returns the count (stops at EAGAIN), or -errno if the
   * first read failed. Throws a RangeError (ERR_OUT_OF_RANGE) for a slot
   * index outside the pool, before reading anything. Each slot index is read
   * from `slots` once (the arrays may be views of a SharedArrayBuffer). At
   * most 65536 frames per call.
   */
  readBurst(slots: Uint32Array, lens: Uint32Array, max: number, hdrs?: Uint8Array): number;
  /**
   * Writes frames slots[0..n). Returns how many were taken (stops at EAGAIN);
   * frames the kernel refused count as taken and appear in stats().txErrors.
   * Throws a RangeError (ERR_OUT_OF_RANGE), before writing anything, for a
   * slot index outside the pool or a length above slotSize. At most 65536
   * frames per call.
   */
  writeBurst(slots: Uint32Array, lens: Uint32Array, n: number, hdrs?: Uint8Array): number;
  configureHost(config: TapHostConfig): void;
  /** The kernel side's MAC, 'aa:bb:cc:dd:ee:ff'. */
  hostMac(): string;
  hostMtu(): number;
  /** The kernel side's IFF_* flags. */
  hostFlags(): number;

  /**
   * Called (with `this` = the device) once per armWake() when the fd becomes
   * readable. An exception it throws is reported like any uncaught exception
   * (process 'uncaughtException'); the device stays usable and can be armed again.
   */
  setWakeCallback(fn: (() => void) | null): void;
  /**
   * One-shot: polls the fd for readability. An armed device keeps the event
   * loop alive only while ref'd (the default); an unarmed one never does.
   */
  armWake(): void;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): TapDeviceStats;
  /**
   * Stops polling and closes the fd; idempotent. Also done when
   * garbage-collected. Afterwards attachPool, the bursts, armWake,
   * configureHost and the host* queries throw EBADF (a system error with
   * code, errno and syscall); setWakeCallback, ref and unref do nothing;
   * stats() returns the final counters; fd is -1. The pool stays ordinary
   * JavaScript memory.
   */
  close(): void;
}

export interface TapDeviceConstructor {
  /** `offloads`: IFF_VNET_HDR + TUN_F_CSUM | TUN_F_TSO4; every burst then takes `hdrs` (vnetHdrLen bytes per frame). */
  new (name: string, opts?: { offloads?: boolean }): TapDevice;
}

export interface UstackAddon {
  readonly version: string;
  readonly TapDevice: TapDeviceConstructor;
  /**
   * Whether libuv has work due now (an expired timer, a referenced
   * setImmediate, pending callbacks), read without a system call.
   */
  eventLoopDue(): boolean;
  /** Starts/stops the addon's libuv idle handle (keeps the poll phase from blocking). */
  eventLoopSpin(on: boolean): void;
  /** memmove of src[sOff, sOff + len) to dst[dOff, ...): 0, or -1 (nothing done) on bad arguments or bounds. */
  bytesCopy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** bytesCopy, returning the one's complement sum of the bytes (as onesSum), or -1. */
  bytesCopySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** The folded one's complement sum of buf[off, off + len) as big-endian 16-bit words, or -1. */
  bytesSum(buf: Uint8Array, off: number, len: number): number;
}

const ADDON_CANDIDATES = ['build/Release/ustack.node', 'build/Debug/ustack.node'];

/** The package root: the nearest ancestor directory with ustack's package.json. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        const parsed = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown };
        if (parsed.name === 'ustack') return dir;
      } catch {
        // Not ours or unreadable: keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error('ustack: cannot find the package root (package.json named "ustack")');
    }
    dir = parent;
  }
}

let cached: UstackAddon | undefined;

/** Loads the addon once. Throws an error with code ERR_USTACK_ADDON_NOT_BUILT if it is missing. */
export function loadAddon(): UstackAddon {
  if (cached) return cached;
  const root = packageRoot();
  const path = ADDON_CANDIDATES.map((p) => join(root, p)).find((p) => existsSync(p));
  if (!path) {
    const err = new Error(
      `ustack: native addon not built (looked for ${ADDON_CANDIDATES.join(', ')} under ${root}); ` +
        'run `npx node-gyp rebuild` in the package root',
    ) as Error & { code: string };
    err.code = 'ERR_USTACK_ADDON_NOT_BUILT';
    throw err;
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as UstackAddon;
  return cached;
}

/**
 * A view of Node's event loop for the poll scheduler (the addon's
 * eventLoopDue / eventLoopSpin; the addon keeps one idle handle per
 * environment and ignores repeated spin requests), or null where the addon is
 * not built (a loopback-only stack still runs; its poll slices then end on
 * time alone).
 */
export function eventLoopProbe(): { due(): boolean; spin(on: boolean): void } | null {
  let addon: UstackAddon;
  try {
    addon = loadAddon();
  } catch {
    return null;
  }
  if (typeof addon.eventLoopDue !== 'function' || typeof addon.eventLoopSpin !== 'function') return null;
  return { due: addon.eventLoopDue, spin: addon.eventLoopSpin };
}

/** The addon's byte kernels (memcpy and the Internet checksum), for the stack's wire helpers. */
export interface NativeByteKernels {
  copy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  copySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  sum(buf: Uint8Array, off: number, len: number): number;
}

/**
 * The addon's byte kernels, or null where the addon is not built (or predates
 * them) or USTACK_NATIVE_BYTES=0 asks for the JavaScript ones.
 */
export function nativeByteKernels(): NativeByteKernels | null {
  if (process.env.USTACK_NATIVE_BYTES === '0') return null;
  let addon: UstackAddon;
  try {
    addon = loadAddon();
  } catch {
    return null;
  }
  if (typeof addon.bytesCopy !== 'function' || typeof addon.bytesSum !== 'function' || typeof addon.bytesCopySum !== 'function') return null;
  return { copy: addon.bytesCopy, copySum: addon.bytesCopySum, sum: addon.bytesSum };
}
