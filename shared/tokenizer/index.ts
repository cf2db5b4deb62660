import { Tokenizer } from '@huggingface/tokenizers';
import { BundleError } from '../errors';
import type { LoadedBundle } from '../bundle';

/** Text <-> token ids for a bundle, backed by its Hugging Face tokenizer.json. */
export class TextCodec {
  constructor(
    private readonly tokenizer: Tokenizer,
    readonly vocabSize: number,
    readonly eosTokenId: number,
  ) {}

  encode(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[]): string {
    if (ids.length === 0) return ''; // the library refuses an empty list; a block that starts with EOS is one
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** The token's text (for visualisations), or `<id>` for ids the tokenizer does not know. */
  tokenText(id: number): string {
    return this.tokenizer.decode([id], { skip_special_tokens: false }) || `<${id}>`;
  }
}

/** Builds a codec from tokenizer.json bytes, checking it fits the manifest's vocabulary. */
export function codecFromJson(location: string, file: string, bytes: Uint8Array, vocabSize: number, eosTokenId: number): TextCodec {
  let json: { model?: { vocab?: object } };
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BundleError(location, file, `not valid JSON: ${(err as Error).message}`);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, { add_prefix_space: false, clean_up_tokenization_spaces: false });
  } catch (err) {
    throw new BundleError(location, file, `not a usable Hugging Face tokenizer: ${(err as Error).message}`, { cause: err });
  }
  const size = tokenizer.get_vocab(true).size;
  if (size > vocabSize) throw new BundleError(location, file, `tokenizer has ${size} tokens but the manifest's vocab_size is ${vocabSize}`);
  return new TextCodec(tokenizer, vocabSize, eosTokenId);
}

export function bundleCodec(bundle: LoadedBundle): TextCodec {
  const { manifest } = bundle;
  return codecFromJson(
    bundle.location,
    manifest.tokenizer,
    bundle.files.get(manifest.tokenizer)!,
    manifest.vocab_size,
    manifest.eos_token_id,
  );
}
