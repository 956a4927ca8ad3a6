/**
 * When the owner probes a dead worker's peers again (flow-probe.ts). One
 * probe is one frame out and, from the peer, a challenge ACK in; either can
 * be lost — on the wire, or at the owner, which drops received frames for a
 * worker already holding its quota of the owner's slots (the surviving
 * worker is busiest exactly when its neighbour has just died). A peer whose
 * probe went unanswered and that has nothing to send would wait forever, so
 * each flow is probed again after each of `delaysMs` (counted from the
 * first probe's time, each from the previous one). A probe that reaches a
 * peer already reset draws a RST from its closed port, which no worker
 * takes; one that reaches a new connection on the same 4-tuple draws only a
 * challenge ACK (RFC 5961 §4.2: a SYN never resets a synchronized
 * connection), which that connection's worker takes as a duplicate ACK.
 * At most `maxFlows` flows wait; past that the oldest are let go, counted.
 */
export interface ProbeScheduleOptions {
  /** The gaps before each repeat, ms. */
  delaysMs: readonly number[];
  /** Flows waiting for a repeat at most. */
  maxFlows: number;
}

export interface ProbeFlow {
  remote: number;
  remotePort: number;
  local: number;
  localPort: number;
}

interface Waiting extends ProbeFlow {
  /** Repeats sent so far. */
  repeats: number;
  at: number;
}

export const DEFAULT_PROBE_SCHEDULE: ProbeScheduleOptions = {
  // 0.25 + 0.5 + 1 + 2 + 4 s: a peer hears of the loss within ~8 s even
  // when four probes in a row go unanswered.
  delaysMs: [250, 500, 1000, 2000, 4000],
  maxFlows: 65536,
};

export class ProbeSchedule {
  private waiting: Waiting[] = [];
  readonly stats = { repeats: 0, letGo: 0 };

  constructor(private readonly opts: ProbeScheduleOptions = DEFAULT_PROBE_SCHEDULE) {}

  /** A flow was probed at `now`: schedules its repeats. */
  add(flow: ProbeFlow, now: number): void {
    if (this.opts.delaysMs.length === 0 || this.opts.maxFlows <= 0) return;
    // The list is in the order flows were added (runDue keeps it), so the
    // oldest are at its head.
    if (this.waiting.length >= this.opts.maxFlows) {
      const over = this.waiting.length - this.opts.maxFlows + 1;
      this.waiting.splice(0, over);
      this.stats.letGo += over;
    }
    this.waiting.push({ ...flow, repeats: 0, at: now + this.opts.delaysMs[0]! });
  }

  /** Sends every repeat due at `now` (through `send`); returns how many. */
  runDue(now: number, send: (flow: ProbeFlow) => void): number {
    if (this.waiting.length === 0) return 0;
    let sent = 0;
    const keep: Waiting[] = [];
    for (const w of this.waiting) {
      if (w.at > now) {
        keep.push(w);
        continue;
      }
      send(w);
      sent++;
      w.repeats++;
      const gap = this.opts.delaysMs[w.repeats];
      if (gap !== undefined) {
        w.at = now + gap;
        keep.push(w);
      }
    }
    this.waiting = keep;
    this.stats.repeats += sent;
    return sent;
  }

  /** When the next repeat is due (Infinity: none waits). */
  nextAt(): number {
    let next = Infinity;
    for (const w of this.waiting) if (w.at < next) next = w.at;
    return next;
  }

  get pending(): number {
    return this.waiting.length;
  }
}
