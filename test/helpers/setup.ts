/**
 * Loaded before every test file (vitest.config.ts setupFiles): a test that
 * ends while a bounded wait is still pending — vitest's own timeout came
 * first — says what it was waiting for, and children started outside a test
 * are stopped when the file ends (test/helpers/children.ts).
 */
import { afterAll, afterEach, beforeEach } from 'vitest';
import { stopFileChildren } from './children.js';
import { pendingWaits } from './wait.js';

let testStartedAt = 0;

beforeEach(() => {
  testStartedAt = Date.now();
});

afterEach((ctx) => {
  const waits = pendingWaits(testStartedAt);
  if (waits.length > 0) {
    console.log(`[wait] '${ctx.task.name}' ended while still waiting for:\n  ${waits.join('\n  ')}`);
  }
});

afterAll(stopFileChildren);
