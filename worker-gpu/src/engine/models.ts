import type { S3Client } from '@aws-sdk/client-s3';
import { graphFiles, type LoadedBundle } from '../../../shared/bundle';
import { BundleError } from '../../../shared/errors';
import type { ModelRef, UserModelRef } from '../../../shared/protocol';
import { OnnxDenoiser } from '../../../shared/runtime/onnx-denoiser';
import type { WorkerConfig } from '../config';
import type { WorkerMetrics } from '../metrics';
import { asBundleError, nodeRuntime, type NodeRuntime } from '../runtime/providers';
import { coreBundleKey, userBundleKey } from '../store/bundle-keys';
import { ModelStore } from '../store/model-store';
import { s3Client } from '../store/s3-source';
import { type Admission, DynamicBatcher } from './batcher';

export interface OpenModel {
  bundle: LoadedBundle;
  denoiser: OnnxDenoiser;
  batcher: DynamicBatcher;
}

type Runtime = NodeRuntime & { skipped: Record<string, string> };

/** Core and user models by reference: S3 key, store, onnxruntime session and batcher. */
export class Models {
  readonly store: ModelStore<OpenModel>;
  readonly s3: S3Client;
  private runtime: Promise<Runtime> | null = null;
  private resolvedRuntime: Runtime | null = null;

  constructor(
    private readonly config: WorkerConfig,
    private readonly metrics: WorkerMetrics,
    private readonly admission: Admission,
  ) {
    this.s3 = s3Client(config.s3);
    this.store = new ModelStore<OpenModel>({
      client: this.s3,
      bucket: config.s3.bucket,
      cacheDir: config.cacheDir,
      memoryBytes: config.modelMemoryBytes,
      open: (bundle) => this.open(bundle),
      onLoad: (_key, source) => metrics.modelLoads.inc({ source }),
      onS3Read: () => metrics.s3Reads.inc(),
      // Its onnxruntime sessions are released once the steps it is running have finished.
      onEvict: (_key, model) => void model.batcher.idle().then(() => model.denoiser.release()),
    });
  }

  core(ref: ModelRef, field = 'model'): Promise<OpenModel> {
    return this.store.get(coreBundleKey(this.config.s3.prefix, ref), field);
  }

  user(ref: UserModelRef, field = 'user.bundle'): Promise<OpenModel> {
    return this.store.get(userBundleKey(this.config.s3.prefix, ref, field), field);
  }

  /** The provider sessions run on, once the first model opened (undefined before). */
  get provider(): Runtime | null {
    return this.resolvedRuntime;
  }

  /**
   * The provider is probed with the first graph this worker opens and kept once a probe succeeds.
   * A failed probe is not kept: a graph that no provider opens is its bundle's fault (422 for that
   * model alone), and the next model probes again.
   */
  private async runtimeFor(bundle: LoadedBundle): Promise<Runtime> {
    for (;;) {
      this.runtime ??= this.probe(bundle);
      try {
        return await this.runtime;
      } catch (err) {
        // Another bundle's graph failed the probe this one waited for: probe with this one.
        if (!(err instanceof BundleError) || err.bundle === bundle.location) throw err;
      }
    }
  }

  private probe(bundle: LoadedBundle): Promise<Runtime> {
    return nodeRuntime(this.config.providers, graphFiles(bundle, bundle.manifest.graphs.denoiser), this.config.threads).then(
      (rt) => {
        this.resolvedRuntime = rt;
        this.metrics.provider.set({ provider: rt.provider }, 1);
        return rt;
      },
      (err) => {
        this.runtime = null;
        throw asBundleError(err, bundle);
      },
    );
  }

  private async open(bundle: LoadedBundle): Promise<OpenModel> {
    const rt = await this.runtimeFor(bundle);
    const denoiser = await OnnxDenoiser.create(bundle, rt.ort, rt.createSession, {
      provider: rt.provider,
      cacheBytes: this.config.kvCacheBytes,
      stepGraphs: this.config.stepGraphs,
    }).catch((err) => Promise.reject(asBundleError(err, bundle)));
    const name = `${bundle.manifest.name}@${bundle.manifest.version}`;
    const batcher = new DynamicBatcher(denoiser, {
      windowMs: this.config.batchWindowMs,
      maxBatch: this.config.maxBatch,
      admission: this.admission,
      onBatch: (size, runMs, queueMs) => {
        this.metrics.batchSize.observe({ model: name }, size);
        this.metrics.batchSeconds.observe({ model: name }, runMs / 1000);
        for (const ms of queueMs) this.metrics.queueWait.observe({ model: name }, ms / 1000);
      },
    });
    return { bundle, denoiser, batcher };
  }
}
