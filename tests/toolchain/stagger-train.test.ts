/**
 * train.py --stagger: a one-token shifted model trained on its staggered blocks, with a t per
 * position drawn as the engine's sampler visits them (infra/training/ssd2/objective.py), and its
 * bundle's block schedule (`stride`: overlapping windows at the default steps).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateAll, positionNoise, positionWindow } from '../../shared/ssd2';
import { pythonExecutable, runTrainingScript } from '../../infra/training/python';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { CACHE, ROOT, TINY_DIR } from '../helpers/paths';
import { exportRun } from '../helpers/export';

const WORK = join(CACHE, 'stagger-train');
const small = ['--hidden', '32', '--layers', '1', '--heads', '2', '--ffn', '64', '--seq-len', '40', '--batch', '4', '--threads', '2'];
const data = () => ['--data', join(TINY_DIR, 'train.bin')];

function python(code: string): string {
  const r = spawnSync(pythonExecutable(), ['-c', code], { cwd: join(ROOT, 'infra/training'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
}

describe('training in staggered blocks', () => {
  beforeAll(() => rmSync(WORK, { recursive: true, force: true }));

  it("draws each position's t/T as the engine's staggered schedule does", () => {
    const cases = [
      [8, 3, 24],
      [8, 3, 10],
      [8, 3, 17],
      [5, 2, 7],
      [4, 2, 5],
    ];
    const code =
      'import json\nfrom ssd2.objective import staggered_fractions\n' +
      `print(json.dumps([[staggered_fractions(b, w, s, k) for k in range(s)] for b, w, s in ${JSON.stringify(cases)}]))`;
    const fromPython = JSON.parse(python(code)) as [number[], boolean[]][][];
    cases.forEach(([b, w, steps], c) => {
      const schedule = { kind: 'staggered', window: w } as const;
      for (let k = 0; k < steps; k++) {
        const [fractions, inside] = fromPython[c][k];
        expect(fractions).toEqual(positionNoise(k, steps, b, schedule).fractions);
        // Inside its window: started and not yet clean (the positions the loss covers).
        expect(inside).toEqual(
          Array.from({ length: b }, (_, j) => {
            const { start, cleanFrom } = positionWindow(j, steps, b, schedule)!;
            return start <= k && k < cleanFrom;
          }),
        );
      }
    });
  });

  it('trains a one-token shifted model in staggered blocks with overlapping windows and exports the schedule', async () => {
    const oneToken = join(WORK, 'one-token');
    const lines: string[] = [];
    await runTrainingScript('train.py', [
      '--out',
      oneToken,
      ...data(),
      '--vocab-size',
      '513',
      '--eos-id',
      '512',
      '--shifted',
      '--likelihood',
      '--block-size',
      '1',
      '--steps',
      '2',
      ...small,
    ]);
    const staggered = join(WORK, 'staggered');
    const args = ['--out', staggered, '--init', oneToken, ...data(), '--stagger', '2', '--block-size', '4', '--stagger-strides', '1,2'];
    await runTrainingScript('train.py', [...args, '--stagger-stride', '1', '--steps', '3', '--seq-len', '40', '--batch', '4'], (l) =>
      lines.push(l),
    );
    expect(lines.join('\n')).toMatch(/staggering: blocks of 4, 2 steps per position, causal attention in the block/);
    const bundle = join(WORK, 'bundle');
    await exportRun(staggered, bundle, { name: 'tiny-staggered' });
    const m = JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8'));
    expect(m).toMatchObject({ block_size: 4, block_schedule: { kind: 'staggered', window: 2, stride: 1 } });
    expect(m.architecture).toMatchObject({ readout: 'shifted', likelihood: true, block_attention: 'causal' });
    const model = await loadLocalModel(bundle);
    // Default steps: a window start every step, plus the last position's window: 3 + 2 = 5 per block.
    const r = await generateAll(
      { core: model.denoiser },
      { prompt: model.codec.encode('The sun'), maxTokens: 8, earlyStopPatience: 0, stopAtEos: false },
    );
    expect(r.tokens).toHaveLength(8);
    expect(r.stepsRun).toBe(10);
    await model.denoiser.release();
  });

  it('refuses flags that cannot train what they say, naming them', async () => {
    const oneToken = join(WORK, 'one-token'); // trained by the test above
    const run = (args: string[]) =>
      runTrainingScript('train.py', ['--out', join(WORK, 'bad'), ...data(), '--steps', '1', '--threads', '2', ...args]);
    await expect(run(['--vocab-size', '513', '--stagger', '2', '--block-size', '4'])).rejects.toThrow(/--stagger needs --init/);
    const staggered = ['--init', oneToken, '--stagger', '2', '--block-size', '4'];
    await expect(run([...staggered, '--stagger-strides', '2', '--stagger-stride', '1'])).rejects.toThrow(
      /--stagger-stride 1: the bundle's default steps would use a stride --stagger-strides 2 does not train/,
    );
    await expect(run([...staggered, '--t-range', '0.8', '1.0'])).rejects.toThrow(
      /--t-range: a staggered model is trained over its whole schedule/,
    );
    await expect(run(['--init', oneToken, '--stagger-stride', '1'])).rejects.toThrow(/are for training in staggered blocks \(--stagger\)/);
  });
});
