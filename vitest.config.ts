import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts', 'shared/**/*.test.ts', 'worker-gpu/**/*.test.ts', 'client/**/*.test.ts'],
    globalSetup: ['tests/setup/tiny-model.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
