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
  // A run of equal logits (the tail of a densified compact row) needs one exp, not one per id.
  let lastX = NaN;
  let e = 0;
  for (let v = 0; v < n; v++) {
    const x = data[offset + v];
    if (x !== lastX) {
      e = Math.exp(x - max);
      lastX = x;
    }
    probs[v] = e;
    sum += e;
  }
  // Only candidates within exp(-30) of the max can matter for any topP < 1 - 1e-13.
  const floor = sum * 1e-13;
  if (Number.isNaN(sum)) return nucleusBySort(probs, sum, floor, topP);
  // The order is probability descending, then id ascending. Rather than sorting every
  // candidate, sort their probabilities (a typed-array sort), find how many the mass needs (the
  // running mass depends only on the values, so ties do not matter here), then order just the
  // ids above the last kept value; ids at that value follow in id order. Same result as a full
  // sort, much cheaper when many candidates tie (a densified compact row) or fall past the cut.
  const values = new Float64Array(n);
  let c = 0;
  for (let v = 0; v < n; v++) if (probs[v] >= floor || topP >= 1) values[c++] = probs[v];
  const sorted = values.subarray(0, c).sort();
  let mass = 0;
  let m = 0;
  while (m < c) {
    mass += sorted[c - 1 - m] / sum;
    m++;
    if (mass >= topP) break;
  }
  const last = sorted[c - m];
  const above: number[] = [];
  const at: number[] = [];
  for (let v = 0; v < n; v++) {
    if (probs[v] > last) above.push(v);
    else if (probs[v] === last && at.length < m) at.push(v);
  }
  above.sort((a, b) => probs[b] - probs[a] || a - b);
  const ids = above;
  for (let i = 0; ids.length < m; i++) ids.push(at[i]);
  return { ids, probs: ids.map((v) => probs[v] / sum) };
}

/** The reference ordering by a full sort (used when a row holds NaN, where the fast path's order is undefined; the tests' oracle). */
export function nucleusBySort(probs: Float64Array, sum: number, floor: number, topP: number): { ids: number[]; probs: number[] } {
  const n = probs.length;
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
