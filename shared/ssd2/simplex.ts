import { positionNoise, SHARED_SCHEDULE, type BlockSchedule } from './schedule';
import { noiseOffset, noiseTable } from './noise';
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
 * The float32 numbers that, with the estimate, define a noisy block: each row's window in the noise
 * table, its noise scale K·sqrt(1-abar) and its signal sqrt(abar)·K (one abar for the whole block
 * under the shared schedule, one per position under a staggered one).
 */
export interface NoiseRows {
  offsets: number[];
  scales: number[];
  signals: number[];
}

export function noiseRows(recipe: NoisyBlockRecipe, vocabSize: number, k: number, schedule: BlockSchedule = SHARED_SCHEDULE): NoiseRows {
  const { seed, block, step, steps, estimate, blockLength } = recipe;
  const { alphaBars } = positionNoise(step, steps, blockLength, schedule);
  const key = { seed, block, step };
  return {
    offsets: Array.from({ length: blockLength }, (_, p) => noiseOffset(key, p, vocabSize)),
    scales: alphaBars.map((ab) => Math.fround(k * Math.sqrt(1 - ab))),
    // Without an estimate the block is pure noise.
    signals: alphaBars.map((ab) => (estimate === null ? 0 : Math.fround(Math.sqrt(ab) * k))),
  };
}

/**
 * The noisy simplex a denoiser sees at (seed, block, step): reproducible anywhere from the recipe.
 * Entry (p, v) is fround(fround(ε·scale) ± signal), ε the noise table's entry at row p's offset + v
 * and +signal where the estimate puts +K: float32 operations a graph performs to the same bits.
 * Written into `out` (blockLength * vocabSize entries, e.g. a batch tensor's slice) when given.
 */
export function noisySimplex(
  recipe: NoisyBlockRecipe,
  vocabSize: number,
  k: number,
  out?: Float32Array,
  schedule: BlockSchedule = SHARED_SCHEDULE,
): Float32Array {
  const { estimate, blockLength } = recipe;
  const w = out ?? new Float32Array(blockLength * vocabSize);
  if (w.length !== blockLength * vocabSize) throw new RangeError(`noisy simplex needs ${blockLength * vocabSize} entries, got ${w.length}`);
  const { offsets, scales, signals } = noiseRows(recipe, vocabSize, k, schedule);
  const table = noiseTable();
  for (let p = 0; p < blockLength; p++) {
    const o = offsets[p];
    const scale = scales[p];
    const signal = signals[p];
    const row = p * vocabSize;
    for (let v = 0; v < vocabSize; v++) w[row + v] = Math.fround(table[o + v] * scale) - signal;
    for (const id of estimate?.[p] ?? []) w[row + id] = Math.fround(table[o + id] * scale) + signal;
  }
  return w;
}
