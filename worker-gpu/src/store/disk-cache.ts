import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { BundleSource, LoadedBundle } from '../../../shared/bundle';
import { directorySource } from '../bundle/directory-source';

/**
 * Verified bundles on local disk, one directory per S3 key prefix. Only bundles that passed
 * verification are written (into a temporary directory, then renamed), and a copy is used only
 * while its manifest is byte-identical to the one in S3; loadBundle verifies it again anyway.
 */
export class DiskBundleCache {
  private readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  dirFor(key: string): string {
    return join(this.root, key);
  }

  /** A source for the cached copy if it matches `manifest`, else undefined. */
  async lookup(key: string, manifest: Uint8Array): Promise<BundleSource | undefined> {
    const dir = this.dirFor(key);
    const cached = await readFile(join(dir, 'manifest.json')).catch(() => undefined);
    if (!cached || Buffer.compare(cached, manifest) !== 0) return undefined;
    return directorySource(dir);
  }

  async save(key: string, bundle: LoadedBundle, manifest: Uint8Array): Promise<void> {
    const dir = this.dirFor(key);
    const tmp = `${dir.replace(/\/$/, '')}.tmp-${randomUUID()}`;
    await mkdir(tmp, { recursive: true });
    for (const [path, bytes] of bundle.files) {
      await mkdir(dirname(join(tmp, path)), { recursive: true });
      await writeFile(join(tmp, path), bytes);
    }
    await writeFile(join(tmp, 'manifest.json'), manifest);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir.replace(/\/$/, ''));
  }

  async remove(key: string): Promise<void> {
    await rm(this.dirFor(key), { recursive: true, force: true });
  }
}
