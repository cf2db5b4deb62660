import { IncompatibleModelsError, InvalidArgumentError, SSD2Error } from '../../../../shared/errors';
import type { WireError } from './messages';

/** Marks a thread-side rejection that stands for an error the main thread kept (by id). */
export class MainThreadError extends Error {
  constructor(
    readonly id: number,
    message: string,
  ) {
    super(message);
    this.name = 'MainThreadError';
  }
}

/** What crosses from a thread: the engine's own errors keep their class, field and code. */
export function errorToWire(err: unknown): WireError {
  if (err instanceof MainThreadError) return { name: err.name, message: err.message, mainError: err.id };
  const e = err as Partial<InvalidArgumentError>;
  return { name: e?.name ?? 'Error', code: e?.code, field: e?.field, message: e?.message ?? String(err) };
}

/** The same error class on the main thread, so HTTP replies name the field as in-process runs do. */
export function errorFromWire(w: WireError): Error {
  if (w.name === 'InvalidArgumentError' && w.field !== undefined)
    return new InvalidArgumentError(w.field, w.message.slice(w.field.length + 2));
  if (w.name === 'IncompatibleModelsError') return new IncompatibleModelsError(w.message);
  if (w.code !== undefined) return new SSD2Error(w.code, w.message);
  return w.name === 'RangeError' ? new RangeError(w.message) : new Error(w.message);
}
