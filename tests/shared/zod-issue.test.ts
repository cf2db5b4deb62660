import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { firstIssue } from '../../shared/errors';

const text = (schema: z.ZodType, value: unknown) => {
  const result = schema.safeParse(value);
  if (result.success) throw new Error('expected the value to be refused');
  return firstIssue(result.error);
};

describe('firstIssue', () => {
  const part = z.object({ type: z.literal('text', { error: 'only text parts' }), text: z.string() });
  const content = z.object({ content: z.union([z.string(), z.array(part)]).nullable() });

  it('names the field and its message', () => {
    expect(text(z.object({ n: z.number().max(1, 'only n = 1') }), { n: 2 })).toEqual({
      field: 'n',
      message: 'only n = 1',
      text: 'n: only n = 1',
    });
    expect(text(z.string(), 5).text).toMatch(/^body: /);
  });

  it('reports the union alternative a value came closest to, at its full path', () => {
    expect(text(content, { content: [{ type: 'text', text: 'a' }, { type: 'image_url' }] })).toMatchObject({
      field: 'content.1.type',
      message: 'only text parts',
    });
    expect(
      text(z.object({ a: z.union([z.number(), z.object({ b: z.union([z.number(), z.object({ c: z.string() })]) })]) }), {
        a: { b: { c: 1 } },
      }).field,
    ).toBe('a.b.c');
  });

  it('gives the failed check of an alternative of the right type, or lists the types none of which fit', () => {
    const prompt = z.object({ prompt: z.union([z.string(), z.array(z.string()).length(1, 'one prompt only')]) });
    expect(text(prompt, { prompt: ['a', 'b'] })).toMatchObject({ field: 'prompt', message: 'one prompt only' });
    expect(text(prompt, { prompt: 5 })).toMatchObject({ field: 'prompt', message: 'expected string or array' });
    expect(text(content, { content: 5 })).toMatchObject({ field: 'content', message: 'expected string or array' });
    expect(text(z.object({ width: z.union([z.literal(2), z.literal(4)]) }), { width: 3 })).toMatchObject({
      field: 'width',
      message: 'expected 2 or 4',
    });
  });

  it('prefers the alternative with the fewest issues among equally deep ones, and looks into a union inside a union', () => {
    const tagged = z.union([z.object({ kind: z.literal('x'), a: z.string() }), z.object({ kind: z.literal('y'), b: z.string() })]);
    expect(text(z.object({ v: tagged }), { v: { kind: 'y', b: 5 } })).toMatchObject({ field: 'v.b' });
    const nested = z.union([z.number(), z.union([z.string(), z.array(z.string().max(2, 'at most 2 characters'))])]);
    expect(text(z.object({ n: nested }), { n: ['abc'] })).toMatchObject({ field: 'n.0', message: 'at most 2 characters' });
  });
});
