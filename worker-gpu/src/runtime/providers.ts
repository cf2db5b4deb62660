import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import { BundleError, InvalidArgumentError } from '../../../shared/errors';
import type { SessionFactory } from '../../../shared/runtime/onnx-denoiser';
import type { GraphFiles, LoadedBundle } from '../../../shared/bundle';

export type ProviderName = 'cuda' | 'webgpu' | 'cpu';
const DEFAULT_PROVIDERS: readonly ProviderName[] = ['cuda', 'webgpu', 'cpu'];

/** Parses a comma-separated provider list such as `cuda,webgpu,cpu` (env SSD2_PROVIDERS). */
export function parseProviders(list: string | undefined): ProviderName[] {
  if (!list) return [...DEFAULT_PROVIDERS];
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (!DEFAULT_PROVIDERS.includes(n as ProviderName))
      throw new InvalidArgumentError('providers', `unknown execution provider "${n}" (expected cuda, webgpu or cpu)`);
  }
  if (names.length === 0) throw new InvalidArgumentError('providers', 'empty provider list');
  return names as ProviderName[];
}

/** Providers this onnxruntime-node build offers, in the order asked for. */
export function availableProviders(wanted: readonly ProviderName[]): ProviderName[] {
  const supported = new Set(ort.listSupportedBackends().map((b) => b.name));
  return wanted.filter((p) => supported.has(p));
}

export interface NodeRuntime {
  /** The provider sessions are created with (the first of the list that works here). */
  readonly provider: ProviderName;
  readonly createSession: SessionFactory;
  readonly ort: typeof ort;
}

/** onnxruntime's CPU thread pool (used by the cpu provider, and by other providers for CPU nodes). */
export interface ThreadOptions {
  /** Intra-op threads; 0 or undefined: onnxruntime's default (one per core). */
  intraOpThreads?: number;
  /**
   * Let idle pool threads spin (busy-wait) for the next parallel section; onnxruntime's default
   * is true. false here: the worker's JavaScript (noise, compaction, HTTP) runs between runs on
   * the same cores, and spinning threads take the CPU it needs (measured on 2 cores: about 2x
   * the steps/s without spinning, see docs/worker.md).
   */
  spinning?: boolean;
}

export function sessionOptions(provider: ProviderName, threads: ThreadOptions = {}): InferenceSession.SessionOptions {
  const options: InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    extra: { session: { 'intra_op.allow_spinning': threads.spinning ? '1' : '0' } },
  };
  if (threads.intraOpThreads) options.intraOpNumThreads = threads.intraOpThreads;
  return options;
}

/**
 * A graph that no provider opened, the CPU provider included: the graph is at fault, not the
 * providers. `file` names it where the session factory was told (undefined for a probe).
 */
export class GraphOpenError extends Error {
  constructor(
    readonly file: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GraphOpenError';
  }
}

/** No provider from the list opened the probe graph, which the CPU provider does open: the providers are at fault. */
export class NoProviderError extends Error {
  constructor(
    readonly wanted: readonly ProviderName[],
    readonly skipped: Record<string, string>,
  ) {
    super(`no execution provider from [${wanted.join(', ')}] works here: ${JSON.stringify(skipped)}`);
    this.name = 'NoProviderError';
  }
}

const firstLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n')[0];

function openSession(graph: GraphFiles, options: InferenceSession.SessionOptions): Promise<InferenceSession> {
  return ort.InferenceSession.create(graph.bytes, graph.externalData ? { ...options, externalData: graph.externalData } : options);
}

/** Why the CPU provider (in every onnxruntime-node build) cannot open `graph`, or undefined when it can. */
async function cpuOpenError(graph: GraphFiles, threads: ThreadOptions): Promise<string | undefined> {
  try {
    await (await openSession(graph, sessionOptions('cpu', threads))).release();
    return undefined;
  } catch (err) {
    return firstLine(err);
  }
}

/** A `GraphOpenError` as the bundle's fault, naming its file (the denoiser for a probe). */
export function asBundleError(err: unknown, bundle: LoadedBundle): unknown {
  if (!(err instanceof GraphOpenError)) return err;
  return new BundleError(bundle.location, err.file ?? bundle.manifest.graphs.denoiser, `onnxruntime cannot open it: ${err.message}`, {
    cause: err,
  });
}

/**
 * Picks the first provider from `wanted` that can open a session here. A provider that is listed
 * but fails (no GPU, no CUDA library) is skipped, and the reason is kept for /healthz. When every
 * provider fails on the probe, or a session later fails to open, the CPU provider tells whose
 * fault it is: a graph the CPU provider cannot open either throws `GraphOpenError`; otherwise the
 * provider's error (`NoProviderError` for the probe) is thrown.
 */
export async function nodeRuntime(
  wanted: readonly ProviderName[] = DEFAULT_PROVIDERS,
  probe?: Uint8Array | GraphFiles,
  threads: ThreadOptions = {},
): Promise<NodeRuntime & { skipped: Record<string, string> }> {
  const skipped: Record<string, string> = {};
  const candidates = availableProviders(wanted);
  for (const p of wanted) if (!candidates.includes(p)) skipped[p] = 'not in this onnxruntime-node build';
  const graph = probe instanceof Uint8Array ? { bytes: probe } : probe;
  for (const provider of candidates) {
    const options = sessionOptions(provider, threads);
    if (graph) {
      try {
        await openSession(graph, options);
      } catch (err) {
        skipped[provider] = firstLine(err);
        continue;
      }
    }
    return {
      provider,
      skipped,
      ort,
      createSession: async (bytes, file, externalData) => {
        const graph = { bytes, externalData: externalData && [...externalData] };
        try {
          return await openSession(graph, options);
        } catch (err) {
          const cpu = provider === 'cpu' ? firstLine(err) : await cpuOpenError(graph, threads);
          throw cpu === undefined ? err : new GraphOpenError(file, cpu, { cause: err });
        }
      },
    };
  }
  const cpu = graph && (candidates.includes('cpu') ? skipped.cpu : await cpuOpenError(graph, threads));
  if (cpu !== undefined) throw new GraphOpenError(undefined, cpu);
  throw new NoProviderError(wanted, skipped);
}
