/**
 * The owner's steering pump: one process drives the device and moves frames
 * between it and the workers' rings by slot index (addon/shm, ShmOwner).
 * The device's packet pool is the shared region's pool, so a frame the
 * device writes into an owner slot is the frame the worker reads, in place,
 * and a frame a worker builds in its own slot is the one the device sends.
 *
 * One poll: lend free owner slots to the device and read a burst into them;
 * steer the burst (ShmOwner: flow table, then the RSS indirection table,
 * ARP to the owner's agent); answer ARP (owner-arp.ts); take what workers
 * queued and write it to the device, giving each slot back once it is
 * sent. A PollLoop (runtime/) drives it like a stack: it sleeps on the
 * device's wake-up and on the eventfd workers write when they queue
 * something while the owner sleeps.
 *
 * The device is a TAP, one AF_XDP queue or a virtio-net device with any
 * number of queue pairs (steered-tap.ts, steered-xdp.ts, steered-virtio.ts:
 * software steering, the owner computes the hash the NIC would). A device
 * steering in hardware would plug in below the same rings: each queue's
 * receive ring filling the slots of the worker it serves and the device's
 * own RSS table taking the place of ShmOwner's (the same Toeplitz key, so
 * steersHere() keeps choosing the right ports) — not built.
 */
import { loadAddon, type ShmCensus, type ShmOwner, type ShmOwnerStats } from './addon.js';
import type { NicStats } from './nic.js';
import type { TapNicOptions } from './tap-nic.js';
import { OwnerArp, type OwnerArpStats } from './owner-arp.js';
import { writeSynProbe } from './flow-probe.js';
import { ProbeSchedule, type ProbeFlow } from './probe-schedule.js';
import type { DeviceInfo, DeviceWake, SteeredDevice } from './steered-device.js';
import { SteeredTap } from './steered-tap.js';
import { SteeredXdp, type SteeredXdpOptions } from './steered-xdp.js';
import { SteeredVirtio, type SteeredVirtioOptions } from './steered-virtio.js';
import { prefixToNetmask } from '../wire/ipv4.js';
import { bytesCopied } from '../wire/bytes.js';
import type { Clock } from '../time/clock.js';

export type { DeviceInfo } from './steered-device.js';

export interface SteeringPumpOptions {
  /**
   * The device: a TAP (its `pool` comes from the shared region), one AF_XDP
   * queue (its UMEM is the region) or a virtio-net device through UIO (its
   * DMA memory is the region, in huge pages).
   */
  device:
    | { kind: 'tap'; tap: Omit<TapNicOptions, 'pool'> }
    | { kind: 'xdp'; xdp: Omit<SteeredXdpOptions, 'address'> }
    | { kind: 'virtio'; virtio: SteeredVirtioOptions };
  /** The stack's address (every worker's), for ARP, its prefix length and gateway (0: none), for the next hop of a probe. */
  address: number;
  prefixLength: number;
  gateway: number;
  /** Worker places (rings and a slot partition each). */
  places: number;
  /** Workers the indirection table spreads over (default places). */
  homeWorkers?: number;
  /** Slots the owner receives into (default 512 for TAP's and virtio's 64 KiB slots, 4096 for AF_XDP's 2 or 4 KiB). */
  ownerSlots?: number;
  /** Slots each worker sends from (default 128 for TAP, 1024 for AF_XDP). */
  workerSlots?: number;
  /** Owner slots one worker may hold (default two thirds of ownerSlots for two workers: 2 * ownerSlots / (places + 1)). */
  rxQuota?: number;
  /** The workers' ephemeral port range: UDP to port p in it goes to worker (p - low) % places (default 49152-65535). */
  ephemeral?: { low: number; high: number };
  clock: Clock;
}

const BURST = 32;
/** The stacks' default ephemeral range (RFC 6335 §6), as tcp-layer and udp-layer have it. */
export const DEFAULT_EPHEMERAL = { low: 49152, high: 65535 };

export class SteeringPump {
  readonly device: SteeredDevice;
  readonly shm: ShmOwner;
  readonly arp: OwnerArp;
  readonly clock: Clock;
  /** Set by the PollLoop; the pump queues nothing outside poll(). */
  onOutput: (() => void) | null = null;
  /** The device's wake-up, a PollLoop wake source. */
  readonly deviceWake: DeviceWake;
  /** The ShmOwner's wake-up as a PollLoop wake source (workers queued something). */
  readonly ringWake: DeviceWake;

  private readonly localSlots = new Uint32Array(BURST);
  private readonly localLens = new Uint32Array(BURST);
  private readonly localFrom = new Uint8Array(BURST);
  private readonly oneSlot = new Uint32Array(1);
  private readonly pool: Uint8Array;
  private closed = false;
  /** The device pushed back: frames wait in the owner's transmit queue. */
  private txWaiting = false;
  private ringWakeHandler: (() => void) | null = null;
  private readonly counters = { polls: 0, probesSent: 0, probesNoNeighbor: 0 };
  /** The repeats of the probes of dead workers' peers. */
  private readonly probes = new ProbeSchedule();
  private readonly sendProbe = (f: ProbeFlow): void => this.probe(f);
  private readonly address: number;
  private readonly netmask: number;
  private readonly gateway: number;
  /** How far into its page the pool starts (AF_XDP's headroom). */
  private readonly poolShift: number;

  private constructor(device: SteeredDevice, shm: ShmOwner, opts: SteeringPumpOptions) {
    this.poolShift = opts.device.kind === 'xdp' ? 256 : 0;
    this.device = device;
    this.shm = shm;
    this.clock = opts.clock;
    this.address = opts.address;
    this.netmask = prefixToNetmask(opts.prefixLength);
    this.gateway = opts.gateway;
    this.pool = new Uint8Array(shm.pool);
    const one = this.oneSlot;
    this.arp = new OwnerArp(
      {
        pool: this.pool,
        slotSize: shm.slotSize,
        queueTx: (slot, len) => shm.queueTx(slot, len),
        deliver: (place, slot, len) => shm.deliver(place, slot, len),
        giveBack: (slot) => shm.giveBack(slot),
        takeSlot: () => (shm.takeRx(one, one, 1) === 1 ? one[0]! : -1),
      },
      opts.address,
      device.info.mac,
    );
    const fire = (): void => {
      const h = this.ringWakeHandler;
      if (h !== null && !this.closed) h();
    };
    this.deviceWake = device.wake;
    this.ringWake = {
      setWakeHandler: (h) => {
        this.ringWakeHandler = h;
        if (!this.closed) shm.setWakeCallback(h === null ? null : fire);
      },
      armWake: () => {
        if (!this.closed && shm.armWake()) queueMicrotask(fire);
      },
      ref: () => {
        if (!this.closed) shm.ref();
      },
      unref: () => {
        if (!this.closed) shm.unref();
      },
    };
  }

  /** Opens the device over a new shared region. */
  static open(opts: SteeringPumpOptions): SteeringPump {
    const places = opts.places;
    const xdp = opts.device.kind === 'xdp';
    // virtio: its receive queues hold 128 slots per pair, its free stack 128 more, all owner slots.
    const ownerSlots = opts.ownerSlots ?? (xdp ? 4096 : opts.device.kind === 'virtio' ? 768 : 512);
    const workerSlots = opts.workerSlots ?? (xdp ? 1024 : 128);
    const rxQuota = opts.rxQuota ?? Math.max(1, Math.min(ownerSlots, Math.floor((2 * ownerSlots) / (places + 1))));
    const { ShmOwner } = loadAddon();
    const makeRegion = (slotSize: number, poolShift: number, extra?: { hugePages?: boolean }): ShmOwner =>
      new ShmOwner({
        ...(extra?.hugePages === true ? { hugePages: true } : {}),
        slotSize,
        places,
        homeWorkers: opts.homeWorkers ?? places,
        ownerSlots,
        workerSlots,
        rxQuota,
        udpEphemeralLow: opts.ephemeral?.low ?? DEFAULT_EPHEMERAL.low,
        udpEphemeralHigh: opts.ephemeral?.high ?? DEFAULT_EPHEMERAL.high,
        poolShift,
      });
    const d = opts.device;
    const { device, shm } =
      d.kind === 'tap'
        ? SteeredTap.open(d.tap, makeRegion)
        : d.kind === 'virtio'
          ? SteeredVirtio.open(d.virtio, makeRegion)
          : SteeredXdp.open({ ...d.xdp, address: opts.address }, makeRegion);
    return new SteeringPump(device, shm, opts);
  }

  /** What a worker's ShmNic needs to know of the device. */
  get info(): DeviceInfo {
    return this.device.info;
  }

  /** One round: receive and steer a burst, answer ARP, send what workers queued. Returns frames moved. */
  poll(now: number = this.clock.now()): number {
    if (this.closed) return 0;
    this.counters.polls++;
    const shm = this.shm;
    let moved = this.device.receive();
    if (this.probes.pending > 0) this.probes.runDue(now, this.sendProbe);
    // ARP from the wire and from workers.
    for (;;) {
      const n = shm.takeLocal(this.localSlots, this.localLens, BURST, this.localFrom);
      for (let i = 0; i < n; i++) this.arp.handle(this.localSlots[i]!, this.localLens[i]!, this.localFrom[i]!, now);
      if (n < BURST) break;
    }
    // What workers queued (and ARP answers), to the device.
    const t = this.device.transmit();
    this.txWaiting = t.waiting;
    moved += t.sent;
    return moved;
  }

  pollReceive(): number {
    return this.poll();
  }

  /** Frames wait to be sent (the device pushed back): poll again soon. */
  pollAt(): number {
    if (this.closed) return Infinity;
    return this.txWaiting ? -Infinity : this.probes.nextAt();
  }

  /** Prepares a place for a new worker; returns the fds it must inherit. */
  addWorker(place: number): { fd: number; wakeFd: number; ownerWakeFd: number } {
    const wakeFd = this.shm.addWorker(place);
    return { fd: this.shm.fd, wakeFd, ownerWakeFd: this.shm.wakeFd };
  }

  /** The worker is polling: it takes its share of the indirection table. */
  setLive(place: number): boolean {
    return this.shm.setLive(place);
  }

  /**
   * The worker is gone: its flows forgotten, its slots reclaimed, and each
   * TCP peer it had probed (flow-probe.ts) so it gets a RST even when it
   * has nothing to send, and probed again on a schedule (probe-schedule.ts)
   * in case a probe or its answer is lost. The first probes leave at the
   * next poll. Returns how many flows it held, or -1 when the place was vacant.
   */
  removeWorker(place: number): number {
    this.arp.forget(place);
    const flows = this.shm.removeWorker(place);
    if (flows === null) return -1;
    const now = this.clock.now();
    for (let i = 0; i + 4 < flows.length; i += 5) {
      if (flows[i + 4] !== 6) continue;
      const f: ProbeFlow = { remote: flows[i]!, remotePort: flows[i + 1]!, local: flows[i + 2]!, localPort: flows[i + 3]! };
      this.probe(f);
      this.probes.add(f, now);
    }
    return flows.length / 5;
  }

  private probe({ remote, remotePort, local, localPort }: ProbeFlow): void {
    const onLink = ((remote ^ this.address) & this.netmask) === 0;
    const hop = onLink || this.gateway === 0 ? remote : this.gateway;
    const mac = this.arp.neighborOf(hop);
    const slot = mac === undefined ? -1 : this.arp.takeSlot();
    if (mac === undefined || slot < 0) {
      this.counters.probesNoNeighbor++;
      return;
    }
    const len = writeSynProbe(this.pool, slot * this.shm.slotSize, {
      srcMac: this.device.info.mac,
      dstMac: mac,
      src: local,
      srcPort: localPort,
      dst: remote,
      dstPort: remotePort,
      seq: (Math.random() * 0x1_0000_0000) >>> 0,
    });
    if (this.shm.queueTx(slot, len)) this.counters.probesSent++;
    else this.shm.giveBack(slot);
  }

  census(): ShmCensus {
    return this.shm.census();
  }

  stats(): {
    steering: Omit<ShmOwnerStats, 'workers'>;
    workers: ShmOwnerStats['workers'];
    arp: OwnerArpStats;
    device: NicStats;
    pump: Record<string, number>;
    layout: { slotSize: number; slotCount: number; ownerSlots: number; workerSlots: number; places: number; poolOffset: number };
    /** The indirection table: the worker place for each of the 128 hash buckets (255: none). */
    reta: number[];
  } {
    const shm = this.shm;
    const { workers, ...steering } = shm.stats();
    return {
      steering,
      workers,
      arp: { ...this.arp.stats },
      device: this.device.stats(),
      // bytesCopied: every byte the owner process's code copied (wire/bytes): steering copies none.
      pump: { ...this.counters, probesRepeated: this.probes.stats.repeats, probesLetGo: this.probes.stats.letGo, probesWaiting: this.probes.pending, bytesCopied: bytesCopied() },
      layout: {
        slotSize: shm.slotSize,
        slotCount: shm.slotCount,
        ownerSlots: shm.ownerSlots,
        workerSlots: shm.workerSlots,
        places: shm.places,
        // Where slot 0 lies in the region's memfd (every process maps the file whole).
        poolOffset: shm.umemPage * 4096 + this.poolShift,
      },
      reta: [...shm.reta()],
    };
  }

  /** Closes the device, then the owner's mapping (workers keep theirs until they exit). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.ringWakeHandler = null;
    await this.device.close();
    this.shm.close();
  }
}
