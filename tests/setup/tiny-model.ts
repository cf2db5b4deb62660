import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { trainTinyModel } from '../../infra/training/tiny';

/** Every test run exercises the toolchain end to end: tokenizer, train.py (a few steps), export.py. */
export default async function setup(project: TestProject) {
  // Set before the test workers start, so they inherit it (see tests/helpers/paths.ts).
  const cache = resolve(import.meta.dirname, '../../.cache/tests', `run-${process.pid}`);
  process.env.SSD2_TEST_CACHE = cache;
  rmSync(cache, { recursive: true, force: true });
  const log: string[] = [];
  const { bundleDir } = await trainTinyModel({
    out: resolve(cache, 'tiny'),
    corpus: 'tests/fixtures/tiny-corpus.txt',
    steps: 30,
    onLine: (l) => log.push(l),
  });
  project.provide('tinyBundle', bundleDir);
  project.provide('tinyTrainLog', log.join('\n'));
  return () => rmSync(cache, { recursive: true, force: true });
}

declare module 'vitest' {
  export interface ProvidedContext {
    tinyBundle: string;
    tinyTrainLog: string;
  }
}
