import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/vm/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Interop tests create TAP devices and namespaces with fixed names; run files one at a time.
    fileParallelism: false,
    pool: 'forks',
    // Bounded waits and child processes: what a test still waited for, and no child outliving its test.
    setupFiles: ['test/helpers/setup.ts'],
  },
});
