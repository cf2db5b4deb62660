import { describe, expect, it } from 'vitest';
import {
  alphaBar,
  fillGaussian,
  noiseOffset,
  noiseTable,
  noisySimplex,
  estimateToSimplex,
  timestepFraction,
  NOISE_ROW_STRIDE,
  NOISE_TABLE_SIZE,
} from '../../shared/ssd2';

describe('cosine schedule', () => {
  it('runs from clean (abar 1) at t=0 to pure noise (abar 0) at t=T, decreasing', () => {
    expect(alphaBar(0, 100)).toBe(1);
    expect(alphaBar(100, 100)).toBe(0);
    let prev = 1;
    for (let t = 1; t < 100; t++) {
      const a = alphaBar(t, 100);
      expect(a).toBeLessThan(prev);
      prev = a;
    }
    expect(alphaBar(50, 100)).toBeCloseTo(0.5, 3);
  });

  it('maps loop step s to t/T = (steps - s)/steps', () => {
    expect(timestepFraction(0, 10)).toBe(1);
    expect(timestepFraction(9, 10)).toBeCloseTo(0.1);
  });
});

describe('counter-based noise', () => {
  const key = { seed: 42, block: 3, step: 7 };

  it('is reproducible and does not depend on how many values are drawn', () => {
    const a = fillGaussian(new Float32Array(1001), key);
    const b = fillGaussian(new Float32Array(10), key);
    expect(Array.from(b)).toEqual(Array.from(a.subarray(0, 10)));
    expect(Array.from(fillGaussian(new Float32Array(1001), key))).toEqual(Array.from(a));
  });

  it('differs across seed, block and step', () => {
    const base = fillGaussian(new Float32Array(64), key);
    for (const other of [
      { ...key, seed: 43 },
      { ...key, block: 4 },
      { ...key, step: 8 },
      { ...key, seed: 42 + 2 ** 32 },
    ]) {
      expect(Array.from(fillGaussian(new Float32Array(64), other))).not.toEqual(Array.from(base));
    }
  });

  it('is standard normal scaled by sd (mean 0, sd K, no correlation between neighbours)', () => {
    const n = 200_000;
    const x = fillGaussian(new Float32Array(n), key, 5);
    let sum = 0;
    let sq = 0;
    let lag = 0;
    for (let i = 0; i < n; i++) {
      sum += x[i];
      sq += x[i] * x[i];
      if (i) lag += x[i] * x[i - 1];
    }
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.sqrt(sq / n - mean * mean)).toBeCloseTo(5, 1);
    expect(Math.abs(lag / n / 25)).toBeLessThan(0.01);
  });
});

describe('the noise table', () => {
  it('is standard normal, and a block row is a window of it that depends on (seed, block, step, row)', () => {
    const table = noiseTable();
    expect(table.length).toBe(NOISE_TABLE_SIZE);
    let sum = 0;
    let sq = 0;
    for (const x of table) {
      sum += x;
      sq += x * x;
    }
    expect(Math.abs(sum / table.length)).toBeLessThan(0.005);
    expect(Math.sqrt(sq / table.length)).toBeCloseTo(1, 2);
    const key = { seed: 9, block: 2, step: 4 };
    const starts = [0, 1, 2, 3].map((row) => noiseOffset(key, row, 50257));
    expect(new Set(starts).size).toBe(4);
    expect(starts.every((o) => o >= 0 && o % NOISE_ROW_STRIDE === 0 && o + 50257 <= NOISE_TABLE_SIZE)).toBe(true);
    for (const other of [
      { ...key, seed: 10 },
      { ...key, block: 3 },
      { ...key, step: 5 },
    ])
      expect(noiseOffset(other, 0, 50257)).not.toBe(starts[0]);
    expect(noiseOffset(key, 0, 50257)).toBe(starts[0]);
    expect(() => noiseOffset(key, 0, NOISE_TABLE_SIZE)).toThrow(/exceeds/);
  });
});

describe('simplex', () => {
  it('maps an estimate to ±K almost-one-hot logits, multi-hot allowed', () => {
    const w = estimateToSimplex([[1], [0, 2]], 3, 5);
    expect(Array.from(w)).toEqual([-5, 5, -5, 5, -5, 5]);
  });

  it('is pure noise at the first step and the estimate plus a little noise at the last', () => {
    const recipe = { seed: 1, block: 0, step: 0, steps: 50, estimate: null, blockLength: 2 };
    const first = noisySimplex(recipe, 4, 5);
    // Pure noise: each row is a window of the Gaussian table, scaled by K (abar = 0 at t = T).
    const table = noiseTable();
    const windows = [0, 1].flatMap((p) =>
      Array.from(table.subarray(noiseOffset(recipe, p, 4), noiseOffset(recipe, p, 4) + 4), (x) => Math.fround(x * 5)),
    );
    expect(Array.from(first)).toEqual(windows);
    const last = noisySimplex({ ...recipe, step: 49, estimate: [[2], [0]] }, 4, 5);
    const argmax = (o: number) => [0, 1, 2, 3].reduce((a, b) => (last[o + b] > last[o + a] ? b : a), 0);
    expect([argmax(0), argmax(4)]).toEqual([2, 0]);
  });
});
