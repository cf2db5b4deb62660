import { blockLogits, type BlockLogits } from '../ssd2/types';
import { decodeFloat32, decodeUint, encodeFloat32, encodeUint } from './base64';

/**
 * Block logits on the wire: per position the k largest logits (ids + values, largest first, ties
 * by lower id) and one floor value standing for every other token. The floor is the log-mean-exp
 * of the omitted logits, so softmax keeps the tail's total probability mass: self-conditioning
 * (which averages softmaxes) and λ-mixing (log-softmax) see the right normaliser.
 * Arrays are base64 of little-endian uint16/uint32 ids and float32 values.
 */
export interface CompactLogits {
  readonly length: number;
  readonly vocabSize: number;
  readonly k: number;
  /** Bytes per id: 2 while the vocabulary fits in uint16, else 4. */
  readonly idWidth: 2 | 4;
  /** length * k ids, position-major. */
  readonly ids: string;
  /** length * k float32 values, aligned with ids. */
  readonly values: string;
  /** length float32 floors. */
  readonly floor: string;
}

export function idWidthFor(vocabSize: number): 2 | 4 {
  return vocabSize <= 0x10000 ? 2 : 4;
}

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

/** Keeps the top k of each row (k is capped at the vocabulary size). */
export function compactLogits(logits: BlockLogits, k: number): CompactLogits {
  return encodeTopK(topKLogits(logits, k));
}

export function encodeTopK(t: TopKLogits): CompactLogits {
  const idWidth = idWidthFor(t.vocabSize);
  return { length: t.length, vocabSize: t.vocabSize, k: t.k, idWidth, ids: encodeUint(t.ids, idWidth), values: encodeFloat32(t.values), floor: encodeFloat32(t.floors) };
}

/**
 * Exactly `densifyLogits(compactLogits(logits, k))` without the base64 in between: what a client
 * sees of a block, for a worker's fused loop (`wireView`).
 */
export function roundTripLogits(logits: BlockLogits, k: number): BlockLogits {
  return densifyTopK(topKLogits(logits, k));
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
export function densifyTopK(t: TopKLogits): BlockLogits {
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

/** Dense logits from the compact form; throws RangeError naming what is inconsistent. */
export function densifyLogits(c: CompactLogits): BlockLogits {
  const { length, vocabSize: v, k } = c;
  if (k > v) throw new RangeError(`k ${k} exceeds the vocabulary size ${v}`);
  if (c.idWidth !== idWidthFor(v)) throw new RangeError(`idWidth ${c.idWidth} does not fit vocabulary size ${v} (expected ${idWidthFor(v)})`);
  const ids = decodeUint(c.ids, length * k, c.idWidth);
  const values = decodeFloat32(c.values, length * k);
  const floors = decodeFloat32(c.floor, length);
  return densifyTopK({ length, vocabSize: v, k, ids, values, floors });
}

/** The ids of a compact block, per position (for tests and visualisation). */
export function compactTopIds(c: CompactLogits): number[][] {
  const ids = decodeUint(c.ids, c.length * c.k, c.idWidth);
  return Array.from({ length: c.length }, (_, p) => Array.from(ids.subarray(p * c.k, (p + 1) * c.k)));
}
