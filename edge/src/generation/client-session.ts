import { ClientMessageSchema, type ClientModelInfo, type ServerMessage } from '../../../shared/client-protocol';
import { compactLogits, densifyLogits, type CompactLogits } from '../../../shared/protocol';
import { incompatibility, type BlockLogits, type DenoiseStep, type Denoiser, type DenoiserInfo } from '../../../shared/ssd2';
import { ApiError } from '../errors/api-error';
import type { GenerationSpec } from './spec';
import { firstIssue } from '../../../shared/errors';

type ClientOptions = NonNullable<GenerationSpec['client']>;

interface PendingStep {
  id: number;
  length: number;
  resolve: (l: CompactLogits) => void;
  reject: (e: unknown) => void;
}

const clientError = (code: string, message: string, status: 400 | 408 = 400) =>
  new ApiError(status, 'invalid_request_error', code, message, 'client_model');

/**
 * The WebSocket of a client-side user model. Each step goes out as the step state; the answer
 * must carry the current step id and logits of the right shape, within the deadline. When the
 * client is late or gone and the request said `core_only`, the step takes the core's own logits
 * as the user's, which makes the mixture exactly the core alone.
 */
export class ClientSession {
  private ws: WebSocket | null = null;
  private info: ClientModelInfo | null = null;
  private hello: { resolve: () => void; reject: (e: unknown) => void } | null = null;
  private pending: PendingStep | null = null;
  private nextId = 0;
  private gone = false;
  /** The socket whose hello was received (a client that joins again says hello on its new socket). */
  private helloOn: WebSocket | null = null;
  /** Fatal protocol violation by the client: the generation fails with it. */
  private violation: ApiError | null = null;
  readonly wireForm = new WeakMap<BlockLogits, CompactLogits>();

  constructor(private readonly generationId: string) {}

  get connected(): boolean {
    return this.ws !== null && !this.gone;
  }

  /** Takes a client's socket: the first join, or a join again after the previous socket closed (a new hello with the same vocabulary). */
  attach(ws: WebSocket): void {
    ws.accept();
    this.ws = ws;
    this.gone = false;
    // Only the current socket speaks for the client (an old one's late close changes nothing).
    ws.addEventListener('message', (e) => this.ws === ws && this.onMessage(e.data));
    ws.addEventListener('close', () => this.ws === ws && this.onGone());
    ws.addEventListener('error', () => this.ws === ws && this.onGone());
  }

  close(code: number, reason: string): void {
    if (!this.ws || this.gone) return;
    this.send({ type: 'done', reason });
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      /* already closing */
    }
    this.gone = true;
  }

  /** Waits for the client's hello, then returns its user model as a Denoiser. `core` is tapped for core_only fallbacks. */
  async denoiser(
    core: Denoiser & { latest?: Map<string, BlockLogits> },
    opts: ClientOptions,
    signal: AbortSignal,
  ): Promise<{ user: Denoiser; core: Denoiser }> {
    if (!this.info) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(clientError('client_join_timeout', `no client model joined within ${opts.joinTimeoutMs} ms`, 408)),
          opts.joinTimeoutMs,
        );
        const done = (f: () => void) => () => (clearTimeout(timer), f());
        this.hello = { resolve: done(resolve), reject: (e) => (clearTimeout(timer), reject(e)) };
        signal.addEventListener('abort', () => this.hello?.reject(new Error('cancelled')));
      });
    }
    const info = this.info!;
    const coreOut = new Map<string, Promise<BlockLogits[]>>();
    const key = (s: DenoiseStep) => `${s.noise.block}/${s.noise.step}`;
    const tappedCore: Denoiser = {
      info: core.info,
      denoise: (steps) => {
        const out = core.denoise(steps);
        coreOut.clear();
        coreOut.set(key(steps[0]), out);
        return out;
      },
    };
    const user: Denoiser = {
      info: { ...info, timestepRange: [info.timestepRange[0], info.timestepRange[1]] } as DenoiserInfo,
      denoise: async (steps) => {
        const s = steps[0];
        try {
          return [await this.step(s, opts)];
        } catch (err) {
          if (
            opts.onTimeout === 'core_only' &&
            !this.violation &&
            err instanceof ApiError &&
            (err.code === 'client_timeout' || err.code === 'client_disconnected')
          ) {
            // Core alone: with the core's logits as the user's, (1-λ)·ls(core) + λ·ls(core) = ls(core).
            const coreLogits = await coreOut.get(key(s));
            if (coreLogits) return coreLogits;
          }
          throw err;
        }
      },
    };
    return { user, core: tappedCore };
  }

  private step(s: DenoiseStep, opts: ClientOptions): Promise<BlockLogits> {
    if (this.violation) return Promise.reject(this.violation);
    if (this.gone) return Promise.reject(clientError('client_disconnected', 'the client model disconnected'));
    const id = this.nextId++;
    const selfCond = s.selfCond ? (this.wireForm.get(s.selfCond) ?? compactLogits(s.selfCond, 32)) : null;
    return new Promise<BlockLogits>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        reject(clientError('client_timeout', `the client model did not answer step ${id} within ${opts.deadlineMs} ms`, 408));
      }, opts.deadlineMs);
      this.pending = {
        id,
        length: s.noise.blockLength,
        resolve: (compact) => {
          clearTimeout(timer);
          try {
            const dense = densifyLogits(compact);
            this.wireForm.set(dense, compact);
            resolve(dense);
          } catch (err) {
            reject(this.fail(clientError('invalid_client_logits', `step ${id}: ${(err as Error).message}`)));
          }
        },
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      this.send({
        type: 'step',
        id,
        context: [...s.context],
        noise: { ...s.noise, estimate: s.noise.estimate ? s.noise.estimate.map((e) => [...e]) : null },
        selfCond,
        deadlineMs: opts.deadlineMs,
      });
    });
  }

  private onMessage(data: unknown): void {
    let parsed: ReturnType<typeof ClientMessageSchema.safeParse>;
    try {
      parsed = ClientMessageSchema.safeParse(JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data as ArrayBuffer)));
    } catch {
      return this.reply('invalid_message', 'not JSON');
    }
    if (!parsed.success) {
      const err = clientError('invalid_client_message', firstIssue(parsed.error, 'message').text);
      // Malformed logits for the current step end the generation; other junk is only answered.
      if (this.pending) return void this.pending.reject(this.fail(err));
      return this.reply(err.code, err.message);
    }
    const msg = parsed.data;
    if (msg.type === 'hello') {
      if (this.info && this.helloOn === this.ws) return this.reply('already_joined', 'hello was already received');
      // A client joining again must bring a model that fits the same block as before.
      const differs = this.info && incompatibility(this.info, msg.info);
      if (differs) {
        return this.reply(
          'incompatible_client_model',
          `the model that joins again must share the first one's ${differs.label}: ${String(differs.actual)} != ${String(differs.expected)}`,
        );
      }
      this.info = msg.info;
      this.helloOn = this.ws;
      this.hello?.resolve();
      return this.send({ type: 'ready', generationId: this.generationId });
    }
    if (!this.pending || msg.id !== this.pending.id)
      return this.reply('stale_step', `step ${msg.id} is not the current step${this.pending ? ` (${this.pending.id})` : ''}`);
    const p = this.pending;
    if (msg.logits.vocabSize !== this.info?.vocabSize || msg.logits.length !== p.length) {
      this.pending = null;
      return void p.reject(
        this.fail(
          clientError(
            'invalid_client_logits',
            `step ${p.id}: logits are ${msg.logits.length} x ${msg.logits.vocabSize}, expected ${p.length} x ${this.info?.vocabSize}`,
          ),
        ),
      );
    }
    this.pending = null;
    p.resolve(msg.logits);
  }

  private fail(err: ApiError): ApiError {
    this.violation = err;
    this.reply(err.code, err.message);
    return err;
  }

  private onGone(): void {
    if (this.gone) return;
    this.gone = true;
    this.hello?.reject(clientError('client_disconnected', 'the client model disconnected before joining'));
    this.pending?.reject(clientError('client_disconnected', 'the client model disconnected'));
    this.pending = null;
  }

  private reply(code: string, message: string): void {
    this.send({ type: 'error', code, message });
  }

  private send(m: ServerMessage): void {
    try {
      this.ws?.send(JSON.stringify(m));
    } catch {
      this.onGone();
    }
  }
}
