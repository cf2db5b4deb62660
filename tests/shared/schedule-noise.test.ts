import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  alphaBar,
  fillGaussian,
  noiseOffset,
  noiseTable,
  noisySimplex,
  estimateToSimplex,
  timestepFraction,
  positionNoise,
  positionWindow,
  cleanPrefix,
  commitJump,
  noiseRows,
  defaultStepsFor,
  stepsFor,
  incompatibility,
  SHARED_SCHEDULE,
  NOISE_ROW_STRIDE,
  NOISE_TABLE_SIZE,
} from '../../shared/ssd2';
import { ManifestSchema } from '../../shared/bundle/manifest';

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

describe('block schedules', () => {
  const staggered = { kind: 'staggered', window: 2 } as const;

  it('shared: every position at the block timestep, as the loop step gives it', () => {
    for (const step of [0, 7, 15]) {
      const { fractions, alphaBars } = positionNoise(step, 16, 8);
      expect(fractions).toEqual(new Array(8).fill(timestepFraction(step, 16)));
      expect(alphaBars).toEqual(new Array(8).fill(alphaBar(16 - step, 16)));
    }
  });

  it('staggered: position j runs its window after the positions before it, pure noise before and clean after', () => {
    const table = Array.from({ length: 16 }, (_, step) => positionNoise(step, 16, 8, staggered).fractions);
    for (let j = 0; j < 8; j++) {
      const column = table.map((row) => row[j]);
      expect(column).toEqual(Array.from({ length: 16 }, (_, s) => (s <= 2 * j ? 1 : s === 2 * j + 1 ? 0.5 : 0)));
    }
    const last = positionNoise(15, 16, 8, staggered);
    expect(last.alphaBars.slice(0, 7)).toEqual(new Array(7).fill(1));
    expect(last.alphaBars[7]).toBe(alphaBar(1, 2));
    // Fewer steps than positions x window: the windows overlap but still start in order and end clean.
    const short = Array.from({ length: 6 }, (_, step) => positionNoise(step, 6, 8, staggered).fractions);
    for (let j = 1; j < 8; j++) expect(short.findIndex((r) => r[j] < 1)).toBeGreaterThanOrEqual(short.findIndex((r) => r[j - 1] < 1));
    expect(positionNoise(5, 6, 8, staggered).fractions[0]).toBe(0);
  });

  it('noise rows follow the schedule: clean positions carry the estimate exactly, pure-noise ones only noise', () => {
    const recipe = { seed: 4, block: 1, step: 6, steps: 16, estimate: [[1], [2], [3], [0]], blockLength: 4 };
    const rows = noiseRows(recipe, 8, 5, staggered);
    const { alphaBars } = positionNoise(6, 16, 4, staggered);
    expect(rows.scales).toEqual(alphaBars.map((ab) => Math.fround(5 * Math.sqrt(1 - ab))));
    expect(rows.signals).toEqual(alphaBars.map((ab) => Math.fround(5 * Math.sqrt(ab))));
    const w = noisySimplex(recipe, 8, 5, undefined, staggered);
    // Windows start at steps 0, 5, 9 and 14: at step 6 position 0 is clean (exactly ±K), position 1
    // half-way, positions 2 and 3 pure noise (no signal).
    expect(Array.from(w.subarray(0, 8))).toEqual([-5, 5, -5, -5, -5, -5, -5, -5]);
    expect(alphaBars[1]).toBe(alphaBar(1, 2));
    expect(rows.signals.slice(2)).toEqual([0, 0]);
    expect(rows.scales.slice(2)).toEqual([5, 5]);
    // The shared schedule's rows are the same numbers for every position.
    const shared = noiseRows(recipe, 8, 5);
    expect(new Set(shared.scales).size).toBe(1);
    expect(noisySimplex(recipe, 8, 5)).toEqual(noisySimplex(recipe, 8, 5, undefined, SHARED_SCHEDULE));
  });

  it('clean prefix: the leading positions past their windows (none under the shared schedule)', () => {
    expect(Array.from({ length: 16 }, (_, s) => cleanPrefix(s, 16, 8, staggered))).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7,
    ]);
    expect(Array.from({ length: 16 }, (_, s) => cleanPrefix(s, 16, 8))).toEqual(new Array(16).fill(0));
  });

  it('commitJump: to where the committed position is clean, the end after the last kept one, never across a window', () => {
    // Blocks of 4, window 2, 8 steps: position j's window is steps 2j, 2j + 1.
    expect(commitJump(0, 8, 0, 4, 4, staggered)).toBe(2);
    expect(commitJump(1, 8, 0, 4, 4, staggered)).toBe(2);
    expect(commitJump(2, 8, 1, 4, 4, staggered)).toBe(4);
    expect(commitJump(6, 8, 3, 4, 4, staggered)).toBe(8);
    expect(commitJump(2, 8, 1, 2, 4, staggered)).toBe(8); // the last position the block keeps
    expect(commitJump(0, 8, 1, 4, 4, staggered)).toBeNull(); // its window has not started
    // 5 steps: the windows overlap (position j at steps j, j + 1), so only the last kept one commits.
    expect(commitJump(0, 5, 0, 4, 4, staggered)).toBeNull();
    expect(commitJump(2, 5, 1, 2, 4, staggered)).toBe(5);
    expect(commitJump(0, 8, 0, 4, 4, SHARED_SCHEDULE)).toBeNull();
  });

  it('default steps: two per token (at least 10) when shared, one window per position when staggered', () => {
    expect(defaultStepsFor(1)).toBe(10);
    expect(defaultStepsFor(25)).toBe(50);
    expect(defaultStepsFor(8, staggered)).toBe(16);
    expect(defaultStepsFor(8, { kind: 'staggered', window: 3 })).toBe(24);
    // Overlapping windows: a start every stride steps, plus the last position's window.
    const overlapping = { kind: 'staggered', window: 3, stride: 1 } as const;
    expect(defaultStepsFor(8, overlapping)).toBe(10);
    expect(Array.from({ length: 8 }, (_, j) => positionWindow(j, 10, 8, overlapping))).toEqual(
      Array.from({ length: 8 }, (_, j) => ({ start: j, cleanFrom: j + 3 })),
    );
    // Position 2 at step 3: one step into its window (t/T 2/3), position 3 at its first (t/T 1).
    expect(positionNoise(3, 10, 8, overlapping).fractions.slice(0, 5)).toEqual([0, 1 / 3, 2 / 3, 1, 1]);
    expect(stepsFor({ blockSize: 4 }, { blockSize: 8, blockSchedule: staggered })).toBe(8);
    expect(stepsFor({ steps: 5 }, { blockSize: 8, blockSchedule: staggered })).toBe(5);
  });

  it('a staggered bundle must have the noisy evidence (what makes a clean position final)', () => {
    const m = JSON.parse(readFileSync(join(__dirname, '../../models/core/manifest.json'), 'utf8'));
    expect(ManifestSchema.safeParse(m).success).toBe(true);
    const without = ManifestSchema.safeParse({ ...m, architecture: { ...m.architecture, likelihood: false } });
    expect(without.success).toBe(false);
    expect(without.error?.issues[0]).toMatchObject({
      path: ['block_schedule'],
      message: 'a staggered schedule needs architecture.likelihood true',
    });
  });

  it('models mixed in one block must share the block schedule', () => {
    const base = { vocabSize: 8, tokenizerSha256: 'x', simplexK: 5, schedule: 'cosine' };
    expect(incompatibility({ ...base, blockSchedule: staggered }, { ...base, blockSchedule: staggered })).toBeNull();
    expect(incompatibility(base, { ...base, blockSchedule: SHARED_SCHEDULE })).toBeNull();
    expect(incompatibility({ ...base, blockSchedule: staggered }, base)).toMatchObject({
      field: 'block_schedule',
      expected: 'staggered (window 2)',
      actual: 'shared',
    });
  });
});
