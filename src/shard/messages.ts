/**
 * What owner and worker processes tell each other: the worker's inherited
 * resources in USTACK_SHARD (JSON), and small messages on node's IPC
 * channel (child_process.fork), tagged `ustack` so an application's own
 * process.send() traffic on the same channel is left alone.
 */
import type { NicOffloads } from '../driver/nic.js';

/** The environment variable a worker finds its shard in. */
export const SHARD_ENV = 'USTACK_SHARD';

/** The child's file descriptors for the inherited resources (stdio positions after 'ipc' at 3). */
export const REGION_FD = 4;
export const WAKE_FD = 5;
export const OWNER_WAKE_FD = 6;

/** A worker's shard, as the owner describes it in USTACK_SHARD. */
export interface ShardDescription {
  place: number;
  /** How many workers the owner runs (the `workers` option). */
  workers: number;
  fd: number;
  wakeFd: number;
  ownerWakeFd: number;
  device: string;
  mac: number;
  mtu: number;
  offloads: NicOffloads;
  rxPerFrameFlags: boolean;
  /** The ephemeral port range: a worker's UDP ports are those p with (p - low) % workers == place. */
  ephemeralLow: number;
  ephemeralHigh: number;
  /** The stack's address and prefix length, and the gateway (0 = none). */
  address: number;
  prefixLength: number;
  gateway: number;
}

export type WorkerMessage = { ustack: 'ready' } | { ustack: 'stats'; id: number; stats: unknown };
export type OwnerMessage = { ustack: 'stats?'; id: number };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { ustack?: unknown }).ustack === 'string';
}

export function isOwnerMessage(m: unknown): m is OwnerMessage {
  return typeof m === 'object' && m !== null && (m as { ustack?: unknown }).ustack === 'stats?';
}

/** Reads USTACK_SHARD; null when this process is no shard worker. Throws on a malformed one. */
export function parseShardDescription(text: string | undefined): ShardDescription | null {
  if (text === undefined || text === '') return null;
  const d = JSON.parse(text) as Partial<ShardDescription>;
  const ints: (keyof ShardDescription)[] = ['place', 'workers', 'fd', 'wakeFd', 'ownerWakeFd', 'mac', 'mtu', 'address', 'prefixLength', 'gateway', 'ephemeralLow', 'ephemeralHigh'];
  for (const k of ints) {
    if (!Number.isInteger(d[k]) || (d[k] as number) < 0) throw new Error(`${SHARD_ENV}: ${k} must be a non-negative integer`);
  }
  if (typeof d.device !== 'string' || typeof d.offloads !== 'object' || d.offloads === null || typeof d.rxPerFrameFlags !== 'boolean') {
    throw new Error(`${SHARD_ENV}: device, offloads and rxPerFrameFlags are required`);
  }
  return d as ShardDescription;
}
