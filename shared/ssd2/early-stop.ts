/**
 * Early stopping (our rule; SSD-2 names the idea but not the rule): a block's loop ends once the
 * argmax tokens of the mixed logits have been identical for `patience` consecutive steps; those
 * tokens are final. patience 0 disables it.
 */
export class ArgmaxStability {
  private previous: number[] | null = null;
  private unchanged = 0;
  constructor(private readonly patience: number) {}

  /** Feed this step's argmax; returns how many positions changed and whether the block is settled. */
  observe(tokens: readonly number[]): { changed: number; settled: boolean } {
    let changed = tokens.length;
    if (this.previous) {
      changed = 0;
      for (let i = 0; i < tokens.length; i++) if (tokens[i] !== this.previous[i]) changed++;
    }
    this.unchanged = this.previous && changed === 0 ? this.unchanged + 1 : 0;
    this.previous = [...tokens];
    return { changed, settled: this.patience > 0 && this.unchanged >= this.patience };
  }
}
