import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { blockLogits, type DenoiseStep } from '../../shared/ssd2';
import { ContextCache } from '../../shared/runtime/kv-cache';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { maxAbsDiff } from '../helpers/tensors';

/** The bundled tiny-core (committed), so these tests need no training run. */
const TINY = 'models/tiny-core';

const step = (len: number, i: number, selfCond = true): DenoiseStep => ({
  context: Array.from({ length: len }, (_, j) => (j * 7 + i) % 500),
  noise: { seed: 5 + i, block: i, step: 2, steps: 10, estimate: Array.from({ length: 25 }, (_, p) => [p + i]), blockLength: 25 },
  selfCond: selfCond
    ? blockLogits(
        new Float32Array(25 * 513).map((_, k) => ((k * 31 + i) % 97) / 10),
        25,
        513,
      )
    : null,
});

describe('OnnxDenoiser batching', () => {
  let model: LocalModel;
  beforeAll(async () => {
    model = await loadLocalModel(TINY);
  });

  it('returns each item in the order given, equal to running it alone, whatever the arrival order', async () => {
    const steps = [step(3, 0), step(40, 1), step(17, 2, false), step(40, 1)];
    const batched = await model.denoiser.denoise(steps);
    for (let i = 0; i < steps.length; i++) {
      const [single] = await model.denoiser.denoise([steps[i]]);
      expect(batched[i].length).toBe(25);
      expect(batched[i].data.length).toBe(25 * 513);
      expect(maxAbsDiff(batched[i].data, single.data)).toBeLessThan(1e-4);
    }
    // Items 1 and 3 are the same step: the same logits.
    expect(batched[3].data).toEqual(batched[1].data);
    // Another order of the same items: the same padded batch, the same logits per item.
    const order = [2, 0, 3, 1];
    const shuffled = await model.denoiser.denoise(order.map((i) => steps[i]));
    order.forEach((i, j) => expect(shuffled[j].data).toEqual(batched[i].data));
  });

  it('copies the padded key/value caches once per batch composition, not once per step', async () => {
    const steps = [step(5, 3), step(30, 4), step(12, 5)];
    const before = { ...model.denoiser.padding };
    const first = await model.denoiser.denoise(steps);
    const next = await model.denoiser.denoise(steps.map((s) => ({ ...s, noise: { ...s.noise, step: 3 } })));
    const again = await model.denoiser.denoise([steps[2], steps[0], steps[1]]);
    expect(model.denoiser.padding.built - before.built).toBe(1);
    expect(model.denoiser.padding.reused - before.reused).toBe(2);
    expect(maxAbsDiff(next[0].data, first[0].data)).toBeGreaterThan(1e-3); // another step, other noise
    expect(again[1].data).toEqual(first[0].data);
    // A different composition builds its own.
    await model.denoiser.denoise([steps[0], steps[1]]);
    expect(model.denoiser.padding.built - before.built).toBe(2);
  });
});

describe('ContextCache', () => {
  afterEach(() => vi.restoreAllMocks());

  it("confirms a hit by the tokens, so a key collision is a miss and never another context's cache", () => {
    const cache = new ContextCache<string>(1e6);
    vi.spyOn(ContextCache, 'key').mockReturnValue('collide');
    cache.set([1, 2, 3], 'a', 10);
    expect(cache.get([1, 2, 3])?.value).toBe('a');
    expect(cache.get([1, 2, 4])).toBeUndefined();
    cache.set([1, 2, 4], 'b', 10);
    expect(cache.get([1, 2, 4])?.value).toBe('b');
    expect(cache.get([1, 2, 3])).toBeUndefined();
    expect(cache.bytesUsed).toBe(10);
  });

  it('keys differ for different contexts of one length and for prefixes', () => {
    const keys = new Set(
      [
        [1, 2, 3],
        [3, 2, 1],
        [1, 2],
        [1, 2, 3, 0],
        [0, 1, 2, 3],
        [65_536 + 1, 2, 3],
      ].map((t) => ContextCache.key(t)),
    );
    expect(keys.size).toBe(6);
  });
});
