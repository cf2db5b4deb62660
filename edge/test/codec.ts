import { findModel } from '../src/models/catalog';

/** The bundled model's tokenizer, as the edge uses it. */
export const codecOf = () => findModel('tiny-core').codec();
