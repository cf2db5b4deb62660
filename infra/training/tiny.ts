import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { truncatedGpt2Tokenizer } from '../data/bpe-tokenizer';
import { encodeStream, writeStream } from '../data/tokenize';
import { runTrainingScript } from './python';

export interface TinyModelOptions {
  out: string;
  corpus: string;
  steps?: number;
  merges?: number;
  hidden?: number;
  layers?: number;
  name?: string;
  positions?: 'learned' | 'rotary';
  /** Shifted readout (ModelConfig.shifted). */
  shifted?: boolean;
  /** The noisy block's own evidence added to its logits (ModelConfig.likelihood). */
  likelihood?: boolean;
  onLine?: (line: string) => void;
}

/**
 * The whole toolchain on a small scale: tokenizer -> token stream -> train.py -> export.py -> bundle.
 * Used by the test suite (a few steps) and by `npm run train:tiny`.
 */
export async function trainTinyModel(o: TinyModelOptions): Promise<{ bundleDir: string; runDir: string }> {
  mkdirSync(o.out, { recursive: true });
  const { json, vocabSize, eosTokenId } = truncatedGpt2Tokenizer(o.merges ?? 256);
  const tokenizerPath = join(o.out, 'tokenizer.json');
  writeFileSync(tokenizerPath, JSON.stringify(json));
  const lines = readFileSync(o.corpus, 'utf8')
    .split('\n')
    .filter((l) => l.trim());
  const streamPath = join(o.out, 'train.bin');
  writeStream(streamPath, encodeStream(json, lines, eosTokenId));
  const runDir = join(o.out, 'run');
  await runTrainingScript(
    'train.py',
    [
      '--out',
      runDir,
      '--data',
      streamPath,
      '--val',
      streamPath,
      '--vocab-size',
      String(vocabSize),
      '--eos-id',
      String(eosTokenId),
      '--hidden',
      String(o.hidden ?? 64),
      '--layers',
      String(o.layers ?? 2),
      '--heads',
      '4',
      '--max-positions',
      '160',
      '--seq-len',
      '100',
      '--batch',
      '8',
      '--steps',
      String(o.steps ?? 30),
      '--log-every',
      '10',
      '--warmup',
      '10',
      '--lr',
      '1e-3',
      '--positions',
      o.positions ?? 'learned',
      ...(o.shifted ? ['--shifted'] : []),
      ...(o.likelihood ? ['--likelihood'] : []),
    ],
    o.onLine,
  );
  const bundleDir = join(o.out, 'bundle');
  await runTrainingScript(
    'export.py',
    [
      '--checkpoint',
      join(runDir, 'checkpoint.pt'),
      '--tokenizer',
      tokenizerPath,
      '--name',
      o.name ?? 'tiny-core',
      '--role',
      'core',
      '--out',
      bundleDir,
    ],
    o.onLine,
  );
  return { bundleDir, runDir };
}
