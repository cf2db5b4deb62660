import { graphClock } from '../../shared/runtime/graph-clock';
import type { WorkerConfig } from './config';
import { Admission } from './engine/batcher';
import { ContextStore } from './engine/context-store';
import { GenerateService } from './engine/generate-service';
import { Models } from './engine/models';
import { StepService } from './engine/step-service';
import { UserModelUploads } from './engine/user-model-uploads';
import { GenerationThreads } from './engine/threads/generation-threads';
import { jsonLogger, type Logger } from './log';
import { WorkerMetrics } from './metrics';
import { coreBundleKey } from './store/bundle-keys';

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
  }

  /** Loads the default model (if configured) so the first request does not pay for it. */
  async warm(): Promise<void> {
    if (!this.config.defaultModel) return;
    const t0 = performance.now();
    await this.models.core(this.config.defaultModel);
    this.log.info('default model loaded', {
      model: this.config.defaultModel,
      ms: Math.round(performance.now() - t0),
      provider: this.models.provider?.provider,
    });
  }

  ready(): boolean {
    const d = this.config.defaultModel;
    return !this.draining && (!d || this.models.store.has(coreBundleKey(this.config.s3.prefix, d)));
  }

  health() {
    const rt = this.models.provider;
    return {
      status: this.draining ? 'draining' : 'ok',
      provider: rt?.provider ?? null,
      providersWanted: this.config.providers,
      providersSkipped: rt?.skipped ?? {},
      models: this.models.store.open().map((m) => ({
        name: m.bundle.manifest.name,
        version: m.bundle.manifest.version,
        location: m.bundle.location,
        kvCacheBytes: m.denoiser.cache.bytesUsed,
      })),
      queue: { pending: this.admission.pending, max: this.admission.max },
      generationThreads: this.generations.threadCount,
    };
  }
}
