import { describe, expect, it } from 'vitest';
import { distinctN, shuffleWords, tokenF1, TrigramModel } from '../../bench/eval/metrics';

describe('evaluation metrics', () => {
  it('token F1 follows the SQuAD definition', () => {
    expect(tokenF1('The cat sat.', 'a cat sat')).toBe(1);
    expect(tokenF1('cat', 'cat sat')).toBeCloseTo(2 / 3);
    expect(tokenF1('dog', 'cat')).toBe(0);
    expect(tokenF1('', '')).toBe(1);
  });

  it('distinct-2 counts unique bigrams', () => {
    expect(distinctN(['a b a b'])).toBeCloseTo(2 / 3);
    expect(distinctN(['a b c d'])).toBe(1);
  });

  it('the trigram model prefers text like its training text over shuffled words', () => {
    const train = Array.from({ length: 50 }, (_, i) => `the cat sat on the mat number ${i % 5} and the dog ran to the park`);
    const m = new TrigramModel(train);
    const heldOut = ['the cat sat on the mat number 3 and the dog ran to the park'];
    expect(m.perplexity(heldOut)).toBeLessThan(m.perplexity(shuffleWords(heldOut, 7)) / 3);
    let sum = 0;
    for (const w of ['the', 'cat', 'sat', 'on', 'mat', 'number', 'and', 'dog', 'ran', 'to', 'park', '0', '1', '2', '3', '4', '</s>'])
      sum += m.probability('on', 'the', w);
    expect(sum).toBeLessThanOrEqual(1 + 1e-9); // a distribution over the vocabulary (plus the unknown-word floor)
  });

  it('shuffling keeps the words', () => {
    const [s] = shuffleWords(['a b c d e'], 3);
    expect(s.split(' ').sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
