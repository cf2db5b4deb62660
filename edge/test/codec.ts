import { MODELS } from '../src/models/catalog';

/** The bundled model's tokenizer, as the edge uses it. */
export const codecOf = () => MODELS.find((m) => m.id === 'tiny-core')!.codec();
