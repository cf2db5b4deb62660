import { describe, expect, it } from 'vitest';
import { ArgmaxStability, leastTopProbability } from '../../shared/ssd2/early-stop';
import { blockLogits } from '../../shared/ssd2/types';

/** Two positions over a vocabulary of 4 whose top token (id 1) has logit `top`, the others 0. */
const logits = (top: number) => blockLogits(Float32Array.from([0, top, 0, 0, 0, top, 0, 0]), 2, 4);

describe('early stopping', () => {
  it('leastTopProbability is the smallest top-token softmax probability', () => {
    expect(leastTopProbability(logits(0))).toBeCloseTo(0.25, 6);
    expect(leastTopProbability(logits(Math.log(9)))).toBeCloseTo(0.75, 6);
  });

  it('a stable but unconfident argmax never settles; a confident one settles after `patience` steps', () => {
    const unsure = new ArgmaxStability(2, 0.5);
    for (let i = 0; i < 10; i++) expect(unsure.observe([1, 1], () => leastTopProbability(logits(0.1))).settled).toBe(false);
    const sure = new ArgmaxStability(2, 0.5);
    expect([0, 1, 2].map(() => sure.observe([1, 1], () => leastTopProbability(logits(5))).settled)).toEqual([false, false, true]);
  });

  it('without a confidence threshold only stability counts (the plain rule)', () => {
    const plain = new ArgmaxStability(2, 0);
    expect([0, 1, 2].map(() => plain.observe([1, 1], () => leastTopProbability(logits(0))).settled)).toEqual([false, false, true]);
  });
});
