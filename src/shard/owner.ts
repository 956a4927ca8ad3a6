/**
 * One NIC, many workers: the owner process. It opens the device over a
 * shared region, runs the steering pump on its own poll loop, and forks the
 * workers — node:cluster's model: each worker is a process running the same
 * program (or `exec`), a full stack shard with its own connections, timers
 * and poll loop, and a crash or SIGKILL of one takes nothing else down.
 *
 *   const owner = await ShardOwner.open({ nic: 'tap:u0', address: '10.0.0.2/24', workers: 2 });
 *   owner.on('exit', (w) => owner.fork(w.place));   // a replacement joins in the same place
 *
 * Each worker inherits the region's memfd and two eventfds as file
 * descriptors 4, 5, 6 (fork's stdio, after the IPC channel at 3) and finds
 * its place in USTACK_SHARD; Stack.open({ workers }) in the worker attaches
 * to them (src/shard/worker.ts). A worker takes its share of new flows when
 * it says it is ready; when it exits the owner forgets its flows (their
 * next segments reach a live worker, whose stack answers them with RST) and
 * reclaims every slot it held.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { parseNicSpec } from '../driver/nic-spec.js';
import { DEFAULT_EPHEMERAL, SteeringPump } from '../driver/steering-pump.js';
import { eventLoopProbe, keepFreedHeap, type ShmCensus } from '../driver/addon.js';
import { codedError, ERR_INVALID_ARG_VALUE } from '../errors/node-errors.js';
import { PollLoop, type PollLoopOptions } from '../runtime/poll-loop.js';
import { RealClock } from '../time/clock.js';
import { parseCidr, parseIpv4Address } from '../wire/ipv4.js';
import { OWNER_WAKE_FD, REGION_FD, SHARD_ENV, WAKE_FD, isWorkerMessage, type ShardDescription } from './messages.js';
import { isShardWorker } from './worker.js';

export interface ShardOptions {
  /**
   * 'tap:NAME', 'xdp:IF[?queue=N&mode=...&zerocopy=...&busy=1]' (one queue) or
   * 'virtio:PCI[?queues=N&tso=on|off]' (UIO: the device's DMA memory is the
   * shared region, in huge pages): the owner steers in software.
   */
  nic: string;
  /** 'A.B.C.D/len': every worker's address. */
  address: string;
  /** TAP: the kernel side's address. */
  hostAddress?: string;
  gateway?: string;
  mtu?: number;
  /** TAP virtio_net_hdr offloads (default true). */
  tapOffloads?: boolean;
  /** How many workers (1..64). */
  workers: number;
  /** The worker program (default process.argv[1]: this program, as node:cluster does). */
  exec?: string;
  /** Its arguments (default process.argv.slice(2)). */
  args?: string[];
  /** node options for it (default process.execArgv). */
  execArgv?: string[];
  /** Its environment (default process.env), USTACK_SHARD added. */
  env?: NodeJS.ProcessEnv;
  /** Pipe the workers' stdout/stderr (worker.process.stdout) instead of sharing the owner's. */
  silent?: boolean;
  /** Fork a replacement in the same place when a worker exits (default false: do it in 'exit', as with node:cluster). */
  respawn?: boolean;
  /** Slots the owner receives into (default 512) and each worker sends from (default 128). */
  ownerSlots?: number;
  workerSlots?: number;
  /** The owner's poll loop (default adaptive). */
  poll?: PollLoopOptions;
}

export interface ShardWorker {
  readonly place: number;
  readonly process: ChildProcess;
  readonly pid: number | undefined;
  /** 'starting' until it says it is ready, 'online' while steered to, 'exited'. */
  state: 'starting' | 'online' | 'exited';
}

export interface ShardStats {
  owner: ReturnType<SteeringPump['stats']> & { poll: Record<string, number> };
  census: ShmCensus;
  workers: {
    place: number;
    pid: number | undefined;
    state: ShardWorker['state'];
    /** The owner's counters for the place (frames steered to it, taken from it, flows, faults). */
    steering: ReturnType<SteeringPump['stats']>['workers'][number];
    /** The worker's own stack.stats(), or null when it did not answer in time. */
    stack: unknown;
  }[];
}

const STATS_TIMEOUT_MS = 2000;
const STOP_GRACE_MS = 3000;
const RESPAWN_DELAY_MS = 100;

export declare interface ShardOwner {
  on(event: 'online', listener: (worker: ShardWorker) => void): this;
  on(event: 'exit', listener: (worker: ShardWorker, code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'online', listener: (worker: ShardWorker) => void): this;
  once(event: 'exit', listener: (worker: ShardWorker, code: number | null, signal: NodeJS.Signals | null) => void): this;
}

export class ShardOwner extends EventEmitter {
  /** Live and starting workers by place. */
  readonly workers = new Map<number, ShardWorker>();
  readonly pump: SteeringPump;
  private readonly loop: PollLoop;
  private readonly description: Omit<ShardDescription, 'place'>;
  private closingFlag = false;
  private closed = false;
  private nextStatsId = 1;
  private readonly statsWaiters = new Map<number, (stats: unknown) => void>();

  private constructor(
    pump: SteeringPump,
    private readonly opts: ShardOptions,
    addr: { address: number; prefixLength: number; gateway: number },
  ) {
    super();
    this.pump = pump;
    const dev = pump.info;
    this.description = {
      workers: opts.workers,
      fd: REGION_FD,
      wakeFd: WAKE_FD,
      ownerWakeFd: OWNER_WAKE_FD,
      ephemeralLow: DEFAULT_EPHEMERAL.low,
      ephemeralHigh: DEFAULT_EPHEMERAL.high,
      ...dev,
      ...addr,
    };
    if (opts.poll?.mode === 'busy') keepFreedHeap(); // as a busy Stack does (src/ustack.ts)
    this.loop = new PollLoop(pump, [pump.deviceWake, pump.ringWake], { eventLoop: eventLoopProbe(), ...(opts.poll ?? {}) });
    this.loop.start();
    this.loop.ref(); // the device keeps the owner alive until close()
  }

  /**
   * Opens the device and forks `workers` workers; resolves once every one
   * of them is online (rejects, after stopping them, if one exits first).
   */
  static async open(opts: ShardOptions): Promise<ShardOwner> {
    if (isShardWorker()) {
      throw codedError('ERR_USTACK_SHARD_WORKER', `ShardOwner.open() runs in the owner; this process is a shard worker (${SHARD_ENV} is set): use Stack.open({ workers })`);
    }
    if (!Number.isInteger(opts.workers) || opts.workers < 1 || opts.workers > 64) {
      throw ERR_INVALID_ARG_VALUE('workers', opts.workers, 'must be an integer from 1 to 64');
    }
    const spec = parseNicSpec(opts.nic);
    if (spec.kind !== 'tap' && spec.kind !== 'xdp' && spec.kind !== 'virtio') {
      throw ERR_INVALID_ARG_VALUE('nic', opts.nic, 'cannot be shared by workers yet (tap:NAME, xdp:IF and virtio:PCI have software steering)');
    }
    if (spec.kind === 'virtio' && spec.access !== 'uio') {
      // The shared pool reaches the device by physical address (huge pages); through the IOMMU it is not built yet.
      throw ERR_INVALID_ARG_VALUE('nic', opts.nic, 'access=vfio is not supported with workers yet (UIO: the shared pool is huge-page memory the device reaches by physical address)');
    }
    if (spec.kind === 'xdp' && spec.shared) {
      throw ERR_INVALID_ARG_VALUE('nic', opts.nic, 'shared=1 (the kernel\'s own address) is not supported with workers');
    }
    const xdpQueue = spec.kind === 'xdp' ? spec.queue : 0;
    if (xdpQueue === 'all') {
      // One socket per hardware queue, each a worker's: the hardware-steered path, not built yet.
      throw ERR_INVALID_ARG_VALUE('nic', opts.nic, 'queue=all is not supported with workers yet (one queue, steered by the owner)');
    }
    let cidr: { address: number; prefixLength: number };
    try {
      cidr = parseCidr(opts.address);
    } catch {
      throw ERR_INVALID_ARG_VALUE('address', opts.address, 'must be an IPv4 address with a prefix length, like 10.0.0.2/24');
    }
    const gateway = opts.gateway === undefined ? 0 : parseIpv4Address(opts.gateway);
    const pump = SteeringPump.open({
      device:
        spec.kind === 'tap'
          ? {
              kind: 'tap',
              tap: {
                name: spec.name,
                ...(opts.hostAddress !== undefined ? { hostAddress: opts.hostAddress } : {}),
                ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
                ...(opts.tapOffloads !== undefined ? { offloads: opts.tapOffloads } : {}),
              },
            }
          : spec.kind === 'virtio'
            ? {
                kind: 'virtio',
                virtio: {
                  pci: spec.pci,
                  ...(spec.queues !== undefined ? { queues: spec.queues } : {}),
                  ...(spec.tso !== undefined ? { tso: spec.tso } : {}),
                  ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
                },
              }
            : { kind: 'xdp', xdp: { ifname: spec.ifname, queue: xdpQueue, mode: spec.mode, zerocopy: spec.zerocopy, busyPoll: spec.busyPoll } },
      address: cidr.address,
      prefixLength: cidr.prefixLength,
      gateway,
      places: opts.workers,
      ...(opts.ownerSlots !== undefined ? { ownerSlots: opts.ownerSlots } : {}),
      ...(opts.workerSlots !== undefined ? { workerSlots: opts.workerSlots } : {}),
      clock: new RealClock(),
    });
    const owner = new ShardOwner(pump, opts, { address: cidr.address, prefixLength: cidr.prefixLength, gateway });
    try {
      await new Promise<void>((resolve, reject) => {
        let online = 0;
        const onOnline = (): void => {
          if (++online === opts.workers) done(null);
        };
        const onExit = (w: ShardWorker, code: number | null, signal: NodeJS.Signals | null): void => {
          done(codedError('ERR_USTACK_SHARD_WORKER_EXITED', `shard worker ${w.place} exited while starting (code ${String(code)}, signal ${String(signal)})`));
        };
        const done = (err: Error | null): void => {
          owner.off('online', onOnline);
          owner.off('exit', onExit);
          if (err === null) resolve();
          else reject(err);
        };
        owner.on('online', onOnline);
        owner.on('exit', onExit);
        for (let place = 0; place < opts.workers; place++) owner.fork(place);
      });
    } catch (err) {
      await owner.close();
      throw err;
    }
    return owner;
  }

  /** close() has begun: workers exiting now are being stopped, not replaced. */
  get closing(): boolean {
    return this.closingFlag;
  }

  /** Forks a worker into a vacant place (a replacement after an exit). */
  fork(place: number): ShardWorker {
    if (this.closingFlag) throw codedError('ERR_USTACK_CLOSED', 'ShardOwner is closing');
    if (this.workers.has(place)) throw codedError('ERR_USTACK_SHARD_PLACE_TAKEN', `shard place ${place} has a worker`);
    const fds = this.pump.addWorker(place);
    const o = this.opts;
    const exec = o.exec ?? process.argv[1];
    if (exec === undefined) throw codedError('ERR_MISSING_OPTION', 'ShardOwner: no program to fork (give `exec`)');
    const description: ShardDescription = { ...this.description, place };
    let child: ChildProcess;
    try {
      child = fork(exec, o.args ?? process.argv.slice(2), {
        execArgv: o.execArgv ?? process.execArgv,
        env: { ...(o.env ?? process.env), [SHARD_ENV]: JSON.stringify(description) },
        // The region and both eventfds become the child's fds 4, 5, 6.
        stdio: [o.silent ? 'pipe' : 'inherit', o.silent ? 'pipe' : 'inherit', o.silent ? 'pipe' : 'inherit', 'ipc', fds.fd, fds.wakeFd, fds.ownerWakeFd],
      });
    } catch (err) {
      this.pump.removeWorker(place);
      throw err;
    }
    const worker: ShardWorker = { place, process: child, pid: child.pid, state: 'starting' };
    this.workers.set(place, worker);
    child.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      if (m.ustack === 'ready' && worker.state === 'starting') {
        worker.state = 'online';
        this.pump.setLive(place);
        this.emit('online', worker);
      } else if (m.ustack === 'stats') {
        this.statsWaiters.get(m.id)?.(m.stats);
      }
    });
    child.on('error', (err) => this.emit('error', err));
    child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    return worker;
  }

  private onExit(worker: ShardWorker, code: number | null, signal: NodeJS.Signals | null): void {
    worker.state = 'exited';
    if (this.workers.get(worker.place) === worker) this.workers.delete(worker.place);
    if (!this.closed) {
      this.pump.removeWorker(worker.place);
      this.loop.kick(); // the probes to its peers leave now
    }
    this.emit('exit', worker, code, signal);
    if (this.opts.respawn === true && !this.closingFlag) {
      setTimeout(() => {
        if (!this.closingFlag && !this.workers.has(worker.place)) this.fork(worker.place);
      }, RESPAWN_DELAY_MS).unref();
    }
  }

  /** Who holds the pool's slots now (owner free list, owner, each worker). */
  census(): ShmCensus {
    return this.pump.census();
  }

  /** The owner's counters and, from each online worker, its stack's. */
  async stats(timeoutMs = STATS_TIMEOUT_MS): Promise<ShardStats> {
    const owner = { ...this.pump.stats(), poll: { ...this.loop.counters } };
    const census = this.pump.census();
    const workers = await Promise.all(
      [...this.workers.values()].map(async (w) => ({
        place: w.place,
        pid: w.pid,
        state: w.state,
        steering: owner.workers[w.place]!,
        stack: await this.askStats(w, timeoutMs),
      })),
    );
    return { owner, census, workers };
  }

  private askStats(w: ShardWorker, timeoutMs: number): Promise<unknown> {
    if (w.state === 'exited' || !w.process.connected) return Promise.resolve(null);
    const id = this.nextStatsId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(null), timeoutMs);
      const finish = (s: unknown): void => {
        clearTimeout(timer);
        this.statsWaiters.delete(id);
        resolve(s);
      };
      this.statsWaiters.set(id, finish);
      w.process.send({ ustack: 'stats?', id }, (err) => {
        if (err) finish(null);
      });
    });
  }

  /**
   * Stops the workers (SIGTERM, SIGKILL after a grace period), then the
   * poll loop and the device. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closingFlag) return;
    this.closingFlag = true;
    await Promise.all(
      [...this.workers.values()].map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.state === 'exited' || w.process.exitCode !== null || w.process.signalCode !== null) return resolve();
            const kill = setTimeout(() => w.process.kill('SIGKILL'), STOP_GRACE_MS);
            w.process.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            w.process.kill('SIGTERM');
          }),
      ),
    );
    this.closed = true;
    this.loop.stop();
    this.loop.unref();
    await this.pump.close();
  }
}
