import { describe, expect, it } from 'vitest';
import { TextAccumulator } from '../../shared/tokenizer/text-accumulator';

/** Token i decodes to PIECES[i]; a block is a list of pieces. */
const PIECES = ['The', ' bun', 'k', ' by', ' cigar', 'ny', '\uFFFD', '\u00e9', '  ', ' Hi', '.'];
const ids = (pieces: string[]) => pieces.map((p) => PIECES.indexOf(p));
// U+FFFD then é stands for a character whose bytes span two tokens: decoded together they are é.
const decode = (tokens: number[]) =>
  tokens
    .map((t) => PIECES[t])
    .join('')
    .replace('\uFFFD\u00e9', '\u00e9');

function run(blocks: string[][], stop: string[], trimStart = false) {
  const acc = new TextAccumulator(decode, stop, trimStart);
  const deltas = blocks.map((b) => acc.push(ids(b)));
  return { deltas, final: acc.stopped ? '' : acc.finish(), text: acc.text, stopped: acc.stopped };
}

describe('TextAccumulator', () => {
  it('never sends the start of a stop sequence that spans two blocks', () => {
    const r = run(
      [
        ['The', ' bun', 'k'],
        [' by', ' cigar'],
      ],
      ['bunk by'],
    );
    expect(r).toEqual({ deltas: ['The ', ''], final: '', text: 'The ', stopped: true });
  });

  it('sends held-back text with the next block once it is not a stop sequence', () => {
    const r = run(
      [
        ['The', ' bun'],
        ['ny', '.'],
      ],
      ['bunk by'],
    );
    expect(r.deltas).toEqual(['The ', 'bunny.']);
    expect(r.stopped).toBe(false);
  });

  it('hands over what is held back when the generation ends without a stop', () => {
    const r = run([['The', ' bun']], ['bunk by', 'z']);
    expect(r).toEqual({ deltas: ['The '], final: 'bun', text: 'The bun', stopped: false });
  });

  it('holds back the longest possible start among several stop sequences', () => {
    expect(run([['The', ' bun', 'k']], ['k by', ' bunk!']).deltas).toEqual(['The']);
  });

  it('holds back a trailing half character until the next block completes it', () => {
    const r = run(
      [
        ['The', '\uFFFD'],
        ['\u00e9', '.'],
      ],
      [],
    );
    expect(r.deltas).toEqual(['The', '\u00e9.']);
    expect(r.text).toBe('The\u00e9.');
  });

  it('drops the whitespace a chat answer starts with, even across blocks', () => {
    expect(run([['  '], [' Hi', '.']], [], true).deltas).toEqual(['', 'Hi.']);
    expect(run([['  '], [' Hi', '.']], []).deltas).toEqual(['  ', ' Hi.']);
  });

  it('sends exactly the final text, block by block', () => {
    const blocks = [['The', ' bun'], ['k', ' by'], ['ny', ' cigar'], ['.']];
    for (const stop of [[], ['bunk by'], ['by ny'], ['cigar.'], ['x']]) {
      const r = run(blocks, stop);
      expect(r.deltas.join('') + r.final, String(stop)).toBe(r.text);
    }
  });
});
