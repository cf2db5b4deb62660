/** Base class of every error the SSD-2 engine raises on purpose. `code` is stable for APIs. */
export class SSD2Error extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}
