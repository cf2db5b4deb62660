import { SSD2Error } from './ssd2-error';

/** A model bundle is unusable; `file` names the bundle file at fault (e.g. `manifest.json`). */
export class BundleError extends SSD2Error {
  readonly bundle: string;
  readonly file: string;
  constructor(bundle: string, file: string, message: string, options?: { cause?: unknown }) {
    super('invalid_bundle', `${bundle}/${file}: ${message}`, options);
    this.bundle = bundle;
    this.file = file;
  }
}
