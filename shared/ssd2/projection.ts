import { NoiseStream, streamKey, uniformAt } from './noise';
import type { BlockLogits, Estimate } from './types';

/**
 * Projections from logits to an estimate ŵ (SSD-LM §3.3):
 * - greedy: +K at the argmax;
 * - sample: one token drawn from the top-p nucleus (seeded: same seed, same draw);
 * - multihot: +K on every token of the top-p nucleus.
 */
export type ProjectionKind = 'greedy' | 'sample' | 'multihot';

export interface ProjectionOptions {
  kind: ProjectionKind;
  topP: number;
  seed: number;
  block: number;
  step: number;
}

export function argmaxRow(data: Float32Array, offset: number, n: number): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let v = 0; v < n; v++) {
    const x = data[offset + v];
    if (x > bestValue) {
      bestValue = x;
      best = v;
    }
  }
  return best;
}

export function argmaxTokens(logits: BlockLogits): number[] {
  const out = new Array<number>(logits.length);
  for (let p = 0; p < logits.length; p++) out[p] = argmaxRow(logits.data, p * logits.vocabSize, logits.vocabSize);
  return out;
}

/** Token ids of the smallest set whose softmax mass reaches topP, most probable first, with probabilities. */
export function nucleus(data: Float32Array, offset: number, n: number, topP: number): { ids: number[]; probs: number[] } {
  let max = -Infinity;
  for (let v = 0; v < n; v++) max = Math.max(max, data[offset + v]);
  const probs = new Float64Array(n);
  let sum = 0;
  for (let v = 0; v < n; v++) {
    const e = Math.exp(data[offset + v] - max);
    probs[v] = e;
    sum += e;
  }
  // Only candidates within exp(-30) of the max can matter for any topP < 1 - 1e-13; sorting
  // that subset keeps large vocabularies cheap.
  const floor = sum * 1e-13;
  const order: number[] = [];
  for (let v = 0; v < n; v++) if (probs[v] >= floor || topP >= 1) order.push(v);
  order.sort((a, b) => probs[b] - probs[a] || a - b);
  const ids: number[] = [];
  const kept: number[] = [];
  let mass = 0;
  for (const v of order) {
    ids.push(v);
    kept.push(probs[v] / sum);
    mass += probs[v] / sum;
    if (mass >= topP) break;
  }
  return { ids, probs: kept };
}

export function project(logits: BlockLogits, opts: ProjectionOptions): Estimate {
  const { length, vocabSize, data } = logits;
  const out: number[][] = [];
  const key = opts.kind === 'sample' ? streamKey({ seed: opts.seed, block: opts.block, step: opts.step, stream: NoiseStream.sampling }) : 0;
  for (let p = 0; p < length; p++) {
    const offset = p * vocabSize;
    if (opts.kind === 'greedy') {
      out.push([argmaxRow(data, offset, vocabSize)]);
      continue;
    }
    const { ids, probs } = nucleus(data, offset, vocabSize, opts.topP);
    if (opts.kind === 'multihot') {
      out.push(ids);
      continue;
    }
    const total = probs.reduce((a, b) => a + b, 0);
    let u = uniformAt(key, p) * total;
    let chosen = ids[ids.length - 1];
    for (let i = 0; i < ids.length; i++) {
      u -= probs[i];
      if (u <= 0) {
        chosen = ids[i];
        break;
      }
    }
    out.push([chosen]);
  }
  return out;
}
