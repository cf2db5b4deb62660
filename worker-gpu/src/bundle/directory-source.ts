import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { BundleSource } from '../../../shared/bundle';

/** A bundle in a local directory. */
export function directorySource(dir: string): BundleSource {
  const root = resolve(dir);
  return {
    location: root,
    read: async (path) => new Uint8Array(await readFile(join(root, path))),
  };
}
