/**
 * `ustack stats [pid]`: counters of a running `ustack echo`.
 *
 * Design: the echo server answers SIGUSR2 by writing its stack.stats() as
 * JSON to <run dir>/<pid>.json (write to a temporary file, then rename, so a
 * reader never sees half a file) and removes the file when it exits. The run
 * dir is $USTACK_RUN_DIR, else /run/ustack. `ustack stats` picks the pid (the
 * argument, or the only/newest server with a file there), sends SIGUSR2, waits
 * for the file to be rewritten and prints it. No socket, no polling thread in
 * the server: a signal handler and one file write per request.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandLine, integerOption, runCommand } from './args.js';

export const STATS_USAGE = `usage: ustack stats [PID] [--wait-ms 3000]
    counters of a running \`ustack echo\` (it writes $USTACK_RUN_DIR or /run/ustack/<pid>.json on SIGUSR2)`;

export function runDir(): string {
  return process.env.USTACK_RUN_DIR || '/run/ustack';
}

export function statsFile(pid: number = process.pid): string {
  return join(runDir(), `${pid}.json`);
}

/** Server side: writes `stats` atomically to this process's stats file. */
export function writeStatsFile(stats: unknown): string {
  const dir = runDir();
  mkdirSync(dir, { recursive: true });
  const file = statsFile();
  const tmp = `${file}.${process.hrtime.bigint()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ pid: process.pid, time: new Date().toISOString(), stats }, null, 2)}\n`);
  renameSync(tmp, file);
  return file;
}

export function removeStatsFile(): void {
  rmSync(statsFile(), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids with a stats file whose process is still running, newest file first. */
function servers(): number[] {
  let names: string[];
  try {
    names = readdirSync(runDir());
  } catch {
    return [];
  }
  return names
    .map((n) => /^(\d+)\.json$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .filter(alive)
    .sort((a, b) => statSync(statsFile(b)).mtimeMs - statSync(statsFile(a)).mtimeMs);
}

const STATS_CLI = commandLine({
  command: 'stats',
  usage: STATS_USAGE,
  options: { 'wait-ms': { type: 'string' } },
  positionals: [0, 1],
});

export function statsCommand(argv: readonly string[]): Promise<number> {
  return runCommand(argv, STATS_CLI, ({ values, positionals }) => {
    const waitMs = integerOption(values['wait-ms'], '--wait-ms', 0, 3_600_000) ?? 3000;
    const pid = integerOption(positionals[0], 'PID', 1, 0x7fffffff);
    if (pid !== undefined) return requestStats(pid, waitMs);
    const list = servers();
    if (list.length === 0) {
      process.stderr.write(`ustack stats: no running ustack echo found in ${runDir()} (give its pid)\n`);
      return 1;
    }
    return requestStats(list[0]!, waitMs);
  });
}

/** Signals `pid` for its counters and prints the file it rewrites. */
async function requestStats(pid: number, waitMs: number): Promise<number> {
  const file = statsFile(pid);
  let before = 0;
  try {
    before = statSync(file).mtimeMs;
  } catch {
    // not written yet
  }
  try {
    process.kill(pid, 'SIGUSR2');
  } catch (err) {
    process.stderr.write(`ustack stats: cannot signal ${pid}: ${(err as Error).message}\n`);
    return 1;
  }
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const st = statSync(file);
      if (st.mtimeMs !== before) {
        process.stdout.write(readFileSync(file, 'utf8'));
        return 0;
      }
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) {
      process.stderr.write(`ustack stats: ${pid} did not write ${file} within ${waitMs} ms\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
