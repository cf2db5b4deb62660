import { describe, expect, it } from 'vitest';
import { parseBatchFile } from './jsonl';

const line = (id: string, body: object = { model: 'tiny-core', prompt: 'Hi' }) =>
  JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/completions', body });

describe('parseBatchFile', () => {
  it('skips blank lines anywhere, and names a bad line by its line in the file', () => {
    const text = ['', line('a'), '   ', line('b'), '\r', '{not json', line('c', { model: 'tiny-core' }), '', ''].join('\n');
    const parsed = parseBatchFile(text, '/v1/completions');
    expect(parsed.map((l) => [l.index, l.custom_id, l.ok])).toEqual([
      [0, 'a', true],
      [1, 'b', true],
      [2, null, false],
      [3, 'c', false],
    ]);
    expect(parsed[2]).toMatchObject({ code: 'invalid_json', message: 'line 6 is not valid JSON' });
    expect(parsed[3]).toMatchObject({ code: 'invalid_argument' });
    expect((parsed[3] as { message: string }).message).toMatch(/^line 7: body\.prompt/);
  });

  it('refuses progress events in a batch line when the file is read', () => {
    const [parsed] = parseBatchFile(line('p', { model: 'tiny-core', prompt: 'Hi', progress: true }), '/v1/completions');
    expect(parsed).toMatchObject({ ok: false, code: 'invalid_argument' });
    expect((parsed as { message: string }).message).toMatch(/progress events are not part of a batch line/);
  });
});
