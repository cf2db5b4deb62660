import { sumExpRow } from './mixing';
import type { BlockLogits } from './types';

/**
 * Early stopping (our rule; SSD-2 names the idea but not the rule): a block's loop ends once the
 * argmax tokens of the mixed logits have been identical for `patience` consecutive steps while
 * the model is confident of them (every position's top probability at least `minConfidence`);
 * those tokens are final. patience 0 disables it.
 * Why the confidence gate: at high noise a weak model predicts the unigram distribution, whose
 * argmax ("the" everywhere) is just as stable, so stability alone ends blocks before any text forms.
 */
export class ArgmaxStability {
  private previous: number[] | null = null;
  private unchanged = 0;
  constructor(
    private readonly patience: number,
    private readonly minConfidence = 0,
  ) {}

  /**
   * Feed this step's argmax (and the top-token probability per position of the logits it came
   * from, asked for only when it decides); returns how many positions changed and whether the block
   * is settled.
   */
  observe(tokens: readonly number[], topProbability?: (p: number) => number): { changed: number; settled: boolean } {
    let changed = tokens.length;
    if (this.previous) {
      changed = 0;
      for (let i = 0; i < tokens.length; i++) if (tokens[i] !== this.previous[i]) changed++;
    }
    // The confidence costs a pass over the logits, so it is computed only when it decides (with
    // patience 0 nothing settles, whatever the count).
    const stable =
      this.patience > 0 &&
      this.previous !== null &&
      changed === 0 &&
      (this.minConfidence <= 0 || !topProbability || confident(tokens.length, topProbability, this.minConfidence));
    this.unchanged = stable ? this.unchanged + 1 : 0;
    this.previous = [...tokens];
    return { changed, settled: this.patience > 0 && this.unchanged >= this.patience };
  }
}

/** The softmax probability of position p's top token. */
export function topProbability(logits: BlockLogits, p: number): number {
  const { data, vocabSize } = logits;
  const offset = p * vocabSize;
  let max = -Infinity;
  for (let v = 0; v < vocabSize; v++) if (data[offset + v] > max) max = data[offset + v];
  return 1 / sumExpRow(data, offset, vocabSize, max);
}

/**
 * Whether every position's top token has at least probability `min`. The last positions are asked
 * first: under a staggered schedule they are the noisiest, and the first unsure one decides.
 */
function confident(positions: number, topProbability: (p: number) => number, min: number): boolean {
  for (let p = positions - 1; p >= 0; p--) if (topProbability(p) < min) return false;
  return true;
}
