import { alphaBar } from './schedule';
import { fillGaussian } from './noise';
import type { Estimate } from './types';

/**
 * Token -> ±K simplex and the forward process w~_t = sqrt(abar_t)·ŵ + sqrt(1-abar_t)·ε, ε ~ N(0, K²I).
 * An estimate lists, per block position, the token ids set to +K (one for greedy/sampling,
 * several for multi-hot); every other entry is -K.
 */
export function estimateToSimplex(estimate: Estimate, vocabSize: number, k: number, out?: Float32Array): Float32Array {
  const w = out ?? new Float32Array(estimate.length * vocabSize);
  w.fill(-k);
  for (let p = 0; p < estimate.length; p++) {
    for (const id of estimate[p]) w[p * vocabSize + id] = k;
  }
  return w;
}

export interface NoisyBlockRecipe {
  seed: number;
  block: number;
  step: number;
  steps: number;
  /** Projection of the previous step; null at the first step (pure noise). */
  estimate: Estimate | null;
  blockLength: number;
}

/**
 * The noisy simplex a denoiser sees at (seed, block, step): reproducible anywhere from the recipe.
 * Written into `out` (blockLength * vocabSize entries, e.g. a batch tensor's slice) when given.
 */
export function noisySimplex(recipe: NoisyBlockRecipe, vocabSize: number, k: number, out?: Float32Array): Float32Array {
  const { seed, block, step, steps, estimate, blockLength } = recipe;
  const ab = alphaBar(steps - step, steps);
  const w = out ?? new Float32Array(blockLength * vocabSize);
  if (w.length !== blockLength * vocabSize) throw new RangeError(`noisy simplex needs ${blockLength * vocabSize} entries, got ${w.length}`);
  const noiseScale = Math.sqrt(1 - ab);
  // ε·sqrt(1-abar) - sqrt(abar)·K everywhere (the -K of the simplex), scaled as the noise is drawn.
  if (estimate === null || ab === 0) return fillGaussian(w, { seed, block, step }, k, noiseScale);
  const signal = Math.sqrt(ab) * k;
  fillGaussian(w, { seed, block, step }, k, noiseScale, signal);
  for (let p = 0; p < estimate.length; p++) {
    for (const id of estimate[p]) w[p * vocabSize + id] += 2 * signal;
  }
  return w;
}
