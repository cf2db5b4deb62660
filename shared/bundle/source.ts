/** Where bundle files come from: a directory, S3, or fetch() in a browser. */
export interface BundleSource {
  /** Human-readable location used in error messages (a path or URL). */
  readonly location: string;
  /** Reads one file; rejects with an error whose `code` is 'ENOENT' when it does not exist. */
  read(path: string): Promise<Uint8Array>;
}

export function isNotFound(err: unknown): boolean {
  return (
    typeof err === 'object' &&
    err !== null &&
    ((err as { code?: string }).code === 'ENOENT' ||
      (err as { code?: string }).code === 'NoSuchKey' ||
      (err as { name?: string }).name === 'NoSuchKey')
  );
}
