import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/harness/global-setup.ts'],
    pool: 'forks',
    // Two test files at a time, where Vitest's default (one fewer than the CPUs) runs one on a
    // two-core machine. Most of a file's time is spent waiting on the processes it starts (servers,
    // PostgreSQL, fsync), so a second file fills it: the whole suite took 1,843 s one at a time and
    // 1,071–1,136 s two at a time on the CI machine (shared, two cores), inside CI's 30 minutes.
    // Files keep apart: each has its own data directories, PostgreSQL schemas and ports (Confide looks
    // at no schema but its own), and tests that time the event loop leave out the time the machine
    // kept their process waiting
    // (test/harness/held-loop-clock.ts). CONFIDE_TEST_FILES_AT_ONCE sets another number.
    maxWorkers: Number(process.env.CONFIDE_TEST_FILES_AT_ONCE ?? 2),
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    reporters: ['default', './test/harness/summary-reporter.ts'],
  },
});
