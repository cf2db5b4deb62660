import type { S3Client } from '@aws-sdk/client-s3';
import { isNotFound, loadBundle, type BundleSource, type LoadedBundle } from '../../../shared/bundle';
import { BundleError } from '../../../shared/errors';
import { modelNotFound } from '../http/errors';
import { ByteLru } from '../../../shared/cache/byte-lru';
import { DiskBundleCache } from './disk-cache';
import { s3BundleSource } from './s3-source';

export type LoadSource = 's3' | 'disk';

export interface ModelStoreOptions<T> {
  client: S3Client;
  bucket: string;
  cacheDir: string;
  memoryBytes: number;
  /** Turns a verified bundle into what callers use (sessions, batcher). */
  open: (bundle: LoadedBundle) => Promise<T>;
  onLoad?: (key: string, source: LoadSource) => void;
  onS3Read?: (path: string, bytes: number) => void;
  /** A model dropped from memory (the budget needed its bytes): release what it holds. */
  onEvict?: (key: string, value: T) => void;
}

/**
 * Bundles from S3, verified against their manifest's sha256, kept on local disk and open in
 * memory (LRU by bundle bytes). Concurrent requests for a bundle share one load; a failed load
 * (missing, corrupted) is not remembered, so a fixed upload is picked up by the next request.
 */
export class ModelStore<T> {
  private readonly memory: ByteLru<T>;
  private readonly loading = new Map<string, Promise<T>>();
  private readonly disk: DiskBundleCache;

  constructor(private readonly opts: ModelStoreOptions<T>) {
    this.memory = new ByteLru<T>(opts.memoryBytes, { onEvict: opts.onEvict });
    this.disk = new DiskBundleCache(opts.cacheDir);
  }

  /** The model under an S3 key prefix; `field` names the request field for errors. */
  get(key: string, field: string): Promise<T> {
    const hit = this.memory.get(key);
    if (hit) return Promise.resolve(hit);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = this.load(key, field).finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /** Keys of the models open in memory, most recently used last. */
  loaded(): string[] {
    return this.memory.keys();
  }

  /** The models open in memory. */
  open(): T[] {
    return this.memory.values();
  }

  has(key: string): boolean {
    return this.memory.has(key);
  }

  /** Drops a model from memory and disk (its bundle was deleted); the next get() loads it again. */
  async forget(key: string): Promise<void> {
    const open = this.memory.get(key);
    this.memory.delete(key);
    if (open !== undefined) this.opts.onEvict?.(key, open);
    await this.disk.remove(key);
  }

  diskDir(key: string): string {
    return this.disk.dirFor(key);
  }

  private async load(key: string, field: string): Promise<T> {
    const s3 = s3BundleSource(this.opts.client, this.opts.bucket, key, this.opts.onS3Read);
    let manifest: Uint8Array;
    try {
      manifest = await s3.read('manifest.json');
    } catch (err) {
      if (isNotFound(err)) throw modelNotFound(field, s3.location);
      throw new BundleError(s3.location, 'manifest.json', `cannot read: ${(err as Error).message}`, { cause: err });
    }
    let bundle: LoadedBundle | undefined;
    let source: LoadSource = 'disk';
    const cached = await this.disk.lookup(key, manifest);
    if (cached) {
      bundle = await loadBundle(withManifest(cached, manifest)).catch(async () => {
        await this.disk.remove(key); // damaged on disk: fall back to S3
        return undefined;
      });
    }
    if (!bundle) {
      source = 's3';
      bundle = await loadBundle(withManifest(s3, manifest)); // throws BundleError on any mismatch: nothing is cached
      await this.disk.save(key, bundle, manifest);
    }
    const value = await this.opts.open(bundle);
    const bytes = [...bundle.files.values()].reduce((n, b) => n + b.byteLength, 0);
    this.memory.set(key, value, bytes);
    this.opts.onLoad?.(key, source);
    return value;
  }
}

/** Serves the manifest already read (so S3 and the copy in use agree) and files from `inner`. */
function withManifest(inner: BundleSource, manifest: Uint8Array): BundleSource {
  return { location: inner.location, read: (path) => (path === 'manifest.json' ? Promise.resolve(manifest) : inner.read(path)) };
}
