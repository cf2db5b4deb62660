import { InvalidArgumentError } from '../../../shared/errors';
import { generate } from '../../../shared/ssd2';
import { GenerateOptionsSchema } from '../../../shared/ssd2/options';
import { fusedModels, wireEvent, WorkerErrorCode, type GenerateEvent, type GenerateRequest } from '../../../shared/protocol';
import { withField, WorkerError } from '../http/errors';
import type { WorkerMetrics } from '../metrics';
import type { Models } from './models';
import type { GenerationThreads } from './threads/generation-threads';
import { checkTopK } from './validate';

/**
 * The engine names its own fields (`blockSize`, `userContext`); a reply names the request's dot
 * path (`options.blockSize`, `user.context`).
 */
function inRequest(err: unknown): unknown {
  if (!(err instanceof InvalidArgumentError)) return err;
  const [head, ...rest] = err.field.split('.');
  const path = head === 'userContext' ? 'user.context' : Object.hasOwn(GenerateOptionsSchema.shape, head) ? `options.${head}` : head;
  if (path === head) return err;
  return new InvalidArgumentError([path, ...rest].join('.'), err.message.slice(err.field.length + 2));
}

/**
 * POST /v1/generate: the shared block loop runs inside the worker (no client-side model takes
 * part). A core alone is seen through the compact wire form, so the tokens equal those of the same
 * generation driven step by step; with a user model both models' full logits are mixed
 * (`fusedModels`). Their steps share the dynamic batcher with /v1/step traffic.
 */
export class GenerateService {
  /** Ends a generation in flight with an error (its stream's last line). */
  private readonly running = new Set<(err: WorkerError) => void>();

  /**
   * Without threads the step math (mixing, projection, early-stopping statistics) runs in the step
   * graphs on the model's provider. With `threads`, block loops run on those threads
   * (WORKER_GENERATION_THREADS) with the TypeScript step math.
   */
  constructor(
    private readonly models: Models,
    private readonly metrics: WorkerMetrics,
    private readonly threads?: GenerationThreads,
  ) {}

  /** Validates and starts a generation; the first event is awaited here so bad input fails before streaming. */
  async start(req: GenerateRequest): Promise<AsyncGenerator<GenerateEvent>> {
    const core = await this.models.core(req.model).catch((err) => Promise.reject(withField(err, 'model')));
    checkTopK(req.topK, core.denoiser.info);
    const user = req.user ? await this.models.user(req.user).catch((err) => Promise.reject(withField(err, 'user.bundle'))) : undefined;
    const label = `${req.model.name}@${req.model.version}`;
    const request = { ...req.options, prompt: req.prompt, userContext: req.user?.context };
    const events = this.threads
      ? this.threads.generate({ core: core.batcher, user: user?.batcher }, req.topK, request)
      : generate({ ...fusedModels(core.batcher, user?.batcher, req.topK, req.options?.lambda), math: core.denoiser.stepMath }, request);
    const first = await events.next().catch((err) => Promise.reject(withField(inRequest(err), 'user.bundle')));
    const metrics = this.metrics;
    const running = this.running;
    return (async function* () {
      let next = first;
      let aborted = false;
      let stop: (err: WorkerError) => void = () => {};
      const stopped = new Promise<never>((_, reject) => {
        stop = (err) => {
          aborted = true;
          reject(err);
        };
      });
      stopped.catch(() => {});
      running.add(stop);
      try {
        while (!next.done) {
          // Fused generation streams blocks and the end; step events stay inside.
          const event = next.value.type === 'step' ? undefined : wireEvent(next.value);
          if (event) {
            if (event.type === 'block') metrics.steps.inc({ model: label, mode: 'fused' }, event.stepsRun);
            yield event;
          }
          next = await Promise.race([events.next().catch((err) => Promise.reject(inRequest(err))), stopped]);
        }
      } finally {
        running.delete(stop);
        // A client that went away stops its generation (on a thread it would run on otherwise);
        // an aborted one stops after the step it is running, without holding up its error line.
        if (aborted) void events.return(undefined).catch(() => {});
        else if (!next.done) await events.return(undefined);
      }
    })();
  }

  /** Ends every generation in flight with a 503 `shutting_down` error line (the drain's deadline has passed). */
  abort(): void {
    const err = new WorkerError(
      503,
      WorkerErrorCode.shuttingDown,
      null,
      'this worker shut down before the generation finished; run it again',
    );
    for (const stop of this.running) stop(err);
  }

  /** Threads running block loops (0: the main thread runs them). */
  get threadCount(): number {
    return this.threads?.size ?? 0;
  }

  async close(): Promise<void> {
    await this.threads?.close();
  }
}
