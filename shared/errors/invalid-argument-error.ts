import { SSD2Error } from './ssd2-error';

/** A caller-supplied option or input is out of range; `field` names it (e.g. `top_p`). */
export class InvalidArgumentError extends SSD2Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super('invalid_argument', `${field}: ${message}`);
    this.field = field;
  }
}
