import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';

/** Folders that hold no project documentation (dependencies, caches, build output). */
const SKIP = ['node_modules', '.git', '.cache', '.gpu', '.gpu-cuda', 'playground/site'];

function* markdownFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const rel = relative(ROOT, path);
    if (SKIP.some((s) => rel === s || rel.startsWith(`${s}/`))) continue;
    if (statSync(path).isDirectory()) yield* markdownFiles(path);
    else if (name.endsWith('.md')) yield path;
  }
}

describe('documentation', () => {
  it('every relative link in a Markdown file points at a file or folder that exists', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const file of markdownFiles(ROOT)) {
      // Links inside code blocks are examples, not links.
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, href] of text.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)) {
        const target = href.split('#')[0];
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // same-page anchors, URLs
        checked++;
        if (!existsSync(resolve(dirname(file), target))) broken.push(`${relative(ROOT, file)} -> ${href}`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});
