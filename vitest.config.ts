import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests that need neither the tiny model trained by the node project's global setup nor servers:
 * `npx vitest run --project unit` runs them alone in well under a minute. `npm test` runs every project.
 */
const UNIT = [
  'tests/shared/**/*.test.ts',
  'tests/runtime/**/*.test.ts',
  'tests/client/**/*.test.ts',
  'tests/eval/metrics.test.ts',
  'tests/toolchain/doc-links.test.ts',
  'tests/toolchain/train-models.test.ts',
  'tests/worker-gpu/batcher.test.ts',
  'tests/worker-gpu/protocol.test.ts',
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: UNIT,
          testTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'node',
          include: ['tests/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...UNIT],
          globalSetup: ['tests/setup/tiny-model.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
      'edge/vitest.config.ts',
    ],
  },
});
