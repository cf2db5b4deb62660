import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { api, newTenant, sseEvents, stubLog, uniqueSeed } from '../../../test/helpers';
import coreManifest from '../../../../models/core/manifest.json';
import tinyCoreManifest from '../../../../models/tiny-core/manifest.json';

let key: string;
beforeAll(async () => {
  ({ key } = await newTenant());
});

const base = { model: 'tiny-core', prompt: 'The cat sat on the', max_tokens: 30, steps: 12 };

describe('POST /v1/completions', () => {
  it(
    "takes two steps per token of the model's block (at least 10) when the request names none, and asks the worker for that " + 'many',
    async () => {
      for (const [blockSize, expected] of [
        [undefined, Math.max(10, 2 * tinyCoreManifest.block_size)],
        [3, 10],
        [8, 16],
      ] as const) {
        const seed = uniqueSeed();
        const { steps: _omitted, ...noSteps } = base;
        const res = await api('/v1/completions', key, { ...noSteps, seed, early_stop: 0, ...(blockSize ? { block_size: blockSize } : {}) });
        expect(res.status).toBe(200);
        const body = (await res.json()) as any;
        const [generate] = (await stubLog(seed)).filter((r) => r.path === '/v1/generate');
        expect(generate.body.options.steps).toBe(expected);
        expect(body.ssd2.steps_run).toBe(expected * body.ssd2.blocks);
      }
    },
  );

  it('passes early_stop_confidence and commit_confidence to the worker, with the engine defaults when absent', async () => {
    for (const [extra, expected] of [
      [
        { early_stop_confidence: 0.3, commit_confidence: 0.7 },
        { earlyStopConfidence: 0.3, commitConfidence: 0.7 },
      ],
      [{}, { earlyStopConfidence: 0.5, commitConfidence: 0.9 }],
    ] as const) {
      const seed = uniqueSeed();
      const res = await api('/v1/completions', key, { ...base, seed, ...extra });
      expect(res.status).toBe(200);
      const [generate] = (await stubLog(seed)).filter((r) => r.path === '/v1/generate');
      expect(generate.body.options).toMatchObject(expected);
    }
  });

  it('passes temperature to the worker, 1 when absent', async () => {
    for (const [extra, temperature] of [
      [{ temperature: 0 }, 0],
      [{ temperature: 0.7 }, 0.7],
      [{}, 1],
    ] as const) {
      const seed = uniqueSeed();
      expect((await api('/v1/completions', key, { ...base, seed, ...extra })).status).toBe(200);
      const [generate] = (await stubLog(seed)).filter((r) => r.path === '/v1/generate');
      expect(generate.body.options.temperature).toBe(temperature);
    }
  });

  it('ends the generation at a stop sequence: the text before it, finish_reason stop, only the blocks generated so far', async () => {
    const seed = uniqueSeed();
    const request = { ...base, seed, early_stop: 0 };
    // Blocks of 25: 30 tokens are two blocks. The stop sequence comes from the first block's text.
    const full = (await sseEvents(await api('/v1/completions', key, { ...request, stream: true }))) as any[];
    const firstBlock: string = full[0].choices[0].text;
    // Three characters that first occur at least four characters in.
    const at = Array.from({ length: firstBlock.length - 6 }, (_, i) => i + 4).find(
      (i) => firstBlock.indexOf(firstBlock.slice(i, i + 3)) === i,
    );
    expect(at, JSON.stringify(firstBlock)).toBeDefined();
    const stop = firstBlock.slice(at, at! + 3);
    const before = firstBlock.slice(0, at);

    const res = await api('/v1/completions', key, { ...request, stop });
    const body = (await res.json()) as any;
    expect(body.choices[0]).toMatchObject({ text: before, finish_reason: 'stop' });
    expect(body.usage.completion_tokens).toBe(25);
    // The generation ended as done, not cancelled.
    const status = (await (await api(`/v1/generations/${res.headers.get('x-ssd2-generation-id')}`, key)).json()) as any;
    expect(status).toMatchObject({ phase: 'done', blocks_done: 1 });

    const events = (await sseEvents(
      await api('/v1/completions', key, { ...request, stop: [stop], stream: true, stream_options: { include_usage: true } }),
    )) as any[];
    expect(events.map((e) => (e === '[DONE]' ? e : e.choices[0]?.text))).toEqual([before, '', undefined, '[DONE]']);
    expect(events[1].choices[0].finish_reason).toBe('stop');
    expect(events[1].ssd2.blocks).toBe(1);
    expect(events[2].usage.completion_tokens).toBe(25);
  });

  it('answers a text_completion with usage and the SSD-2 extension', async () => {
    const seed = uniqueSeed();
    const res = await api('/v1/completions', key, { ...base, seed });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({
      object: 'text_completion',
      model: 'tiny-core',
      choices: [{ index: 0, finish_reason: 'length', logprobs: null }],
    });
    expect(body.id).toMatch(/^cmpl-[0-9a-f]{64}$/);
    expect(body.choices[0].text.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBe(30);
    expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens + 30);
    expect(body.ssd2).toMatchObject({ seed, mode: 'fused', blocks: 2, finish_reason: 'length' });
    // Fused by default: one /v1/generate request reached a GPU worker.
    expect((await stubLog(seed)).map((r) => r.path)).toEqual(['/v1/generate']);
  });

  it('streams one SSE chunk per finished block, then the finish chunk, usage and [DONE]', async () => {
    const res = await api('/v1/completions', key, { ...base, seed: uniqueSeed(), stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events = (await sseEvents(res)) as any[];
    expect(events.at(-1)).toBe('[DONE]');
    const blocks = events.filter((e) => e.ssd2?.block !== undefined);
    expect(blocks.map((e) => e.ssd2.block)).toEqual([0, 1]);
    expect(blocks.every((e) => e.object === 'text_completion' && e.choices[0].finish_reason === null)).toBe(true);
    expect(events.at(-3)).toMatchObject({ choices: [{ finish_reason: 'length' }], ssd2: { finish_reason: 'length', blocks: 2 } });
    expect(events.at(-2)).toMatchObject({ choices: [], usage: { completion_tokens: 30 } });
  });

  it('is deterministic for a seed, and fused equals per-step', async () => {
    const seed = uniqueSeed();
    const texts = [];
    for (const mode of ['fused', 'per_step', 'fused']) {
      const res = await api('/v1/completions', key, { ...base, seed, mode });
      expect(res.status).toBe(200);
      texts.push(((await res.json()) as any).choices[0].text);
    }
    expect(texts[1]).toBe(texts[0]);
    expect(texts[2]).toBe(texts[0]);
    const log = await stubLog(seed);
    expect(log.filter((r) => r.path === '/v1/step').length).toBeGreaterThan(2);
  });

  it('streams per-step progress events in the ssd2 extension field when asked', async () => {
    const res = await api('/v1/completions', key, {
      ...base,
      seed: uniqueSeed(),
      mode: 'per_step',
      progress: true,
      stream: true,
      early_stop: 0,
    });
    const events = (await sseEvents(res)) as any[];
    const progress = events.filter((e) => e.ssd2?.progress);
    expect(progress.length).toBe(2 * 12); // every step of both blocks (early stopping off)
    expect(progress[0].ssd2.progress).toMatchObject({ block: 0, step: 0, steps: 12 });
    // the current argmax per block position (the playground's denoising view)
    expect(progress[0].ssd2.progress.argmax).toHaveLength(25);
    expect(progress.every((e) => Array.isArray(e.ssd2.progress.argmax) && e.ssd2.progress.argmax.every(Number.isInteger))).toBe(true);
  });

  it.each([
    ['bad JSON', '{"model": "tiny-core", "prompt": ', 400, null, 'invalid_json'],
    ['wrong type', { ...base, max_tokens: 'ten' }, 400, 'max_tokens', 'invalid_argument'],
    ['n above 8', { ...base, n: 9 }, 400, 'n', 'invalid_argument'],
    ['n > 1 with a client model', { ...base, n: 2, client_model: {} }, 400, 'n', 'invalid_argument'],
    ['steps out of range', { ...base, steps: 0 }, 400, 'steps', 'invalid_argument'],
    ['early_stop_confidence above 1', { ...base, early_stop_confidence: 1.5 }, 400, 'early_stop_confidence', 'invalid_argument'],
    ['commit_confidence below 0', { ...base, commit_confidence: -0.1 }, 400, 'commit_confidence', 'invalid_argument'],
    ['negative min_tokens', { ...base, min_tokens: -1 }, 400, 'min_tokens', 'invalid_argument'],
    ['too many steps', { ...base, steps: 100000 }, 400, 'steps', 'invalid_argument'],
    ['block size over the model', { ...base, block_size: 26 }, 400, 'block_size', 'invalid_argument'],
    ['unknown model', { ...base, model: 'gpt-17' }, 404, 'model', 'model_not_found'],
    ['missing prompt', { model: 'tiny-core' }, 400, 'prompt', 'invalid_argument'],
    ['lambda of the wrong length', { ...base, user_model: 'user', lambda: [0.1, 0.2] }, 400, 'lambda', 'invalid_argument'],
    ['private context without a user model', { ...base, private_context: 'secret' }, 400, 'private_context', 'invalid_argument'],
    ['top_p out of range', { ...base, top_p: -0.5 }, 400, 'top_p', 'invalid_argument'],
    ['a token id outside the vocabulary', { ...base, prompt: [1, 513] }, 400, 'prompt', 'invalid_argument'],
    ['stream_options without a stream', { ...base, stream_options: { include_usage: true } }, 400, 'stream_options', 'invalid_argument'],
    ['a client model without its generation', { ...base, client_model: {} }, 400, 'generation_id', 'invalid_argument'],
    ['lambda without a user model', { ...base, lambda: 0.5 }, 400, 'lambda', 'invalid_argument'],
    ['progress in fused mode', { ...base, progress: true }, 400, 'progress', 'invalid_argument'],
    ['temperature above 2', { ...base, temperature: 2.5 }, 400, 'temperature', 'invalid_argument'],
    ['a logit_bias', { ...base, logit_bias: { '5': 10 } }, 400, 'logit_bias', 'invalid_argument'],
    ['two prompts', { ...base, prompt: ['a', 'b'] }, 400, 'prompt', 'invalid_argument'],
    ['logprobs', { ...base, logprobs: 5 }, 400, 'logprobs', 'invalid_argument'],
    ['echo', { ...base, echo: true }, 400, 'echo', 'invalid_argument'],
  ])('answers %s with a 4xx in OpenAI error shape', async (_name, body, status, param, code) => {
    const res = await api('/v1/completions', key, body);
    expect(res.status).toBe(status);
    const json = (await res.json()) as any;
    expect(json.error).toMatchObject({ param, code, type: status === 404 ? 'not_found_error' : 'invalid_request_error' });
    expect(typeof json.error.message).toBe('string');
  });

  it('asks for the JSON content type instead of reporting the fields of a body it did not read', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'application/json-seq']) {
      const res = await api('/v1/completions', key, base, { headers: { 'content-type': type } });
      expect(res.status).toBe(400);
      const { error } = (await res.json()) as any;
      expect(error).toMatchObject({ code: 'invalid_content_type', param: null, type: 'invalid_request_error' });
      expect(error.message).toContain(type);
    }
    const seed = uniqueSeed();
    expect(
      (await api('/v1/completions', key, { ...base, seed }, { headers: { 'content-type': 'Application/JSON; charset=utf-8' } })).status,
    ).toBe(200);
  });

  it("takes the prompt as the model's token ids, alone or as a list of one, as the same prompt as its text", async () => {
    const { codecOf } = await import('../../../test/codec');
    const ids = codecOf().encode(base.prompt);
    const prompts: [string, unknown][] = [
      ['text', base.prompt],
      ['ids', ids],
      ['[ids]', [ids]],
      ['[text]', [base.prompt]],
    ];
    const texts = new Map<string, string>();
    for (const [name, prompt] of prompts) {
      const seed = 4242;
      const res = await api('/v1/completions', key, { ...base, seed, prompt });
      expect(res.status, name).toBe(200);
      texts.set(name, ((await res.json()) as any).choices[0].text);
    }
    expect(new Set(texts.values()).size).toBe(1);
  });

  it('answers n choices: the generations of seeds seed, seed + 1, …, one usage record for all', async () => {
    const { key: own, tenantId } = await newTenant();
    const seed = uniqueSeed();
    const one = async (s: number) =>
      ((await (await api('/v1/completions', own, { ...base, seed: s, max_tokens: 20 })).json()) as any).choices[0].text;
    const res = await api('/v1/completions', own, { ...base, seed, max_tokens: 20, n: 3 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    expect(body.choices.map((ch: any) => ch.index)).toEqual([0, 1, 2]);
    expect(body.choices.map((ch: any) => ch.text)).toEqual([await one(seed), await one(seed + 1), await one(seed + 2)]);
    expect(body.usage.completion_tokens).toBe(60);
    expect(body.ssd2.choices.map((ch: any) => ch.seed)).toEqual([seed, seed + 1, seed + 2]);
    expect(new Set(body.ssd2.choices.map((ch: any) => ch.generation_id)).size).toBe(3);
    const { results } = await env.DB.prepare('SELECT completion_tokens, status FROM usage WHERE tenant_id = ? ORDER BY rowid')
      .bind(tenantId)
      .all<any>();
    expect(results.map((r) => [r.status, r.completion_tokens])).toEqual([
      ['ok', 60],
      ['ok', 20],
      ['ok', 20],
      ['ok', 20],
    ]);
  });

  it('streams n choices: chunks of each choice by its index, a finish chunk for each, one usage chunk', async () => {
    const seed = uniqueSeed();
    const res = await api('/v1/completions', key, { ...base, seed, n: 2, stream: true, stream_options: { include_usage: true } });
    const events = (await sseEvents(res)) as any[];
    expect(events.at(-1)).toBe('[DONE]');
    const usage = events.at(-2);
    expect(usage).toMatchObject({ choices: [], usage: { completion_tokens: 60 } });
    const chunks = events.slice(0, -2);
    const finishes = chunks.filter((e) => e.choices[0].finish_reason !== null);
    expect(finishes.map((e) => e.choices[0].index).sort()).toEqual([0, 1]);
    expect(finishes.filter((e) => e.ssd2.cost_usd !== undefined)).toHaveLength(1); // the call's cost, with its last finish chunk
    const texts = [0, 1].map((i) =>
      chunks
        .filter((e) => e.choices[0].index === i)
        .map((e) => e.choices[0].text)
        .join(''),
    );
    const json = (await (await api('/v1/completions', key, { ...base, seed, n: 2 })).json()) as any;
    expect(texts).toEqual(json.choices.map((ch: any) => ch.text));
  });

  it('decodes top_p 0 greedily: the same text as the greedy projection', async () => {
    const seed = uniqueSeed();
    const run = async (extra: object) =>
      ((await (await api('/v1/completions', key, { ...base, seed, ...extra })).json()) as any).choices[0].text;
    expect(await run({ top_p: 0 })).toBe(await run({ projection: 'greedy' }));
  });

  it('answers a prompt longer than the model context with 400 context_length_exceeded', async () => {
    const res = await api('/v1/completions', key, { ...base, prompt: 'the cat sat '.repeat(200) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error).toMatchObject({ code: 'context_length_exceeded', param: 'prompt' });
  });
});

describe('POST /v1/chat/completions', () => {
  const system = { role: 'system', content: 'Be brief.' };
  const user = { role: 'user', content: 'Name a bird.' };
  it.each([
    ['before', [system, user]],
    ['after', [user, system]],
  ])(
    'sends the instruction template to the core model (a system message %s the user message is context) and answers a chat.completion',
    async (_where, messages) => {
      const seed = uniqueSeed();
      const res = await api('/v1/chat/completions', key, { model: 'tiny-core', seed, max_tokens: 10, steps: 8, messages });
      expect(res.status).toBe(200);
      const body = (await res.json()) as any;
      expect(body).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant' }, finish_reason: 'length' }] });
      expect(body.id).toMatch(/^chatcmpl-/);
      expect(body.choices[0].message.content).not.toMatch(/^\s/);
      const [generate] = await stubLog(seed);
      const { codecOf } = await import('../../../test/codec');
      expect(codecOf().decode(generate.body.prompt)).toBe('Instruction: Name a bird.\nContext: Be brief.\nResponse:');
    },
  );

  it('streams chat.completion.chunk deltas, the first with the assistant role', async () => {
    const res = await api('/v1/chat/completions', key, {
      model: 'tiny-core',
      seed: uniqueSeed(),
      max_tokens: 30,
      steps: 8,
      stream: true,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const events = (await sseEvents(res)) as any[];
    expect(events[0]).toMatchObject({ object: 'chat.completion.chunk', choices: [{ delta: { role: 'assistant' } }] });
    expect(events.at(-2).choices[0].finish_reason).toBe('length');
    expect(events.at(-1)).toBe('[DONE]');
  });

  it.each([
    ['tools', { tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }, 'tools', /function calling is not supported/],
    ['tool_choice', { tool_choice: 'auto' }, 'tool_choice', /function calling is not supported/],
    ['a JSON response_format', { response_format: { type: 'json_object' } }, 'response_format.type', /do not constrain output to JSON/],
    [
      'an image part',
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }] }] },
      'messages.0.content.0.type',
      /only text content parts/,
    ],
    ['top_logprobs', { top_logprobs: 2 }, 'top_logprobs', /logprobs are not supported/],
    ['an audio modality', { modalities: ['text', 'audio'] }, 'modalities.1', /only the text modality/],
    ['content of no accepted type', { messages: [{ role: 'user', content: 5 }] }, 'messages.0.content', /expected string or array/],
  ])('refuses %s by name instead of ignoring it', async (_name, extra, param, message) => {
    const res = await api('/v1/chat/completions', key, { model: 'tiny-core', messages: [{ role: 'user', content: 'Hi' }], ...extra });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as any;
    expect(error).toMatchObject({ param, code: 'invalid_argument', type: 'invalid_request_error' });
    expect(error.message).toMatch(message);
  });

  it('accepts the neutral values of those fields', async () => {
    const res = await api('/v1/chat/completions', key, {
      model: 'tiny-core',
      seed: uniqueSeed(),
      max_tokens: 5,
      steps: 8,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      tools: [],
      tool_choice: 'none',
      response_format: { type: 'text' },
      logit_bias: {},
    });
    expect(res.status).toBe(200);
  });

  it('refuses a conversation without a user message, or with an assistant message after the last one', async () => {
    for (const [messages, param] of [
      [[{ role: 'assistant', content: 'Hi' }], 'messages'],
      [
        [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello' },
        ],
        'messages.1.role',
      ],
    ] as const) {
      const res = await api('/v1/chat/completions', key, { model: 'tiny-core', messages });
      expect(res.status).toBe(400);
      expect(((await res.json()) as any).error.param).toBe(param);
    }
  });
});

describe('GET /v1/models', () => {
  it('lists the served models in OpenAI shape', async () => {
    const res = await api('/v1/models', key);
    expect(await res.json()).toMatchObject({
      object: 'list',
      data: [
        { id: 'core', object: 'model', owned_by: 'ssd2', ssd2: { block_size: coreManifest.block_size } },
        { id: 'tiny-core', object: 'model', owned_by: 'ssd2', ssd2: { block_size: tinyCoreManifest.block_size } },
      ],
    });
    expect((await api('/v1/models/tiny-core', key)).status).toBe(200);
    expect((await api('/v1/models/nope', key)).status).toBe(404);
  });
});
