import { EdgeError } from './edge-error';
import { joinGeneration, type ClientSessionSummary, type JoinOptions } from './join';
import { sseData } from '../../shared/streams';

export interface ClientCompletionOptions extends Pick<JoinOptions, 'model' | 'privateContext' | 'topK' | 'onStep' | 'openSocket'> {
  /** The edge's origin, e.g. http://127.0.0.1:8787 (no /v1). */
  baseUrl: string;
  apiKey: string;
  /** The core model id (`GET /v1/models`). */
  coreModel: string;
  prompt: string;
  /** Weight of this client's user model in the mixture (number, per-step list or {start, end}). */
  lambda?: number | number[] | { start: number; end: number };
  maxTokens?: number;
  steps?: number;
  seed?: number;
  topP?: number;
  /** The nucleus is taken over logits / temperature (0-2, default 1; 0 is greedy). */
  temperature?: number;
  blockSize?: number;
  earlyStop?: number;
  projection?: 'sample' | 'greedy' | 'multihot';
  /** Per-step deadline and what happens past it (the edge's `client_model` field). */
  deadlineMs?: number;
  onTimeout?: 'fail' | 'core_only';
  /** Any other body fields (stop, progress, ...). */
  extra?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Every parsed stream chunk, as the edge sent it (per-step progress events with `progress: true`, block stats). */
  onChunk?: (chunk: CompletionChunk) => void;
}

/** A streamed chunk of `/v1/completions` (the fields this SDK reads; `ssd2` carries the extension fields). */
export interface CompletionChunk {
  error?: { code: string | null; message: string; param: string | null };
  choices?: { text?: string; finish_reason: string | null }[];
  usage?: ClientCompletionResult['usage'];
  ssd2?: { seed?: number; [field: string]: unknown };
}

export interface ClientCompletionResult {
  text: string;
  generationId: string;
  seed: number | null;
  finishReason: string | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
  client: ClientSessionSummary;
}

export interface ClientCompletion extends AsyncIterable<string> {
  /** Resolves after the stream is consumed (or fails with the edge's error). */
  result: Promise<ClientCompletionResult>;
}

/**
 * One call: reserve a generation, join it with the local user model, stream the completion.
 * Iterate it for the text of each finished block; `result` has the rest. The user model and the
 * private context stay on this machine; only compact logits go out.
 */
export function streamClientCompletion(opts: ClientCompletionOptions): ClientCompletion {
  let resolveResult!: (r: ClientCompletionResult) => void;
  let rejectResult!: (e: unknown) => void;
  const result = new Promise<ClientCompletionResult>((res, rej) => ((resolveResult = res), (rejectResult = rej)));
  result.catch(() => {});
  async function* run(): AsyncGenerator<string> {
    const base = opts.baseUrl.replace(/\/+$/, '');
    const headers = { authorization: `Bearer ${opts.apiKey}`, 'content-type': 'application/json' };
    const created = await fetch(`${base}/v1/generations`, { method: 'POST', headers, body: '{}', signal: opts.signal });
    if (!created.ok) throw await EdgeError.from(created);
    const { id, websocket_url } = (await created.json()) as { id: string; websocket_url: string };
    const session = joinGeneration({
      websocketUrl: websocket_url,
      apiKey: opts.apiKey,
      model: opts.model,
      privateContext: opts.privateContext,
      topK: opts.topK,
      onStep: opts.onStep,
      openSocket: opts.openSocket,
    });
    try {
      await session.ready;
      const body = {
        model: opts.coreModel,
        prompt: opts.prompt,
        stream: true,
        stream_options: { include_usage: true },
        generation_id: id,
        client_model: {
          ...(opts.deadlineMs ? { deadline_ms: opts.deadlineMs } : {}),
          ...(opts.onTimeout ? { on_timeout: opts.onTimeout } : {}),
        },
        ...(opts.lambda !== undefined ? { lambda: opts.lambda } : {}),
        ...(opts.maxTokens !== undefined ? { max_tokens: opts.maxTokens } : {}),
        ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
        ...(opts.topP !== undefined ? { top_p: opts.topP } : {}),
        ...(opts.temperature !== undefined ? { temperature: opts.temperature } : {}),
        ...(opts.blockSize !== undefined ? { block_size: opts.blockSize } : {}),
        ...(opts.earlyStop !== undefined ? { early_stop: opts.earlyStop } : {}),
        ...(opts.projection !== undefined ? { projection: opts.projection } : {}),
        ...opts.extra,
      };
      const res = await fetch(`${base}/v1/completions`, { method: 'POST', headers, body: JSON.stringify(body), signal: opts.signal });
      if (!res.ok || !res.body) throw await EdgeError.from(res);
      const out: Omit<ClientCompletionResult, 'client'> = { text: '', generationId: id, seed: null, finishReason: null, usage: null };
      for await (const data of sseData(res.body)) {
        if (data === '[DONE]') break;
        const chunk = JSON.parse(data) as CompletionChunk;
        opts.onChunk?.(chunk);
        if (chunk.error) throw new EdgeError(200, chunk.error.code, chunk.error.message, chunk.error.param);
        out.seed ??= chunk.ssd2?.seed ?? null;
        if (chunk.usage) out.usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        if (choice.finish_reason) out.finishReason = choice.finish_reason;
        if (choice.text) {
          out.text += choice.text;
          yield choice.text;
        }
      }
      // The edge ends the session when the generation ends; do not wait on it forever.
      const grace = setTimeout(() => session.close(), 2_000);
      const client = await session.done;
      clearTimeout(grace);
      resolveResult({ ...out, client });
    } finally {
      session.close();
    }
  }
  const gen = run();
  return {
    result,
    async *[Symbol.asyncIterator]() {
      try {
        yield* gen;
      } catch (err) {
        rejectResult(err);
        throw err;
      }
    },
  };
}
