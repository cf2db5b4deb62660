/**
 * LRU of key/value caches keyed by context content, with a byte budget. Entries can be dropped at
 * any time without changing results: a miss re-encodes from the longest cached prefix.
 */
export interface CachedContext<T> {
  readonly tokens: readonly number[];
  readonly value: T;
  readonly bytes: number;
}

export class ContextCache<T> {
  private readonly entries = new Map<string, CachedContext<T>>();
  private used = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly budgetBytes: number) {}

  static key(tokens: readonly number[]): string {
    return tokens.join(',');
  }

  get(tokens: readonly number[]): CachedContext<T> | undefined {
    const key = ContextCache.key(tokens);
    const entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.hits++;
    } else {
      this.misses++;
    }
    return entry;
  }

  /** The longest cached entry whose tokens are a prefix of `tokens` (may be the empty context). */
  longestPrefix(tokens: readonly number[]): CachedContext<T> | undefined {
    let best: CachedContext<T> | undefined;
    for (const entry of this.entries.values()) {
      const n = entry.tokens.length;
      if (n > tokens.length || (best && n <= best.tokens.length)) continue;
      let match = true;
      for (let i = 0; i < n && match; i++) match = entry.tokens[i] === tokens[i];
      if (match) best = entry;
    }
    return best;
  }

  set(tokens: readonly number[], value: T, bytes: number): CachedContext<T> {
    const key = ContextCache.key(tokens);
    const old = this.entries.get(key);
    if (old) {
      this.used -= old.bytes;
      this.entries.delete(key);
    }
    const entry = { tokens: [...tokens], value, bytes };
    this.entries.set(key, entry);
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.budgetBytes || e === entry) break;
      this.entries.delete(k);
      this.used -= e.bytes;
    }
    return entry;
  }

  get bytesUsed(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }
}
