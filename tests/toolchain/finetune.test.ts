import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { generate } from '../../shared/ssd2';
import { readInstructions, writeInstructionIds } from '../../infra/data/instructions';
import { runTrainingScript } from '../../infra/training/python';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { CACHE, TINY_DIR, TINY_RUN } from '../helpers/paths';
import { exportRun } from '../helpers/export';

const WORK = join(CACHE, 'finetune');
const base = ['--steps', '4', '--batch', '4', '--log-every', '2', '--threads', '2'];
const lines: string[] = [];
const collect = (l: string) => lines.push(l);

describe('fine-tuning: timestep range, instructions, resume', () => {
  beforeAll(() => {
    rmSync(WORK, { recursive: true, force: true });
  });

  it('trains a timestep-specialised copy for t/T in (0.8, 1] that the router uses for high-noise steps', async () => {
    const run = join(WORK, 'hi');
    await runTrainingScript(
      'train.py',
      ['--out', run, '--init', join(TINY_RUN, 'checkpoint.pt'), '--data', join(TINY_DIR, 'train.bin'), '--t-range', '0.8', '1.0', ...base],
      collect,
    );
    expect(lines.join('\n')).toMatch(/t-range \(0\.8, 1\.0\)/);
    const bundle = join(WORK, 'hi-bundle');
    await exportRun(run, bundle, { name: 'tiny-core-hi' });
    const [main, hi] = await Promise.all([loadLocalModel(inject('tinyBundle')), loadLocalModel(bundle)]);
    expect(hi.bundle.manifest.timestep_range).toEqual([0.8, 1]);
    const served: string[] = [];
    for await (const e of generate(
      { core: [main.denoiser, hi.denoiser] },
      { prompt: main.codec.encode('The sun'), steps: 10, maxTokens: 25, earlyStopPatience: 0, stepEvents: true },
    )) {
      if (e.type === 'step') served.push(e.model);
    }
    expect(served).toEqual(['tiny-core-hi', 'tiny-core-hi', ...Array(8).fill('tiny-core')]);
  });

  it('instruction-tunes from {instruction, context, response} JSONL', async () => {
    const rows = readInstructions('tests/fixtures/instructions.jsonl');
    const ids = join(WORK, 'sft.ids.jsonl');
    writeInstructionIds(rows, JSON.parse(readFileSync(join(TINY_DIR, 'tokenizer.json'), 'utf8')), ids);
    const run = join(WORK, 'sft');
    await runTrainingScript(
      'train.py',
      ['--out', run, '--init', join(TINY_RUN, 'checkpoint.pt'), '--sft', ids, '--seq-len', '75', ...base],
      collect,
    );
    expect(existsSync(join(run, 'checkpoint.pt'))).toBe(true);
    const log = readFileSync(join(run, 'loss.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.map((r) => r.step)).toEqual([2, 4]);
    expect(log.every((r) => Number.isFinite(r.loss) && r.loss > 0)).toBe(true);
  });

  it('names the line and field of a bad instruction row', () => {
    const bad = join(WORK, 'bad.jsonl');
    writeFileSync(bad, '{"instruction": "x", "response": "y"}\n{"instruction": "x"}\n');
    expect(() => readInstructions(bad)).toThrow(/bad\.jsonl:2: field response: /);
  });

  it('resumes an interrupted run from its checkpoint', async () => {
    const run = join(WORK, 'resume');
    const args = [
      '--out',
      run,
      '--data',
      join(TINY_DIR, 'train.bin'),
      '--vocab-size',
      '513',
      '--eos-id',
      '512',
      '--hidden',
      '32',
      '--max-positions',
      '160',
      '--batch',
      '2',
      '--log-every',
      '2',
      '--save-every',
      '2',
    ];
    await runTrainingScript('train.py', [...args, '--steps', '4']);
    const out: string[] = [];
    await runTrainingScript('train.py', [...args, '--steps', '6'], (l) => out.push(l));
    expect(out.join('\n')).toMatch(/resuming .*checkpoint\.pt at step 4/);
    const steps = readFileSync(join(run, 'loss.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).step);
    expect(steps).toEqual([2, 4, 6]);
  });

  it('adapts an autoregressive checkpoint into a diffusion model (--init RUN_DIR, auxiliary LM loss) and refuses the reverse', async () => {
    const args = ['--data', join(TINY_DIR, 'train.bin'), '--max-positions', '160', '--batch', '2', '--log-every', '2'];
    const ar = join(WORK, 'ar');
    await runTrainingScript('train.py', [
      '--out',
      ar,
      '--objective',
      'causal-lm',
      '--vocab-size',
      '513',
      '--eos-id',
      '512',
      '--hidden',
      '32',
      ...args,
      '--steps',
      '2',
    ]);
    const out: string[] = [];
    const adapted = join(WORK, 'adapted');
    // A run directory: its checkpoint.pt (no best.pt was kept) is the start.
    await runTrainingScript(
      'train.py',
      ['--out', adapted, '--init', ar, '--objective', 'diffusion', '--lm-weight', '0.5', ...args, '--steps', '2'],
      (l) => out.push(l),
    );
    expect(out.join('\n')).toMatch(/initialised from .*ar\/checkpoint\.pt/);
    expect(out.join('\n')).toMatch(/adapting the causal LM into a diffusion model/);
    const bundle = join(WORK, 'adapted-bundle');
    await exportRun(adapted, bundle, { name: 'adapted' });
    expect(JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')).graphs.denoiser).toBe('denoiser.onnx');
    await expect(
      runTrainingScript('train.py', ['--out', join(WORK, 'back'), '--init', adapted, '--objective', 'causal-lm', ...args, '--steps', '1']),
    ).rejects.toThrow(/--objective causal-lm: a diffusion checkpoint can only be adapted into a diffusion model/);
  });

  it('refuses bad training arguments with a message naming the flag', async () => {
    await expect(runTrainingScript('train.py', ['--out', join(WORK, 'x'), '--data', '/nonexistent.bin', '--steps', '1'])).rejects.toThrow(
      /--data: file not found: \/nonexistent\.bin/,
    );
    await expect(
      runTrainingScript('train.py', [
        '--out',
        join(WORK, 'y'),
        '--data',
        join(TINY_DIR, 'train.bin'),
        '--vocab-size',
        '100',
        '--steps',
        '1',
      ]),
    ).rejects.toThrow(/holds token id \d+ >= vocab size 100/);
  });
});
