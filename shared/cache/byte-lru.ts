import { LRUCache } from 'lru-cache';

export interface ByteLruOptions<T> {
  /** Called for an entry the budget pushed out (not for delete() or a replaced key). */
  onEvict?: (key: string, value: T) => void;
  /** At most this many entries, whatever their bytes. */
  maxEntries?: number;
}

/**
 * The one least-recently-used cache with a byte budget (models in memory, context key/value
 * caches, padded batches, context tokens), on `lru-cache`. The newest entry always stays, even
 * when it alone exceeds the budget (a model larger than the worker's memory budget must still be
 * served): its size is counted as the whole budget, so it pushes every other entry out, while
 * `bytesUsed` reports real bytes.
 */
export class ByteLru<T> {
  private readonly cache: LRUCache<string, { value: T; bytes: number }>;
  private used = 0;

  constructor(budgetBytes: number, opts: ByteLruOptions<T> = {}) {
    const budget = Math.max(1, Math.floor(budgetBytes));
    this.cache = new LRUCache<string, { value: T; bytes: number }>({
      maxSize: budget,
      ...(opts.maxEntries ? { max: opts.maxEntries } : {}),
      sizeCalculation: (e) => Math.max(1, Math.min(budget, Math.ceil(e.bytes))),
      dispose: (e, key, reason) => {
        this.used -= e.bytes;
        if (reason === 'evict') opts.onEvict?.(key, e.value);
      },
    });
  }

  get(key: string): T | undefined {
    return this.cache.get(key)?.value;
  }

  has(key: string): boolean {
    return this.cache.has(key);
  }

  set(key: string, value: T, bytes: number): void {
    this.used += bytes;
    this.cache.set(key, { value, bytes });
  }

  delete(key: string): void {
    this.cache.delete(key);
  }

  /** Values, least recently used first. */
  values(): T[] {
    return [...this.cache.rvalues()].flatMap((e) => (e ? [e.value] : []));
  }

  /** Keys, least recently used first. */
  keys(): string[] {
    return [...this.cache.rkeys()];
  }

  get size(): number {
    return this.cache.size;
  }

  get bytesUsed(): number {
    return this.used;
  }
}
