import { existsSync, readFileSync } from 'node:fs';

const DIR = '/usr/share/wordnet';
const WORDNET_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'].map((f) => `${DIR}/${f}`);

export interface Synset {
  id: string;
  pos: string;
  words: string[];
  definition: string;
  examples: string[];
}

/** WordNet 3.0 synsets (Debian wordnet-base; WordNet licence, permissive). */
export function wordnetSynsets(): Synset[] {
  const out: Synset[] = [];
  for (const file of WORDNET_FILES) {
    if (!existsSync(file)) throw new Error(`${file} not found: apt-get install wordnet-base`);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line || line.startsWith(' ')) continue;
      const [head, gloss = ''] = line.split(' | ');
      const f = head.split(' ');
      const count = parseInt(f[3], 16);
      const words = Array.from({ length: count }, (_, i) => f[4 + 2 * i].replace(/_/g, ' ').replace(/\(.*\)$/, ''));
      const parts = gloss.trim().split(/;\s*/);
      const examples = parts.filter((p) => p.startsWith('"')).map((p) => p.replace(/^"|"$/g, '').trim());
      const definition = parts
        .filter((p) => !p.startsWith('"'))
        .join('; ')
        .trim();
      if (definition) out.push({ id: `${file.slice(-4)}${f[0]}`, pos: f[2], words, definition, examples });
    }
  }
  return out;
}
