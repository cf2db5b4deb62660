import { graphFiles, loadBundle, type GraphFiles, type LoadedBundle } from '../../../shared/bundle';
import { OnnxDenoiser, type OnnxDenoiserOptions } from '../../../shared/runtime/onnx-denoiser';
import { bundleCodec, type TextCodec } from '../../../shared/tokenizer';
import { directorySource } from '../bundle/directory-source';
import { nodeRuntime, type NodeRuntime, type ProviderName } from './providers';

export interface LocalModel {
  bundle: LoadedBundle;
  denoiser: OnnxDenoiser;
  codec: TextCodec;
}

const runtimes = new Map<string, Promise<NodeRuntime>>();

/** One runtime per provider list, probed with the first graph it is asked to open. */
function runtimeFor(providers: readonly ProviderName[], probe: GraphFiles): Promise<NodeRuntime> {
  const key = providers.join(',');
  if (!runtimes.has(key)) runtimes.set(key, nodeRuntime(providers, probe));
  return runtimes.get(key)!;
}

/** Loads and verifies a bundle directory and opens it with onnxruntime-node. */
export async function loadLocalModel(
  dir: string,
  providers: readonly ProviderName[] = ['cpu'],
  opts: OnnxDenoiserOptions = {},
): Promise<LocalModel> {
  const bundle = await loadBundle(directorySource(dir));
  const codec = bundleCodec(bundle);
  const runtime = await runtimeFor(providers, graphFiles(bundle, bundle.manifest.graphs.denoiser));
  const denoiser = await OnnxDenoiser.create(bundle, runtime.ort, runtime.createSession, { provider: runtime.provider, ...opts });
  return { bundle, denoiser, codec };
}
