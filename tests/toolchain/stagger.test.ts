/**
 * `npm run convert -- --stagger`: the bundled one-token core re-exported with blocks of 8 under a
 * staggered schedule with causal attention inside the block (infra/training/stagger_bundle.py).
 * Its block position j must be the one-token core's next-token prior given the context and the
 * block's settled positions before j: the same causal LM, read block position by position.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockLogits, generateAll, logSoftmax, positionNoise, type BlockLogits } from '../../shared/ssd2';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { npmConvert } from '../helpers/convert';
import { CACHE, ROOT } from '../helpers/paths';

const OUT = join(CACHE, 'stagger-test');
const convert = npmConvert;

let source: LocalModel;
let staggered: LocalModel;
beforeAll(async () => {
  rmSync(OUT, { recursive: true, force: true });
  const converted = await convert('--stagger', join(ROOT, 'models/core'), '--block-size', '8', '--window', '2', '--out', join(OUT, 'core'));
  expect(converted.code, converted.output).toBe(0);
  [source, staggered] = await Promise.all([loadLocalModel(join(ROOT, 'models/core')), loadLocalModel(join(OUT, 'core'))]);
}, 300_000);
afterAll(async () => {
  await Promise.all([source?.denoiser.release(), staggered?.denoiser.release()]);
});

/** Self-conditioning logits of a settled block: certain of each token. */
function settled(tokens: readonly number[], v: number): BlockLogits {
  const data = new Float32Array(tokens.length * v);
  tokens.forEach((t, p) => (data[p * v + t] = 1000));
  return blockLogits(data, tokens.length, v);
}

describe('staggered blocks from a one-token core', () => {
  it('writes blocks of 8 with a staggered schedule, causal block attention and the source weights', () => {
    const m = JSON.parse(readFileSync(join(OUT, 'core/manifest.json'), 'utf8'));
    expect(m).toMatchObject({
      block_size: 8,
      block_schedule: { kind: 'staggered', window: 2 },
      max_context: 376,
      architecture: { readout: 'shifted', likelihood: true, block_attention: 'causal', parameters: 3430912 },
    });
    expect(m.training.staggered_from).toMatchObject({ block_size: 8, window: 2 });
    expect(staggered.denoiser.info.blockSchedule).toEqual({ kind: 'staggered', window: 2 });
  });

  it("reads block position j as the one-token core's prior given the context and the settled positions before it", async () => {
    const v = source.denoiser.info.vocabSize;
    const tokens = source.codec.encode('The history of the city is long, and the people who built it came from far away');
    const context = tokens.slice(0, 5);
    const block = tokens.slice(5, 13);
    for (const j of [0, 1, 4, 7]) {
      // At loop step 2j of 16 the positions before j are clean and position j is pure noise (no evidence).
      const noise = positionNoise(2 * j, 16, 8, { kind: 'staggered', window: 2 });
      expect(noise.alphaBars.slice(0, j)).toEqual(new Array(j).fill(1));
      expect(noise.alphaBars[j]).toBe(0);
      const [blockOut] = await staggered.denoiser.denoise([
        {
          context,
          noise: { seed: 3, block: 0, step: 2 * j, steps: 16, estimate: block.map((t) => [t]), blockLength: 8 },
          selfCond: settled(block, v),
        },
      ]);
      const [prior] = await source.denoiser.denoise([
        {
          context: [...context, ...block.slice(0, j)],
          noise: { seed: 3, block: 0, step: 0, steps: 16, estimate: null, blockLength: 1 },
          selfCond: null,
        },
      ]);
      const a = logSoftmax(blockOut).data.subarray(j * v, (j + 1) * v);
      const b = logSoftmax(prior).data;
      let diff = 0;
      for (let i = 0; i < v; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
      expect(diff, `position ${j}`).toBeLessThan(0.05);
      expect(a.indexOf(Math.max(...a)), `position ${j}`).toBe(b.indexOf(Math.max(...b)));
    }
  });

  it('generates two denoiser calls per token at the default steps, the same tokens for the same seed', async () => {
    const prompt = source.codec.encode('The history of the city');
    const request = { prompt, maxTokens: 24, seed: 5, earlyStopPatience: 0, stopAtEos: false };
    const first = await generateAll({ core: staggered.denoiser }, request);
    const again = await generateAll({ core: staggered.denoiser }, request);
    expect(first.tokens).toHaveLength(24);
    expect(first.blocks).toBe(3);
    expect(first.stepsRun).toBe(48);
    expect(again.tokens).toEqual(first.tokens);
    // A block ends once the positions it keeps are clean, with the tokens the full schedule gives.
    const shorter = await generateAll({ core: staggered.denoiser }, { ...request, maxTokens: 20 });
    expect(shorter.tokens).toEqual(first.tokens.slice(0, 20));
    expect(shorter.stepsSaved).toBe(16 - 9);
    expect(shorter.stepsRun).toBe(32 + 9);
  });

  it('refuses a bundle that is not a shifted-readout causal LM, naming its manifest', async () => {
    const r = await convert('--stagger', join(ROOT, 'models/tiny-core'), '--out', join(OUT, 'tiny'));
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('models/tiny-core/manifest.json: needs architecture.readout "shifted"');
  });
});
