import { codecFromJson, type TextCodec } from '../../../shared/tokenizer';
import type { ModelRef } from '../../../shared/protocol';
import coreManifest from '../../../models/core/manifest.json';
import coreTokenizer from '../../../models/core/tokenizer.json';
import tinyCoreManifest from '../../../models/tiny-core/manifest.json';
import tinyCoreTokenizer from '../../../models/tiny-core/tokenizer.json';
import { notFound } from '../errors/api-error';

/**
 * A core model the edge serves. The edge needs only its tokenizer and limits (bundled into the
 * Worker); weights live with the GPU workers, which fetch the bundle by name and version.
 */
export interface ServedModel {
  /** What clients put in `model`. */
  id: string;
  ref: ModelRef;
  blockSize: number;
  maxContext: number;
  vocabSize: number;
  eosTokenId: number;
  /** What a user model mixed with it must share (shared/ssd2/routing.ts assertCompatible). */
  simplexK: number;
  schedule: string;
  tokenizerSha256: string;
  codec(): TextCodec;
}

type BundledManifest = Pick<typeof tinyCoreManifest, 'name' | 'version' | 'block_size' | 'max_context' | 'vocab_size' | 'eos_token_id' | 'tokenizer' | 'simplex_k' | 'schedule' | 'files'>;

function bundled(manifest: BundledManifest, tokenizer: unknown): ServedModel {
  let codec: TextCodec | undefined;
  return {
    id: manifest.name,
    ref: { name: manifest.name, version: manifest.version },
    blockSize: manifest.block_size,
    maxContext: manifest.max_context,
    vocabSize: manifest.vocab_size,
    eosTokenId: manifest.eos_token_id,
    simplexK: manifest.simplex_k,
    schedule: manifest.schedule,
    tokenizerSha256: manifest.files.find((f) => f.path === manifest.tokenizer)!.sha256,
    codec: () => (codec ??= codecFromJson(manifest.name, manifest.tokenizer, new TextEncoder().encode(JSON.stringify(tokenizer)), manifest.vocab_size, manifest.eos_token_id)),
  };
}

/** The bundled core model first: it is what `npm start` and the docs use by default. */
export const MODELS: readonly ServedModel[] = [bundled(coreManifest, coreTokenizer), bundled(tinyCoreManifest, tinyCoreTokenizer)];

/** The model a request names, as `name` or `name@version`; 404 `model_not_found` otherwise. */
export function findModel(id: string): ServedModel {
  const m = MODELS.find((m) => m.id === id || `${m.ref.name}@${m.ref.version}` === id);
  if (!m) throw notFound('model', `the model "${id}" does not exist; GET /v1/models lists the served models`, 'model_not_found');
  return m;
}
