/**
 * End to end, for real: s3rver → GPU worker process (tiny-core from S3) → recording proxy →
 * `wrangler dev` (workerd, local D1) → the official openai SDK, and the client SDK running the
 * bundled model as a client-side user model over the Generation's WebSocket.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinGeneration, loadUserModel, privatePrefixTokens, streamClientCompletion, type UserModel } from '../../client/sdk';
import { compactLogits, densifyLogits, RemoteDenoiser, workerAuthorization, type StepRequest } from '../../shared/protocol';
import { generateAll, type Denoiser } from '../../shared/ssd2';
import { ROOT } from '../helpers/paths';
import { startEdgeStack, type EdgeStack } from './helpers/stack';

const PROMPT = 'The cat sat on the';
const PRIVATE = 'Zebras graze quietly near the old mill.';
const GEN = { model: 'tiny-core', prompt: PROMPT, max_tokens: 25, seed: 424242, steps: 10, top_p: 0.95 };
const LAMBDA = 0.9;

type Chunk = OpenAI.Completions.Completion & { ssd2?: { mode?: string; seed?: number } };
type Params = OpenAI.Completions.CompletionCreateParamsStreaming;

let stack: EdgeStack | undefined;
let openai: OpenAI;
let apiKey: string;
let user: UserModel;
const starting = startEdgeStack();
starting.catch(() => {});

beforeAll(async () => {
  [stack, user] = await Promise.all([starting, loadUserModel('models/tiny-core')]);
  apiKey = await stack.newKey('e2e-tenant');
  openai = new OpenAI({ baseURL: `${stack.edgeUrl}/v1`, apiKey, maxRetries: 0, timeout: 120_000 });
}, 420_000);

afterAll(async () => {
  await (stack ?? (await starting.catch(() => undefined)))?.stop();
}, 60_000);

async function streamText(params: Record<string, unknown>): Promise<{ text: string; chunks: Chunk[] }> {
  const stream = await openai.completions.create({ ...params, stream: true } as unknown as Params);
  const chunks: Chunk[] = [];
  for await (const c of stream) chunks.push(c as Chunk);
  return { text: chunks.map((c) => c.choices[0]?.text ?? '').join(''), chunks };
}

const stepBodies = () => stack!.proxy.log.filter((r) => r.path === '/v1/step').map((r) => JSON.parse(r.requestBody) as StepRequest);

function containsRun(haystack: readonly number[], needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

describe('edge end to end (wrangler dev + GPU worker + s3rver)', () => {
  let coreOnly = '';
  let collaboration = '';

  it('streams a core-only completion through the official openai SDK (fused on the worker)', async () => {
    const { text, chunks } = await streamText(GEN);
    coreOnly = text;
    expect(text.length).toBeGreaterThan(0);
    expect(chunks[0].ssd2).toMatchObject({ mode: 'fused', seed: GEN.seed });
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toMatch(/stop|length/);
    expect(stack!.proxy.log.some((r) => r.path === '/v1/generate' && r.status === 200)).toBe(true);
  });

  it('mixes a client-side user model with a private context into every step (openai SDK + client SDK over the WebSocket)', async () => {
    const before = stepBodies().length;
    const { id, websocket_url } = await openai.post<{ id: string; websocket_url: string }>('/generations', { body: {} });
    const session = joinGeneration({ websocketUrl: websocket_url, apiKey, model: user, privateContext: PRIVATE });
    await session.ready;
    const { text, chunks } = await streamText({ ...GEN, lambda: LAMBDA, generation_id: id, client_model: { deadline_ms: 60_000 } });
    const summary = await session.done;
    expect(chunks[0].ssd2).toMatchObject({ mode: 'per_step', seed: GEN.seed });
    expect(summary.errors).toEqual([]);
    // Every step went to the worker and to the client.
    expect(summary.stepsAnswered).toBeGreaterThan(0);
    expect(stepBodies().length - before).toBe(summary.stepsAnswered);

    // The collaboration changes the answer at this λ, and it is exactly the SSD-2 mixture with the
    // private context in front of the user model's context: reproduce it here from the same pieces.
    collaboration = text;
    expect(text).not.toBe(coreOnly);
    const signed: typeof fetch = async (input, init) =>
      fetch(input, {
        ...init,
        headers: { ...(init?.headers as Record<string, string>), authorization: await workerAuthorization(stack!.workerSecret, 'e2e') },
      });
    const core = await RemoteDenoiser.connect({
      endpoint: stack!.workerUrl,
      model: { name: 'tiny-core', version: '0.1.0' },
      fetch: signed,
    });
    const wireUser: Denoiser = {
      info: user.denoiser.info,
      denoise: async (steps) => (await user.denoiser.denoise(steps)).map((l) => densifyLogits(compactLogits(l, 32))),
    };
    const local = await generateAll(
      { core, user: wireUser },
      {
        prompt: user.codec.encode(PROMPT),
        userContext: privatePrefixTokens(user, PRIVATE),
        maxTokens: GEN.max_tokens,
        seed: GEN.seed,
        steps: GEN.steps,
        topP: GEN.top_p,
        lambda: LAMBDA,
      },
    );
    expect(text).toBe(user.codec.decode(local.tokens));
  });

  it('the GPU worker answers 401 to anyone but the edge: no credential, or a token signed with another secret', async () => {
    const body = JSON.stringify({
      v: 1,
      model: { name: 'tiny-core', version: '0.1.0' },
      prompt: [1, 2, 3],
      options: { steps: 2, maxTokens: 2 },
      user: { tenant: 'dev', bundle: 'user' },
    });
    const unsigned = await fetch(`${stack!.workerUrl}/v1/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(unsigned.status).toBe(401);
    const forged = await fetch(`${stack!.workerUrl}/v1/generate`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: await workerAuthorization('not-the-edge-secret-0123456789abcdef', 'dev'),
      },
      body,
    });
    expect(forged.status).toBe(401);
    expect((await fetch(`${stack!.workerUrl}/metrics`)).status).toBe(401);
    expect((await fetch(`${stack!.workerUrl}/metrics`, { headers: { authorization: `Bearer ${stack!.metricsToken}` } })).status).toBe(200);
  });

  it('charges a stream the caller drops for the blocks it was sent: GET /v1/usage shows its steps and a non-zero cost', async () => {
    const key = await stack!.newKey('e2e-dropped-stream');
    const abort = new AbortController();
    const res = await fetch(`${stack!.edgeUrl}/v1/completions`, {
      method: 'POST',
      signal: abort.signal,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...GEN, max_tokens: 4000, steps: 100, early_stop: 0, mode: 'per_step', stream: true }),
    });
    expect(res.status).toBe(200);
    // Read until the first finished block, then drop the connection.
    const reader = res.body!.getReader();
    let text = '';
    while (!/"block":/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    abort.abort();
    const usage = async () =>
      (await fetch(`${stack!.edgeUrl}/v1/usage`, { headers: { authorization: `Bearer ${key}` } })).json() as Promise<any>;
    const settled = async (tries: number) => {
      for (let i = 0; i < tries; i++) {
        const u = await usage();
        if (u.total.calls > 0) return u;
        await new Promise((r) => setTimeout(r, 200));
      }
      return usage();
    };
    // wrangler dev's local proxy may pass the disconnect on late; then the caller ends the
    // generation the other way it can (DELETE), which is charged the same.
    let report = await settled(50);
    if (report.total.calls === 0) {
      expect(
        (
          await fetch(`${stack!.edgeUrl}/v1/generations/${res.headers.get('x-ssd2-generation-id')}`, {
            method: 'DELETE',
            headers: { authorization: `Bearer ${key}` },
          })
        ).status,
      ).toBe(200);
      report = await settled(100);
    }
    const usage_ = report;
    expect(usage_.total).toMatchObject({ calls: 1, partial: 1, ok: 0 });
    expect(usage_.total.steps_run).toBeGreaterThan(0);
    expect(usage_.total.cost_micro_usd).toBeGreaterThan(0);
  });

  it('ends the GPU work at a stop sequence: the worker runs the block where the stop appeared, not the rest', async () => {
    const stepsServed = async () =>
      (await (await fetch(`${stack!.workerUrl}/metrics`, { headers: { authorization: `Bearer ${stack!.metricsToken}` } })).text())
        .split('\n')
        .filter((l) => l.startsWith('ssd2_worker_steps_total{'))
        .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
    // 4 blocks of 25 at 200 steps, none ended early: a block takes long enough that the stop lands while the worker runs the next.
    const request = { ...GEN, seed: 777, steps: 200, max_tokens: 100, min_tokens: 100, early_stop: 0 };
    const before = await stepsServed();
    const full = await openai.completions.create(request as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    expect(full.usage?.completion_tokens).toBe(100);
    expect((await stepsServed()) - before).toBe(800);
    const text = full.choices[0].text;
    const stop = text.slice(2, 5);
    const start = await stepsServed();
    const stopped = await openai.completions.create({ ...request, stop } as OpenAI.Completions.CompletionCreateParamsNonStreaming);
    expect(stopped.choices[0]).toMatchObject({ text: text.slice(0, text.indexOf(stop)), finish_reason: 'stop' });
    expect(stopped.usage?.completion_tokens).toBe(25);
    await new Promise((r) => setTimeout(r, 2_000)); // what the worker would still run, it runs now
    // The block with the stop, and the one the worker was running when the cancel reached it.
    expect((await stepsServed()) - start).toBeLessThanOrEqual(400);
  });

  it('never sends the private context toward the GPU worker', () => {
    const prefix = privatePrefixTokens(user, PRIVATE);
    expect(stack!.proxy.log.length).toBeGreaterThan(0);
    for (const r of stack!.proxy.log) {
      for (const word of ['Zebras', 'graze', 'mill']) expect(r.requestBody).not.toContain(word);
    }
    const steps = stepBodies();
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) {
      if (s.context) expect(containsRun(s.context, prefix)).toBe(false);
      expect(s.user).toBeUndefined();
    }
  });

  it('streams the same collaboration in one call of the client SDK', async () => {
    const run = streamClientCompletion({
      baseUrl: stack!.edgeUrl,
      apiKey,
      coreModel: 'tiny-core',
      prompt: PROMPT,
      model: user,
      privateContext: PRIVATE,
      lambda: LAMBDA,
      maxTokens: GEN.max_tokens,
      seed: GEN.seed,
      steps: GEN.steps,
      topP: GEN.top_p,
      deadlineMs: 60_000,
    });
    const parts: string[] = [];
    for await (const t of run) parts.push(t);
    const result = await run.result;
    expect(parts.length).toBeGreaterThan(0);
    expect(result.text).toBe(parts.join(''));
    expect(result.seed).toBe(GEN.seed);
    expect(result.client.stepsAnswered).toBeGreaterThan(0);
    expect(result.text).toBe(collaboration);
  });

  it('runs the CLI example (npm run client) against the edge', async () => {
    const args = [
      'client/cli/edge-client.ts',
      '--model',
      'tiny-core',
      '--prompt',
      PROMPT,
      '--user-model',
      'models/tiny-core',
      '--private-context',
      PRIVATE,
      '--lambda',
      String(LAMBDA),
      '--steps',
      String(GEN.steps),
      '--max-tokens',
      String(GEN.max_tokens),
      '--seed',
      String(GEN.seed),
      '--top-p',
      String(GEN.top_p),
      '--deadline-ms',
      '60000',
      '--base-url',
      stack!.edgeUrl,
    ];
    const { stdout, stderr } = await promisify(execFile)(join(ROOT, 'node_modules/.bin/tsx'), args, {
      cwd: ROOT,
      env: { ...process.env, SSD2_API_KEY: apiKey },
      timeout: 90_000,
    });
    expect(stdout).toBe(`${PROMPT}${collaboration}\n`);
    expect(stderr).toMatch(/local model answered [1-9]\d* steps/);
    expect(stderr).toMatch(/session: generation done/);
  });
});
