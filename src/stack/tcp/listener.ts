/**
 * A listening socket: RFC 9293's LISTEN state lives here, not in a
 * Connection — the SYN queue's length, the accept queue, the backlog bounds
 * and the configuration its connections share. The layer (tcp-layer.ts)
 * answers the segments that reach it.
 */
import type { Connection } from './connection.js';
import type { TcpConfig } from './types.js';

/** What a listener needs of the layer that made it. */
export interface ListenerOwner {
  unlisten(l: Listener): void;
}

/** A listening socket (TcpLayer.listen). */
export class Listener {
  /** Embryonic connections (SYN_RECEIVED). */
  synQueueLength = 0;
  /** Established connections not yet accepted (only when there is no onConnection callback). */
  readonly acceptQueue: Connection[] = [];
  closed = false;
  constructor(
    readonly layer: ListenerOwner,
    readonly port: number,
    readonly addr: number,
    /** Bound on the accept queue; the SYN queue holds at most as many (like Linux's somaxconn-ish min). */
    readonly backlog: number,
    readonly synBacklog: number,
    public onConnection: ((conn: Connection) => void) | null,
    readonly config: Partial<TcpConfig> | undefined,
    /** The layer's configuration with `config` applied: shared by this listener's connections. */
    readonly fullConfig: Readonly<TcpConfig>,
  ) {}
  /** Takes one established connection from the accept queue. */
  accept(): Connection | null {
    return this.acceptQueue.shift() ?? null;
  }
  close(): void {
    this.layer.unlisten(this);
  }
}
