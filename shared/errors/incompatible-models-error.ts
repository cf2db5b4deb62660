import { SSD2Error } from './ssd2-error';

/** Models asked to collaborate (core + user, or routed checkpoints) do not share tokenizer/vocab/K/schedule. */
export class IncompatibleModelsError extends SSD2Error {
  constructor(message: string) {
    super('incompatible_models', message);
  }
}
