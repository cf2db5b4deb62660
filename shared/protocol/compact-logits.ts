import { compactBlock, topKLogits, topKOf, type TopKLogits } from '../ssd2/compact';
import type { BlockLogits } from '../ssd2/types';
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

function idWidthFor(vocabSize: number): 2 | 4 {
  return vocabSize <= 0x10000 ? 2 : 4;
}

/** Keeps the top k of each row (k is capped at the vocabulary size). */
export function compactLogits(logits: BlockLogits, k: number): CompactLogits {
  const held = topKOf(logits);
  return encodeTopK(held && held.k === Math.min(k, logits.vocabSize) ? held : topKLogits(logits, k));
}

/**
 * Exactly `densifyLogits(compactLogits(logits, k))` without the base64 in between: what a client
 * sees of a block, for a worker's fused loop (`wireView`). Blocks already in that form pass as they are.
 */
export function roundTripLogits(logits: BlockLogits, k: number): BlockLogits {
  const held = topKOf(logits);
  return held && held.k === Math.min(k, logits.vocabSize) ? logits : compactBlock(topKLogits(logits, k));
}

export type { TopKLogits } from '../ssd2/compact';

export function encodeTopK(t: TopKLogits): CompactLogits {
  const idWidth = idWidthFor(t.vocabSize);
  return {
    length: t.length,
    vocabSize: t.vocabSize,
    k: t.k,
    idWidth,
    ids: encodeUint(t.ids, idWidth),
    values: encodeFloat32(t.values),
    floor: encodeFloat32(t.floors),
  };
}

/** Dense logits from the compact form (materialised on first read); throws RangeError naming what is inconsistent. */
export function densifyLogits(c: CompactLogits): BlockLogits {
  const { length, vocabSize: v, k } = c;
  if (k > v) throw new RangeError(`k ${k} exceeds the vocabulary size ${v}`);
  if (c.idWidth !== idWidthFor(v))
    throw new RangeError(`idWidth ${c.idWidth} does not fit vocabulary size ${v} (expected ${idWidthFor(v)})`);
  const ids = decodeUint(c.ids, length * k, c.idWidth);
  const values = decodeFloat32(c.values, length * k);
  const floors = decodeFloat32(c.floor, length);
  // Wire data names each id once per row: which of two values a scatter keeps is not defined on every device.
  for (let p = 0; p < length; p++) {
    const row = ids.subarray(p * k, (p + 1) * k);
    if (new Set(row).size !== row.length) throw new RangeError(`position ${p} lists a token id more than once`);
  }
  return compactBlock({ length, vocabSize: v, k, ids, values, floors });
}

/** The ids of a compact block, per position (for tests and visualisation). */
export function compactTopIds(c: CompactLogits): number[][] {
  const ids = decodeUint(c.ids, c.length * c.k, c.idWidth);
  return Array.from({ length: c.length }, (_, p) => Array.from(ids.subarray(p * c.k, (p + 1) * c.k)));
}
