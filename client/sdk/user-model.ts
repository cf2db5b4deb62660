import { privateContextPrefix } from '../../shared/prompt/instruction';
import type { Denoiser } from '../../shared/ssd2';
import type { TextCodec } from '../../shared/tokenizer';
import { loadLocalModel } from '../../worker-gpu/src/runtime/local-model';
import type { ProviderName } from '../../worker-gpu/src/runtime/providers';

/** A user model on the caller's machine: its denoiser and its tokenizer. */
export interface UserModel {
  denoiser: Denoiser;
  codec: Pick<TextCodec, 'encode' | 'decode'>;
}

/** Opens a user model bundle directory with onnxruntime-node (CPU unless told otherwise). */
export async function loadUserModel(dir: string, providers: readonly ProviderName[] = ['cpu']): Promise<UserModel> {
  const { denoiser, codec } = await loadLocalModel(dir, providers);
  return { denoiser, codec };
}

/** The private context as the user model reads it, in front of the shared context (empty when none). */
export function privatePrefixTokens(model: UserModel, privateContext: string | undefined): number[] {
  return privateContext?.trim() ? model.codec.encode(privateContextPrefix(privateContext)) : [];
}
