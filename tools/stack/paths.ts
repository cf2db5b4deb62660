import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

/** A command from node_modules/.bin, or a clear error when the dependencies are not installed. */
export function bin(name: string): string {
  const path = join(BIN, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm ci\` in ${ROOT} first`);
  return path;
}
