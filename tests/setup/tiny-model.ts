import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { trainTinyModel } from '../../infra/training/tiny';
import { TINY_DIR } from '../helpers/paths';

/** Every test run exercises the toolchain end to end: tokenizer, train.py (a few steps), export.py. */
export default async function setup(project: TestProject) {
  rmSync(TINY_DIR, { recursive: true, force: true });
  const log: string[] = [];
  const { bundleDir } = await trainTinyModel({ out: TINY_DIR, corpus: 'tests/fixtures/tiny-corpus.txt', steps: 30, onLine: (l) => log.push(l) });
  project.provide('tinyBundle', bundleDir);
  project.provide('tinyTrainLog', log.join('\n'));
}

declare module 'vitest' {
  export interface ProvidedContext {
    tinyBundle: string;
    tinyTrainLog: string;
  }
}
