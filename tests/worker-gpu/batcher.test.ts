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
    // Four loops that each await their step and immediately ask for the next (a fused generation);
    // each starts once the one before has finished its first step, so each arrives while another
    // batch runs (gated on the loops themselves, not on timers, which a loaded machine delays).
    const loop = async (start: Promise<void>, startedOne: () => void) => {
      await start;
      for (let i = 0; i < 12; i++) {
        await batcher.denoise([step]);
        if (i === 0) startedOne();
      }
    };
    const gates = Array.from({ length: 4 }, () => {
      let resolve!: () => void;
      return { promise: new Promise<void>((r) => (resolve = r)), resolve };
    });
    await Promise.all(gates.map((gate, k) => loop(k === 0 ? Promise.resolve() : gates[k - 1].promise, gate.resolve)));
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
