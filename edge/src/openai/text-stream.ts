/**
 * Turns the growing token list into text deltas. Text is decoded from all tokens so far (a token
 * may complete a character started by the previous one) and cut at the first stop sequence.
 */
export class TextAccumulator {
  private tokens: number[] = [];
  private sent = '';
  stopped = false;

  constructor(
    private readonly decode: (ids: number[]) => string,
    private readonly stop: readonly string[],
  ) {}

  /** The new text after adding a block's tokens ('' when nothing new is printable yet). */
  push(tokens: readonly number[]): string {
    if (this.stopped) return '';
    this.tokens.push(...tokens);
    let text = this.decode(this.tokens);
    const cut = Math.min(...this.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(cut)) {
      text = text.slice(0, cut);
      this.stopped = true;
    }
    // A trailing U+FFFD is half a character: hold it back until the next block.
    if (!this.stopped && text.endsWith('\uFFFD')) text = text.slice(0, -1);
    if (!text.startsWith(this.sent)) return '';
    const delta = text.slice(this.sent.length);
    this.sent = text;
    return delta;
  }

  get text(): string {
    return this.sent;
  }

  get tokenCount(): number {
    return this.tokens.length;
  }
}
