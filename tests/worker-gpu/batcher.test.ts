import { describe, expect, it } from 'vitest';
import { Admission, DynamicBatcher } from '../../worker-gpu/src/engine/batcher';
import { blockLogits, type DenoiseStep, type Denoiser, type DenoiserInfo } from '../../shared/ssd2';

/** A denoiser that records its batch sizes and answers 5 ms later, in a macrotask (as onnxruntime-node does). */
function recording(): Denoiser & { sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    info: { name: 'fake', vocabSize: 4 } as DenoiserInfo,
    denoise: (steps: readonly DenoiseStep[]) => {
      sizes.push(steps.length);
      return new Promise((resolve) => setTimeout(() => resolve(steps.map(() => blockLogits(new Float32Array(4), 1, 4))), 5));
    },
  };
}

const step: DenoiseStep = { context: [1], noise: { seed: 0, block: 0, step: 0, steps: 1, estimate: null, blockLength: 1 }, selfCond: null };

describe('DynamicBatcher', () => {
  it('settles generations that started apart into one lock-step batch per step', async () => {
    const inner = recording();
    const batcher = new DynamicBatcher(inner, { windowMs: 1, maxBatch: 32, admission: new Admission(100) });
    // Four loops that each await their step and immediately ask for the next (a fused generation),
    // started 7 ms apart: each arrives while another batch runs.
    const loop = async (delay: number) => {
      await new Promise((r) => setTimeout(r, delay));
      for (let i = 0; i < 12; i++) await batcher.denoise([step]);
    };
    await Promise.all([0, 7, 14, 21].map(loop));
    expect(inner.sizes.reduce((a, b) => a + b, 0)).toBe(48);
    expect(inner.sizes[0]).toBe(1);
    // Once all four run, they share every batch instead of alternating in cohorts.
    expect(inner.sizes.filter((n) => n === 4).length).toBeGreaterThanOrEqual(6);
  });

  it('still waits the window for the first step, so steps arriving together share it', async () => {
    const inner = recording();
    const batcher = new DynamicBatcher(inner, { windowMs: 20, maxBatch: 3, admission: new Admission(100) });
    const a = batcher.denoise([step]);
    await new Promise((r) => setTimeout(r, 5));
    await Promise.all([a, batcher.denoise([step]), batcher.denoise([step]), batcher.denoise([step])]);
    expect(inner.sizes).toEqual([3, 1]);
  });
});
