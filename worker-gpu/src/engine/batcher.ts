import type { DenoiseStep, Denoiser } from '../../../shared/ssd2/denoiser';
import type { BlockLogits } from '../../../shared/ssd2/types';
import { overloaded } from '../http/errors';

/** Bounds the steps waiting across every model's batcher; past it new steps get 503. */
export class Admission {
  pending = 0;
  constructor(readonly max: number) {}

  take(n: number): void {
    if (this.pending + n > this.max) throw overloaded();
    this.pending += n;
  }

  release(n: number): void {
    this.pending -= n;
  }
}

export interface TimedLogits {
  logits: BlockLogits;
  queueMs: number;
  runMs: number;
  batchSize: number;
}

export interface BatcherOptions {
  windowMs: number;
  maxBatch: number;
  admission: Admission;
  /** After each batch: its size, its run time and how long each of its steps waited for it. */
  onBatch?: (size: number, runMs: number, queueMs: readonly number[]) => void;
}

interface Waiting {
  step: DenoiseStep;
  since: number;
  resolve: (r: TimedLogits) => void;
  reject: (err: unknown) => void;
}

/**
 * Dynamic batching for one model: steps that arrive within `windowMs` of the first waiting one
 * (or until `maxBatch` are waiting) run as one `denoise` call, which pads different context
 * lengths with a mask. One batch runs at a time; steps arriving meanwhile form the next batch.
 */
export class DynamicBatcher implements Denoiser {
  private queue: Waiting[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private next: ReturnType<typeof setImmediate> | null = null;
  private running = false;

  constructor(
    private readonly inner: Denoiser,
    private readonly opts: BatcherOptions,
  ) {}

  get info() {
    return this.inner.info;
  }

  denoise(steps: readonly DenoiseStep[]): Promise<BlockLogits[]> {
    return Promise.all(steps.map((s) => this.denoiseTimed(s).then((r) => r.logits)));
  }

  denoiseTimed(step: DenoiseStep): Promise<TimedLogits> {
    this.opts.admission.take(1);
    return new Promise<TimedLogits>((resolve, reject) => {
      this.queue.push({ step, since: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or running (polled every few milliseconds). */
  async idle(): Promise<void> {
    while (this.running || this.queue.length > 0 || this.next || this.timer) await new Promise((r) => setTimeout(r, 5));
  }

  /**
   * Runs what is queued on the next turn of the event loop instead of after the window: for a
   * caller that knows no more steps are coming (generation threads submit a whole round at once).
   */
  kick(): void {
    if (this.running || this.next || this.queue.length === 0) return;
    this.runNextTurn();
  }

  /** Starts the next batch on the next turn of the event loop, with no window. */
  private runNextTurn(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.next = setImmediate(() => {
      this.next = null;
      void this.runBatch();
    });
  }

  private schedule(): void {
    if (this.running || this.next) return; // the running batch, or the one about to start, takes it
    if (this.queue.length >= this.opts.maxBatch) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      void this.runBatch();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.runBatch();
      }, this.opts.windowMs);
    }
  }

  private async runBatch(): Promise<void> {
    if (this.running || this.queue.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = true;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    const start = performance.now();
    try {
      const out = await this.inner.denoise(batch.map((w) => w.step));
      const runMs = performance.now() - start;
      this.opts.onBatch?.(
        batch.length,
        runMs,
        batch.map((w) => start - w.since),
      );
      batch.forEach((w, i) => w.resolve({ logits: out[i], queueMs: start - w.since, runMs, batchSize: batch.length }));
    } catch (err) {
      batch.forEach((w) => w.reject(err));
    } finally {
      this.opts.admission.release(batch.length);
      this.running = false;
      // The next batch starts on the next turn of the event loop, without a window: steps that
      // queued behind this batch have waited long enough, and the steps just answered get their
      // turn first (promise continuations run before setImmediate), so a fused generation's next
      // step joins it. Concurrent generations thus settle into one lock-step batch per step.
      this.runNextTurn();
    }
  }
}
