import { describe, expect, it } from 'vitest';
import type { BlockEvent, DoneEvent } from '../../../shared/protocol';
import { TextAccumulator } from '../../../shared/tokenizer/text-accumulator';
import { withText } from './text-stream';

// A token is one character (its code): a block is a string.
const ids = (text: string) => [...text].map((ch) => ch.charCodeAt(0));
const decode = (tokens: number[]) => String.fromCharCode(...tokens);

describe('withText', () => {
  async function* source(blocks: string[]): AsyncGenerator<BlockEvent | DoneEvent> {
    let block = 0;
    for (const b of blocks) yield { type: 'block', block: block++, tokens: ids(b), stepsRun: 4, stepsSaved: 1 };
    yield { type: 'done', tokens: blocks.flatMap(ids), finishReason: 'length', blocks: blocks.length, stepsRun: 8, stepsSaved: 2 };
  }

  it('puts the held-back text on the done event when no stop sequence ends the generation', async () => {
    const events = [];
    for await (const e of withText(source(['The', ' bun']), new TextAccumulator(decode, [' bunk']))) events.push(e);
    expect(events.map((e) => [e.type, 'delta' in e ? e.delta : null])).toEqual([
      ['block', 'The'],
      ['block', ''],
      ['done', ' bun'],
    ]);
  });

  it('ends with a stop done event and no held-back text at a stop sequence', async () => {
    const events = [];
    for await (const e of withText(source(['The', ' bunk', '.']), new TextAccumulator(decode, [' bunk']))) events.push(e);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop', delta: '', blocks: 2, stepsRun: 8 });
    expect(events).toHaveLength(3);
  });
});
