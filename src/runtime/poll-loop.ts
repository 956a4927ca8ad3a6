/**
 * Drives NetStacks in real time on Node's event loop.
 *
 * Adaptive polling: while frames flow a stack is polled again and again;
 * after `idleMs` without traffic it arms every NIC's wake-up (TAP fd
 * readable, e1000 interrupt, in-process peer transmit) and sleeps, with one
 * timer for the engine's next deadline. `busy` mode never sleeps, for the
 * lowest latency.
 *
 * Slices: every event-loop turn costs libuv an epoll_wait system call, which
 * a kernel-bypass data path should not pay per burst. So while frames flow
 * the polls stay inside one turn for up to `sliceMs`, chained through a
 * microtask and process.nextTick in turn: the application's nextTick
 * callbacks (stream 'data', write callbacks) and promise continuations run
 * between polls, so an echo answers within the slice, while timers, I/O and
 * setImmediate callbacks wait for the slice to end — or for the addon's
 * eventLoopDue() to report them due, which ends it early. In adaptive mode a
 * slice also ends once no frame has arrived for `idleMs`.
 *
 * One PollScheduler per thread runs every stack's polls from that one chain:
 * two stacks in one process (a MemoryNic pair, a TAP and loopback) are
 * polled in turn, and neither waits for the other's slice to end.
 *
 * Liveness: a loop keeps the process alive only while something holds a
 * reference (ref()/unref() are counted, like a server or socket handle), or
 * for at most `idleMs` after the last frame while it spins. Yielding a turn
 * needs libuv's poll phase to be non-blocking: a referenced setImmediate, or
 * with the addon an unreferenced one plus the addon's idle handle (a
 * referenced immediate keeps node's own idle handle active for its whole
 * callback, so eventLoopDue() could not tell a queued application immediate
 * from ours).
 */
import type { Nic } from '../driver/nic.js';
import type { NetStack } from '../stack/net-stack.js';

/**
 * What a PollLoop drives: a NetStack, or anything polled the same way (the
 * shard owner's steering pump, src/driver/steering-pump.ts).
 */
export type PolledEngine = Pick<NetStack, 'clock' | 'poll' | 'pollReceive' | 'pollAt' | 'onOutput'>;
/** What a PollLoop sleeps on: the wake-up side of a Nic. */
export type WakeSource = Pick<Nic, 'setWakeHandler' | 'armWake' | 'ref' | 'unref'>;

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
/**
 * The microtask hop of the chain: a reaction on a settled promise, rather
 * than queueMicrotask, which wraps each callback in an AsyncResource and a
 * bound function (several hundred bytes and an async-context push per step).
 */
const SETTLED = Promise.resolve();
/** Bursts polled back to back in one step while frames keep coming. */
const BURSTS_PER_STEP = 8;
/**
 * A poll that brought fewer frames than this emptied the NICs' queues: the
 * step does not poll again at once (an in-process peer cannot have sent more
 * meanwhile, and a TAP would answer a read with EAGAIN); the next step does.
 */
const FULL_BURST = 32;
const POLLS = 0;
const IDLE_POLLS = 1;
const SLEEPS = 2;
const WAKEUPS = 3;
const SLICES = 4;
/** Busy mode, inside a slice: how long an idle stack polls in place before yielding to queued callbacks (ms). */
const IDLE_SPIN_MS = 0.2;

/** What a stack wants after one step of polling. */
const enum Want {
  /** Nothing to do: it armed its wake-ups (and a timer) and sleeps. */
  Sleep = 0,
  /** Poll again soon, but a turn of the event loop may come first. */
  Turn = 1,
  /** Frames are flowing (or busy): poll again within this slice. */
  Stay = 2,
}

/**
 * The thread's one polling chain: steps every awake PollLoop, then either
 * chains the next step (microtask, then nextTick), yields one event-loop
 * turn (setImmediate), or stops when every loop sleeps.
 */
class PollScheduler {
  private readonly loops: PollLoop[] = [];
  private chained = false;
  private stepping = false;
  private kickedInStep = false;
  private immediate: NodeJS.Immediate | null = null;
  private sliceStart = -1;
  private probe: EventLoopProbe | null = null;
  private readonly chainStep = (): void => {
    this.chained = false;
    this.step();
  };
  private readonly chainMicrotask = (): void => {
    process.nextTick(this.chainStep);
  };
  private readonly turnStep = (): void => {
    this.immediate = null;
    this.probe?.spin(false);
    this.step();
  };

  /** Marks a loop awake and makes sure a step comes: in this turn, unless a turn is being yielded. */
  wake(loop: PollLoop, probe: EventLoopProbe | null): void {
    if (this.probe === null && probe !== null) this.probe = probe;
    if (!loop.scheduled) {
      loop.scheduled = true;
      this.loops.push(loop);
    }
    if (this.stepping) {
      this.kickedInStep = true;
      return;
    }
    if (this.chained || this.immediate !== null) return;
    this.chained = true;
    void SETTLED.then(this.chainMicrotask);
  }

  /** Forgets a stopped loop. */
  remove(loop: PollLoop): void {
    const i = this.loops.indexOf(loop);
    if (i >= 0) this.loops.splice(i, 1);
    loop.scheduled = false;
    if (this.loops.length === 0 && this.immediate !== null) {
      clearImmediate(this.immediate);
      this.immediate = null;
      this.probe?.spin(false);
    }
  }

  private step(): void {
    const loops = this.loops;
    const inSlice = this.sliceStart >= 0;
    this.stepping = true;
    this.kickedInStep = false;
    let want: Want = Want.Sleep;
    let sliceMs = Infinity;
    // One clock reading per step, for every loop's polls and for the slice:
    // a step lasts microseconds, and a reading costs ~40 ns and a heap number.
    const now = performance.now();
    for (let i = 0; i < loops.length; ) {
      const loop = loops[i]!;
      const w = loop.step(inSlice, now);
      if (w === Want.Sleep) {
        loop.scheduled = false;
        loops[i] = loops[loops.length - 1]!;
        loops.pop();
        continue;
      }
      if (w > want) want = w;
      if (loop.sliceMs < sliceMs) sliceMs = loop.sliceMs;
      i++;
    }
    this.stepping = false;
    if (loops.length === 0) {
      this.sliceStart = -1;
      return;
    }
    if (this.sliceStart < 0) this.sliceStart = now;
    if ((want === Want.Stay || this.kickedInStep) && now - this.sliceStart < sliceMs && !(this.probe?.due() ?? false)) {
      // Stay in this turn: the next step after the application's queued callbacks.
      this.chained = true;
      void SETTLED.then(this.chainMicrotask);
      return;
    }
    this.sliceStart = -1;
    this.immediate = setImmediate(this.turnStep);
    if (this.probe !== null) {
      this.immediate.unref();
      this.probe.spin(true);
    }
  }
}

const scheduler = new PollScheduler();

export class PollLoop {
  private readonly mode: PollMode;
  private readonly idleMs: number;
  /** Longest slice this loop asks for (ms). */
  readonly sliceMs: number;
  private readonly eventLoop: EventLoopProbe | null;
  private running = false;
  /** In the scheduler's list of loops to step. */
  scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private lastWork = 0;
  private refs = 0;
  private keepAlive: NodeJS.Timeout | null = null;
  private readonly wake = (): void => this.kick();
  /** Polls done; steps that found nothing; times it went to sleep; wake-ups; slices it polled in. */
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
    private readonly engine: PolledEngine,
    private readonly nics: readonly WakeSource[],
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
      n.unref?.();
    }
    this.engine.onOutput = this.wake;
    this.lastWork = this.engine.clock.now();
    this.kick();
  }

  stop(): void {
    this.running = false;
    scheduler.remove(this);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.keepAlive !== null) clearInterval(this.keepAlive);
    this.keepAlive = null;
    this.engine.onOutput = null;
    for (const n of this.nics) n.setWakeHandler(null);
  }

  /**
   * Schedules a poll as soon as possible (new frames, or the application
   * queued data): right after the callbacks already queued, in this turn of
   * the event loop — unless a turn is being yielded, then after it.
   */
  kick(): void {
    if (!this.running) return;
    this.count[WAKEUPS]++;
    scheduler.wake(this, this.eventLoop);
  }

  ref(): void {
    if (++this.refs === 1) {
      // In-process NICs (loopback, MemoryNic) have no libuv handle to keep the
      // loop alive while we sleep; this idle interval does, while referenced.
      this.keepAlive = setInterval(noop, 1 << 30);
      this.timer?.ref();
      for (const n of this.nics) n.ref?.();
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
      for (const n of this.nics) n.unref?.();
    }
  }

  get referenced(): boolean {
    return this.refs > 0;
  }

  /** @internal One step (the scheduler's): polls a few bursts and says what it wants next. */
  step(inSlice: boolean, stepNow: number): Want {
    if (!this.running) return Want.Sleep;
    const engine = this.engine;
    if (!inSlice) this.count[SLICES]++;
    // The scheduler's reading, unless this stack has a clock of its own (a test's virtual clock).
    const real = engine.clock.isReal === true;
    let now = real ? stepNow : engine.clock.now();
    let frames = 0;
    for (let i = 0; i < BURSTS_PER_STEP; i++) {
      this.count[POLLS]++;
      const n = engine.poll(now);
      frames += n;
      if (n < FULL_BURST) break;
    }
    if (frames === 0 && inSlice && this.mode === 'busy') {
      // Busy, inside a slice, and nothing arrived: poll again right here for
      // a moment. A trip round the callback queues allocates (a microtask and
      // a tick object), and an idle busy loop would otherwise feed the young
      // generation ~100 bytes per poll — hundreds of GCs a second. Not in
      // adaptive mode: there the frames may have to come from this very
      // thread (an in-process peer, the application's queued callbacks), and
      // spinning here would only hold them up.
      // The clock is read (and timers advanced) every 1024 polls only: a clock
      // read boxes a double, and this loop runs millions of times a second.
      const until = engine.clock.now() + IDLE_SPIN_MS;
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
      now = engine.clock.now();
    }
    if (frames > 0) this.lastWork = now;
    else this.count[IDLE_POLLS]++;
    const recent = now - this.lastWork < this.idleMs;
    if (this.mode === 'busy' ? this.refs > 0 || recent : recent) return Want.Stay;
    const next = engine.pollAt();
    if (next <= now) return Want.Turn;
    this.sleep(next, now);
    return Want.Sleep;
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
