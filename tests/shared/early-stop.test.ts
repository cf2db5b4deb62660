import { describe, expect, it } from 'vitest';
import { ArgmaxStability, topProbability } from '../../shared/ssd2/early-stop';
import { blockLogits, type BlockLogits } from '../../shared/ssd2/types';

/** Two positions over a vocabulary of 4 whose top token (id 1) has logit `top`, the others 0. */
const logits = (top: number) => blockLogits(Float32Array.from([0, top, 0, 0, 0, top, 0, 0]), 2, 4);
const topOf = (l: BlockLogits) => (p: number) => topProbability(l, p);

describe('early stopping', () => {
  it('topProbability is the top-token softmax probability of a position', () => {
    expect(topProbability(logits(0), 0)).toBeCloseTo(0.25, 6);
    const mixed = blockLogits(Float32Array.from([0, 0, 0, 0, 0, Math.log(9), 0, 0]), 2, 4);
    expect(topProbability(mixed, 0)).toBeCloseTo(0.25, 6);
    expect(topProbability(mixed, 1)).toBeCloseTo(0.75, 6);
  });

  it('a stable but unconfident argmax never settles; a confident one settles after `patience` steps', () => {
    const unsure = new ArgmaxStability(2, 0.5);
    for (let i = 0; i < 10; i++) expect(unsure.observe([1, 1], topOf(logits(0.1))).settled).toBe(false);
    const sure = new ArgmaxStability(2, 0.5);
    expect([0, 1, 2].map(() => sure.observe([1, 1], topOf(logits(5))).settled)).toEqual([false, false, true]);
  });

  it('every position must be confident: one unsure position keeps the block going', () => {
    // Position 0 at 0.25, position 1 at 0.75.
    const mixed = blockLogits(Float32Array.from([0, 0, 0, 0, 0, Math.log(9), 0, 0]), 2, 4);
    const gate = (min: number) => {
      const s = new ArgmaxStability(1, min);
      s.observe([1, 1], topOf(mixed));
      return s.observe([1, 1], topOf(mixed)).settled;
    };
    expect(gate(0.2)).toBe(true);
    expect(gate(0.5)).toBe(false);
  });

  it('without a confidence threshold only stability counts (the plain rule)', () => {
    const plain = new ArgmaxStability(2, 0);
    expect([0, 1, 2].map(() => plain.observe([1, 1], topOf(logits(0))).settled)).toEqual([false, false, true]);
  });
});
