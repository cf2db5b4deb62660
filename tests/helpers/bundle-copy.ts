import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CACHE } from './paths';

/** A writable copy of a bundle directory for tests that damage it. */
export function copyBundle(src: string): string {
  const dir = mkdtempSync(join(CACHE, 'bundle-'));
  cpSync(src, dir, { recursive: true });
  return dir;
}

export function editManifest(dir: string, edit: (m: any) => void): void {
  const path = join(dir, 'manifest.json');
  const m = JSON.parse(readFileSync(path, 'utf8'));
  edit(m);
  writeFileSync(path, JSON.stringify(m, null, 2));
}

/** Rewrites a file and updates its size and sha256 in the manifest (a consistent but different bundle). */
export function replaceFile(dir: string, file: string, bytes: Uint8Array | string): void {
  writeFileSync(join(dir, file), bytes);
  const data = readFileSync(join(dir, file));
  editManifest(dir, (m) => {
    const entry = m.files.find((f: { path: string }) => f.path === file);
    entry.bytes = data.byteLength;
    entry.sha256 = createHash('sha256').update(data).digest('hex');
  });
}
