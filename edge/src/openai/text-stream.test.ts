import { describe, expect, it } from 'vitest';
import type { BlockEvent, DoneEvent } from '../../../shared/protocol';
import { TextAccumulator } from '../../../shared/tokenizer/text-accumulator';
import { withText } from './text-stream';

/** Token i decodes to PIECES[i]; a block is a list of pieces. */
const PIECES = ['The', ' bun', 'k', ' by', ' cigar', 'ny', '\uFFFD', '\u00e9', '  ', ' Hi', '.'];
const ids = (pieces: string[]) => pieces.map((p) => PIECES.indexOf(p));
// U+FFFD then é stands for a character whose bytes span two tokens: decoded together they are é.
const decode = (tokens: number[]) =>
  tokens
    .map((t) => PIECES[t])
    .join('')
    .replace('\uFFFD\u00e9', '\u00e9');

describe('withText', () => {
  async function* source(blocks: string[][]): AsyncGenerator<BlockEvent | DoneEvent> {
    let block = 0;
    for (const b of blocks) yield { type: 'block', block: block++, tokens: ids(b), stepsRun: 4, stepsSaved: 1 };
    yield { type: 'done', tokens: blocks.flatMap(ids), finishReason: 'length', blocks: blocks.length, stepsRun: 8, stepsSaved: 2 };
  }

  it('puts the held-back text on the done event when no stop sequence ends the generation', async () => {
    const events = [];
    for await (const e of withText(source([['The'], [' bun']]), new TextAccumulator(decode, [' bunk']))) events.push(e);
    expect(events.map((e) => [e.type, 'delta' in e ? e.delta : null])).toEqual([
      ['block', 'The'],
      ['block', ''],
      ['done', ' bun'],
    ]);
  });

  it('ends with a stop done event and no held-back text at a stop sequence', async () => {
    const events = [];
    for await (const e of withText(source([['The'], [' bun', 'k'], ['.']]), new TextAccumulator(decode, [' bunk']))) events.push(e);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop', delta: '', blocks: 2, stepsRun: 8 });
    expect(events).toHaveLength(3);
  });
});
