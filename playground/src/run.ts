/**
 * The two runs the page compares for one seed: core only (the edge's per-step loop with progress
 * events) and collaborative (the same, with this page's user model joined over the WebSocket by
 * the client SDK's join logic). Both stream SSE; every chunk goes to `onChunk`.
 */
import { streamClientCompletion, type CompletionChunk } from '../../client/sdk/complete';
import { EdgeError } from '../../client/sdk/edge-error';
import { browserSocket } from '../../client/sdk/join';
import { sseData } from '../../shared/streams/sse';
import type { UserModel } from '../../client/sdk/private-prefix';

export interface RunSettings {
  baseUrl: string;
  apiKey: string;
  coreModel: string;
  prompt: string;
  steps: number;
  topP: number;
  /** The nucleus is taken over logits / temperature (0 = greedy). */
  temperature: number;
  /** Tokens per block; undefined = the core model's own. */
  blockSize?: number;
  seed: number;
  maxTokens: number;
  earlyStop: number;
}

export interface RunResult {
  text: string;
  stepsAnswered?: number;
}

/** The edge's request fields shared by both runs (per-step mode, so progress events come for every step). */
function body(s: RunSettings): Record<string, unknown> {
  return {
    model: s.coreModel,
    prompt: s.prompt,
    stream: true,
    mode: 'per_step',
    progress: true,
    steps: s.steps,
    top_p: s.topP,
    temperature: s.temperature,
    block_size: s.blockSize,
    seed: s.seed,
    max_tokens: s.maxTokens,
    early_stop: s.earlyStop,
  };
}

const authHeaders = (apiKey: string) => ({ authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' });

/** The served core models (also the API key check: a bad key is a 401 here). */
export async function listModels(baseUrl: string, apiKey: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/v1/models`, { headers: authHeaders(apiKey) });
  if (!res.ok) throw await EdgeError.from(res);
  return ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
}

export async function runCoreOnly(s: RunSettings, onChunk: (c: CompletionChunk) => void, signal?: AbortSignal): Promise<RunResult> {
  const res = await fetch(`${s.baseUrl}/v1/completions`, {
    method: 'POST',
    headers: authHeaders(s.apiKey),
    body: JSON.stringify(body(s)),
    signal,
  });
  if (!res.ok || !res.body) throw await EdgeError.from(res);
  let text = '';
  let finished = false;
  for await (const data of sseData(res.body)) {
    if (data === '[DONE]') {
      finished = true;
      break;
    }
    const chunk = JSON.parse(data) as CompletionChunk;
    onChunk(chunk);
    if (chunk.error) throw new EdgeError(200, chunk.error.code, chunk.error.message, chunk.error.param);
    text += chunk.choices?.[0]?.text ?? '';
  }
  if (!finished) throw new TypeError('network error: the stream ended before [DONE]');
  return { text };
}

export async function runCollaborative(
  s: RunSettings,
  model: UserModel,
  privateContext: string,
  lambda: number,
  onChunk: (c: CompletionChunk) => void,
  signal?: AbortSignal,
): Promise<RunResult> {
  const { progress: _p, mode: _m, model: _core, prompt: _prompt, stream: _stream, ...rest } = body(s);
  const run = streamClientCompletion({
    baseUrl: s.baseUrl,
    apiKey: s.apiKey,
    coreModel: s.coreModel,
    prompt: s.prompt,
    model,
    privateContext,
    lambda,
    openSocket: browserSocket,
    // One step of a small model in WebAssembly is milliseconds; a generous deadline survives a busy tab.
    deadlineMs: 30_000,
    onTimeout: 'fail',
    extra: { ...rest, progress: true },
    onChunk,
    signal,
  });
  for await (const _ of run) {
    /* chunks arrive through onChunk */
  }
  const r = await run.result;
  return { text: r.text, stepsAnswered: r.client.stepsAnswered };
}
