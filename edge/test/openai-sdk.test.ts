import { SELF } from 'cloudflare:test';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { newTenant, uniqueSeed } from './helpers';

let client: OpenAI;
beforeAll(async () => {
  const { key } = await newTenant();
  // The official SDK, unmodified; only its transport is the test Worker's own fetch.
  client = new OpenAI({
    apiKey: key,
    baseURL: 'https://edge.test/v1',
    fetch: (url, init) => SELF.fetch(url as string, init as RequestInit),
    maxRetries: 0,
  });
});

describe('the official openai SDK', () => {
  it('creates a completion, with SSD-2 extension fields passed through', async () => {
    const seed = uniqueSeed();
    const r = await client.completions.create({
      model: 'tiny-core',
      prompt: 'The cat',
      max_tokens: 20,
      seed,
      steps: 8,
    } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(r.choices[0].text.length).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBe(20);
  });

  it('streams a completion and the chunks join to the non-streamed text', async () => {
    const params = { model: 'tiny-core', prompt: 'The cat', max_tokens: 40, seed: uniqueSeed(), steps: 8 } as const;
    const whole = await client.completions.create(params);
    let joined = '';
    let finish: string | null = null;
    for await (const chunk of await client.completions.create({ ...params, stream: true })) {
      joined += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(joined).toBe(whole.choices[0].text);
    expect(finish).toBe('length');
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'tiny-core',
      messages: [{ role: 'user', content: 'Name a bird.' }],
      max_tokens: 30,
      stream: true,
      seed: uniqueSeed(),
    });
    const deltas: string[] = [];
    for await (const chunk of stream) deltas.push(chunk.choices[0]?.delta?.content ?? '');
    expect(deltas.join('').length).toBeGreaterThan(0);
  });

  it('lists models and surfaces API errors as typed exceptions', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['core', 'tiny-core']);
    const err = await client.completions.create({ model: 'nope', prompt: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.code).toBe('model_not_found');
    const bad = await client.completions.create({ model: 'tiny-core', prompt: 'x', n: 9 }).catch((e) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect(bad.param).toBe('n');
  });

  it('refuses function calling with a typed error naming tools, and stops a stream at a stop sequence', async () => {
    const tools = await client.chat.completions
      .create({
        model: 'tiny-core',
        messages: [{ role: 'user', content: 'Hi' }],
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }],
      })
      .catch((e) => e);
    expect(tools).toBeInstanceOf(OpenAI.BadRequestError);
    expect(tools.param).toBe('tools');

    const seed = uniqueSeed();
    const request = {
      model: 'tiny-core',
      prompt: 'The cat',
      max_tokens: 60,
      seed,
      steps: 8,
      early_stop: 0,
    } as OpenAI.CompletionCreateParamsNonStreaming;
    const full = await client.completions.create(request);
    const text = full.choices[0].text;
    const stop = text.slice(text.length - 3);
    const stopped = await client.completions.create({ ...request, stop, stream: true });
    let joined = '';
    let finish: string | null = null;
    for await (const chunk of stopped) {
      joined += chunk.choices[0]?.text ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(joined).toBe(text.slice(0, text.indexOf(stop)));
    expect(finish).toBe('stop');
  });
});
