import { blockLogits, type BlockLogits } from './types';

/**
 * Compact logits: per position the k largest logits and one floor for every other token (the
 * log-mean-exp of the omitted logits, so softmax keeps the tail's mass). This is what the wire
 * carries and what a runtime computes next to the model; `compactBlock` makes it a BlockLogits.
 */
/** The top k of each row as typed arrays: what the wire form encodes. */
export interface TopKLogits {
  readonly length: number;
  readonly vocabSize: number;
  readonly k: number;
  /** length * k ids, position-major, largest value first (ties: lower id first). */
  readonly ids: Uint32Array;
  /** length * k values (float32, as on the wire). */
  readonly values: Float32Array;
  /** length floors (float32, as on the wire). */
  readonly floors: Float32Array;
}

/** The compact form each compact block was made from. */
const held = new WeakMap<BlockLogits, TopKLogits>();

/**
 * A BlockLogits backed by top-k arrays: `data` (the dense rows, floor everywhere but the k ids) is
 * materialised on first read, so code that only needs the compact form never touches B x V values.
 */
export function compactBlock(t: TopKLogits): BlockLogits {
  const { length, vocabSize: v, k, ids } = t;
  if (k > v) throw new RangeError(`k ${k} exceeds the vocabulary size ${v}`);
  if (ids.length !== length * k || t.values.length !== length * k || t.floors.length !== length)
    throw new RangeError(
      `compact logits of ${length} x ${k} hold ${ids.length} ids, ${t.values.length} values and ${t.floors.length} floors`,
    );
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] >= v) throw new RangeError(`token id ${ids[i]} at position ${Math.floor(i / k)} is outside the vocabulary [0, ${v})`);
  }
  let dense: Float32Array | null = null;
  const block: BlockLogits = {
    length,
    vocabSize: v,
    get data() {
      dense ??= densifyTopK(t).data;
      return dense;
    },
  };
  held.set(block, t);
  return block;
}

/** The compact form a block was made from (undefined for dense blocks). */
export function topKOf(logits: BlockLogits): TopKLogits | undefined {
  return held.get(logits);
}

export function topKLogits(logits: BlockLogits, k: number): TopKLogits {
  const { length, vocabSize: v, data } = logits;
  const kk = Math.min(k, v);
  const ids = new Uint32Array(length * kk);
  const values = new Float32Array(length * kk);
  const floors = new Float32Array(length);
  const topIds = new Int32Array(kk);
  const topVals = new Float64Array(kk);
  const taken = new Uint8Array(v);
  for (let p = 0; p < length; p++) {
    const o = p * v;
    let n = 0;
    for (let id = 0; id < v; id++) {
      const x = data[o + id];
      if (n === kk && !(x > topVals[kk - 1])) continue;
      // Insertion into a short sorted list; strict > keeps the lower id first among ties.
      let j = n < kk ? n++ : kk - 1;
      while (j > 0 && x > topVals[j - 1]) {
        topVals[j] = topVals[j - 1];
        topIds[j] = topIds[j - 1];
        j--;
      }
      topVals[j] = x;
      topIds[j] = id;
    }
    for (let j = 0; j < kk; j++) {
      ids[p * kk + j] = topIds[j];
      values[p * kk + j] = topVals[j];
      taken[topIds[j]] = 1;
    }
    floors[p] = logMeanExpOfRest(data, o, v, taken);
    for (let j = 0; j < kk; j++) taken[topIds[j]] = 0;
  }
  return { length, vocabSize: v, k: kk, ids, values, floors };
}

/** log(mean(exp(x))) over the untaken entries; written so a row of equal values returns that value exactly. */
function logMeanExpOfRest(data: Float32Array, o: number, v: number, taken: Uint8Array): number {
  let max = -Infinity;
  let count = 0;
  for (let id = 0; id < v; id++) {
    if (taken[id]) continue;
    count++;
    if (data[o + id] > max) max = data[o + id];
  }
  if (count === 0 || max === -Infinity) return -Infinity;
  let sum = 0;
  for (let id = 0; id < v; id++) if (!taken[id]) sum += Math.exp(data[o + id] - max);
  return max + (Math.log(sum) - Math.log(count));
}

/** Dense logits from top-k arrays (ids must be < vocabSize). */
function densifyTopK(t: TopKLogits): BlockLogits {
  const { length, vocabSize: v, k, ids, values, floors } = t;
  const data = new Float32Array(length * v);
  for (let p = 0; p < length; p++) {
    data.fill(floors[p], p * v, (p + 1) * v);
    for (let j = 0; j < k; j++) {
      const id = ids[p * k + j];
      if (id >= v) throw new RangeError(`token id ${id} at position ${p} is outside the vocabulary [0, ${v})`);
      data[p * v + id] = values[p * k + j];
    }
  }
  return blockLogits(data, length, v);
}
