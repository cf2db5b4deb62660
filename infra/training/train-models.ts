/**
 * npm run train:models [-- --only core-sft,user --scale 1]
 * Trains and exports the bundled models end to end, stage by stage, on CPU (or CUDA where
 * PyTorch sees it). Each stage resumes from its checkpoint, so re-running continues where a run
 * stopped; `--scale` multiplies every stage's time budget. Needs `npm run prepare:data` first.
 */
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runTrainingScript } from './python';

const DATA = '.cache/data';
const RUNS = '.cache/runs';
const CORE = ['--hidden', '128', '--layers', '4', '--heads', '4', '--ffn', '512', '--max-positions', '384'];
const USER = ['--hidden', '32', '--layers', '2', '--heads', '4', '--ffn', '128', '--max-positions', '384'];
const VOCAB = ['--vocab-size', '4096', '--eos-id', '4095'];

interface Stage {
  name: string;
  minutes: number;
  args: string[];
  export?: { name: string; role: 'core' | 'user' };
}

export const STAGES: Stage[] = [
  { name: 'core', minutes: 55, args: [...VOCAB, ...CORE, '--data', `${DATA}/general.train.bin`, '--val', `${DATA}/general.val.bin`, '--seq-len', '128', '--batch', '16', '--lr', '1.5e-3', '--warmup', '100', '--val-every', '200'] },
  { name: 'core-sft', minutes: 10, args: ['--init', `${RUNS}/core/checkpoint.pt`, '--sft', `${DATA}/instructions.train.ids.jsonl`, '--seq-len', '100', '--batch', '16', '--lr', '8e-4', '--warmup', '20'], export: { name: 'core', role: 'core' } },
  { name: 'core-hi', minutes: 5, args: ['--init', `${RUNS}/core-sft/checkpoint.pt`, '--sft', `${DATA}/instructions.train.ids.jsonl`, '--t-range', '0.8', '1.0', '--seq-len', '100', '--batch', '16', '--lr', '5e-4', '--warmup', '10'], export: { name: 'core-hi', role: 'core' } },
  { name: 'user', minutes: 12, args: [...VOCAB, ...USER, '--data', `${DATA}/user.train.bin`, '--seq-len', '128', '--batch', '16', '--lr', '2e-3', '--warmup', '50'] },
  { name: 'user-sft', minutes: 8, args: ['--init', `${RUNS}/user/checkpoint.pt`, '--sft', `${DATA}/user-qa.train.ids.jsonl`, '--seq-len', '200', '--batch', '16', '--lr', '1e-3', '--warmup', '20'], export: { name: 'user', role: 'user' } },
];

async function main() {
  const { values } = parseArgs({ options: { only: { type: 'string' }, scale: { type: 'string', default: '1' }, 'export-only': { type: 'boolean', default: false } } });
  if (!existsSync(`${DATA}/manifest.json`)) throw new Error(`${DATA}/manifest.json not found: run npm run prepare:data first`);
  const only = values.only?.split(',');
  mkdirSync('models/training-logs', { recursive: true });
  for (const stage of STAGES) {
    if (only && !only.includes(stage.name)) continue;
    const out = join(RUNS, stage.name);
    if (!values['export-only']) {
      console.log(`== ${stage.name}: up to ${stage.minutes * Number(values.scale)} min`);
      await runTrainingScript('train.py', ['--out', out, ...stage.args, '--steps', '1000000', '--max-minutes', String(stage.minutes * Number(values.scale)), '--log-every', '20', '--save-every', '100', '--threads', '2'], (l) => console.log(`  ${l}`));
    }
    cpSync(join(out, 'loss.jsonl'), `models/training-logs/${stage.name}.loss.jsonl`);
    if (stage.export) {
      await runTrainingScript('export.py', ['--checkpoint', join(out, 'checkpoint.pt'), '--tokenizer', `${DATA}/tokenizer.json`, '--name', stage.export.name, '--role', stage.export.role, '--weights-dtype', 'float16', '--out', `models/${stage.export.name}`], (l) => console.log(`  ${l}`));
    }
  }
  mkdirSync('models/eval-data', { recursive: true });
  for (const f of ['general.val.txt', 'general.test.txt', 'user-qa.test.jsonl']) cpSync(join(DATA, f), join('models/eval-data', f));
  cpSync(`${DATA}/manifest.json`, 'models/eval-data/data-manifest.json');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
