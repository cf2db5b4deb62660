/**
 * Trains and exports the tiny model end to end (tokenizer, token stream, train.py, export.py).
 *   npm run train:tiny -- --out models/tiny-core --steps 600
 */
import { parseArgs } from 'node:util';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { trainTinyModel } from './tiny';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'models/tiny-core' },
    corpus: { type: 'string', default: 'tests/fixtures/tiny-corpus.txt' },
    steps: { type: 'string', default: '600' },
    hidden: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    work: { type: 'string', default: '.cache/train-tiny' },
  },
});
const started = Date.now();
rmSync(values.work!, { recursive: true, force: true });
const { bundleDir } = await trainTinyModel({
  out: values.work!,
  corpus: values.corpus!,
  steps: Number(values.steps),
  hidden: Number(values.hidden),
  layers: Number(values.layers),
  onLine: (l) => console.log(l),
});
rmSync(values.out!, { recursive: true, force: true });
cpSync(bundleDir, values.out!, { recursive: true });
cpSync(join(values.work!, 'run', 'loss.jsonl'), join(values.out!, 'loss.jsonl'));
console.log(`bundle written to ${values.out} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
