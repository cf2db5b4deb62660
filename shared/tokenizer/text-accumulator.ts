/**
 * Turns the growing token list into text deltas. Text is decoded from all tokens so far (a token
 * may complete a character started by the previous one) and cut at the first stop sequence. Text
 * that may be the start of a stop sequence (a suffix that is a prefix of one) is held back until
 * the next block shows whether it is, as is a trailing half character; `finish()` hands over what
 * is held when the generation ends without a stop. No delta ever holds any part of a stop sequence.
 */
export class TextAccumulator {
  private tokens: number[] = [];
  /** The answer's text so far (cut at a stop sequence, a trailing half character dropped). */
  private full = '';
  private sent = '';
  stopped = false;

  constructor(
    private readonly decode: (ids: number[]) => string,
    private readonly stop: readonly string[],
    /** Drop the whitespace the answer starts with (a chat reply: the template's separator is not content). */
    private readonly trimStart = false,
  ) {}

  /** The new text that can be sent after adding a block's tokens ('' when nothing new is certain yet). */
  push(tokens: readonly number[]): string {
    if (this.stopped) return '';
    this.tokens.push(...tokens);
    let text = this.decode(this.tokens);
    if (this.trimStart) text = text.trimStart();
    const cut = Math.min(...this.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0));
    if (Number.isFinite(cut)) {
      text = text.slice(0, cut);
      this.stopped = true;
    }
    // A trailing U+FFFD is part of a character: hold it back until the next block.
    if (!this.stopped) text = text.replace(/\uFFFD{1,3}$/, '');
    this.full = text;
    return this.take(this.stopped ? text.length : text.length - this.stopPrefixLength(text));
  }

  /** What is still held back once the generation has ended (without a stop sequence). */
  finish(): string {
    return this.take(this.full.length);
  }

  /** The delta from what was sent to `full` up to `end` ('' when the decoded text no longer extends it). */
  private take(end: number): string {
    const upTo = this.full.slice(0, end);
    if (upTo.length <= this.sent.length || !upTo.startsWith(this.sent)) return '';
    const delta = upTo.slice(this.sent.length);
    this.sent = upTo;
    return delta;
  }

  /** The length of the longest suffix of `text` that a stop sequence starts with. */
  private stopPrefixLength(text: string): number {
    let longest = 0;
    for (const s of this.stop)
      for (let n = Math.min(s.length - 1, text.length); n > longest; n--)
        if (text.endsWith(s.slice(0, n))) {
          longest = n;
          break;
        }
    return longest;
  }

  /** The whole answer so far, held-back text included. */
  get text(): string {
    return this.full;
  }

  get tokenCount(): number {
    return this.tokens.length;
  }

  /** Every token pushed so far. */
  get tokenIds(): readonly number[] {
    return this.tokens;
  }
}
