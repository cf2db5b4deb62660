import type { BlockEvent, DoneEvent } from '../../../shared/protocol';
import type { Delivered } from '../metering/meter';
import type { TextAccumulator } from '../../../shared/tokenizer/text-accumulator';

/** A finished block with the text it adds to the answer. */
export type TextBlockEvent = BlockEvent & { delta: string };
/** The end of a generation with the text held back until then ('' after a stop sequence). */
export type TextDoneEvent = DoneEvent & { delta: string };

/**
 * A generation's events with each block's text (`text` is fed every block, `delivered` counts
 * them). Once a stop sequence appears, a `done` event for the tokens generated so far (finish
 * reason `stop`) ends them, and the source is closed: the generation is cancelled, and the caller
 * gets its answer without waiting for the rest. A `done` event carries the text held back as a
 * possible start of a stop sequence.
 */
export async function* withText<E extends { type: string }>(
  events: AsyncIterable<E>,
  text: TextAccumulator,
  delivered: Delivered = { blocks: 0, tokens: 0, stepsRun: 0, stepsSaved: 0 },
): AsyncGenerator<Exclude<E, BlockEvent | DoneEvent> | TextBlockEvent | TextDoneEvent> {
  for await (const e of events) {
    if (e.type === 'done') {
      yield { ...(e as unknown as DoneEvent), delta: text.finish() };
      continue;
    }
    if (e.type !== 'block') {
      yield e as Exclude<E, BlockEvent | DoneEvent>;
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
      yield { type: 'done', finishReason: 'stop', tokens: [...text.tokenIds], blocks, stepsRun, stepsSaved, delta: '' };
      return;
    }
  }
}
