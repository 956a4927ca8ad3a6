/**
 * Drives a NetStack in real time on Node's event loop.
 *
 * Adaptive polling: while frames flow the loop re-polls from setImmediate
 * (yielding to other callbacks between bursts); after `idleMs` without
 * traffic it arms every NIC's wake-up (TAP fd readable, e1000 interrupt,
 * in-process peer transmit) and sleeps, with one timer for the engine's next
 * deadline. `busy` mode never sleeps, for the lowest latency.
 *
 * Liveness: the loop keeps the process alive only while something holds a
 * reference (ref()/unref() are counted, like a server or socket handle), or
 * for at most `idleMs` after the last frame while it spins. Spinning always
 * uses a referenced setImmediate: an unreferenced one does not make libuv's
 * poll phase non-blocking, so it would stall until some unrelated event.
 */
import type { Nic } from '../driver/nic.js';
import type { NetStack } from './net-stack.js';

export type PollMode = 'adaptive' | 'busy';

export interface PollLoopOptions {
  mode?: PollMode;
  /** How long to keep spinning after the last frame before sleeping (ms). */
  idleMs?: number;
}

const noop = (): void => {};
/** Bursts polled back to back in one event-loop turn while frames keep coming. */
const BURSTS_PER_TURN = 8;

interface Refable {
  ref?(): unknown;
  unref?(): unknown;
}

export class PollLoop {
  private readonly mode: PollMode;
  private readonly idleMs: number;
  private running = false;
  private immediate: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private lastWork = 0;
  private refs = 0;
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly wake = (): void => this.kick();
  private readonly tick = (): void => this.run();
  /** Polls done; spins that found nothing; times it went to sleep. */
  readonly counters = { polls: 0, idle_polls: 0, sleeps: 0, wakeups: 0 };

  constructor(
    private readonly engine: NetStack,
    private readonly nics: readonly Nic[],
    opts: PollLoopOptions = {},
  ) {
    this.mode = opts.mode ?? 'adaptive';
    this.idleMs = opts.idleMs ?? 2;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const n of this.nics) {
      n.setWakeHandler(this.wake);
      (n as Refable).unref?.();
    }
    this.engine.onOutput = this.wake;
    this.lastWork = this.engine.clock.now();
    this.kick();
  }

  stop(): void {
    this.running = false;
    if (this.immediate !== null) clearImmediate(this.immediate);
    if (this.timer !== null) clearTimeout(this.timer);
    this.immediate = null;
    this.timer = null;
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.engine.onOutput = null;
    for (const n of this.nics) n.setWakeHandler(null);
  }

  /** Schedules a poll as soon as possible (new frames, or the application queued data). */
  kick(): void {
    if (!this.running || this.immediate !== null) return;
    this.counters.wakeups++;
    this.immediate = setImmediate(this.tick);
  }

  ref(): void {
    if (++this.refs === 1) {
      // In-process NICs (loopback, MemoryNic) have no libuv handle to keep the
      // loop alive while we sleep; this idle interval does, while referenced.
      this.keepAlive = setInterval(noop, 1 << 30);
      this.timer?.ref();
      for (const n of this.nics) (n as Refable).ref?.();
    }
  }

  unref(): void {
    if (this.refs === 0) return;
    if (--this.refs === 0) {
      if (this.keepAlive !== null) clearInterval(this.keepAlive);
      this.keepAlive = null;
      this.timer?.unref();
      for (const n of this.nics) (n as Refable).unref?.();
    }
  }

  get referenced(): boolean {
    return this.refs > 0;
  }

  private run(): void {
    this.immediate = null;
    if (!this.running) return;
    const engine = this.engine;
    // While frames flow, poll a few bursts per event-loop turn: each turn
    // costs libuv an epoll_wait, and the data path should not pay a system
    // call per burst. Bounded so timers and other callbacks still run.
    let frames = 0;
    for (let i = 0; i < BURSTS_PER_TURN; i++) {
      this.counters.polls++;
      const n = engine.poll();
      frames += n;
      if (n === 0) break;
    }
    const now = engine.clock.now();
    if (frames > 0) this.lastWork = now;
    else this.counters.idle_polls++;
    const next = engine.pollAt();
    const spin = this.mode === 'busy' ? this.refs > 0 || now - this.lastWork < this.idleMs : now - this.lastWork < this.idleMs;
    if (next <= now || spin) {
      this.kick();
      return;
    }
    this.sleep(next, now);
  }

  private sleep(next: number, now: number): void {
    this.counters.sleeps++;
    for (const n of this.nics) n.armWake();
    if (next === Infinity) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer !== null && this.timerAt === next) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.kick();
    }, Math.max(0, Math.ceil(next - now)));
    if (this.refs === 0) this.timer.unref();
  }
}
