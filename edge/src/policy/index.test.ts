import { describe, expect, it } from 'vitest';
import { api, newTenant, stubLog, uniqueSeed } from '../../test/helpers';
import { codecOf } from '../../test/codec';
import { findViolation } from './policy';

const prompt = 'The cat sat on the mat';

describe('prompt policy', () => {
  it('finds the first rule a prompt breaks, cheapest first', () => {
    const tokens = [5, 6, 7];
    expect(findViolation({}, { text: prompt, tokens })).toBeNull();
    expect(findViolation({ max_prompt_tokens: 2, blocked_terms: ['cat'] }, { text: prompt, tokens })).toEqual({
      type: 'max_prompt_tokens',
      limit: 2,
      tokens: 3,
    });
    expect(findViolation({ blocked_token_ids: [9, 7] }, { text: prompt, tokens })).toEqual({ type: 'blocked_token_id', token_id: 7 });
    expect(findViolation({ blocked_terms: ['dog', 'CAT'] }, { text: prompt, tokens })).toEqual({ type: 'blocked_term', term: 'CAT' });
    expect(findViolation({ blocked_patterns: ['m[a-z]t$'] }, { text: prompt, tokens })).toEqual({
      type: 'blocked_pattern',
      pattern: 'm[a-z]t$',
    });
    expect(findViolation({ blocked_terms: ['dog'], blocked_patterns: ['^x'] }, { text: prompt, tokens })).toBeNull();
  });

  it.each([
    [{ max_prompt_tokens: 3 }, 'max_prompt_tokens'],
    [{ blocked_terms: ['mat'] }, 'blocked_term'],
    [{ blocked_patterns: ['c.t\\s+sat'] }, 'blocked_pattern'],
    [{ blocked_token_ids: [codecOf().encode(prompt)[1]] }, 'blocked_token_id'],
  ])('answers 400 prompt_blocked with the rule (%j) and sends nothing to a GPU worker', async (policy, type) => {
    const { key } = await newTenant({ policy });
    const seed = uniqueSeed();
    const res = await api('/v1/completions', key, { model: 'tiny-core', prompt, seed, max_tokens: 5 });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'prompt_blocked', param: 'prompt', rule: { type } });
    expect(await stubLog(seed)).toEqual([]);
  });

  it('checks chat prompts as the core model would see them', async () => {
    const { key } = await newTenant({ policy: { blocked_patterns: ['^Instruction: secret'] } });
    const res = await api('/v1/chat/completions', key, { model: 'tiny-core', messages: [{ role: 'user', content: 'secret plans' }] });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'prompt_blocked', param: 'messages' });
  });

  it('lets an allowed prompt through', async () => {
    const { key } = await newTenant({ policy: { blocked_terms: ['dog'], max_prompt_tokens: 100 } });
    expect((await api('/v1/completions', key, { model: 'tiny-core', prompt, max_tokens: 5, steps: 5 })).status).toBe(200);
  });
});
