/** Per block position, the token ids at +K in the projected estimate (length 1 unless multi-hot). */
export type Estimate = readonly (readonly number[])[];

/** Dense logits for a block: `data[p * vocabSize + v]`, p < length. */
export interface BlockLogits {
  readonly length: number;
  readonly vocabSize: number;
  readonly data: Float32Array;
}

export function blockLogits(data: Float32Array, length: number, vocabSize: number): BlockLogits {
  if (data.length !== length * vocabSize) {
    throw new RangeError(`logits hold ${data.length} values, expected ${length} x ${vocabSize}`);
  }
  return { length, vocabSize, data };
}
