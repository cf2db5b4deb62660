import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

const PATH = '/usr/share/doc/jargon-text/jargon.txt.gz';

/** The Jargon File 4.4.7 (public domain; Debian jargon-text): term -> first definition paragraph. */
export function jargonEntries(): { term: string; definition: string }[] {
  if (!existsSync(PATH)) throw new Error(`${PATH} not found: apt-get install jargon-text`);
  const text = gunzipSync(readFileSync(PATH)).toString('utf8');
  const entries: { term: string; definition: string }[] = [];
  const parts = text.split(/\n {3}:([^:\n]+):[^\n]*\n/);
  for (let i = 1; i + 1 < parts.length; i += 2) {
    const term = parts[i].trim();
    const paragraph =
      parts[i + 1]
        .split(/\n\s*\n/)
        .map((p) => p.replace(/\s+/g, ' ').trim())
        .find((p) => p.length > 0) ?? '';
    const definition = paragraph.replace(/[{}]/g, '').replace(/[“”]/g, '"').replace(/[‘’]/g, "'");
    if (!/^See /.test(definition) && definition.length >= 20 && definition.length <= 400) entries.push({ term, definition });
  }
  return entries;
}
