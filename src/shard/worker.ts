/**
 * The worker's side of a shard: a process the owner forked, with the shared
 * region and two eventfds inherited as file descriptors and its place in
 * USTACK_SHARD. `joinShard()` attaches its NIC (ShmNic) and says how the
 * stack on it must choose ports and announce connections; the link answers
 * the owner's stats requests and tells it when this worker takes traffic.
 *
 * When the owner goes (its IPC channel closes: it exited or was killed) the
 * device is gone for good, so the worker closes its stack and exits.
 */
import { ShmNic } from '../driver/shm-nic.js';
import { codedError } from '../errors/node-errors.js';
import { SHARD_ENV, isOwnerMessage, parseShardDescription, type ShardDescription, type WorkerMessage } from './messages.js';

/** This process's shard, or null when it is no shard worker. */
export function shardDescription(): ShardDescription | null {
  return parseShardDescription(process.env[SHARD_ENV]);
}

/** Whether this process is a shard worker (forked by a ShardOwner). */
export function isShardWorker(): boolean {
  return (process.env[SHARD_ENV] ?? '') !== '';
}

export interface JoinedShard {
  readonly description: ShardDescription;
  readonly nic: ShmNic;
  /** tcp-layer hooks: replies to an ephemeral port must reach this worker; connections are announced to the owner. */
  readonly tcpHooks: {
    acceptsLocalPort(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): boolean;
    onConnectionTable(opened: boolean, localAddr: number, localPort: number, remoteAddr: number, remotePort: number): void;
  };
  /** udp-layer hook: this worker's ephemeral ports are those the owner steers UDP to it by. */
  readonly udpHooks: { acceptsEphemeralPort(port: number): boolean };
}

let joined = false;

/** Attaches this worker's NIC to the owner's rings. */
export function joinShard(description: ShardDescription): JoinedShard {
  if (typeof process.send !== 'function') {
    throw codedError('ERR_USTACK_SHARD_NO_OWNER', `${SHARD_ENV} is set but this process has no IPC channel to its owner`);
  }
  // The inherited fds are the one NIC's: a second stack could only fight the first over them.
  if (joined) throw codedError('ERR_USTACK_SHARD_JOINED', 'this shard worker has its stack already (Stack.open({ workers }) once per worker)');
  const nic = ShmNic.attach(description);
  joined = true;
  const { place, workers, ephemeralLow } = description;
  const shardAddr = description.address;
  return {
    description,
    nic,
    tcpHooks: {
      // Loopback and other local addresses never cross the owner's device.
      acceptsLocalPort: (la, lp, ra, rp) => la !== shardAddr || nic.steersHere(la, lp, ra, rp),
      onConnectionTable: (opened, la, lp, ra, rp) => {
        if (la !== shardAddr) return;
        if (opened) nic.flowOpened(la, lp, ra, rp);
        else nic.flowClosed(la, lp, ra, rp);
      },
    },
    udpHooks: { acceptsEphemeralPort: (port) => (port - ephemeralLow) % workers === place },
  };
}

/**
 * The IPC side: answers stats requests with `stats()`, says 'ready' once,
 * and calls `ownerGone` when the channel closes.
 */
export class ShardLink {
  private readonly onMessage = (m: unknown): void => {
    if (!isOwnerMessage(m)) return;
    let stats: unknown;
    try {
      stats = this.stats();
    } catch (err) {
      stats = { error: (err as Error).message };
    }
    this.send({ ustack: 'stats', id: m.id, stats });
  };
  private readonly onDisconnect = (): void => {
    this.detach();
    this.ownerGone();
  };

  constructor(
    private readonly stats: () => unknown,
    private readonly ownerGone: () => void,
  ) {
    process.on('message', this.onMessage);
    process.once('disconnect', this.onDisconnect);
    // The channel must not keep a worker alive by itself (node:cluster's workers behave so too).
    (process.channel as { unref?: () => void } | undefined)?.unref?.();
  }

  /** This worker polls and listens: the owner may steer new flows to it. */
  ready(): void {
    this.send({ ustack: 'ready' });
  }

  private send(m: WorkerMessage): void {
    if (process.connected) process.send?.(m);
  }

  detach(): void {
    process.off('message', this.onMessage);
    process.off('disconnect', this.onDisconnect);
  }
}
