import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { blockLogits, type BlockLogits, type Denoiser, type GenerationEvent, type GenerationRequest } from '../../../../shared/ssd2';
import type { FromThread, ToThread } from './messages';
import { errorFromWire } from './wire-error';

/** A model as the pool submits to it: a dynamic batcher can be told that a round is complete. */
export type BatchedModel = Denoiser & { kick?: () => void };

interface Generation {
  thread: Thread;
  models: { core: BatchedModel; user?: BatchedModel };
  events: GenerationEvent[];
  done: boolean;
  error: unknown;
  wake: (() => void) | null;
  /** Its thread is working on it (between logits and its next steps); its steps are still to come. */
  computing: boolean;
  /** Steps submitted whose logits have not been sent back yet. */
  outstanding: number;
}

type StepMessage = Extract<FromThread, { type: 'step' }>;

/**
 * How long a round's first step waits at most for the rest of the round (a safety net: rounds end
 * when every generation has sent its step).
 */
const ROUND_WAIT_MS = 1000;

interface Thread {
  worker: Worker;
  active: number;
}

/** The thread entry: the bundle's .mjs beside this module when built, else the TypeScript source through tsx. */
function threadEntry(): { url: URL; execArgv: string[] } {
  const bundled = new URL('./generation-thread.mjs', import.meta.url);
  if (existsSync(fileURLToPath(bundled))) return { url: bundled, execArgv: [] };
  return { url: new URL('./generation-thread.ts', import.meta.url), execArgv: ['--import', 'tsx'] };
}

/**
 * Runs fused generations' block loops on worker threads. Per item-step the loop's JavaScript
 * (counter-based noise for B x V entries, wire-form compaction, top-p projection) costs more than
 * the graph on a GPU, and on one thread it does not batch; here it runs beside the model's batches,
 * on as many cores as there are threads. The steps still go through the model's dynamic batcher
 * on this thread, and the tokens are exactly those of the in-process loop.
 */
export class GenerationThreads {
  private readonly threads: Thread[] = [];
  private readonly generations = new Map<number, Generation>();
  /** Main-thread errors of failed steps, until the generation that met them reports its end. */
  private readonly stepErrors = new Map<number, unknown>();
  private nextGen = 0;
  private nextError = 0;
  /** Steps of the current round, held until no generation is still computing its step. */
  private held: { thread: Thread; gen: Generation; m: StepMessage }[] = [];
  private roundTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(readonly size: number) {
    const { url, execArgv } = threadEntry();
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { execArgv, name: `generation-${i}` });
      const thread: Thread = { worker, active: 0 };
      worker.on('message', (m: FromThread) => this.onMessage(thread, m));
      worker.on('error', (err) => this.failThread(thread, err));
      worker.unref();
      this.threads.push(thread);
    }
  }

  /** Like `generate` from shared/ssd2 with `fusedModels(core, user, topK)`, on the least busy thread. */
  async *generate(
    models: { core: BatchedModel; user?: BatchedModel },
    topK: number,
    request: GenerationRequest,
  ): AsyncGenerator<GenerationEvent> {
    const thread = this.threads.reduce((a, b) => (b.active < a.active ? b : a));
    const id = this.nextGen++;
    const gen: Generation = { thread, models, events: [], done: false, error: undefined, wake: null, computing: true, outstanding: 0 };
    this.generations.set(id, gen);
    // A thread keeps the process alive only while it runs generations.
    if (thread.active++ === 0) thread.worker.ref();
    this.send(thread, { type: 'start', gen: id, core: models.core.info, user: models.user?.info ?? null, topK, request });
    try {
      for (;;) {
        if (gen.events.length) {
          yield gen.events.shift()!;
          continue;
        }
        if (gen.error !== undefined) throw gen.error;
        if (gen.done) return;
        await new Promise<void>((resolve) => (gen.wake = resolve));
      }
    } finally {
      if (!gen.done) this.send(thread, { type: 'cancel', gen: id });
      this.generations.delete(id);
      if (--thread.active === 0) thread.worker.unref();
      this.submitIfRoundComplete();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }

  private send(thread: Thread, m: ToThread, transfer: ArrayBuffer[] = []): void {
    thread.worker.postMessage(m, transfer);
  }

  private onMessage(thread: Thread, m: FromThread): void {
    const gen = this.generations.get(m.gen);
    if (m.type === 'step') {
      if (!gen) return; // cancelled: the thread stops at its next event
      gen.computing = false;
      gen.outstanding++;
      this.held.push({ thread, gen, m });
      this.roundTimer ??= setTimeout(() => this.submitRound(), ROUND_WAIT_MS);
      this.submitIfRoundComplete();
      return;
    }
    if (!gen) {
      if (m.type === 'failed' && m.error.mainError !== undefined) this.stepErrors.delete(m.error.mainError);
      return;
    }
    if (m.type === 'event') gen.events.push(m.event);
    else if (m.type === 'end') gen.done = true;
    else {
      const main = m.error.mainError;
      gen.error = main !== undefined && this.stepErrors.has(main) ? this.stepErrors.get(main) : errorFromWire(m.error);
      if (main !== undefined) this.stepErrors.delete(main);
      gen.done = true;
    }
    if (gen.done) gen.computing = false;
    gen.wake?.();
    gen.wake = null;
    this.submitIfRoundComplete();
  }

  /**
   * Generations on threads reach their next step at different times. Their steps are held until
   * every generation has sent its own (or ROUND_WAIT_MS passed), then submitted together and run
   * at once: one batch per round, as in-process generations form in lock-step.
   */
  private submitIfRoundComplete(): void {
    if (this.held.length === 0) return;
    for (const gen of this.generations.values()) if (gen.computing) return;
    this.submitRound();
  }

  private submitRound(): void {
    if (this.roundTimer) clearTimeout(this.roundTimer);
    this.roundTimer = null;
    const round = this.held;
    this.held = [];
    const models = new Set<BatchedModel>();
    for (const { thread, gen, m } of round) {
      const model = m.model === 'core' ? gen.models.core : gen.models.user!;
      models.add(model);
      this.submit(thread, gen, model, m);
    }
    for (const model of models) model.kick?.();
  }

  private submit(thread: Thread, gen: Generation, model: BatchedModel, m: StepMessage): void {
    const v = model.info.vocabSize;
    const selfCond = m.selfCond && blockLogits(m.selfCond, m.noise.blockLength, v);
    const settle = () => {
      if (--gen.outstanding === 0 && !gen.done) gen.computing = true;
    };
    // Called now, not in a microtask: the step must be queued before submitRound kicks the batcher.
    let pending: Promise<BlockLogits[]>;
    try {
      pending = model.denoise([{ context: m.context, noise: m.noise, selfCond }]);
    } catch (err) {
      pending = Promise.reject(err); // admission refuses synchronously when the queue is full
    }
    pending.then(
      ([logits]) => {
        settle();
        const data = logits.data.slice(); // a batch's items are views of one buffer
        this.send(thread, { type: 'logits', call: m.call, data }, [data.buffer]);
      },
      (err) => {
        settle();
        const error = this.nextError++;
        this.stepErrors.set(error, err);
        this.send(thread, { type: 'step-failed', call: m.call, error, message: (err as Error)?.message ?? String(err) });
      },
    );
  }

  private failThread(thread: Thread, err: unknown): void {
    for (const gen of this.generations.values()) {
      if (gen.thread !== thread || gen.done) continue;
      gen.error = err;
      gen.done = true;
      gen.computing = false;
      gen.wake?.();
      gen.wake = null;
    }
    this.submitIfRoundComplete();
  }
}
