/**
 * Drives a NetStack in real time on Node's event loop.
 *
 * Adaptive polling: while frames flow the loop re-polls from setImmediate
 * (yielding to other callbacks between bursts); after `idleMs` without
 * traffic it arms every NIC's wake-up (TAP fd readable, e1000 interrupt,
 * in-process peer transmit) and sleeps, with one timer for the engine's next
 * deadline. `busy` mode never sleeps, for the lowest latency.
 *
 * Slices: every event-loop turn costs libuv an epoll_wait system call, which
 * a kernel-bypass data path should not pay per burst. So while frames flow
 * the loop keeps polling inside one turn for up to `sliceMs`, chained through
 * process.nextTick and a microtask in turn: the application's nextTick
 * callbacks (stream 'data', write callbacks) and promise continuations run
 * between polls, so an echo answers within the slice, while timers, I/O and
 * setImmediate callbacks wait for the slice to end. The slice ends early once
 * no frame has arrived for `idleMs`.
 *
 * Liveness: the loop keeps the process alive only while something holds a
 * reference (ref()/unref() are counted, like a server or socket handle), or
 * for at most `idleMs` after the last frame while it spins. Spinning needs
 * libuv's poll phase to be non-blocking: a referenced setImmediate, or with
 * the addon an unreferenced one plus the addon's idle handle (a referenced
 * immediate keeps node's own idle handle active for its whole callback, so
 * due() could not tell a queued application immediate from ours).
 */
import type { Nic } from '../driver/nic.js';
import type { NetStack } from './net-stack.js';

export type PollMode = 'adaptive' | 'busy';

export interface PollLoopOptions {
  mode?: PollMode;
  /** How long to keep spinning after the last frame before sleeping (ms). */
  idleMs?: number;
  /**
   * Longest run of polls inside one event-loop turn while frames flow (ms);
   * 0 polls once per turn. Defaults: 1 ms adaptive, 100 ms busy (busy mode
   * dedicates the thread to the NIC). A slice also ends as soon as
   * `eventLoopDue` reports a due timer or a queued setImmediate, so only I/O
   * on other file descriptors waits for the slice to end.
   */
  sliceMs?: number;
  /** A view of Node's event loop (from the addon); without it slices end on time alone. */
  eventLoop?: EventLoopProbe | null;
}

/**
 * What the poll loop needs from libuv, read without system calls (the addon
 * provides it; src/driver/addon.ts eventLoopProbe()).
 */
export interface EventLoopProbe {
  /** Whether a timer, a referenced setImmediate or pending callbacks are due. */
  due(): boolean;
  /**
   * Keep libuv's poll phase non-blocking (and the process alive) while on:
   * the poll loop then schedules itself with an unreferenced setImmediate,
   * whose callback does not make due() report itself.
   */
  spin(on: boolean): void;
}

const noop = (): void => {};
/** Bursts polled back to back in one event-loop turn while frames keep coming. */
const BURSTS_PER_TURN = 8;
const POLLS = 0;
const IDLE_POLLS = 1;
const SLEEPS = 2;
const WAKEUPS = 3;
const SLICES = 4;
/** Inside a slice, how long an idle loop polls in place before yielding to queued callbacks (ms). */
const IDLE_SPIN_MS = 0.2;

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
  private readonly tick = (): void => {
    this.immediate = null;
    this.eventLoop?.spin(false);
    this.run();
  };
  private readonly sliceMs: number;
  private readonly eventLoop: EventLoopProbe | null;
  /** When the current slice began (its first turn's clock), or -1 outside a slice. */
  private sliceStart = -1;
  /** A chained poll is queued (nextTick or microtask): kick() has nothing to do. */
  private chained = false;
  private readonly chainTick = (): void => {
    this.chained = false;
    this.run();
  };
  private readonly chainMicrotask = (): void => {
    process.nextTick(this.chainTick);
  };
  /** Polls done; spins that found nothing; times it went to sleep; slices (event-loop turns spent polling). */
  get counters(): { polls: number; idle_polls: number; sleeps: number; wakeups: number; slices: number } {
    const c = this.count;
    return { polls: c[POLLS]!, idle_polls: c[IDLE_POLLS]!, sleeps: c[SLEEPS]!, wakeups: c[WAKEUPS]!, slices: c[SLICES]! };
  }
  /**
   * The counters live in a Float64Array: incremented in place (an object's
   * number field was seen boxing a fresh heap number per increment once V8
   * generalised its representation — megabytes a second in an idle busy loop).
   */
  private readonly count = new Float64Array(5);

  constructor(
    private readonly engine: NetStack,
    private readonly nics: readonly Nic[],
    opts: PollLoopOptions = {},
  ) {
    this.mode = opts.mode ?? 'adaptive';
    this.idleMs = opts.idleMs ?? 2;
    this.sliceMs = opts.sliceMs ?? (this.mode === 'busy' ? 100 : 1);
    this.eventLoop = opts.eventLoop ?? null;
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
    this.eventLoop?.spin(false);
    for (const n of this.nics) n.setWakeHandler(null);
  }

  /** Schedules a poll as soon as possible (new frames, or the application queued data). */
  kick(): void {
    if (!this.running || this.immediate !== null || this.chained) return;
    this.count[WAKEUPS]++;
    this.immediate = setImmediate(this.tick);
    if (this.eventLoop !== null) {
      this.immediate.unref();
      this.eventLoop.spin(true);
    }
  }

  ref(): void {
    if (++this.refs === 1) {
      // In-process NICs (loopback, MemoryNic) have no libuv handle to keep the
      // loop alive while we sleep; this idle interval does, while referenced.
      this.keepAlive = setInterval(noop, 1 << 30);
      this.timer?.ref();
      for (const n of this.nics) (n as Refable).ref?.();
      // Busy mode spins while referenced: leave the sleep it fell into unreferenced.
      if (this.mode === 'busy') this.kick();
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
    if (!this.running) return;
    const engine = this.engine;
    // While frames flow, poll a few bursts per event-loop turn: each turn
    // costs libuv an epoll_wait, and the data path should not pay a system
    // call per burst. Bounded so timers and other callbacks still run.
    let frames = 0;
    for (let i = 0; i < BURSTS_PER_TURN; i++) {
      this.count[POLLS]++;
      const n = engine.poll();
      frames += n;
      if (n === 0) break;
    }
    if (frames === 0 && this.sliceStart >= 0 && this.mode === 'busy') {
      // Busy, inside a slice, and nothing arrived: poll again right here for
      // a moment. A trip round the callback queues allocates (a microtask and
      // a tick object), and an idle busy loop would otherwise feed the young
      // generation ~100 bytes per poll — hundreds of GCs a second. Not in
      // adaptive mode: there the frames may have to come from this very
      // thread (an in-process peer, the application's queued callbacks), and
      // spinning here would only hold them up.
      // The clock is read (and timers advanced) every 1024 polls only: a clock
      // read boxes a double, and this loop runs millions of times a second.
      const until = Math.min(engine.clock.now() + IDLE_SPIN_MS, this.sliceStart + this.sliceMs);
      let k = 0;
      do {
        this.count[POLLS]++;
        if ((++k & 1023) !== 0) {
          frames = engine.pollReceive();
        } else {
          frames = engine.poll();
          if (engine.clock.now() >= until) break;
        }
      } while (frames === 0);
    }
    const now = engine.clock.now();
    if (frames > 0) this.lastWork = now;
    else this.count[IDLE_POLLS]++;
    const next = engine.pollAt();
    const spin = this.mode === 'busy' ? this.refs > 0 || now - this.lastWork < this.idleMs : now - this.lastWork < this.idleMs;
    if (next <= now || spin) {
      if (this.sliceStart < 0) {
        this.sliceStart = now;
        this.count[SLICES]++;
      }
      const stay = this.mode === 'busy' || frames > 0 || now - this.lastWork < this.idleMs;
      if (stay && now - this.sliceStart < this.sliceMs && !(this.eventLoop?.due() ?? false)) {
        // Stay in this turn: next poll after the application's queued callbacks.
        this.chained = true;
        queueMicrotask(this.chainMicrotask);
        return;
      }
      this.sliceStart = -1;
      this.kick();
      return;
    }
    this.sliceStart = -1;
    this.sleep(next, now);
  }

  private sleep(next: number, now: number): void {
    this.count[SLEEPS]++;
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
