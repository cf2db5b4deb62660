import { describe, expect, it } from 'vitest';
import { NUCLEUS_CANDIDATES, nucleus, nucleusBySort, project } from '../../shared/ssd2/projection';
import { NoiseStream, streamKey, uniformAt } from '../../shared/ssd2/noise';
import { compactLogits, densifyLogits } from '../../shared/protocol';
import { blockLogits, sumExpRow } from '../../shared/ssd2';

/**
 * The full-sort nucleus (softmax here, the sort in nucleusBySort) kept to its first
 * NUCLEUS_CANDIDATES ids: the fast path must give exactly its ids and probabilities.
 */
function reference(data: Float32Array, offset: number, n: number, topP: number) {
  let max = -Infinity;
  for (let v = 0; v < n; v++) max = Math.max(max, data[offset + v]);
  const probs = new Float64Array(n);
  for (let v = 0; v < n; v++) probs[v] = Math.exp(data[offset + v] - max);
  // The normaliser is the softmax's: one term per run of equal logits, in id order.
  const sum = sumExpRow(data, offset, n, max);
  const full = nucleusBySort(probs, sum, sum * 1e-13, topP);
  return { ids: full.ids.slice(0, NUCLEUS_CANDIDATES), probs: full.probs.slice(0, NUCLEUS_CANDIDATES) };
}

function rows(seed: number, length: number, vocab: number, scale: number, levels = 0) {
  let s = seed;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  // levels > 0 quantises the logits, so many ids tie.
  return Float32Array.from({ length: length * vocab }, () => (levels ? Math.floor(rand() * levels) / levels : rand() - 0.5) * scale);
}

describe('nucleus (top-p) ordering', () => {
  it('gives exactly the ids and probabilities of a full sort: random, tied, densified-compact and extreme rows', () => {
    const v = 513;
    const cases: Float32Array[] = [rows(1, 6, v, 4), rows(2, 6, v, 40), rows(3, 6, v, 8, 7), rows(4, 6, v, 0.001)];
    cases.push(densifyLogits(compactLogits(blockLogits(rows(5, 6, v, 12), 6, v), 32)).data);
    const extreme = rows(6, 2, v, 10);
    extreme[3] = -Infinity;
    extreme[v + 9] = 80;
    cases.push(extreme);
    let checked = 0;
    for (const data of cases) {
      for (let p = 0; p < data.length / v; p++) {
        for (const topP of [1e-6, 0.5, 0.9, 0.95, 0.999, 1]) {
          expect(nucleus(data, p * v, v, topP)).toEqual(reference(data, p * v, v, topP));
          checked++;
        }
      }
    }
    expect(checked).toBe(6 * 6 * 5 + 2 * 6);
  });

  it('keeps the reference order for a row holding NaN', () => {
    const data = rows(7, 1, 50, 5);
    data[4] = NaN;
    expect(nucleus(data, 0, 50, 0.9)).toEqual(reference(data, 0, 50, 0.9));
  });

  it('at vocabulary 4096, raw and densified rows, sharp to near-uniform: the same nucleus and the same sampled ids', () => {
    const v = 4096;
    const length = 3;
    for (const scale of [0.3, 3, 40]) {
      const raw = rows(10 + scale, length, v, scale);
      for (const data of [raw, densifyLogits(compactLogits(blockLogits(raw, length, v), 32)).data]) {
        for (const topP of [1e-6, 0.5, 0.95, 0.999, 1]) {
          const sampled = project(blockLogits(data, length, v), { kind: 'sample', topP, seed: 5, block: 1, step: 2 });
          const key = streamKey({ seed: 5, block: 1, step: 2, stream: NoiseStream.sampling });
          for (let p = 0; p < length; p++) {
            const expected = reference(data, p * v, v, topP);
            expect(nucleus(data, p * v, v, topP)).toEqual(expected);
            // The walk sampling did over the built list (before it walked the cut without building it).
            const total = expected.probs.reduce((a, b) => a + b, 0);
            let u = uniformAt(key, p) * total;
            let chosen = expected.ids[expected.ids.length - 1];
            for (let i = 0; i < expected.ids.length; i++) {
              u -= expected.probs[i];
              if (u <= 0) {
                chosen = expected.ids[i];
                break;
              }
            }
            expect(sampled[p]).toEqual([chosen]);
          }
        }
      }
    }
  });
});
