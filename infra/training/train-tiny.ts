/**
 * Trains and exports the tiny model end to end (tokenizer, token stream, train.py, export.py).
 *   npm run train:tiny [-- --out models/tiny-core --steps 800 --hidden 96]
 * The defaults are the recipe of the bundled models/tiny-core.
 */
import { cpSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseCli, usageError } from '../../tools/cli/args';
import { trainTinyModel } from './tiny';

const { values } = parseCli({
  usage: 'npm run train:tiny [-- options]',
  flags: {
    out: {
      type: 'string',
      arg: 'DIR',
      default: 'models/tiny-core',
      help: 'the bundle directory to write: replaced when it holds a bundle (manifest.json) or\nis empty, else refused',
    },
    corpus: { type: 'string', arg: 'PATH', default: 'tests/fixtures/tiny-corpus.txt', help: 'training text, one document a line' },
    steps: { type: 'int', min: 1, default: 800, help: 'training steps' },
    hidden: { type: 'int', min: 4, default: 96, help: 'hidden size (a multiple of the 4 heads)' },
    layers: { type: 'int', min: 1, default: 2, help: 'transformer layers' },
    work: {
      type: 'string',
      arg: 'DIR',
      default: '.cache/train-tiny',
      help: 'scratch directory: emptied first when it holds only what this script writes there, else refused',
    },
  },
});
if (values.hidden % 4 !== 0) usageError(`--hidden: a multiple of the 4 heads, got ${values.hidden}`);
if (!existsSync(values.corpus)) usageError(`--corpus: no such file: ${values.corpus}`);
/** What a directory this script replaces may hold: absent, empty, or only what it writes there. */
function assertReplaceable(flag: string, dir: string, what: string, ours: (names: string[]) => boolean) {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) usageError(`--${flag}: ${dir} is a file, not ${what}`);
  const names = readdirSync(dir);
  if (names.length > 0 && !ours(names)) usageError(`--${flag}: ${dir} is neither ${what} nor empty; not replacing it`);
}
const out = values.out;
assertReplaceable('out', out, 'a model bundle (manifest.json)', (names) => names.includes('manifest.json'));
const WORK_FILES = ['tokenizer.json', 'train.bin', 'run', 'bundle'];
assertReplaceable('work', values.work, 'a train:tiny scratch directory', (names) => names.every((n) => WORK_FILES.includes(n)));
const started = Date.now();
rmSync(values.work, { recursive: true, force: true });
const { bundleDir } = await trainTinyModel({
  out: values.work,
  corpus: values.corpus,
  steps: values.steps,
  hidden: values.hidden,
  layers: values.layers,
  onLine: (l) => console.log(l),
});
rmSync(out, { recursive: true, force: true });
cpSync(bundleDir, out, { recursive: true });
cpSync(join(values.work, 'run', 'loss.jsonl'), join(out, 'loss.jsonl'));
console.log(`bundle written to ${out} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
