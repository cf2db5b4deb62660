import { describe, expect, it } from 'vitest';
import { ByteLru } from '../../shared/cache/byte-lru';

describe('ByteLru (lru-cache with a byte budget)', () => {
  it('evicts the least recently used entries past the budget, reporting only those to onEvict', () => {
    const evicted: string[] = [];
    const lru = new ByteLru<string>(10, { onEvict: (k) => evicted.push(k) });
    lru.set('a', 'A', 4);
    lru.set('b', 'B', 4);
    expect(lru.get('a')).toBe('A');
    lru.set('c', 'C', 4);
    expect(lru.keys()).toEqual(['a', 'c']);
    expect(lru.bytesUsed).toBe(8);
    lru.set('c', 'C2', 3); // a replaced value is not an eviction
    lru.delete('a'); // nor is a delete
    expect(evicted).toEqual(['b']);
    expect(lru.bytesUsed).toBe(3);
  });

  it('keeps the newest entry even when it alone exceeds the budget, and counts its real bytes', () => {
    const evicted: string[] = [];
    const lru = new ByteLru<string>(10, { onEvict: (k) => evicted.push(k) });
    lru.set('a', 'A', 4);
    lru.set('big', 'X', 25);
    expect(lru.keys()).toEqual(['big']);
    expect(lru.get('big')).toBe('X');
    expect(lru.bytesUsed).toBe(25);
    lru.set('d', 'D', 2);
    expect(lru.keys()).toEqual(['d']);
    expect(evicted).toEqual(['a', 'big']);
    expect(lru.bytesUsed).toBe(2);
  });

  it('bounds the number of entries when asked', () => {
    const lru = new ByteLru<number>(1e9, { maxEntries: 2 });
    for (const [i, k] of ['x', 'y', 'z'].entries()) lru.set(k, i, 1);
    expect(lru.keys()).toEqual(['y', 'z']);
    expect(lru.values()).toEqual([1, 2]);
  });
});
