import { existsSync } from 'node:fs';
import { describe, expect, inject, it } from 'vitest';
import { CACHE } from './helpers/paths';

describe('test cache directory', () => {
  it('is the per-run directory the global setup trained the tiny model in', () => {
    expect(process.env.SSD2_TEST_CACHE).toBe(CACHE);
    expect(inject('tinyBundle').startsWith(CACHE)).toBe(true);
    expect(existsSync(inject('tinyBundle'))).toBe(true);
  });
});
