import { setTimeout as sleep } from 'node:timers/promises';
import { graphClock } from '../../shared/runtime/graph-clock';
import type { WorkerConfig } from './config';
import { Admission } from './engine/batcher';
import { ContextStore } from './engine/context-store';
import { GenerateService } from './engine/generate-service';
import { Models } from './engine/models';
import { StepService } from './engine/step-service';
import { UserModelUploads } from './engine/user-model-uploads';
import { GenerationThreads } from './engine/threads/generation-threads';
import { errorReply } from './http/errors';
import { jsonLogger, type Logger } from './log';
import { WorkerMetrics } from './metrics';
import { coreBundleKey } from './store/bundle-keys';

/** How the default model's load is retried: the first retry after `firstMs`, doubling up to `maxMs`. */
export interface RetryPolicy {
  firstMs: number;
  maxMs: number;
}
export const DEFAULT_MODEL_RETRY: RetryPolicy = { firstMs: 1000, maxMs: 30_000 };

/** A bundle under a tenant's prefix of the model bucket (a user model). */
const TENANT_LOCATION = /(^|\/)tenants\//;

/** Where the default model's load stands (GET /healthz). */
export interface DefaultModelState {
  model: string;
  loaded: boolean;
  /** Failed attempts so far. */
  failures: number;
  /** Why the last attempt failed (the error body a request for it would get); null before any failure. */
  lastError: { code: string; message: string } | null;
}

/** Everything one worker holds: models, caches, services, metrics. All of it is a cache keyed by content. */
export class Worker {
  readonly metrics: WorkerMetrics;
  readonly models: Models;
  readonly steps: StepService;
  readonly generations: GenerateService;
  readonly uploads: UserModelUploads;
  readonly admission: Admission;
  readonly log: Logger;
  draining = false;
  readonly defaultModel: DefaultModelState | null;
  private readonly warming = new AbortController();

  constructor(readonly config: WorkerConfig) {
    this.log = jsonLogger(config.log);
    this.admission = new Admission(config.maxQueue);
    this.metrics = new WorkerMetrics({
      queueDepth: () => this.admission.pending,
      kvCache: () =>
        this.models.store.open().map((m) => ({
          model: `${m.bundle.manifest.name}@${m.bundle.manifest.version}`,
          hits: m.denoiser.cache.hits,
          misses: m.denoiser.cache.misses,
        })),
      timing: () =>
        this.models.store.open().map((m) => ({ model: `${m.bundle.manifest.name}@${m.bundle.manifest.version}`, ...m.denoiser.timing })),
      graphBusyMs: () => graphClock.busyMs,
    });
    this.models = new Models(config, this.metrics, this.admission);
    this.steps = new StepService(this.models, new ContextStore(config.contextStoreEntries), this.metrics);
    this.generations = new GenerateService(
      this.models,
      this.metrics,
      config.generationThreads ? new GenerationThreads(config.generationThreads) : undefined,
    );
    this.uploads = new UserModelUploads(this.models.s3, config.s3.bucket, config.s3.prefix, this.models, this.generations);
    const d = config.defaultModel;
    this.defaultModel = d ? { model: `${d.name}@${d.version}`, loaded: false, failures: 0, lastError: null } : null;
  }

  /**
   * Loads the default model (if configured) so the first request does not pay for it. A failed
   * load (S3 unreachable, credentials not there yet, a bad bundle) is logged and retried with capped
   * exponential backoff until it loads or `stopWarming()`; /readyz turns ready once it is open.
   * `onAttempt` is called after the first attempt, whatever its outcome.
   */
  async warm(retry: RetryPolicy = DEFAULT_MODEL_RETRY, onAttempt?: () => void): Promise<void> {
    const ref = this.config.defaultModel;
    const state = this.defaultModel;
    if (!ref || !state) return onAttempt?.();
    const signal = this.warming.signal;
    while (!signal.aborted) {
      const t0 = performance.now();
      try {
        await this.models.core(ref);
        state.loaded = true;
        this.log.info('default model loaded', {
          model: state.model,
          ms: Math.round(performance.now() - t0),
          provider: this.models.provider?.provider,
        });
        return onAttempt?.();
      } catch (err) {
        if (signal.aborted) return onAttempt?.(); // shutting down: no more attempts, nothing to report
        const { error } = errorReply(err).body;
        state.lastError = { code: error.code, message: error.message };
        const retryInMs = Math.min(retry.maxMs, retry.firstMs * 2 ** state.failures++);
        this.log.error('default model failed to load', {
          model: state.model,
          attempt: state.failures,
          code: error.code,
          error: error.message,
          retryInMs,
        });
        onAttempt?.();
        await sleep(retryInMs, undefined, { signal }).catch(() => {});
      }
    }
  }

  /** Ends the default model's retries (shutdown). */
  stopWarming(): void {
    this.warming.abort();
  }

  ready(): boolean {
    const d = this.config.defaultModel;
    return !this.draining && (!d || this.models.store.has(coreBundleKey(this.config.s3.prefix, d)));
  }

  health() {
    const rt = this.models.provider;
    const open = this.models.store.open();
    return {
      status: this.draining ? 'draining' : 'ok',
      provider: rt?.provider ?? null,
      providersWanted: this.config.providers,
      providersSkipped: rt?.skipped ?? {},
      defaultModel: this.defaultModel,
      // Open to anyone who reaches the port: tenants' user models are counted, never named.
      models: open
        .filter((m) => !TENANT_LOCATION.test(m.bundle.location))
        .map((m) => ({
          name: m.bundle.manifest.name,
          version: m.bundle.manifest.version,
          location: m.bundle.location,
          kvCacheBytes: m.denoiser.cache.bytesUsed,
        })),
      tenantModels: open.filter((m) => TENANT_LOCATION.test(m.bundle.location)).length,
      queue: { pending: this.admission.pending, max: this.admission.max },
      generationThreads: this.generations.threadCount,
    };
  }
}
