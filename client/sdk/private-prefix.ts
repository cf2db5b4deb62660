import { privateContextPrefix } from '../../shared/prompt/instruction';
import type { Denoiser } from '../../shared/ssd2';
import type { TextCodec } from '../../shared/tokenizer';

/** A user model on the caller's machine (Node or a browser): its denoiser and its tokenizer. */
export interface UserModel {
  denoiser: Denoiser;
  codec: Pick<TextCodec, 'encode' | 'decode'>;
}

/** The private context as the user model reads it, in front of the shared context (empty when none). */
export function privatePrefixTokens(model: UserModel, privateContext: string | undefined): number[] {
  return privateContext?.trim() ? model.codec.encode(privateContextPrefix(privateContext)) : [];
}
