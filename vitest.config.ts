import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // A temp folder for the run (TMPDIR of every test process), removed at the end.
    globalSetup: ['test/global-setup.ts'],
    // The JSON report feeds the "N passed, N failed" line that .ci/run prints last.
    reporters: ['default', ['json', { outputFile: '.vitest-report.json' }]],
  },
});
