import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { fillGaussian } from '../shared/ssd2/noise.ts';
import { codecFromJson } from '../shared/tokenizer/index.ts';

// Computed here, in Node, and compared bit for bit inside workerd: the counter-based noise must be
// the same in every runtime so stateless workers and clients agree on the noisy block.
const noiseReference = Array.from(fillGaussian(new Float32Array(64), { seed: 2 ** 40 + 7, block: 3, step: 11 }, 5));

const tinyTokenizer = readFileSync(new URL('../models/tiny-core/tokenizer.json', import.meta.url));
const tokenizerReference = codecFromJson('models/tiny-core', 'tokenizer.json', tinyTokenizer, 513, 512).encode('The cat sat on the mat.');

export default defineConfig({
  plugins: [cloudflareTest({ wrangler: { configPath: '../wrangler.toml' } })],
  test: {
    name: 'workers',
    include: ['**/*.test.ts'],
    provide: { noiseReference, tokenizerReference },
  },
});

declare module 'vitest' {
  export interface ProvidedContext {
    noiseReference: number[];
    tokenizerReference: number[];
  }
}
