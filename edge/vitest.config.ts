import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fillGaussian } from '../shared/ssd2/noise.ts';
import { codecFromJson } from '../shared/tokenizer/index.ts';
import { gpuStub, STUB_WORKER_SECRET } from './test/gpu-stub.ts';

// Computed here, in Node, and compared bit for bit inside workerd: the counter-based noise must be
// the same in every runtime so stateless workers and clients agree on the noisy block.
const noiseReference = Array.from(fillGaussian(new Float32Array(64), { seed: 2 ** 40 + 7, block: 3, step: 11 }, 5));

const tinyTokenizer = readFileSync(new URL('../models/tiny-core/tokenizer.json', import.meta.url));
const tokenizerReference = codecFromJson('models/tiny-core', 'tokenizer.json', tinyTokenizer, 513, 512).encode('The cat sat on the mat.');

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      wrangler: { configPath: '../wrangler.toml' },
      miniflare: {
        bindings: {
          ADMIN_SECRET: 'test-admin-secret',
          METRICS_TOKEN: 'test-metrics-token',
          // Two stand-in GPU workers (see test/gpu-stub.ts).
          GPU_WORKERS: 'http://a.gpu.test,http://b.gpu.test',
          WORKER_AUTH_SECRET: STUB_WORKER_SECRET,
          // A silent worker is failed over after 3 s (production default 30 s).
          GPU_WORKER_TIMEOUT_MS: '3000',
          DEFAULT_RATE_LIMIT_PER_MINUTE: '1000',
          PRICES: JSON.stringify({
            default: { per_call_usd: 0.001, per_1k_tokens_usd: 0.01, per_step_usd: 0.00001 },
            batch_multiplier: 0.5,
          }),
          BATCH_RETRY_BASE_SECONDS: '1',
          BATCH_LINE_TIMEOUT_SECONDS: '6',
          TEST_MIGRATIONS: await readD1Migrations(fileURLToPath(new URL('./migrations', import.meta.url))),
        },
        // Every fetch the edge makes (GPU workers) lands in the Node-side stub.
        outboundService: gpuStub,
      },
    })),
  ],
  test: {
    name: 'workers',
    include: ['**/*.test.ts'],
    setupFiles: ['./test/apply-migrations.ts'],
    provide: { noiseReference, tokenizerReference },
  },
});

declare module 'vitest' {
  export interface ProvidedContext {
    noiseReference: number[];
    tokenizerReference: number[];
  }
}
