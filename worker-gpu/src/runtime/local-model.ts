import { graphFiles, loadBundle, type GraphFiles, type LoadedBundle } from '../../../shared/bundle';
import { OnnxDenoiser, type OnnxDenoiserOptions } from '../../../shared/runtime/onnx-denoiser';
import { bundleCodec, type TextCodec } from '../../../shared/tokenizer';
import { directorySource } from '../bundle/directory-source';
import { asBundleError, GraphOpenError, nodeRuntime, type NodeRuntime, type ProviderName } from './providers';

export interface LocalModel {
  bundle: LoadedBundle;
  denoiser: OnnxDenoiser;
  codec: TextCodec;
}

const runtimes = new Map<string, Promise<NodeRuntime>>();

/**
 * One runtime per provider list, probed with the first graph it is asked to open. A failed probe
 * is not kept; one that failed on another bundle's graph is retried with this one.
 */
async function runtimeFor(providers: readonly ProviderName[], probe: GraphFiles): Promise<NodeRuntime> {
  const key = providers.join(',');
  for (;;) {
    let runtime = runtimes.get(key);
    const mine = !runtime;
    if (!runtime) {
      runtime = nodeRuntime(providers, probe);
      runtimes.set(key, runtime);
      runtime.catch(() => runtimes.delete(key));
    }
    try {
      return await runtime;
    } catch (err) {
      if (mine || !(err instanceof GraphOpenError)) throw err;
    }
  }
}

/** Loads and verifies a bundle directory and opens it with onnxruntime-node; a graph onnxruntime cannot open is a `BundleError` naming it. */
export async function loadLocalModel(
  dir: string,
  providers: readonly ProviderName[] = ['cpu'],
  opts: OnnxDenoiserOptions = {},
): Promise<LocalModel> {
  const bundle = await loadBundle(directorySource(dir));
  const codec = bundleCodec(bundle);
  try {
    const runtime = await runtimeFor(providers, graphFiles(bundle, bundle.manifest.graphs.denoiser));
    const denoiser = await OnnxDenoiser.create(bundle, runtime.ort, runtime.createSession, { provider: runtime.provider, ...opts });
    return { bundle, denoiser, codec };
  } catch (err) {
    throw asBundleError(err, bundle);
  }
}
