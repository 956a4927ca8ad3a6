/**
 * Child processes started by tests, each stopped when the test that started
 * it ends — passed, failed or timed out — or, when started outside a test (a
 * beforeAll), when the file ends (test/helpers/setup.ts). A ping, dnsmasq or
 * node child therefore never outlives its test and never holds a TAP name or
 * subnet a later run wants. A child still running at that point is named on
 * the console with the end of its output, which is usually what the test was
 * waiting for.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { onTestFinished } from 'vitest';
import { waitFor, withTimeout } from './wait.js';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface TrackedChild {
  /** What the child is for, in words (used in messages). */
  readonly what: string;
  readonly process: ChildProcess;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
  /** The child has exited (and its output is complete). */
  readonly exited: boolean;
  /** Resolves when the child has exited (never rejects; a spawn error shows in stderr, code -1). */
  readonly done: Promise<ChildResult>;
  /** Sends SIGTERM (or `signal`) if still running. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves when the child is gone. */
  stop(graceMs?: number): Promise<ChildResult>;
  /** One paragraph for failure messages: state, then the tail of stdout and stderr. */
  describe(): string;
}

const OUTPUT_TAIL = 2000;
const STOP_GRACE_MS = 2000;
const EXIT_DRAIN_MS = 500;

const fileScoped = new Set<TrackedChild>();
const everyChild = new Set<TrackedChild>();

function tail(s: string): string {
  return s.length <= OUTPUT_TAIL ? s : `...${s.slice(-OUTPUT_TAIL)}`;
}

/**
 * Tracks a child the test spawned itself (its stdout/stderr, if piped, are
 * collected too). With `ownGroup` (spawned `detached`, so it leads a
 * process group of its own), kill() signals the whole group, grandchildren
 * included.
 */
export function trackChild(child: ChildProcess, what: string, ownGroup = false): TrackedChild {
  let stdout = '';
  let stderr = '';
  let exited = false;
  child.stdout?.on('data', (d: Buffer | string) => (stdout += String(d)));
  child.stderr?.on('data', (d: Buffer | string) => (stderr += String(d)));
  let groupEnded = false;
  const signalGroup = (sig: NodeJS.Signals): void => {
    if (groupEnded || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      // the group is empty
    }
  };
  const done = new Promise<ChildResult>((resolve) => {
    const finish = (): void => {
      exited = true;
      resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
    };
    child.on('error', (err) => {
      stderr += String(err);
      // A spawn failure (ENOENT...) may have no 'exit' or 'close' after it.
      if (child.pid === undefined) {
        exited = true;
        resolve({ code: -1, signal: null, stdout, stderr });
      }
    });
    child.on('close', finish);
    // 'close' waits for the pipes, which a grandchild may hold open: after
    // 'exit', give the output a moment to drain, then settle without it.
    child.on('exit', () => {
      // What is left of its group is orphaned: end it now, while the group id
      // cannot yet belong to anyone else (Linux keeps a pid in use while a
      // group has it), and never signal the group after this.
      if (ownGroup) signalGroup('SIGKILL');
      groupEnded = true;
      setTimeout(() => {
        if (exited) return;
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, EXIT_DRAIN_MS).unref();
    });
  });
  const tracked: TrackedChild = {
    what,
    process: child,
    stdout: () => stdout,
    stderr: () => stderr,
    get exited() {
      return exited;
    },
    done,
    kill(sig: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (ownGroup) signalGroup(sig);
      else child.kill(sig);
    },
    async stop(graceMs = STOP_GRACE_MS) {
      tracked.kill('SIGTERM');
      try {
        return await withTimeout(done, { timeoutMs: graceMs, what: `${what} to exit after SIGTERM` });
      } catch {
        tracked.kill('SIGKILL');
        return done;
      }
    },
    describe() {
      const state = exited
        ? `exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)})`
        : 'still running';
      return `${what} (pid ${String(child.pid)}) ${state}\n  stdout: ${JSON.stringify(tail(stdout))}\n  stderr: ${JSON.stringify(tail(stderr))}`;
    },
  };
  everyChild.add(tracked);
  void done.then(() => {
    everyChild.delete(tracked);
    fileScoped.delete(tracked);
  });
  try {
    onTestFinished(() => stopWithNote(tracked, 'the test ended'));
  } catch {
    fileScoped.add(tracked); // not inside a test: lives until the file ends
  }
  return tracked;
}

export interface StartOptions {
  /** What the child is for (default: the command line). */
  what?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default: stdin ignored, stdout and stderr piped (and collected). */
  stdio?: SpawnOptions['stdio'];
  /**
   * Run it as the leader of a process group of its own, so stopping it
   * reaches what it started (`sh -c ...`). Off by default: a child in the
   * runner's group also gets the terminal's Ctrl-C, as the runner does.
   */
  ownGroup?: boolean;
}

/** Spawns `cmd args` (no shell) and tracks it. */
export function startChild(cmd: string, args: readonly string[] = [], opts: StartOptions = {}): TrackedChild {
  const child = spawn(cmd, args, {
    stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: opts.ownGroup === true,
    ...(opts.env !== undefined ? { env: opts.env } : {}),
    ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
  });
  return trackChild(child, opts.what ?? [cmd, ...args].join(' ').slice(0, 200), opts.ownGroup === true);
}

/**
 * Waits until the child's stdout or stderr contains `text` (e.g. "listening
 * on"); fails at once if it exits first, and after `timeoutMs` with its output.
 */
export function waitForOutput(child: TrackedChild, text: string, timeoutMs = 30_000): Promise<true> {
  return waitFor(
    () => {
      if (child.stdout().includes(text) || child.stderr().includes(text)) return true;
      if (child.exited) throw new Error(`${child.what} exited before printing '${text}': ${child.describe()}`);
      return false;
    },
    { timeoutMs, what: `${child.what} to print '${text}'`, detail: () => child.describe() },
  );
}

async function stopWithNote(child: TrackedChild, when: string): Promise<void> {
  if (!child.exited) console.log(`[children] stopping a child still running when ${when}: ${child.describe()}`);
  await child.stop();
  everyChild.delete(child);
  fileScoped.delete(child);
}

/** Stops the children started outside any test (setup.ts calls this after each file). */
export async function stopFileChildren(): Promise<void> {
  await Promise.all([...fileScoped].map((c) => stopWithNote(c, 'the test file ended')));
}

// Last resort (the worker exits without running hooks): no child survives it.
process.on('exit', () => {
  for (const c of everyChild) c.kill('SIGKILL');
});
