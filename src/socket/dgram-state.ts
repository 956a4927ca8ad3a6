/**
 * A dgram socket's node-level state (lib/dgram.js's kStateSymbol): the
 * bind and connect states, the options kept for bind, and the queue of
 * calls (send, connect, close) made before an implicit bind completes, run
 * on 'listening' and dropped on a bind error.
 */
import { EventEmitter } from 'node:events';
import { ERR_SOCKET_DGRAM_NOT_RUNNING } from '../errors/node-errors.js';
import type { Handle } from './dgram-handle.js';
import type { SocketType } from './dgram-types.js';
import type { BlockListLike } from './net-args.js';

export const BIND_UNBOUND = 0;
export const BIND_BINDING = 1;
export const BIND_BOUND = 2;
export const CONN_DISCONNECTED = 0;
export const CONN_CONNECTING = 1;
export const CONN_CONNECTED = 2;

export const kState = Symbol('ustack.dgram.state');

export interface State {
  handle: Handle | null;
  bindState: number;
  connectState: number;
  queue: Array<() => void> | undefined;
  reuseAddr: boolean;
  /** The reuseAddr option as given (node's state keeps it so: undefined when absent). */
  reuseAddrOption: boolean | undefined;
  recvBufferSize: number | undefined;
  sendBufferSize: number | undefined;
  /** node 22.13+: destinations send() and connect() refuse. */
  sendBlockList: BlockListLike | undefined;
}

/** What the socket's parts see of it: an EventEmitter with its type and state. */
export interface DgramOwner extends EventEmitter {
  readonly type: SocketType;
  [kState]: State;
}

/** node's healthCheck: the handle, or ERR_SOCKET_DGRAM_NOT_RUNNING once closed. */
export function healthCheck(self: DgramOwner): Handle {
  const h = self[kState].handle;
  if (h === null) throw ERR_SOCKET_DGRAM_NOT_RUNNING();
  return h;
}

function onListenSuccess(this: DgramOwner): void {
  this.removeListener(EventEmitter.errorMonitor, onListenError);
  const st = this[kState];
  const queue = st.queue;
  st.queue = undefined;
  if (queue !== undefined) for (const fn of queue) fn();
}

function onListenError(this: DgramOwner): void {
  this.removeListener('listening', onListenSuccess);
  this[kState].queue = undefined;
}

/** Runs `fn` once the socket is listening (dropped if the bind fails). */
export function enqueue(self: DgramOwner, fn: () => void): void {
  const st = self[kState];
  if (st.queue === undefined) {
    st.queue = [];
    self.once(EventEmitter.errorMonitor, onListenError);
    self.once('listening', onListenSuccess);
  }
  st.queue.push(fn);
}
