import { existsSync, readFileSync } from 'node:fs';

const DIR = '/usr/share/games/fortunes';

/** Debian fortunes-min (BSD licence; the offensive set is a separate package we do not install). */
export function fortunes(file: 'fortunes' | 'literature' | 'riddles'): string[] {
  const path = `${DIR}/${file}`;
  if (!existsSync(path)) throw new Error(`${path} not found: apt-get install fortunes-min`);
  return readFileSync(path, 'utf8')
    .split(/\n%\n/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** "A: answer / Q: question" riddles as question/answer pairs. */
export function riddlePairs(): { question: string; answer: string }[] {
  const pairs: { question: string; answer: string }[] = [];
  for (const r of fortunes('riddles')) {
    const q = /Q:\s*([\s\S]*?)(?:\nA:|$)/.exec(r)?.[1];
    const a = /A:\s*([\s\S]*?)(?:\nQ:|$)/.exec(r)?.[1];
    if (q && a) pairs.push({ question: q.replace(/\s+/g, ' ').trim(), answer: a.replace(/\s+/g, ' ').trim() });
  }
  return pairs;
}
