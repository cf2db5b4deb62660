import type { DenoiseStep, Denoiser, DenoiserInfo } from '../ssd2/denoiser';
import type { BlockLogits } from '../ssd2/types';
import { compactLogits, densifyLogits, type CompactLogits } from './compact-logits';
import { contextHash } from './context-hash';
import { CONTEXT_UNKNOWN, ProtocolError } from './errors';
import {
  DEFAULT_TOP_K,
  ErrorBodySchema,
  PROTOCOL_VERSION,
  StepResponseSchema,
  type ModelRef,
  type StepRequestInput,
  type StepResponse,
} from './schemas';
import { firstIssue } from '../errors';

export interface RemoteDenoiserOptions {
  /** Base URL of a worker (or a load balancer in front of several). */
  endpoint: string;
  model: ModelRef;
  /** k of the compact logits the worker replies with. */
  topK?: number;
  fetch?: typeof fetch;
}

/**
 * A core model on a GPU worker behind the engine's Denoiser interface: the shared block loop
 * drives it exactly as it drives a local session. Contexts go as tokens the first time and as a
 * hash afterwards; a worker that does not hold the hash (a fresh one) answers context_unknown and
 * gets the tokens again.
 */
export class RemoteDenoiser implements Denoiser {
  private readonly fetch: typeof fetch;
  private readonly topK: number;
  /** The compact form each dense block came from: sent back verbatim as self-conditioning. */
  private readonly wireForm = new WeakMap<BlockLogits, CompactLogits>();
  private readonly sentContexts = new Set<string>();
  /** Bytes of request and response bodies, for the benchmark. */
  bytesSent = 0;
  bytesReceived = 0;
  requests = 0;

  private constructor(
    readonly info: DenoiserInfo,
    private readonly opts: RemoteDenoiserOptions,
  ) {
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.topK = opts.topK ?? DEFAULT_TOP_K;
  }

  /** Asks the worker for the model's description (it loads the model if needed). */
  static async connect(opts: RemoteDenoiserOptions): Promise<RemoteDenoiser> {
    const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
    const res = await f(`${opts.endpoint}/v1/models/${encodeURIComponent(opts.model.name)}/${encodeURIComponent(opts.model.version)}`);
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ProtocolError(
        res.ok ? 502 : res.status,
        res.ok ? 'invalid_reply' : 'http_error',
        `worker answered HTTP ${res.status} with a body that is not JSON: ${excerpt(text)}`,
        null,
      );
    }
    if (!res.ok) {
      const parsed = ErrorBodySchema.safeParse(body);
      throw parsed.success
        ? ProtocolError.fromBody(res.status, parsed.data)
        : new ProtocolError(res.status, 'http_error', `worker answered HTTP ${res.status}: ${excerpt(text)}`, null);
    }
    return new RemoteDenoiser((body as { info: DenoiserInfo }).info, opts);
  }

  denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
    // One request per item: the worker's dynamic batcher puts concurrent ones back together.
    return Promise.all(steps.map((s) => this.step(s)));
  }

  private async step(s: DenoiseStep): Promise<BlockLogits> {
    const hash = await contextHash(s.context);
    const selfCond = s.selfCond ? (this.wireForm.get(s.selfCond) ?? compactLogits(s.selfCond, this.topK)) : null;
    const request: StepRequestInput = {
      v: PROTOCOL_VERSION,
      model: this.opts.model,
      seed: s.noise.seed,
      block: s.noise.block,
      step: s.noise.step,
      steps: s.noise.steps,
      blockLength: s.noise.blockLength,
      estimate: s.noise.estimate ? s.noise.estimate.map((ids) => [...ids]) : null,
      selfCond,
      topK: this.topK,
      ...(this.sentContexts.has(hash) ? { contextHash: hash } : { context: [...s.context], contextHash: hash }),
    };
    let reply = await this.post(request);
    if (reply instanceof ProtocolError && reply.code === CONTEXT_UNKNOWN) {
      reply = await this.post({ ...request, context: [...s.context] });
    }
    if (reply instanceof ProtocolError) throw reply;
    this.sentContexts.add(hash);
    const dense = densifyLogits(reply.logits);
    this.wireForm.set(dense, reply.logits);
    return dense;
  }

  private async post(request: StepRequestInput): Promise<StepResponse | ProtocolError> {
    const body = utf8.encode(JSON.stringify(request));
    const res = await this.fetch(`${this.opts.endpoint}/v1/step`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const bytes = new Uint8Array(await res.arrayBuffer());
    this.requests++;
    this.bytesSent += body.byteLength;
    this.bytesReceived += bytes.byteLength;
    return parseReply(res.status, res.ok, new TextDecoder().decode(bytes));
  }
}

const utf8 = new TextEncoder();

/**
 * A worker's reply: the step response, or the error it names. A body that is not the protocol's
 * JSON (a proxy's HTML 502, a truncated body) becomes a ProtocolError carrying the status and the
 * start of the body text instead of a bare SyntaxError or schema error.
 */
function parseReply(status: number, ok: boolean, text: string): StepResponse | ProtocolError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return new ProtocolError(
      ok ? 502 : status,
      ok ? 'invalid_reply' : 'http_error',
      `worker answered HTTP ${status} with a body that is not JSON: ${excerpt(text)}`,
      null,
    );
  }
  if (!ok) {
    const parsed = ErrorBodySchema.safeParse(json);
    return parsed.success
      ? ProtocolError.fromBody(status, parsed.data)
      : new ProtocolError(status, 'http_error', `worker answered HTTP ${status}: ${excerpt(text)}`, null);
  }
  const parsed = StepResponseSchema.safeParse(json);
  if (!parsed.success)
    return new ProtocolError(
      502,
      'invalid_reply',
      `worker answered HTTP ${status} with a body that is not a step response (${firstIssue(parsed.error).text})`,
      null,
    );
  return parsed.data;
}

function excerpt(text: string, max = 200): string {
  const t = text.trim();
  return JSON.stringify(t.length > max ? `${t.slice(0, max)}…` : t);
}
