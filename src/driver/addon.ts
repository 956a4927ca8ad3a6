/**
 * Loads the native addon (build/Release/ustack.node) and declares its
 * exports: the one typed surface of the addon (addon/module.cc registers the
 * same list; addon/napi/ implements it). Everything in src/driver that uses
 * the addon goes through these types.
 *
 * The package root is found by walking up from this file to the package.json
 * named "ustack", so this works both from src/ (vitest, ts sources) and from
 * dist/ (compiled output).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codedError } from '../errors/node-errors.js';

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
  /** 1 once the device is gone (see TapDevice.deviceGone), else 0. */
  deviceGone: number;
  /** The errno that said so (EBADFD once the device was deleted), 0 while it is there. */
  goneErrno: number;
  /** With offloads (virtio_net_hdr): GSO super-frames received / their bytes. */
  rxGsoFrames: number;
  rxGsoBytes: number;
  /** Frames received with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
  rxCsumPartial: number;
  /** Frames received marked VIRTIO_NET_HDR_F_DATA_VALID. */
  rxCsumValid: number;
  /** Of the partial-checksum frames, those the addon completed (readBurst without flags). */
  rxCsumCompleted: number;
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
  /**
   * True once the device was deleted under us (`ip link del`): a read, a
   * write or a wake-up error found the fd detached (EBADFD; ENODEV and ENXIO
   * count too, EIO does not — tun gives it while the link is only down).
   * The fd is no longer polled: armWake() does nothing and no wake-up comes
   * (the one that found it gone was the last). Bursts still answer (-errno,
   * or every frame taken and counted in txErrors) until close().
   */
  readonly deviceGone: boolean;
  /** 0 until attachPool(). */
  readonly slotSize: number;
  readonly slotCount: number;

  /**
   * Once per device (ERR_USTACK_POOL_ATTACHED), or again after the attached
   * pool was detached. The addon keeps the ArrayBuffer alive and looks up its
   * memory on every burst: once it is detached (`transfer()`,
   * `structuredClone(pool, { transfer: [pool] })`) or a resizable one shrinks
   * below slotCount * slotSize, bursts throw ERR_USTACK_BUFFER_DETACHED.
   * `mtu` (offloads): the IP MTU the kernel's GSO cuts frames to (default 1500).
   */
  attachPool(pool: ArrayBuffer, slotSize: number, mtu?: number): void;
  /**
   * Reads up to `max` frames into slots[0..max) (frame i at slots[i] * slotSize),
   * lengths into lens. Returns the count (stops at EAGAIN), or -errno if the
   * first read failed. Throws a RangeError (ERR_OUT_OF_RANGE) for a slot
   * index outside the pool, before reading anything. Each slot index is read
   * from `slots` once (the arrays may be views of a SharedArrayBuffer). At
   * most 65536 frames per call. With offloads and `flags` (room for `max`
   * bytes, else ERR_OUT_OF_RANGE), frame i's receive flag
   * (RX_FLAG_CSUM_VERIFIED for the kernel's partial and validated checksums)
   * goes to flags[i]; without `flags` partial checksums are completed in the
   * slots. Without offloads the flags are 0.
   */
  readBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array | null): number;
  /**
   * Writes frames slots[0..n). Returns how many were taken (stops at EAGAIN);
   * frames the kernel refused count as taken and appear in stats().txErrors.
   * Throws a RangeError (ERR_OUT_OF_RANGE), before writing anything, for a
   * slot index outside the pool or a length above slotSize. At most 65536
   * frames per call.
   */
  writeBurst(slots: Uint32Array, lens: Uint32Array, n: number): number;
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
   * Does nothing once deviceGone.
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
  /**
   * `offloads`: IFF_VNET_HDR + TUN_F_CSUM | TUN_F_TSO4: the addon then writes
   * each frame behind the virtio_net_hdr it builds for it (checksum offload,
   * GSO) and reads the kernel's (addon/vnet_hdr).
   */
  new (name: string, opts?: { offloads?: boolean }): TapDevice;
}

/** Counters of one E1000Device: the driver's, then the NIC's statistics registers by name. */
export interface E1000DeviceStats {
  rxFrames: number;
  rxBytes: number;
  /** Frames the NIC reported with receive errors (dropped). */
  rxDroppedErrors: number;
  /** Receive refills that found no free slot. */
  rxNoSlot: number;
  txFrames: number;
  txBytes: number;
  txRingFull: number;
  /** Context descriptors written (checksum / TSO parameters). */
  txContexts: number;
  txChecksumOffloaded: number;
  /** TSO super-frames, and the MTU-sized frames they became. */
  txTsoFrames: number;
  txTsoSegments: number;
  /** TSO frames the driver cut itself (QEMU's model, whole-MSS frames). */
  txTsoSoftware: number;
  txTsoMssLowered: number;
  /** Descriptors of frames longer than one RX buffer (dropped). */
  rxMultiDescriptor: number;
  /** Frames the device reported shorter than a header or longer than the buffer (dropped). */
  rxBadLength: number;
  /** txBurst calls refused for a bad slot or length. */
  txRefused: number;
  /** Head registers outside their ring: the device was stopped. */
  deviceFaults: number;
  /** Entries of the shared free stack the driver repaired, by kind. */
  freeStackBadIndex: number;
  freeStackInRing: number;
  freeStackDuplicate: number;
  freeStackCountClamped: number;
  freeStackPushRefused: number;
  irqs: number;
  /** rxBurst calls on a started device, those that took frames, txBurst calls that sent. */
  rxPolls: number;
  rxBursts: number;
  txBursts: number;
  /** BAR0 register writes and reads the driver made (each a trap to the hypervisor / QEMU's model). */
  mmioWrites: number;
  mmioReads: number;
  /**
   * 1 when USTACK_E1000_TIMING=1 was set at open: then the nanoseconds spent
   * inside rxBurst (calls that took frames; nativeRxEmptyNs: those that found
   * none), txBurst, txReclaim and armWake (N-API entry to return) and how many
   * such calls were timed; 0s otherwise.
   */
  nativeTiming: number;
  nativeRxNs: number;
  nativeRxEmptyNs: number;
  nativeTxNs: number;
  nativeReclaimNs: number;
  nativeArmNs: number;
  nativeCalls: number;
  /** Wake-ups delivered with an error status from libuv. */
  wakeErrors: number;
  /** 1 while the link is up. */
  linkUp: number;
  /** The NIC's statistics registers (clear-on-read, accumulated): hwCrcErrors, hwMissedPackets, hwRxGoodPackets, ... (addon/e1000/regs.h). */
  [hwCounter: string]: number;
}

/** How an E1000Device is opened (addon/e1000/e1000.h Options). */
export interface E1000DeviceOptions {
  /** RX / TX descriptors (multiples of 8 in [8, 65536]; default 256). */
  rxRing?: number;
  txRing?: number;
  /** Slots in the pool (0 or absent: what the default region holds). */
  slotCount?: number;
  /** Bytes per slot, a power of two in [2048, 65536] (default 16384 with TSO, else 2048). */
  slotSize?: number;
  /** IP MTU TSO cuts to, in [68, 1500]. */
  mtu?: number;
  /** MII loopback: every sent frame comes back (self-test). */
  loopback?: boolean;
  promiscuous?: boolean;
  /** TX checksum offload through context descriptors (default true). */
  txChecksum?: boolean;
  /** TCP segmentation offload (needs txChecksum). */
  tso?: boolean;
}

/**
 * An Intel 8254x driven in poll mode through UIO or VFIO (addon/napi/e1000_device.h).
 * Errors carry `code` (see E1000Nic.open for the ones opening gives).
 */
export interface E1000Device {
  /**
   * The DMA memory, one external ArrayBuffer, detached by close(). Its
   * addresses stay mapped (to zero pages after close) while any ArrayBuffer
   * sharing it lives, including one made from it by transfer().
   */
  readonly pool: ArrayBuffer;
  readonly slotSize: number;
  readonly slotCount: number;
  /** TCP segmentation offload in use (asked for, and checksum offload on). */
  readonly tso: boolean;
  readonly mac: string;
  readonly model: string;
  readonly deviceId: number;
  /** 'hugetlbfs' (physical addresses) or 'vfio-iommu' (IOVA mapping). */
  readonly memory: string;
  /**
   * The driver keeps using freeStack's memory: if its buffer is later
   * detached or shrunk, the device stops (DMA off) and rxBurst, txBurst and
   * txReclaim throw ERR_USTACK_BUFFER_DETACHED.
   */
  start(freeStack: Uint32Array): void;
  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number;
  /**
   * Refuses a bad burst whole (nothing of it is sent): ERR_OUT_OF_RANGE for a
   * slot outside the pool or a length outside [14, min(slotSize, 65535)],
   * ERR_USTACK_SLOT_NOT_OWNED for a slot that is free (released, or never
   * allocated), in the RX ring, already in the TX ring, or twice in the burst.
   * The driver tracks every slot's owner itself and repairs (and counts, in
   * stats(): freeStack*) whatever the shared free stack says that cannot be.
   */
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number;
  txReclaim(): number;
  linkUp(): boolean;
  /** A 32-bit register of BAR0; ERR_OUT_OF_RANGE unless 4-byte aligned and inside the mapped BAR0. */
  readReg(offset: number): number;
  /** Receive frames sent to these group addresses (6 bytes each, at most 1,024), no other multicast (the MTA hash). Arguments as XdpDevice.setMulticast. */
  setMulticast(macs: Uint8Array): void;
  /**
   * As TapDevice.setWakeCallback: anything but a function or null is
   * ERR_INVALID_ARG_TYPE; a closed device holds no callback.
   */
  setWakeCallback(fn: (() => void) | null): void;
  /** Arms the interrupt; true when a frame is already waiting (do not sleep), false after close(). */
  armWake(): boolean;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): E1000DeviceStats;
  stopDma(): void;
  close(): void;
}

export interface E1000DeviceConstructor {
  /** Opens and programs the NIC (RX/TX off until start()); `pci` is DDDD:BB:SS.F. */
  new (pci: string, access: 'uio' | 'vfio', opts?: E1000DeviceOptions): E1000Device;
}

/** Counters of one XdpDevice (addon/xdp/xdp.h Counters, and the kernel's XDP_STATISTICS). */
export interface XdpDeviceStats {
  rxFrames: number;
  rxBytes: number;
  /** RX descriptors naming no slot the driver gave the kernel, or a length that does not fit (dropped). */
  rxBadDescriptor: number;
  /** Frames the kernel put elsewhere than 256 bytes into their chunk (moved there). */
  rxMoved: number;
  /** Fill-ring refills that found no free slot. */
  fillEmpty: number;
  /** recvfrom calls because the fill ring asked for a wake-up. */
  fillKicks: number;
  /** recvfrom calls driving busy polling on an empty RX ring (busyPoll). */
  busyPolls: number;
  txFrames: number;
  txBytes: number;
  /** Frames a TX burst could not place (the ring was full; left with the caller). */
  txRingFull: number;
  /** sendto calls (TX kicks), and those that said EAGAIN, EBUSY, or failed otherwise. */
  txKicks: number;
  txKickAgain: number;
  txKickBusy: number;
  txKickErrors: number;
  lastTxErrno: number;
  /** Completion-ring entries (frames the kernel finished sending), and those naming no slot in TX. */
  completions: number;
  badCompletions: number;
  /** Slots in the fill rings or with the kernel for receiving, now. */
  inKernelRx: number;
  /** Stale ustack programs (attached without a link) found on the interface and replaced at open. */
  staleProgramsReplaced: number;
  freeStackBadIndex: number;
  freeStackInRing: number;
  freeStackDuplicate: number;
  freeStackCountClamped: number;
  freeStackPushRefused: number;
  wakeErrors: number;
  /** The XDP program's verdicts on frames for the stack: redirected to the socket, or passed because no socket is bound on the queue they arrived on (the kernel drops those: steer the stack's traffic to the bound queue). */
  programRedirected: number;
  programNoSocketOnQueue: number;
  /** The kernel's XDP_STATISTICS: frames dropped (too long for a chunk...), RX ring full, fill ring empty, invalid descriptors. */
  kernelRxDropped: number;
  kernelRxInvalid: number;
  kernelTxInvalid: number;
  kernelRxRingFull: number;
  kernelFillRingEmpty: number;
  kernelTxRingEmpty: number;
}

/** How an XdpDevice is opened (addon/xdp/xdp.h Options). */
export interface XdpDeviceOptions {
  /** A receive queue, or 'all': a socket on every receive queue, sharing the UMEM. */
  queue?: number | 'all';
  mode?: 'auto' | 'native' | 'generic';
  zerocopy?: 'auto' | 'on' | 'off';
  busyPoll?: boolean;
  /** UMEM chunks (default 8192; at least 2 * ringSize). */
  slotCount?: number;
  /** Entries of each of the four rings (a power of two in [64, 16384], default 2048). */
  ringSize?: number;
  /** Shared-address mode: only TCP/UDP to the ports of setPorts() and to [ephemeralLow, ephemeralHigh] come to the socket. */
  shared?: boolean;
  ephemeralLow?: number;
  ephemeralHigh?: number;
  /** One NIC, many workers: the UMEM is the shard region (ShmOwner): its memfd, and the page its pool starts in (ShmOwner.umemPage). */
  umemFd?: number;
  umemPage?: number;
  /** Slots from this index on are the workers' own: their completed transmits go to takeCompleted(), not the free stack. */
  foreignFrom?: number;
}

/**
 * An AF_XDP socket on one queue of an interface, with ustack's XDP program
 * attached through a bpf_link (addon/napi/xdp_device.h). Errors carry `code`
 * (see XdpNic.open).
 */
export interface XdpDevice {
  /** The UMEM's frames, one external ArrayBuffer (slot i at i * slotSize), detached by close(). */
  readonly pool: ArrayBuffer;
  /** The UMEM chunk size (2048, or 4096 for an MTU above 1774). */
  readonly slotSize: number;
  readonly slotCount: number;
  /** The longest frame a slot holds: slotSize - 256 (the kernel's headroom). */
  readonly maxFrame: number;
  /** The interface's MAC and MTU. */
  readonly mac: string;
  readonly mtu: number;
  readonly ifindex: number;
  /** The (first) queue bound, and how many sockets (queues) there are. */
  readonly queue: number;
  readonly queueCount: number;
  /** 'native' or 'generic'. */
  readonly mode: string;
  /** The socket is bound in zero-copy mode (known after start()). */
  readonly zerocopy: boolean;
  readonly programId: number;
  readonly linkId: number;
  /** The AF_XDP socket's fd; -1 after close(). */
  readonly fd: number;
  /** Fills the fill ring from freeStack, binds the socket and enters it in the XSKMAP. */
  start(freeStack: Uint32Array): void;
  /** Opened in shared-address mode. */
  readonly shared: boolean;
  /** The IPv4 addresses (32-bit numbers) the program redirects to the socket; at most 64. */
  setAddresses(addresses: number[]): void;
  /** The IPv6 map's keys: whole 16-byte addresses as on the wire (the stack's unicast addresses, ff02::1 to take the all-nodes group); at most 64. */
  setAddresses6(keys: Uint8Array): void;
  /**
   * The multicast groups the interface must receive for the stack (6-byte MACs, at most 1,024): memberships of an AF_PACKET socket the device holds until it closes.
   * The one argument check of the three devices' setMulticast (addon/napi/buffers.h ReadMulticastGroups): ERR_INVALID_ARG_TYPE for anything but a
   * Uint8Array; ERR_INVALID_ARG_VALUE for a length that is not whole addresses, more than 1,024 of them, or an address without the group bit.
   */
  setMulticast(macs: Uint8Array): void;
  /** Shared mode: the listening ports (protocol << 16 | port, TCP 6 or UDP 17) the program redirects; at most 1024. ERR_USTACK_NOT_SHARED otherwise. */
  setPorts(keys: number[]): void;
  /** The kernel's neighbour entry (MAC text) for an IPv4 address on this interface, or null after asking the kernel to resolve it. */
  neighbor(ip: number): string | null;
  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number): number;
  /**
   * Places frames in the TX ring and kicks the kernel when it asks; returns
   * how many it took. Refuses a bad burst whole: ERR_OUT_OF_RANGE for a slot
   * outside the pool or a length outside [14, maxFrame],
   * ERR_USTACK_SLOT_NOT_OWNED for a slot that is free, with the kernel, or
   * twice in the burst.
   */
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number;
  /** Slots the kernel finished sending back onto the free stack; returns how many. */
  txReclaim(): number;
  /** With foreignFrom: the foreign slots whose transmit completed since the last call, written into slots; returns how many. */
  takeCompleted(slots: Uint32Array): number;
  setWakeCallback(fn: (() => void) | null): void;
  /** Arms the socket's poll; true when a frame is already waiting (do not sleep), false after close(). */
  armWake(): boolean;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): XdpDeviceStats;
  /** Detaches the program, closes the socket and the maps, detaches the pool, unmaps the UMEM. Idempotent. */
  close(): void;
}

export interface XdpDeviceConstructor {
  new (ifname: string, opts?: XdpDeviceOptions): XdpDevice;
}

/** Counters of one VirtioDevice: totals over the queue pairs, then q<i>RxFrames / q<i>TxFrames ... per pair. */
export interface VirtioDeviceStats {
  rxFrames: number;
  rxBytes: number;
  /** Frames that spanned several mergeable receive buffers (gathered into the first slot). */
  rxMerged: number;
  /** Frames longer than a slot (dropped). */
  rxTooLong: number;
  /** Used lengths shorter than a virtio_net_hdr + Ethernet header (dropped). */
  rxBadLength: number;
  /** Receive bursts that stopped for want of a free slot. */
  rxNoSlot: number;
  /** GSO super-frames received (GUEST_TSO4). */
  rxGsoFrames: number;
  rxCsumPartial: number;
  rxCsumValid: number;
  rxCsumCompleted: number;
  /** Receive-queue notifications the device asked for (doorbell writes). */
  rxNotifies: number;
  txFrames: number;
  txBytes: number;
  txRingFull: number;
  /** Frames handed to the device for segmentation (GSO_TCPV4). */
  txGsoFrames: number;
  /** Frames with NEEDS_CSUM. */
  txCsumOffload: number;
  txNotifies: number;
  txRefused: number;
  /** The device reported what it cannot (a used index or id out of bounds, NEEDS_RESET): it was reset. */
  deviceFaults: number;
  ctrlCommands: number;
  ctrlFailures: number;
  irqs: number;
  wakeErrors: number;
  freeStackBadIndex: number;
  freeStackInRing: number;
  freeStackDuplicate: number;
  freeStackCountClamped: number;
  freeStackPushRefused: number;
  queuePairs: number;
  /** Receive buffers posted to the device (every receive queue). */
  rxPosted: number;
  /** 1 when the slots are a shared pool (options.poolFd: a shard region), else 0. */
  sharedPool: number;
  /** The negotiated feature bits 0-31 and 32-63 (VirtioDevice.features names them). */
  featuresLow: number;
  featuresHigh: number;
  linkUp: number;
  [perQueue: string]: number;
}

/** How a VirtioDevice is opened (addon/virtio/virtio_net.h Options). */
export interface VirtioDeviceOptions {
  /** Queue pairs, in [1, 16] (default 1); more than one needs VIRTIO_NET_F_MQ. */
  queues?: number;
  /** Descriptors per data queue, a power of two (default 256; lowered to the device's maximum). */
  queueSize?: number;
  slotCount?: number;
  /** Bytes per slot, a power of two in [2048, 65536] (default 65536 with TSO, else 2048). */
  slotSize?: number;
  /** IP MTU the device's TSO cuts to (default 1500). */
  mtu?: number;
  /** Checksum offload (CSUM, GUEST_CSUM) when the device offers it (default true). */
  txChecksum?: boolean;
  /** TSO both ways (HOST_TSO4, GUEST_TSO4) when the device offers it (default true; needs txChecksum). */
  tso?: boolean;
  /**
   * One NIC, many workers: the slots are a shard region's pool (ShmOwner with
   * hugePages): its memfd, the page its pool starts in (ShmOwner.umemPage);
   * slotCount and slotSize must be the region's. UIO only.
   */
  poolFd?: number;
  poolPage?: number;
  /** Slots from this index on are the workers' own: their completed transmits go to takeCompleted(), not the free stack. */
  foreignFrom?: number;
}

/**
 * A virtio-net device (virtio 1.x, PCI) driven in poll mode through UIO or
 * VFIO (addon/napi/virtio_device.h). Errors carry `code` (see VirtioNic.open).
 */
export interface VirtioDevice {
  /** The DMA memory, one external ArrayBuffer, detached by close() (as E1000Device.pool). */
  readonly pool: ArrayBuffer;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly mac: string;
  /** The MAC is the device's (VIRTIO_NET_F_MAC); otherwise a random locally administered one. */
  readonly macFromDevice: boolean;
  readonly model: string;
  readonly deviceId: number;
  /** 'hugetlbfs' (physical addresses) or 'vfio-iommu' (IOVA mapping). */
  readonly memory: string;
  readonly queuePairs: number;
  readonly maxQueuePairs: number;
  readonly queueSize: number;
  /** The negotiated features, e.g. 'CSUM GUEST_CSUM MAC ... VERSION_1'. */
  readonly features: string;
  readonly offeredFeatures: string;
  readonly offloads: { txChecksum: boolean; tso: boolean; rxChecksum: boolean; rxGso: boolean };
  /** The device status register (virtio 1.x 2.1): 15 while running, 0 after reset. */
  readonly deviceStatus: number;
  /** Fills the receive queues and sets DRIVER_OK (with several pairs: VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET). */
  start(freeStack: Uint32Array): void;
  /**
   * Up to `max` received frames; with `flags` (room for max) their receive
   * flags (RX_FLAG_CSUM_VERIFIED), without partial checksums completed.
   * `queue`: a pair's receive queue, or -1 (default) every one in turn.
   */
  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array | null, queue?: number): number;
  /**
   * As E1000Device.txBurst (a bad burst is refused whole: ERR_OUT_OF_RANGE,
   * ERR_USTACK_SLOT_NOT_OWNED); `queue` -1 (default): per frame, a hash of its flow.
   */
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number, queue?: number): number;
  txReclaim(): number;
  /** Foreign slots (options.foreignFrom) whose transmit completed, into `slots`; returns how many. */
  takeCompleted(slots: Uint32Array): number;
  /** Frames on the transmit queues the device has not given back yet. */
  txOutstanding(): number;
  /** The address the device reads and writes a slot at (physical under UIO), in hex; '' when out of range. */
  slotDeviceAddress(slot: number): string;
  linkUp(): boolean;
  /** The receive filter (VIRTIO_NET_F_CTRL_RX): these multicast groups (6-byte MACs, at most 1,024), our MAC and broadcast; a no-op without the feature. Arguments as XdpDevice.setMulticast. */
  setMulticast(macs: Uint8Array): void;
  setWakeCallback(fn: (() => void) | null): void;
  /** Enables receive interrupts; true when a frame is already waiting (do not sleep), false after close(). */
  armWake(): boolean;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): VirtioDeviceStats;
  /** Resets the device (DMA stops) and clears bus mastering. */
  stopDma(): void;
  close(): void;
}

export interface VirtioDeviceConstructor {
  /** Opens the device, negotiates features, sets up its queues (live after start()); `pci` is DDDD:BB:SS.F. */
  new (pci: string, access: 'uio' | 'vfio', opts?: VirtioDeviceOptions): VirtioDevice;
}

/** How a ShmOwner lays out the shared region (addon/shm/region.h). */
export interface ShmOwnerOptions {
  /** Bytes per slot: a multiple of 64, the device's slot size. */
  slotSize: number;
  /** Worker places (rings and a slot partition each), at most 64. */
  places: number;
  /** Workers the indirection table is spread over: bucket b's home is b % homeWorkers (default places). */
  homeWorkers?: number;
  /** Slots the owner receives into. */
  ownerSlots: number;
  /** Slots each worker place sends from. */
  workerSlots: number;
  /** Owner slots one worker may hold at once (default ownerSlots). */
  rxQuota?: number;
  /** Flow table entries, a power of two (default 65536). */
  flowCapacity?: number;
  /** The workers' UDP ephemeral range: UDP to port p in it goes to worker (p - low) % homeWorkers (default: no such rule). */
  udpEphemeralLow?: number;
  udpEphemeralHigh?: number;
  /** 256 for an AF_XDP UMEM (a frame lies 256 bytes into its chunk: the pool starts that far into a page), else 0. */
  poolShift?: number;
  /** An MFD_HUGETLB memfd (a virtio-net device's DMA memory under UIO): a slot-aligned pool in whole huge pages. */
  hugePages?: boolean;
}

/** One worker place as the owner counts it (ShmOwner.stats().workers[i]). */
export interface ShmWorkerStats {
  state: 'vacant' | 'joined' | 'live';
  rxFrames: number;
  rxBytes: number;
  rxQuotaDrops: number;
  rxRingFull: number;
  txFrames: number;
  txBytes: number;
  arpFrames: number;
  releases: number;
  returns: number;
  flowAdds: number;
  flowDels: number;
  flowTableFull: number;
  flows: number;
  faults: number;
  wakeups: number;
  joins: number;
  deaths: number;
  ownerSlotsHeld: number;
}

export interface ShmOwnerStats {
  rxFrames: number;
  steered: number;
  steeredByFlow: number;
  arp: number;
  dropNoWorker: number;
  dropNotIpv4: number;
  dropMalformed: number;
  txFrames: number;
  retaChanges: number;
  flowsForgotten: number;
  slotsReclaimed: number;
  badGiveBack: number;
  flows: number;
  txBacklog: number;
  workers: ShmWorkerStats[];
}

/** Who holds the slots (ShmOwner.census()). */
export interface ShmCensus {
  /** Owner slots on its free list. */
  ownerFree: number;
  /** Slots with the owner's JavaScript (being read into, waiting to be sent, ARP). */
  ownerHeld: number;
  /** Per place: slots the worker holds, its own partition at home included. */
  atWorker: number[];
}

/**
 * The owner's side of the shared rings (addon/napi/shm_owner.h): the process
 * driving the device steers received frames to workers by slot index and
 * sends what they queue.
 */
export interface ShmOwner {
  /** The slot pool, one external ArrayBuffer over the shared region (the device's pool). */
  readonly pool: ArrayBuffer;
  /** The region's memfd, for the workers to inherit. */
  readonly fd: number;
  /** The eventfd workers write when they queue something while the owner sleeps. */
  readonly wakeFd: number;
  readonly slotSize: number;
  readonly slotCount: number;
  readonly ownerSlots: number;
  readonly workerSlots: number;
  readonly places: number;
  /** Owner slots free to receive into (0: every one is with a worker or queued). */
  readonly freeSlots: number;
  /** The region's page where the pool's first slot lies: an AF_XDP UMEM's start (XdpDevice umemPage). */
  readonly umemPage: number;
  /** Lends up to n free owner slots for a receive burst (into slots). */
  takeRx(slots: Uint32Array, unused: Uint32Array, n: number): number;
  /** Steers the first `filled` of the `given` lent slots (lens, receive flags); the rest go back. */
  steer(slots: Uint32Array, lens: Uint32Array, given: number, filled: number, flags?: Uint8Array): void;
  /** Takes what workers queued; fills the first frames to send (they stay queued until txDone). */
  txBatch(slots: Uint32Array, lens: Uint32Array, max: number): number;
  /** The first n frames of the last batch were sent. */
  txDone(n: number): void;
  /** The first n frames of the last batch are with a device that completes them later (AF_XDP): giveBack() each when done. */
  txSent(n: number): void;
  /** ARP frames for the owner's agent; from[i]: the worker place, or 255 for the wire. */
  takeLocal(slots: Uint32Array, lens: Uint32Array, max: number, from: Uint8Array): number;
  /** A slot the owner holds to a worker as a received frame; false (and the slot given back) when it cannot take it. */
  deliver(place: number, slot: number, len: number): boolean;
  /** A slot the owner holds back where it belongs; false when the owner does not hold it. */
  giveBack(slot: number): boolean;
  /** A slot the owner holds onto the transmit queue. */
  queueTx(slot: number, len: number): boolean;
  /** Resets a vacant place's rings and hands it its slots; returns its wake-up eventfd. */
  addWorker(place: number): number;
  /** The joined worker takes its buckets of the indirection table. */
  setLive(place: number): boolean;
  /**
   * The worker is gone: out of the table, its flows forgotten, its slots
   * reclaimed. Returns the flows it held ([remoteAddr, remotePort,
   * localAddr, localPort, protocol] each), or null when the place was vacant.
   */
  removeWorker(place: number): number[] | null;
  /** A copy of the indirection table (place per bucket, 255 = none). */
  reta(): Uint8Array;
  setWakeCallback(fn: (() => void) | null): void;
  /** Arms the poll on wakeFd; true when something already waits (do not sleep). */
  armWake(): boolean;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): ShmOwnerStats;
  census(): ShmCensus;
  /** The last steering decisions, oldest first. */
  trace(): { slot: number; len: number; hash: number; place: number }[];
  /** Closes the poll, the eventfds and the owner's mapping. Idempotent. */
  close(): void;
}

export interface ShmOwnerConstructor {
  new (opts: ShmOwnerOptions): ShmOwner;
}

export interface ShmPortStats {
  rxFrames: number;
  rxBytes: number;
  returns: number;
  txFrames: number;
  txBytes: number;
  txRingFull: number;
  releases: number;
  flowNotices: number;
  badEntries: number;
  ownerWakeups: number;
}

/** A worker's end of the shared rings (addon/napi/shm_port.h), over inherited fds. */
export interface ShmPort {
  /** The whole slot pool (owner slots and every partition), one external ArrayBuffer. */
  readonly pool: ArrayBuffer;
  readonly slotSize: number;
  readonly slotCount: number;
  /** This worker's partition: slots [firstSlot, firstSlot + ownSlots). */
  readonly firstSlot: number;
  readonly ownSlots: number;
  readonly place: number;
  /** Attaches the partition's free stack: [count, slot...], ownSlots + 1 entries. */
  start(freeStack: Uint32Array): void;
  rxBurst(slots: Uint32Array, lens: Uint32Array, max: number, flags?: Uint8Array): number;
  txBurst(slots: Uint32Array, lens: Uint32Array, n: number): number;
  /** Owner slots this worker is done with; returns how many the ring took. */
  release(slots: Uint32Array, unused: Uint32Array, n: number): number;
  /** A connection opened (add) or closed; false when the ring had no room. */
  flow(add: boolean, proto: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean;
  /** Whether replies to that flow reach this worker by the indirection table. */
  steersHere(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean;
  setWakeCallback(fn: (() => void) | null): void;
  /** Arms the poll on the wake-up eventfd; true when a frame already waits. */
  armWake(): boolean;
  ref(): void;
  unref(): void;
  hasRef(): boolean;
  stats(): ShmPortStats;
  /** Closes the poll, unmaps the region, closes the inherited fds. Idempotent. */
  close(): void;
}

export interface ShmPortConstructor {
  new (opts: { fd: number; place: number; wakeFd: number; ownerWakeFd: number }): ShmPort;
}

/** Every export of the addon (addon/module.cc). */
export interface UstackAddon {
  readonly version: string;
  readonly TapDevice: TapDeviceConstructor;
  readonly E1000Device: E1000DeviceConstructor;
  readonly XdpDevice: XdpDeviceConstructor;
  readonly VirtioDevice: VirtioDeviceConstructor;
  readonly ShmOwner: ShmOwnerConstructor;
  readonly ShmPort: ShmPortConstructor;
  /** Stops DMA on every open userspace PCI device (e1000 and virtio) of the process (every thread); returns how many. */
  e1000StopAll(): number;
  /** Stops DMA on the userspace PCI devices (e1000 and virtio) this thread (environment) opened; returns how many. */
  e1000StopEnv(): number;
  /** The model name of a device this driver supports, or null. */
  e1000SupportedDevice(vendor: number, device: number): string | null;
  /** 'virtio-net' (1af4:1041) or 'virtio-net (transitional)' (1af4:1000), or null. */
  virtioSupportedDevice(vendor: number, device: number): string | null;
  /**
   * Whether libuv has work due now (an expired timer, a referenced
   * setImmediate, pending callbacks), read without a system call.
   */
  eventLoopDue(): boolean;
  /** Starts/stops the addon's libuv idle handle (keeps the poll phase from blocking). */
  eventLoopSpin(on: boolean): void;
  /**
   * Makes glibc's malloc keep the memory it frees (a large trim threshold
   * and top pad, a fixed mmap threshold): true when it took effect. Process-wide.
   */
  keepFreedHeap?(): boolean;
  /** memmove of src[sOff, sOff + len) to dst[dOff, ...): 0, or -1 (nothing done) on bad arguments or bounds. */
  bytesCopy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** bytesCopy, returning the one's complement sum of the bytes (as onesSum), or -1. */
  bytesCopySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  /** The folded one's complement sum of buf[off, off + len) as big-endian 16-bit words, or -1. */
  bytesSum(buf: Uint8Array, off: number, len: number): number;
  /**
   * src[sOff, sOff + total) cut into `count` chunks of `unit` bytes (the last
   * one the rest): chunk k copied to dst[dOffs[k]...] and its sum (as
   * bytesCopySum) written to sums[k]. 0, or -1 with nothing done.
   */
  bytesCopySumScatter(dst: Uint8Array, dOffs: Uint32Array, count: number, src: Uint8Array, sOff: number, unit: number, total: number, sums: Int32Array): number;
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

/**
 * Loads the addon once. Throws ERR_USTACK_ADDON_NOT_BUILT if it is missing
 * (the install could not build it: no compiler) and ERR_USTACK_ADDON_LOAD_FAILED
 * if it is there but node cannot load it; both say what needs it and how to build it.
 */
export function loadAddon(): UstackAddon {
  if (cached) return cached;
  const root = packageRoot();
  const path = ADDON_CANDIDATES.map((p) => join(root, p)).find((p) => existsSync(p));
  const needs = 'TAP, e1000, virtio-net and AF_XDP NICs and worker shards need it (loopback, Stack.pair and MemoryNic do not)';
  const howToBuild = `build it with \`npm rebuild ustack\` or \`npx node-gyp rebuild\` in ${root} (needs python3, make and a C++17 compiler)`;
  if (!path) {
    throw codedError(
      'ERR_USTACK_ADDON_NOT_BUILT',
      `ustack: the native addon is not built (no ${ADDON_CANDIDATES.join(' or ')} under ${root}); ${needs}; ${howToBuild}`,
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(path) as UstackAddon;
  } catch (err) {
    const e = codedError('ERR_USTACK_ADDON_LOAD_FAILED', `ustack: the native addon ${path} does not load: ${(err as Error).message}; ${needs}; ${howToBuild}`);
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  }
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

/**
 * The C library heap's policy for a busy poller (addon/heap/heap_policy.h):
 * glibc keeps what it frees rather than shrinking its heap after each garbage
 * collection of received Buffers and growing it again (a brk system call
 * every few slabs). Process-wide; applied once, when the first stack polls in
 * 'busy' mode. False where it does not apply (no addon, an addon built before
 * it, another allocator).
 */
export function keepFreedHeap(): boolean {
  if (heapKept) return true;
  let addon: UstackAddon;
  try {
    addon = loadAddon();
  } catch {
    return false;
  }
  heapKept = typeof addon.keepFreedHeap === 'function' && addon.keepFreedHeap();
  return heapKept;
}
let heapKept = false;

/** Whether keepFreedHeap() has taken effect in this process. */
export function freedHeapKept(): boolean {
  return heapKept;
}

/** The addon's byte kernels (memcpy and the Internet checksum), for the stack's wire helpers. */
export interface NativeByteKernels {
  copy(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  copySum(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, len: number): number;
  sum(buf: Uint8Array, off: number, len: number): number;
  copySumScatter?(dst: Uint8Array, dOffs: Uint32Array, count: number, src: Uint8Array, sOff: number, unit: number, total: number, sums: Int32Array): number;
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
  const k: NativeByteKernels = { copy: addon.bytesCopy, copySum: addon.bytesCopySum, sum: addon.bytesSum };
  // An addon built before bytesCopySumScatter: segmented sends copy frame by frame.
  if (typeof addon.bytesCopySumScatter === 'function') k.copySumScatter = addon.bytesCopySumScatter;
  return k;
}
