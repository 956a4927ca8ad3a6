/**
 * Reading ping's summary. A ping run as `ping -c N -w DEADLINE` stops once N
 * replies have arrived (or the deadline passes, exit 1): unlike `-c N -W T`,
 * whose wait after the last request is only max(2 × the largest RTT, the
 * interval) once any reply has come — on a loaded machine a reply the stack
 * did send can arrive after ping stopped listening (ping(8), -W). So the
 * check is that ping received at least N replies, with no duplicates and no
 * ICMP errors; it may have sent more requests than N while it waited.
 */
import { expect } from 'vitest';

/** The arguments that make ping wait for `count` replies, up to `deadlineS` seconds. */
export function pingUntil(count: number, deadlineS = 20): string[] {
  return ['-c', String(count), '-w', String(deadlineS)];
}

/** Asserts ping's summary shows at least `count` replies and no duplicates or errors. */
export function expectReplies(stdout: string, count: number): void {
  const m = /(\d+) packets transmitted, (\d+) received(.*)$/m.exec(stdout);
  expect(m, `ping printed no summary:\n${stdout}`).not.toBeNull();
  expect(Number(m![2]), stdout).toBeGreaterThanOrEqual(count);
  expect(m![3], stdout).not.toMatch(/duplicates|errors/);
}
