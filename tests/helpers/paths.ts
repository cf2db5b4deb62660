import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CACHE = resolve(ROOT, '.cache/tests');
export const TINY_DIR = resolve(CACHE, 'tiny');
export const TINY_RUN = resolve(TINY_DIR, 'run');
