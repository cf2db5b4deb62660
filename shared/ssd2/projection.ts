import { NoiseStream, streamKey, uniformAt } from './noise';
import type { BlockLogits, Estimate } from './types';

/**
 * Projections from logits to an estimate ŵ (SSD-LM §3.3):
 * - greedy: +K at the argmax;
 * - sample: one token drawn from the top-p nucleus (seeded: same seed, same draw);
 * - multihot: +K on every token of the top-p nucleus.
 * The nucleus is taken among the `NUCLEUS_CANDIDATES` most probable tokens (probability
 * descending, then id): a graph finds them with one TopK, and a flat row's nucleus of tens of
 * thousands of ids (high noise) would otherwise be the estimate every step carries.
 */
export const NUCLEUS_CANDIDATES = 512;

export type ProjectionKind = 'greedy' | 'sample' | 'multihot';

export interface ProjectionOptions {
  kind: ProjectionKind;
  topP: number;
  /** The nucleus is taken over logits / temperature (float32, as a graph divides); absent: 1. At least GREEDY_BELOW_TEMPERATURE: `generate` decodes lower ones greedily. */
  temperature?: number;
  seed: number;
  block: number;
  step: number;
}

function argmaxRow(data: Float32Array, offset: number, n: number): number {
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

/**
 * Scratch for `nucleus`, reused across rows and calls (JavaScript runs one call at a time and
 * nothing returned aliases it): a row's probabilities, the candidates being ordered (values and
 * ids), sort keys and the mass per binary exponent.
 */
const scratch = {
  probs: new Float64Array(0),
  values: new Float64Array(0),
  ids: new Int32Array(0),
  runIds: new Int32Array(0),
  keys: new Float64Array(0),
  bucketMass: new Float64Array(64),
};
/** Probabilities bucketed by binary exponent: bucket b holds [2^-b, 2^(1-b)); the last holds everything smaller. */
const BUCKETS = scratch.bucketMass.length;
const exponentProbe = new Float64Array(1);
const exponentWords = new Uint32Array(exponentProbe.buffer);
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** The bucket of a probability in [0, 1]: minus its binary exponent, from the float's bits (no Math.log). */
function bucketOf(p: number): number {
  exponentProbe[0] = p;
  const b = 1023 - (exponentWords[HIGH_WORD] >>> 20);
  return b < BUCKETS - 1 ? b : BUCKETS - 1;
}

/**
 * Where a row's nucleus ends: its ids are `above` (probability descending, then id) followed by
 * the first `atCount` ids, in id order, whose probability equals `last`. `probs` (unnormalised,
 * divide by `sum`) is scratch, valid until the next call.
 */
interface NucleusCut {
  above: number[];
  last: number;
  atCount: number;
  probs: Float64Array;
  sum: number;
}

/** Token ids of the smallest set whose softmax mass reaches topP, most probable first, with probabilities. */
export function nucleus(data: Float32Array, offset: number, n: number, topP: number): { ids: number[]; probs: number[] } {
  const { above, last, atCount, probs, sum } = cappedCut(data, offset, n, topP);
  const ids = above;
  for (let v = 0, left = atCount; left > 0; v++) {
    if (probs[v] === last) {
      ids.push(v);
      left--;
    }
  }
  return { ids, probs: ids.map((v) => probs[v] / sum) };
}

/** One id drawn from the row's nucleus: the walk over `nucleus`'s list with `uniform` in (0,1), without building the list. */
function sampleNucleus(data: Float32Array, offset: number, n: number, topP: number, uniform: number): number {
  const { above, last, atCount, probs, sum } = cappedCut(data, offset, n, topP);
  // The same additions and subtractions, in the same order, as over the built list.
  let total = 0;
  for (const v of above) total += probs[v] / sum;
  for (let i = 0; i < atCount; i++) total += last / sum;
  let u = uniform * total;
  for (const v of above) {
    u -= probs[v] / sum;
    if (u <= 0) return v;
  }
  if (atCount === 0) return above[above.length - 1];
  let rank = atCount - 1; // none reached: the list's last id
  for (let i = 0; i < atCount; i++) {
    u -= last / sum;
    if (u <= 0) {
      rank = i;
      break;
    }
  }
  for (let v = 0; ; v++) if (probs[v] === last && rank-- === 0) return v;
}

/** The cut of a row's nucleus, kept to its first NUCLEUS_CANDIDATES ids. */
function cappedCut(data: Float32Array, offset: number, n: number, topP: number): NucleusCut {
  const cut = nucleusCut(data, offset, n, topP);
  if (cut.above.length >= NUCLEUS_CANDIDATES) return { ...cut, above: cut.above.slice(0, NUCLEUS_CANDIDATES), atCount: 0 };
  return { ...cut, atCount: Math.min(cut.atCount, NUCLEUS_CANDIDATES - cut.above.length) };
}

/** The cut of a row's nucleus. A row holding NaN gets the full sort's order (`nucleusBySort`), where the fast path's is undefined. */
function nucleusCut(data: Float32Array, offset: number, n: number, topP: number): NucleusCut {
  if (scratch.probs.length !== n) {
    scratch.probs = new Float64Array(n);
    scratch.values = new Float64Array(n);
    scratch.ids = new Int32Array(n);
    scratch.runIds = new Int32Array(n);
    scratch.keys = new Float64Array(n);
  }
  const { probs, bucketMass } = scratch;
  bucketMass.fill(0);
  let max = -Infinity;
  for (let v = 0; v < n; v++) max = Math.max(max, data[offset + v]);
  let sum = 0;
  // A run of equal logits (the tail of a densified compact row) needs one exp, not one per id, and
  // adds its mass at once, as `sumExpRow` does. The bucket masses only pick a threshold (any gives
  // the same result).
  let lastX = NaN;
  let e = 0;
  let runStart = 0;
  for (let v = 0; v < n; v++) {
    const x = data[offset + v];
    if (x !== lastX) {
      bucketMass[bucketOf(e)] += e * (v - runStart);
      sum += e * (v - runStart);
      runStart = v;
      e = Math.exp(x - max);
      lastX = x;
    }
    probs[v] = e;
  }
  bucketMass[bucketOf(e)] += e * (n - runStart);
  sum += e * (n - runStart);
  if (Number.isNaN(sum)) return { above: nucleusBySort(probs, sum, NaN, topP).ids, last: NaN, atCount: 0, probs, sum };
  // Only candidates within exp(-30) of the max can matter for any topP < 1 - 1e-13.
  const lowest = topP >= 1 ? -Infinity : sum * 1e-13;
  // The mass is summed in descending order of probability (ties in any order: only values
  // count), like a full sort. Every candidate at or above a threshold is a prefix of that order,
  // so ordering just the prefix whose mass (per bucket, a little over topP for rounding) reaches
  // topP gives the same cut; should rounding still fall short, all candidates are ordered.
  let threshold = lowest;
  let approx = 0;
  for (let b = 0; b < BUCKETS - 1; b++) {
    approx += bucketMass[b];
    if (approx >= topP * sum * (1 + 1e-9)) {
      threshold = Math.max(2 ** -b, lowest);
      break;
    }
  }
  let cut = massCut(probs, sum, topP, threshold);
  if (!cut.reached && threshold !== lowest) cut = massCut(probs, sum, topP, lowest);
  const { m, last, sorted, candidates } = cut;
  const above = orderAbove(probs, last, sorted, candidates);
  return { above, last, atCount: m - above.length, probs, sum };
}

/**
 * The ids whose probability exceeds `last`, probability descending then id ascending. Each gets
 * the key (values above it) * n + id, exact in a double, so a typed-array sort orders them
 * without a comparator. `candidates` holds every such id, and `sorted` (ascending) their
 * probabilities.
 */
function orderAbove(probs: Float64Array, last: number, sorted: Float64Array, candidates: Int32Array): number[] {
  const n = probs.length;
  const c = sorted.length;
  const keys = scratch.keys;
  let count = 0;
  for (const v of candidates) {
    const p = probs[v];
    if (!(p > last)) continue;
    let lo = 0;
    let hi = c;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid] <= p) lo = mid + 1;
      else hi = mid;
    }
    keys[count++] = (c - lo) * n + v;
  }
  const ordered = keys.subarray(0, count).sort();
  const above = new Array<number>(count);
  for (let i = 0; i < count; i++) above[i] = ordered[i] % n;
  return above;
}

/**
 * How many of the probabilities at or above `threshold`, taken largest first, reach `topP` of
 * `sum` (all of them when they do not: `reached` false), and the last one taken. The values are
 * sorted with a typed-array sort, except a run equal to their minimum (the tail of a densified
 * compact row), which follows the sorted rest without being sorted; `candidates` are the ids of
 * the sorted ones.
 */
function massCut(
  probs: Float64Array,
  sum: number,
  topP: number,
  threshold: number,
): { m: number; last: number; reached: boolean; sorted: Float64Array; candidates: Int32Array } {
  const { values, ids, runIds } = scratch;
  let min = Infinity;
  let atMin = 0;
  let c = 0;
  for (let v = 0; v < probs.length; v++) {
    const p = probs[v];
    if (!(p >= threshold)) continue;
    if (p < min) {
      for (let i = 0; i < atMin; i++) {
        values[c] = min;
        ids[c++] = runIds[i];
      }
      min = p;
      atMin = 0;
    }
    if (p === min) runIds[atMin++] = v;
    else {
      values[c] = p;
      ids[c++] = v;
    }
  }
  const sorted = values.subarray(0, c).sort();
  const candidates = ids.subarray(0, c);
  let mass = 0;
  let m = 0;
  for (let i = c - 1; i >= 0; i--) {
    mass += sorted[i] / sum;
    m++;
    if (mass >= topP) return { m, last: sorted[i], reached: true, sorted, candidates };
  }
  for (let i = 0; i < atMin; i++) {
    mass += min / sum;
    m++;
    if (mass >= topP) return { m, last: min, reached: true, sorted, candidates };
  }
  return { m, last: min, reached: false, sorted, candidates };
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

/** Temperatures below this decode greedily: logits / temperature would leave float32's range. */
export const GREEDY_BELOW_TEMPERATURE = 1e-3;

/** A logit divided by the temperature, rounded to float32 (`temperature` already float32). */
export const tempered = (x: number, temperature: number): number => Math.fround(x / temperature);

/** The temperature a projection divides by, as a float32; 1 where it divides by nothing. */
export const temperatureOf = (opts: ProjectionOptions): number => (opts.kind === 'greedy' ? 1 : Math.fround(opts.temperature ?? 1));

/** Every logit `tempered` into a new float32 array (a plain loop: Float32Array.from with a map function costs more than the step). */
function temperedRows(data: Float32Array, t: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = tempered(data[i], t);
  return out;
}

export function project(logits: BlockLogits, opts: ProjectionOptions): Estimate {
  const { length, vocabSize } = logits;
  const t = temperatureOf(opts);
  const data = t === 1 ? logits.data : temperedRows(logits.data, t);
  const out: number[][] = [];
  const key = opts.kind === 'sample' ? streamKey({ seed: opts.seed, block: opts.block, step: opts.step, stream: NoiseStream.sampling }) : 0;
  for (let p = 0; p < length; p++) {
    const offset = p * vocabSize;
    if (opts.kind === 'greedy') {
      out.push([argmaxRow(data, offset, vocabSize)]);
      continue;
    }
    if (opts.kind === 'multihot') out.push(nucleus(data, offset, vocabSize, opts.topP).ids);
    else out.push([sampleNucleus(data, offset, vocabSize, opts.topP, uniformAt(key, p))]);
  }
  return out;
}
