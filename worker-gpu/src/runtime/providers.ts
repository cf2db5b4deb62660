import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import { InvalidArgumentError } from '../../../shared/errors';
import type { SessionFactory } from '../../../shared/runtime/onnx-denoiser';
import type { GraphFiles } from '../../../shared/bundle';

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
 * Picks the first provider from `wanted` that can open a session here. A provider that is listed
 * but fails (no GPU, no CUDA library) is skipped, and the reason is kept for /healthz.
 */
export async function nodeRuntime(
  wanted: readonly ProviderName[] = DEFAULT_PROVIDERS,
  probe?: Uint8Array | GraphFiles,
  threads: ThreadOptions = {},
): Promise<NodeRuntime & { skipped: Record<string, string> }> {
  const skipped: Record<string, string> = {};
  const candidates = availableProviders(wanted);
  for (const p of wanted) if (!candidates.includes(p)) skipped[p] = 'not in this onnxruntime-node build';
  for (const provider of candidates) {
    const options = sessionOptions(provider, threads);
    if (probe) {
      try {
        const graph = probe instanceof Uint8Array ? { bytes: probe } : probe;
        await ort.InferenceSession.create(graph.bytes, graph.externalData ? { ...options, externalData: graph.externalData } : options);
      } catch (err) {
        skipped[provider] = (err as Error).message.split('\n')[0];
        continue;
      }
    }
    return {
      provider,
      skipped,
      ort,
      createSession: (bytes, _file, externalData) =>
        ort.InferenceSession.create(bytes, externalData ? { ...options, externalData } : options),
    };
  }
  throw new Error(`no execution provider from [${wanted.join(', ')}] works here: ${JSON.stringify(skipped)}`);
}
