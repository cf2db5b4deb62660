import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { alphaBar, argmaxTokens } from '../../shared/ssd2';
import { runTrainingScript } from '../../infra/training/python';
import { readParityFixtures, maxAbsDiff } from '../helpers/tensors';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import { CACHE, TINY_RUN } from '../helpers/paths';
import { trainTinyModel } from '../../infra/training/tiny';
import { exportRun } from '../helpers/export';

const FIXTURES = join(CACHE, 'parity');
type Fixtures = ReturnType<typeof readParityFixtures>;

async function expectEncoderParity(bundle: string, fx: Fixtures) {
  const session = await ort.InferenceSession.create(join(bundle, 'context_encoder.onnx'));
  const out = await session.run({
    input_ids: fx.tensor('ctx.input_ids'),
    position_ids: fx.tensor('ctx.position_ids'),
    past_keys: fx.tensor('ctx.past_keys'),
    past_values: fx.tensor('ctx.past_values'),
    attention_mask: fx.tensor('ctx.attention_mask'),
  });
  expect(out.present_keys.dims).toEqual(fx.tensor('ctx.present_keys').dims);
  expect(maxAbsDiff(out.present_keys.data as Float32Array, fx.tensor('ctx.present_keys').data as Float32Array)).toBeLessThanOrEqual(1e-3);
  expect(maxAbsDiff(out.present_values.data as Float32Array, fx.tensor('ctx.present_values').data as Float32Array)).toBeLessThanOrEqual(
    1e-3,
  );
  if (fx.has('ctx.last_hidden'))
    expect(maxAbsDiff(out.last_hidden.data as Float32Array, fx.tensor('ctx.last_hidden').data as Float32Array)).toBeLessThanOrEqual(1e-3);
}

async function expectDenoiserParity(bundle: string, fx: Fixtures) {
  const session = await ort.InferenceSession.create(join(bundle, 'denoiser.onnx'));
  const names = [
    'simplex_logits',
    'self_cond_logits',
    'timestep',
    'position_ids',
    'past_keys',
    'past_values',
    'past_mask',
    'context_hidden',
  ].filter((n) => fx.has(`den.${n}`));
  const out = await session.run(Object.fromEntries(names.map((n) => [n, fx.tensor(`den.${n}`)])));
  const expected = fx.tensor('den.logits');
  expect(out.logits.dims).toEqual(expected.dims);
  expect(maxAbsDiff(out.logits.data as Float32Array, expected.data as Float32Array)).toBeLessThanOrEqual(1e-3);
}

describe('PyTorch <-> onnxruntime-node parity (fp32)', () => {
  let fx: Fixtures;
  const bundle = inject('tinyBundle');

  beforeAll(async () => {
    await runTrainingScript('parity.py', ['--checkpoint', join(TINY_RUN, 'checkpoint.pt'), '--out', FIXTURES]);
    fx = readParityFixtures(FIXTURES);
  });

  it('PyTorch itself: incremental cache == one-shot encode, cached denoise == training layout', () => {
    expect(fx.report.incremental_cache_max_diff as number).toBeLessThan(1e-4);
    expect(fx.report.train_vs_cached_max_diff as number).toBeLessThan(1e-3);
  });

  it('the TypeScript schedule equals the training schedule', () => {
    for (const [t, value] of Object.entries(fx.report.alpha_bar_T100 as Record<string, number>)) {
      expect(alphaBar(Number(t), 100)).toBeCloseTo(value, 6);
    }
  });

  it('context_encoder.onnx extends the cache like PyTorch (max abs diff <= 1e-3)', async () => {
    await expectEncoderParity(bundle, fx);
  });

  it('denoiser.onnx gives the same block logits as PyTorch (max abs diff <= 1e-3)', async () => {
    await expectDenoiserParity(bundle, fx);
  });

  it('float16 weight storage halves the bundle and keeps the logits close', async () => {
    const half = join(CACHE, 'tiny-fp16');
    await exportRun(TINY_RUN, half, {
      name: 'tiny-fp16',
      tokenizer: join(bundle, 'tokenizer.json'),
      extra: ['--weights-dtype', 'float16'],
    });
    const size = (dir: string) =>
      JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).files.reduce((s: number, f: { bytes: number }) => s + f.bytes, 0);
    expect(size(half)).toBeLessThan(0.6 * size(bundle));
    const [a, b] = await Promise.all([loadLocalModel(bundle), loadLocalModel(half)]);
    expect(b.bundle.manifest.architecture.dtype).toBe('float16');
    const step = { context: [1, 2, 3], noise: { seed: 1, block: 0, step: 5, steps: 10, estimate: null, blockLength: 25 }, selfCond: null };
    const [[la], [lb]] = await Promise.all([a.denoiser.denoise([step]), b.denoiser.denoise([step])]);
    expect(maxAbsDiff(la.data, lb.data)).toBeLessThan(0.05);
  });

  it('the training run logged progress and a decreasing loss', () => {
    const log = inject('tinyTrainLog');
    expect(log).toMatch(/step 10\/30 loss [\d.]+ \d+ tok\/s eta \d+s/);
    const losses = readFileSync(join(TINY_RUN, 'loss.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).loss as number);
    expect(losses.length).toBe(3);
    expect(losses[2]).toBeLessThan(losses[0]);
  });
});

/**
 * A tiny model trained for a few steps with an architecture option: the three PyTorch views agree,
 * the manifest records the option, and both exported graphs match PyTorch; `more` adds tests on the bundle.
 */
function describeVariant(
  title: string,
  variant: { name: string; positions?: 'rotary'; shifted?: boolean; likelihood?: boolean },
  manifestField: [string, string | boolean],
  more?: (bundle: () => string) => void,
) {
  describe(title, () => {
    const dir = join(CACHE, variant.name);
    let fx: Fixtures;
    let bundle: string;

    beforeAll(async () => {
      ({ bundleDir: bundle } = await trainTinyModel({ out: dir, corpus: 'tests/fixtures/tiny-corpus.txt', steps: 3, ...variant }));
      await runTrainingScript('parity.py', ['--checkpoint', join(dir, 'run', 'checkpoint.pt'), '--out', join(dir, 'parity')]);
      fx = readParityFixtures(join(dir, 'parity'));
    });

    it('PyTorch itself: incremental cache == one-shot encode, cached denoise == training layout', () => {
      expect(fx.has('ctx.last_hidden')).toBe(variant.shifted === true);
      expect(fx.report.incremental_cache_max_diff as number).toBeLessThan(1e-4);
      expect(fx.report.train_vs_cached_max_diff as number).toBeLessThan(1e-3);
    });

    it(`the manifest records architecture.${manifestField[0]}`, () => {
      expect(JSON.parse(readFileSync(join(bundle, 'manifest.json'), 'utf8')).architecture[manifestField[0]]).toBe(manifestField[1]);
    });

    it('both graphs match PyTorch (max abs diff <= 1e-3)', async () => {
      await expectEncoderParity(bundle, fx);
      await expectDenoiserParity(bundle, fx);
    });

    more?.(() => bundle);
  });
}

describeVariant('rotary positions (RoPE): the three views agree and export exactly', { name: 'tiny-rotary', positions: 'rotary' }, [
  'positions',
  'rotary',
]);

describeVariant(
  'shifted readout: the three views agree, the graphs hand over the hidden state, the engine serves it',
  { name: 'tiny-shifted', shifted: true },
  ['readout', 'shifted'],
  (bundle) => {
    it('the runtime reads position 0 out from the context alone: the same logits whatever the noisy block', async () => {
      const { denoiser } = await loadLocalModel(bundle());
      const step = (seed: number) => ({
        context: [1, 2, 3],
        noise: { seed, block: 0, step: 5, steps: 10, estimate: null, blockLength: 25 },
        selfCond: null,
      });
      const [[a], [b]] = await Promise.all([denoiser.denoise([step(1)]), denoiser.denoise([step(2)])]);
      const v = denoiser.info.vocabSize;
      expect(maxAbsDiff(a.data.subarray(0, v), b.data.subarray(0, v))).toBe(0);
      expect(maxAbsDiff(a.data.subarray(v, 2 * v), b.data.subarray(v, 2 * v))).toBeGreaterThan(0);
      await expect(denoiser.denoise([{ ...step(1), context: [] }])).rejects.toThrow(/needs at least one context token/);
    });
  },
);

describeVariant(
  "noisy evidence (likelihood): the graphs add each position's own log-likelihood, so a block settles as the noise falls",
  { name: 'tiny-likelihood', shifted: true, likelihood: true },
  ['likelihood', true],
  (bundle) => {
    it("at low noise every position's argmax is its noisy estimate; at full noise position 0 still reads the context alone", async () => {
      const { denoiser } = await loadLocalModel(bundle());
      const estimate = [7, 300, 42, 511, 99, 123, 5, 250, 64, 480, 17, 333, 201, 88, 9, 402, 150, 276, 31, 444, 120, 61, 199, 350, 77];
      const at = (step: number, seed: number) => ({
        context: [1, 2, 3],
        noise: { seed, block: 0, step, steps: 10, estimate: estimate.map((t) => [t]), blockLength: 25 },
        selfCond: null,
      });
      const [late] = await denoiser.denoise([at(9, 1)]);
      expect(argmaxTokens(late)).toEqual(estimate);
      const v = denoiser.info.vocabSize;
      // At t/T = 1 the evidence weighs nothing: the first position is the context's prediction whatever the noise.
      const [[a], [b]] = await Promise.all([denoiser.denoise([at(0, 1)]), denoiser.denoise([at(0, 2)])]);
      expect(maxAbsDiff(a.data.subarray(0, v), b.data.subarray(0, v))).toBeLessThan(1e-4);
    });
  },
);
