import { describe, expect, it } from 'vitest';
import { ArgmaxStability, blockLogits, lambdaAt, logSoftmax, mixLogits, nucleus, project } from '../../shared/ssd2';

const logits = blockLogits(Float32Array.from([0, 3, 1, 0.5, /* row 2 */ 2, 2.1, -1, 0]), 2, 4);
const opts = { seed: 9, block: 0, step: 0 };

describe('projection', () => {
  it('greedy takes the argmax', () => {
    expect(project(logits, { ...opts, kind: 'greedy', topP: 1 })).toEqual([[1], [1]]);
  });

  it('multi-hot keeps the nucleus, most probable first', () => {
    expect(project(logits, { ...opts, kind: 'multihot', topP: 0.9 })[1]).toEqual([1, 0]);
    expect(project(logits, { ...opts, kind: 'multihot', topP: 1 })[0].toSorted()).toEqual([0, 1, 2, 3]);
  });

  it('sampling is seeded, stays inside the nucleus and follows the probabilities', () => {
    const a = project(logits, { ...opts, kind: 'sample', topP: 0.95 });
    expect(project(logits, { ...opts, kind: 'sample', topP: 0.95 })).toEqual(a);
    const counts = new Map<number, number>();
    for (let step = 0; step < 2000; step++) {
      const [[id]] = project(logits, { ...opts, step, kind: 'sample', topP: 0.95 });
      expect(nucleus(logits.data, 0, 4, 0.95).ids).toContain(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(counts.get(1)! / 2000).toBeGreaterThan(0.7); // p(1) ≈ 0.80 renormalised in the nucleus
    expect(counts.has(2)).toBe(true);
  });
});

describe('mixing core and user logits', () => {
  it('λ=0 is the core model unchanged and λ=1 the user log-probabilities', () => {
    const user = blockLogits(Float32Array.from([5, 0, 0, 0, 0, 0, 0, 5]), 2, 4);
    expect(mixLogits(logits, user, 0)).toBe(logits);
    const full = mixLogits(logits, user, 1).data;
    const lp = logSoftmax(user).data;
    full.forEach((x, i) => expect(x).toBeCloseTo(lp[i], 5));
  });

  it('λ=0.5 averages log-probabilities so the user model can move the argmax', () => {
    const user = blockLogits(Float32Array.from([9, 0, 0, 0, 0, 0, 0, 9]), 2, 4);
    const mixed = mixLogits(logits, user, 0.5);
    const lc = logSoftmax(logits).data;
    const lu = logSoftmax(user).data;
    mixed.data.forEach((x, i) => expect(x).toBeCloseTo(0.5 * lc[i] + 0.5 * lu[i], 5));
    expect(project(mixed, { ...opts, kind: 'greedy', topP: 1 })).toEqual([[0], [3]]);
  });

  it('refuses logits of different shapes', () => {
    expect(() => mixLogits(logits, blockLogits(new Float32Array(6), 2, 3), 0.5)).toThrow(/cannot mix/);
  });

  it('λ schedules: constant, per step, linear ramp', () => {
    expect(lambdaAt(0.3, 5, 10)).toBe(0.3);
    expect(lambdaAt([0.1, 0.2, 0.3], 1, 3)).toBe(0.2);
    expect(lambdaAt({ start: 1, end: 0 }, 0, 11)).toBe(1);
    expect(lambdaAt({ start: 1, end: 0 }, 5, 11)).toBeCloseTo(0.5);
    expect(lambdaAt({ start: 1, end: 0 }, 10, 11)).toBe(0);
  });
});

describe('early stopping', () => {
  it('settles after `patience` consecutive unchanged steps and counts changes', () => {
    const s = new ArgmaxStability(2);
    expect(s.observe([1, 2])).toEqual({ changed: 2, settled: false });
    expect(s.observe([1, 3])).toEqual({ changed: 1, settled: false });
    expect(s.observe([1, 3])).toEqual({ changed: 0, settled: false });
    expect(s.observe([1, 3])).toEqual({ changed: 0, settled: true });
  });

  it('never settles with patience 0', () => {
    const s = new ArgmaxStability(0);
    for (let i = 0; i < 10; i++) expect(s.observe([1]).settled).toBe(false);
  });
});

describe('text codec', () => {
  it('decodes an empty block (one that starts with EOS) to an empty string', async () => {
    const { readFileSync } = await import('node:fs');
    const { codecFromJson } = await import('../../shared/tokenizer');
    const codec = codecFromJson('models/tiny-core', 'tokenizer.json', readFileSync('models/tiny-core/tokenizer.json'), 513, 512);
    expect(codec.decode([])).toBe('');
    expect(codec.decode(codec.encode('The cat'))).toBe('The cat');
  });
});
