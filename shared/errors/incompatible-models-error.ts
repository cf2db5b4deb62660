import { SSD2Error } from './ssd2-error';

/** Models asked to collaborate (core + user, or routed checkpoints) do not share tokenizer/vocab/K/schedule. */
export class IncompatibleModelsError extends SSD2Error {
  /** The manifest field the models disagree on (`vocab_size`, `tokenizer`, `simplex_k`, `schedule`), when there is one. */
  readonly field?: string;
  constructor(message: string, field?: string) {
    super('incompatible_models', message);
    if (field) this.field = field;
  }
}
