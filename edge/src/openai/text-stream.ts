import type { BlockEvent, DoneEvent } from '../../../shared/protocol';
import type { Delivered } from '../metering/meter';

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

  /** Every token pushed so far. */
  get tokenIds(): readonly number[] {
    return this.tokens;
  }
}

/** A finished block with the text it adds to the answer. */
export type TextBlockEvent = BlockEvent & { delta: string };

/**
 * A generation's events with each block's text (`text` is fed every block, `delivered` counts
 * them). Once a stop sequence appears, a `done` event for the tokens generated so far (finish
 * reason `stop`) ends them, and the source is closed: the generation is cancelled, and the caller
 * gets its answer without waiting for the rest.
 */
export async function* withText<E extends { type: string }>(
  events: AsyncIterable<E>,
  text: TextAccumulator,
  delivered: Delivered = { blocks: 0, tokens: 0, stepsRun: 0, stepsSaved: 0 },
): AsyncGenerator<Exclude<E, BlockEvent> | TextBlockEvent | DoneEvent> {
  for await (const e of events) {
    if (e.type !== 'block') {
      yield e as Exclude<E, BlockEvent>;
      continue;
    }
    const block = e as unknown as BlockEvent;
    delivered.blocks++;
    delivered.tokens += block.tokens.length;
    delivered.stepsRun += block.stepsRun;
    delivered.stepsSaved += block.stepsSaved;
    yield { ...block, delta: text.push(block.tokens) };
    if (text.stopped) {
      const { blocks, stepsRun, stepsSaved } = delivered;
      yield { type: 'done', finishReason: 'stop', tokens: [...text.tokenIds], blocks, stepsRun, stepsSaved };
      return;
    }
  }
}
