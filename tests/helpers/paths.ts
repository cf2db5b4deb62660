import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
/** One directory per test run (set by the global setup), so concurrent runs never share files. */
export const CACHE = process.env.SSD2_TEST_CACHE ?? resolve(ROOT, '.cache/tests');
export const TINY_DIR = resolve(CACHE, 'tiny');
export const TINY_RUN = resolve(TINY_DIR, 'run');
