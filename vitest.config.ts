import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/vm/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Interop tests share the machine's CPUs and kernel with everything else: run files one at a time.
    // (Their interface names and subnets are unique per process: test/helpers/netns.ts, subnet-claims.ts.)
    fileParallelism: false,
    pool: 'forks',
    // Bounded waits and child processes: what a test still waited for, and no child outliving its test.
    setupFiles: ['test/helpers/setup.ts'],
  },
});
