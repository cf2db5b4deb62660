import type { BlockLogits } from './types';

/**
 * Σ exp(x - max) over one row, in id order, one term per run of equal logits: a run of n costs one
 * exp and adds n·exp(x - max) (the tail of a densified compact row is such a run), so the same sum
 * is computed from the compact form alone (shared/ssd2/compact-math.ts) to the bit.
 */
export function sumExpRow(data: Float32Array, offset: number, n: number, max: number): number {
  let sum = 0;
  let runStart = 0;
  for (let v = 1; v <= n; v++) {
    if (v < n && data[offset + v] === data[offset + runStart]) continue;
    sum += Math.exp(data[offset + runStart] - max) * (v - runStart);
    runStart = v;
  }
  return sum;
}

/** Row-wise log-softmax, in place on a copy. */
export function logSoftmax(logits: BlockLogits): BlockLogits {
  const { length, vocabSize, data } = logits;
  const out = new Float32Array(data.length);
  for (let p = 0; p < length; p++) {
    const o = p * vocabSize;
    let max = -Infinity;
    for (let v = 0; v < vocabSize; v++) max = Math.max(max, data[o + v]);
    const lse = max + Math.log(sumExpRow(data, o, vocabSize, max));
    for (let v = 0; v < vocabSize; v++) out[o + v] = data[o + v] - lse;
  }
  return { length, vocabSize, data: out };
}

/**
 * Core + user collaboration: l = (1-λ)·log_softmax(core) + λ·log_softmax(user).
 * λ = 0 returns the core logits unchanged (so core-only decoding is bit-identical).
 */
export function mixLogits(core: BlockLogits, user: BlockLogits, lambda: number): BlockLogits {
  if (lambda === 0) return core;
  if (core.length !== user.length || core.vocabSize !== user.vocabSize) {
    throw new RangeError(`cannot mix logits of shape ${core.length}x${core.vocabSize} and ${user.length}x${user.vocabSize}`);
  }
  const a = logSoftmax(core).data;
  const b = logSoftmax(user).data;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (1 - lambda) * a[i] + lambda * b[i];
  return { length: core.length, vocabSize: core.vocabSize, data: out };
}

/** λ per step: a constant, one value per step, or a linear ramp from `start` (t=T) to `end` (t=1). */
export type LambdaSchedule = number | readonly number[] | { start: number; end: number };

export function lambdaAt(schedule: LambdaSchedule, step: number, steps: number): number {
  if (typeof schedule === 'number') return schedule;
  if (Array.isArray(schedule)) return schedule[Math.min(step, schedule.length - 1)];
  const { start, end } = schedule as { start: number; end: number };
  return steps <= 1 ? start : start + ((end - start) * step) / (steps - 1);
}

/** Whether a λ schedule is 0 at every step: the user model changes nothing (absent: the default, 0.5). */
export function lambdaAlwaysZero(schedule: LambdaSchedule | undefined): boolean {
  if (schedule === undefined) return false;
  if (typeof schedule === 'number') return schedule === 0;
  if (Array.isArray(schedule)) return schedule.every((l) => l === 0);
  const { start, end } = schedule as { start: number; end: number };
  return start === 0 && end === 0;
}
