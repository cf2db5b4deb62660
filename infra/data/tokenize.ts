import { writeFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';

/** Encodes documents to a uint32 little-endian token stream, each document followed by EOS. */
export function encodeStream(tokenizerJson: object, documents: Iterable<string>, eosTokenId: number): Uint32Array {
  const tokenizer = new Tokenizer(tokenizerJson, { add_prefix_space: false });
  const ids: number[] = [];
  for (const doc of documents) {
    for (const id of tokenizer.encode(doc, { add_special_tokens: false }).ids) ids.push(id);
    ids.push(eosTokenId);
  }
  return Uint32Array.from(ids);
}

export function writeStream(path: string, ids: Uint32Array): void {
  const bytes = new Uint8Array(ids.length * 4);
  const view = new DataView(bytes.buffer);
  ids.forEach((id, i) => view.setUint32(i * 4, id, true));
  writeFileSync(path, bytes);
}
