/** Least-recently-used map with a byte budget; the newest entry stays even if it alone exceeds it. */
export class ByteLru<T> {
  private readonly entries = new Map<string, { value: T; bytes: number }>();
  private used = 0;

  constructor(private readonly budgetBytes: number, private readonly onEvict?: (key: string, value: T) => void) {}

  get(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, value: T, bytes: number): void {
    this.delete(key);
    this.entries.set(key, { value, bytes });
    this.used += bytes;
    for (const [k, e] of this.entries) {
      if (this.used <= this.budgetBytes || k === key) break;
      this.delete(k);
      this.onEvict?.(k, e.value);
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.used -= e.bytes;
  }

  values(): T[] {
    return [...this.entries.values()].map((e) => e.value);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  get bytesUsed(): number {
    return this.used;
  }
}
