import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * A counter whose totals are kept elsewhere (per open model, cumulative): set to them at each
 * scrape. A model dropped from memory and opened again starts from 0, which Prometheus reads as a
 * counter reset.
 */
function totals<T extends { model: string }>(counter: Counter<'model'>, sources: readonly T[], seconds: (t: T) => number): void {
  counter.reset();
  for (const t of sources) counter.inc({ model: t.model }, seconds(t));
}

/** Prometheus metrics of one worker (own registry, so several workers can share a process in tests). */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly steps = new Counter({
    name: 'ssd2_worker_steps_total',
    help: 'Denoising steps served',
    labelNames: ['model', 'mode'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'ssd2_worker_batch_size',
    help: 'Steps per batched inference',
    labelNames: ['model'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: 'ssd2_worker_batch_seconds',
    help: 'Time of one batched inference',
    labelNames: ['model'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'ssd2_worker_queue_wait_seconds',
    help: 'Time a step (of /v1/step, a fused generation or a user-model validation) waited for its batch to start',
    labelNames: ['model'] as const,
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });
  readonly stepLatency = new Histogram({
    name: 'ssd2_worker_step_seconds',
    help: 'POST /v1/step latency, parse to reply',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });
  readonly modelLoads = new Counter({
    name: 'ssd2_worker_model_loads_total',
    help: 'Bundles loaded into memory',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly s3Reads = new Counter({ name: 'ssd2_worker_s3_reads_total', help: 'Bundle files read from S3', registers: [this.registry] });
  readonly errors = new Counter({
    name: 'ssd2_worker_errors_total',
    help: 'Error replies',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  readonly provider = new Gauge({
    name: 'ssd2_worker_provider_info',
    help: 'Execution provider in use (value 1)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });
  readonly queueDepth: Gauge;
  readonly kvHits: Gauge;
  readonly kvMisses: Gauge;
  readonly onnxSeconds: Counter;
  readonly prepSeconds: Counter;
  readonly graphBusySeconds: Counter;

  constructor(sources: {
    queueDepth: () => number;
    kvCache: () => { model: string; hits: number; misses: number }[];
    timing?: () => { model: string; runMs: number; prepMs: number }[];
    graphBusyMs?: () => number;
  }) {
    this.queueDepth = new Gauge({
      name: 'ssd2_worker_queue_depth',
      help: 'Steps waiting or running',
      registers: [this.registry],
      collect() {
        this.set(sources.queueDepth());
      },
    });
    this.kvHits = new Gauge({
      name: 'ssd2_worker_kv_cache_hits',
      help: 'Context key/value cache hits per open model',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        for (const c of sources.kvCache()) this.set({ model: c.model }, c.hits);
      },
    });
    this.kvMisses = new Gauge({
      name: 'ssd2_worker_kv_cache_misses',
      help: 'Context key/value cache misses per open model',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        for (const c of sources.kvCache()) this.set({ model: c.model }, c.misses);
      },
    });
    this.onnxSeconds = new Counter({
      name: 'ssd2_worker_onnx_seconds_total',
      help: 'Time inside the denoiser graph (session.run), cumulative per open model',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        totals(this, sources.timing?.() ?? [], (t) => t.runMs / 1000);
      },
    });
    this.prepSeconds = new Counter({
      name: 'ssd2_worker_batch_prep_seconds_total',
      help: 'Time building batched inputs (noise, self-conditioning, padded caches), cumulative per open model',
      labelNames: ['model'] as const,
      registers: [this.registry],
      collect() {
        totals(this, sources.timing?.() ?? [], (t) => t.prepMs / 1000);
      },
    });
    this.graphBusySeconds = new Counter({
      name: 'ssd2_worker_graph_busy_seconds_total',
      help:
        'Wall time during which any onnxruntime session ran (denoisers, context encoders, step graphs), cumulative; the rest of the ' +
        'wall time is host work and idle time',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc((sources.graphBusyMs?.() ?? 0) / 1000);
      },
    });
  }
}
