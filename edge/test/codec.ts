/// <reference types="vite/client" />
import tinyManifest from '../../models/tiny-core/manifest.json';
import tinyTokenizer from '../../models/tiny-core/tokenizer.json?raw';
import { codecFromJson } from '../../shared/tokenizer';

/** The tests' model's tokenizer, as the edge builds it from the tokenizer.json a worker hands it. */
export const codecOf = () =>
  codecFromJson('tiny-core', 'tokenizer.json', new TextEncoder().encode(tinyTokenizer), tinyManifest.vocab_size, tinyManifest.eos_token_id);
