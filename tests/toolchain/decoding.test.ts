import { describe, expect, inject, it, beforeAll } from 'vitest';
import { generate, generateAll, blockLogits } from '../../shared/ssd2';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { maxAbsDiff } from '../helpers/tensors';

describe('decoding the tiny model with onnxruntime-node', () => {
  let cached: LocalModel;
  let uncached: LocalModel;
  const tiny = inject('tinyBundle');

  beforeAll(async () => {
    cached = await loadLocalModel(tiny);
    uncached = await loadLocalModel(tiny, ['cpu'], { useCache: false });
  });

  // stopAtEos false: a briefly trained model may answer EOS at once, which would compare empty outputs.
  const request = (seed: number) => ({
    prompt: cached.codec.encode('The cat sat on the'),
    steps: 12,
    maxTokens: 60,
    seed,
    earlyStopPatience: 3,
    stopAtEos: false,
  });

  it('decoding with the context cache gives the same tokens as re-encoding the context every step', async () => {
    for (const projection of ['sample', 'greedy', 'multihot'] as const) {
      const a = await generateAll({ core: cached.denoiser }, { ...request(3), projection });
      const b = await generateAll({ core: uncached.denoiser }, { ...request(3), projection });
      expect(a.tokens.length).toBeGreaterThan(0);
      expect(a.tokens).toEqual(b.tokens);
    }
    expect(cached.denoiser.cache.hits).toBeGreaterThan(0);
    expect(uncached.denoiser.cache.size).toBe(0);
  });

  it('the same seed gives the same text and the same step-by-step trace; another seed other noise', async () => {
    const trace = async (seed: number) => {
      const steps: number[][] = [];
      let tokens: number[] = [];
      for await (const e of generate({ core: cached.denoiser }, { ...request(seed), stepEvents: true })) {
        if (e.type === 'step') steps.push(e.argmax);
        if (e.type === 'done') tokens = e.result.tokens;
      }
      return { steps, text: cached.codec.decode(tokens) };
    };
    const a = await trace(11);
    expect(await trace(11)).toEqual(a);
    const noise = (seed: number) => ({ seed, block: 0, step: 0, steps: 12, estimate: null, blockLength: 25 });
    const [l11] = await cached.denoiser.denoise([{ context: request(11).prompt, noise: noise(11), selfCond: null }]);
    const [l12] = await cached.denoiser.denoise([{ context: request(11).prompt, noise: noise(12), selfCond: null }]);
    expect(maxAbsDiff(l11.data, l12.data)).toBeGreaterThan(1e-3);
  });

  it('a batch of blocks with different context lengths equals running them one by one', async () => {
    const steps = [3, 17].map((len, i) => ({
      context: Array.from({ length: len }, (_, j) => (j * 7 + i) % 500),
      noise: { seed: 5, block: i, step: 2, steps: 10, estimate: Array.from({ length: 25 }, (_, p) => [p + i]), blockLength: 25 },
      selfCond: blockLogits(new Float32Array(25 * 513).fill(0.1 * i), 25, 513),
    }));
    const batched = await uncached.denoiser.denoise(steps);
    for (let i = 0; i < steps.length; i++) {
      const [single] = await uncached.denoiser.denoise([steps[i]]);
      expect(maxAbsDiff(batched[i].data, single.data)).toBeLessThan(1e-4);
    }
  });

  it('collaboration: the user model conditions on its private context, which the core never sees', async () => {
    const user = await loadLocalModel(tiny);
    const secret = user.codec.encode('The bird sang a song. ');
    const base = { ...request(4), steps: 6, maxTokens: 25, earlyStopPatience: 0 };
    await generateAll({ core: cached.denoiser, user: user.denoiser }, { ...base, lambda: 0.5, userContext: secret });
    const userContexts = [...user.denoiser.cache['entries'].values()].map((e) => e.tokens.join(','));
    const coreContexts = [...cached.denoiser.cache['entries'].values()].map((e) => e.tokens.join(','));
    expect(userContexts.some((k) => k.startsWith(secret.join(',')))).toBe(true);
    expect(coreContexts.some((k) => k.startsWith(secret.join(',')))).toBe(false);
    // The private context changes the user model's logits for the same noisy block.
    const noise = { seed: 1, block: 0, step: 3, steps: 6, estimate: null, blockLength: 25 };
    const [withSecret] = await user.denoiser.denoise([{ context: [...secret, ...base.prompt], noise, selfCond: null }]);
    const [without] = await user.denoiser.denoise([{ context: base.prompt, noise, selfCond: null }]);
    expect(maxAbsDiff(withSecret.data, without.data)).toBeGreaterThan(1e-3);
  });
});
