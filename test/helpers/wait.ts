/**
 * Bounded waiting for tests. A test that waits on something outside its own
 * code (the kernel, a child process, a peer) waits through these, so it fails
 * with the name of what it waited for — and whatever `detail` adds, such as a
 * child's output so far — instead of spinning until vitest's timeout. Waits
 * still pending when a test ends (vitest timed it out first) are listed by
 * test/helpers/setup.ts.
 */

export interface WaitOptions {
  /** Upper bound on the wait (not a performance expectation: set it generously). */
  timeoutMs: number;
  /** What is awaited, in words: 'the child to print "armed"'. */
  what: string;
  /** Extra state for the failure message (a child's output so far, counters...). */
  detail?: () => string;
}

export interface PollOptions extends WaitOptions {
  /** Pause between probes; default 10 ms. */
  intervalMs?: number;
}

export class WaitTimeoutError extends Error {
  readonly code = 'ERR_TEST_WAIT_TIMEOUT';
}

interface PendingWait {
  what: string;
  since: number;
  detail: (() => string) | undefined;
}

const pending = new Set<PendingWait>();

/** Descriptions of the waits in progress that began at or after `since` (Date.now() ms). */
export function pendingWaits(since = 0): string[] {
  const now = Date.now();
  return [...pending]
    .filter((w) => w.since >= since)
    .map((w) => `${w.what} (for ${now - w.since} ms)${detailText(w.detail)}`);
}

function detailText(detail: (() => string) | undefined): string {
  if (detail === undefined) return '';
  let text: string;
  try {
    text = detail();
  } catch (err) {
    text = `(detail failed: ${String(err)})`;
  }
  return text === '' ? '' : `\n${text}`;
}

function timeoutError(w: PendingWait, timeoutMs: number): WaitTimeoutError {
  return new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${w.what}${detailText(w.detail)}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Probes until `probe` returns something other than undefined, null or false,
 * and returns that. Throws WaitTimeoutError naming `what` after `timeoutMs`.
 * An exception from `probe` ends the wait (e.g. "the child exited").
 */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: PollOptions,
): Promise<T> {
  const w: PendingWait = { what: opts.what, since: Date.now(), detail: opts.detail };
  const deadline = w.since + opts.timeoutMs;
  pending.add(w);
  try {
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
      if (Date.now() >= deadline) throw timeoutError(w, opts.timeoutMs);
      await sleep(Math.min(opts.intervalMs ?? 10, Math.max(1, deadline - Date.now())));
    }
  } finally {
    pending.delete(w);
  }
}

/** `promise`, or WaitTimeoutError naming `what` if it does not settle within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, opts: WaitOptions): Promise<T> {
  const w: PendingWait = { what: opts.what, since: Date.now(), detail: opts.detail };
  pending.add(w);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(timeoutError(w, opts.timeoutMs)), opts.timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    pending.delete(w);
  }
}
