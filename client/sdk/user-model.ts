import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import type { ProviderName } from '../../worker-gpu/src/runtime/providers';
import type { UserModel } from './private-prefix';

export { privatePrefixTokens, type UserModel } from './private-prefix';

/** Opens a user model bundle directory with onnxruntime-node (CPU unless told otherwise). */
export async function loadUserModel(dir: string, providers: readonly ProviderName[] = ['cpu']): Promise<UserModel> {
  const { denoiser, codec } = await loadLocalModel(dir, providers);
  return { denoiser, codec };
}
