import { DurableObject } from 'cloudflare:workers';
import { generate, type Denoiser, type GenerationEvent } from '../../../shared/ssd2';
import { RemoteDenoiser, wireEvent } from '../../../shared/protocol';
import type { Env } from '../env';
import { toApiError } from '../errors/to-api-error';
import { ApiError } from '../errors/api-error';
import { runFused } from './fused';
import { ndjsonStream } from '../../../shared/streams';
import { GenerationSpecSchema, type GenerationSpec, type GenerationStreamEvent } from './spec';
import { parseWorkerUrls, POOL_ORIGIN, WorkerPool, workerTimeoutMs } from './worker-pool';
import { ClientSession } from './client-session';

export type GenerationPhase = 'reserved' | 'waiting_for_client' | 'running' | 'done' | 'failed' | 'cancelled';

export interface GenerationStatus {
  id: string;
  phase: GenerationPhase;
  mode: GenerationSpec['mode'] | null;
  model: string | null;
  blocks_done: number;
  /** The block being denoised. */
  block: number;
  /** Its current step; null in fused mode (the GPU worker runs the steps and reports finished blocks). */
  step: number | null;
  tokens: number;
  client_connected: boolean;
}

/** How long a generation's owner is kept in storage (then an alarm deletes it). */
const OWNER_TTL_MS = 24 * 3_600_000;

/** What storage keeps of a generation that started: it runs once, and its status outlives the instance. */
interface StoredRun {
  /** Absent for a generation cancelled before it ran. */
  mode?: GenerationSpec['mode'];
  model?: string;
  /** Set when it ended. */
  phase?: 'done' | 'failed' | 'cancelled';
  progress?: { blocksDone: number; block: number; step: number; tokens: number };
}

/**
 * One instance per generation. It owns the generation's state while it runs (the engine loop's
 * seed, block, step, estimates and early-stop counters live in the shared generator it drives)
 * and answers only to the tenant that started it. Storage keeps the owner, and, once it starts,
 * the run (its mode and model, then how it ended and its progress): an instance evicted and
 * started again still refuses every other tenant, refuses to run twice, and reports how the run
 * ended (one evicted mid-run, whose stream is gone, as failed). An alarm deletes it all a day
 * later. A client-side user model that disconnects may join again while the generation runs.
 */
export class Generation extends DurableObject<Env> {
  private owner: { tenantId: string; keyId: string } | null = null;
  private phase: GenerationPhase = 'reserved';
  private progress = { blocksDone: 0, block: 0, step: 0, tokens: 0 };
  private readonly abort = new AbortController();
  private client: ClientSession | null = null;
  private stored: StoredRun | null = null;

  /** The owner and the run read back from storage; no event is served before them (blockConcurrencyWhile). */
  private readonly loaded: Promise<void>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.loaded = ctx.blockConcurrencyWhile(async () => {
      this.owner = (await ctx.storage.get<{ tenantId: string; keyId: string }>('owner')) ?? null;
      this.stored = (await ctx.storage.get<StoredRun>('run')) ?? null;
      if (this.stored) {
        this.phase = this.stored.phase ?? 'failed';
        if (this.stored.progress) this.progress = this.stored.progress;
      }
    });
  }

  /** Claims this generation for a tenant before it starts (so a client model can join first); kept in storage. */
  async reserve(tenantId: string, keyId: string): Promise<boolean> {
    await this.loaded;
    if (this.owner) return this.owner.tenantId === tenantId;
    this.owner = { tenantId, keyId };
    await this.ctx.storage.put('owner', this.owner);
    await this.ctx.storage.setAlarm(Date.now() + OWNER_TTL_MS);
    return true;
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }

  /** Status for its own tenant; null (looks like "no such generation") for anyone else. */
  async status(tenantId: string): Promise<GenerationStatus | null> {
    await this.loaded;
    if (!this.owner || this.owner.tenantId !== tenantId) return null;
    const { blocksDone, block, step, tokens } = this.progress;
    const mode = this.stored?.mode ?? null;
    return {
      id: this.ctx.id.toString(),
      phase: this.phase,
      mode,
      model: this.stored?.model ?? null,
      blocks_done: blocksDone,
      block: mode === 'fused' ? blocksDone : block,
      step: mode === 'fused' ? null : step,
      tokens,
      client_connected: this.client?.connected ?? false,
    };
  }

  /**
   * Cancels a generation of this tenant that has not ended. Null when it is not theirs; otherwise
   * its phase when asked (`done`, `failed` or `cancelled`: nothing was cancelled).
   */
  async cancel(tenantId: string): Promise<GenerationPhase | null> {
    await this.loaded;
    if (!this.owner || this.owner.tenantId !== tenantId) return null;
    const phase = this.phase;
    if (phase === 'done' || phase === 'failed' || phase === 'cancelled') return phase;
    this.finish('cancelled');
    return phase;
  }

  /**
   * The caller ended the generation at one of its stop sequences: it is done (a client model's
   * session closes normally), and the GPU work stops now rather than when the stream is next read.
   */
  stopped(tenantId: string): void {
    if (this.owner?.tenantId !== tenantId) return;
    this.finish('done');
    this.abort.abort();
  }

  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/run' && request.method === 'POST') return this.run(await request.json());
    if (url.pathname === '/client' && request.headers.get('upgrade')?.toLowerCase() === 'websocket') {
      return this.acceptClient(request.headers.get('x-ssd2-tenant') ?? '');
    }
    return Response.json({ error: 'not found' }, { status: 404 });
  }

  private acceptClient(tenantId: string): Response {
    if (!this.owner || this.owner.tenantId !== tenantId)
      return errorResponse(new ApiError(404, 'not_found_error', 'generation_not_found', 'no such generation', 'generation_id'));
    if (this.client?.connected)
      return errorResponse(
        new ApiError(
          409,
          'invalid_request_error',
          'client_already_joined',
          'a client model has already joined this generation',
          'generation_id',
        ),
      );
    // A client that lost its connection may join a running generation again and takes the next steps.
    const rejoin = this.phase === 'running' && this.client !== null;
    if (this.phase !== 'reserved' && this.phase !== 'waiting_for_client' && !rejoin)
      return errorResponse(
        new ApiError(409, 'invalid_request_error', 'generation_not_joinable', `the generation is ${this.phase}`, 'generation_id'),
      );
    const pair = new WebSocketPair();
    this.client = this.client ?? new ClientSession(this.ctx.id.toString());
    this.client.attach(pair[1]);
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  private async run(body: unknown): Promise<Response> {
    const parsed = GenerationSpecSchema.safeParse(body);
    if (!parsed.success) return errorResponse(toApiError(parsed.error));
    const spec = parsed.data;
    if (!(await this.reserve(spec.tenantId, spec.keyId)))
      return errorResponse(new ApiError(404, 'not_found_error', 'generation_not_found', 'no such generation', 'generation_id'));
    if (this.stored || this.phase !== 'reserved')
      return errorResponse(
        new ApiError(
          409,
          'invalid_request_error',
          'generation_already_started',
          `this generation has already ${this.phase === 'running' || this.phase === 'waiting_for_client' ? 'started' : `ended (${this.phase})`}: ` +
            'a generation runs once; reserve a new one with POST /v1/generations',
          'generation_id',
        ),
      );
    this.stored = { mode: spec.mode, model: spec.modelId };
    await this.ctx.storage.put('run', this.stored);
    this.phase = spec.client ? 'waiting_for_client' : 'running';
    const events = this.events(spec);
    const stream = ndjsonStream(
      events,
      (err) => {
        const apiError =
          this.phase === 'cancelled'
            ? new ApiError(409, 'invalid_request_error', 'generation_cancelled', 'the generation was cancelled')
            : toApiError(err);
        // The caller gets a public message; the cause is logged under the generation's id.
        if (apiError.status >= 500) console.error('generation failed', this.ctx.id.toString(), (err as Error)?.stack ?? err);
        this.finish(this.phase === 'cancelled' ? 'cancelled' : 'failed');
        return { type: 'error', status: apiError.status, error: apiError.toBody().error } satisfies GenerationStreamEvent;
      },
      // The caller went away: stop asking the GPU workers and the client for anything.
      () => this.finish('cancelled'),
    );
    return new Response(stream, { headers: { 'content-type': 'application/x-ndjson' } });
  }

  private async *events(spec: GenerationSpec): AsyncGenerator<GenerationStreamEvent> {
    const pool = new WorkerPool(
      parseWorkerUrls(this.env.GPU_WORKERS),
      { secret: this.env.WORKER_AUTH_SECRET, tenant: spec.tenantId, timeoutMs: workerTimeoutMs(this.env) },
      undefined,
      undefined,
      this.abort.signal,
    );
    const source = spec.mode === 'fused' ? runFused(pool, spec) : this.perStep(pool, spec);
    for await (const event of source) {
      if (this.abort.signal.aborted) throw new Error('cancelled');
      if (event.type === 'block') {
        this.progress.blocksDone = event.block + 1;
        this.progress.tokens += event.tokens.length;
        yield event;
      } else if (event.type === 'step') {
        this.progress.block = event.block;
        this.progress.step = event.step;
        if (spec.progress) yield event;
      } else if (event.type === 'done') {
        // Done before it is handed on: a reader that stops after it does not make it cancelled.
        this.finish('done');
        yield event;
        return;
      }
    }
  }

  /** Per-step mode: the shared block loop runs here; every step goes to a GPU worker (and the client model). */
  private async *perStep(pool: WorkerPool, spec: GenerationSpec): AsyncGenerator<GenerationStreamEvent> {
    let core: Denoiser = await RemoteDenoiser.connect({ endpoint: POOL_ORIGIN, model: spec.model, fetch: pool.fetch });
    let user: Denoiser | undefined;
    if (spec.client) {
      this.client ??= new ClientSession(this.ctx.id.toString());
      ({ core, user } = await this.client.denoiser(core, spec.client, this.abort.signal));
      this.phase = 'running';
    }
    // Step events keep the status's block and step current; the stream carries them when asked (progress).
    const loop = generate({ core, user }, { ...spec.options, prompt: spec.prompt, stepEvents: true });
    for await (const e of loop as AsyncIterable<GenerationEvent>) yield wireEvent(e);
  }

  private finish(phase: 'done' | 'failed' | 'cancelled'): void {
    if (this.phase === 'done' || this.phase === 'failed' || this.phase === 'cancelled') return;
    this.phase = phase;
    // Kept whether it ran or was cancelled while reserved. Storage orders this write before
    // anything the instance sends next (its output gate).
    this.stored = { ...this.stored, phase, progress: { ...this.progress } };
    void this.ctx.storage.put('run', this.stored);
    if (phase !== 'done') this.abort.abort();
    this.client?.close(phase === 'done' ? 1000 : 1011, `generation ${phase}`);
  }
}

function errorResponse(err: ApiError): Response {
  return Response.json({ type: 'error', status: err.status, error: err.toBody().error }, { status: err.status });
}
