import { ByteLru } from '../cache/byte-lru';

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
  private readonly entries: ByteLru<CachedContext<T>>;
  hits = 0;
  misses = 0;

  constructor(budgetBytes: number) {
    this.entries = new ByteLru(budgetBytes);
  }

  /**
   * Length + a 52-bit hash of the ids (two 32-bit FNV-1a style lanes): no string of every id on
   * each step. Entries also keep their tokens, and a hit is confirmed by comparing them, so a
   * collision is only a miss (and `set` then replaces the colliding entry).
   */
  static key(tokens: readonly number[]): string {
    let a = 0x811c9dc5;
    let b = 0x01000193 ^ tokens.length;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      a = Math.imul(a ^ t, 0x01000193);
      b = Math.imul(b ^ (t + i), 0x5bd1e995);
      b ^= b >>> 15;
    }
    return `${tokens.length}:${(a >>> 0).toString(36)}:${((b >>> 0) & 0xfffff).toString(36)}`;
  }

  get(tokens: readonly number[]): CachedContext<T> | undefined {
    let entry = this.entries.get(ContextCache.key(tokens));
    if (entry && !sameTokens(entry.tokens, tokens)) entry = undefined;
    if (entry) this.hits++;
    else this.misses++;
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
    const entry = { tokens: [...tokens], value, bytes };
    this.entries.set(ContextCache.key(tokens), entry, bytes);
    return entry;
  }

  get bytesUsed(): number {
    return this.entries.bytesUsed;
  }

  get size(): number {
    return this.entries.size;
  }
}

function sameTokens(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
