import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonExecutable } from '../training/python';

/**
 * Trains a byte-level BPE of `vocab` tokens (the last one <|endoftext|>) on `corpus` with Hugging
 * Face's `tokenizers` (train_tokenizer.py; scripts/ensure-tokenizers.sh installs it into
 * .cache/pylib) and writes tokenizer.json to `out`.
 */
export async function trainTokenizer(
  corpus: string,
  vocab: number,
  out: string,
): Promise<{ json: Record<string, any>; vocabSize: number; eosTokenId: number }> {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'train_tokenizer.py');
  const pythonPath = [join(process.cwd(), '.cache/pylib'), process.env.PYTHONPATH].filter(Boolean).join(':');
  let report: string;
  try {
    report = execFileSync(pythonExecutable(), [script, '--vocab', String(vocab), '--out', out, corpus], {
      env: { ...process.env, PYTHONPATH: pythonPath },
      encoding: 'utf8',
    });
  } catch (err) {
    throw new Error(
      `tokenizer training failed (run bash scripts/ensure-tokenizers.sh to install Python tokenizers): ${(err as Error).message}`,
    );
  }
  const { vocab_size: vocabSize, eos_token_id: eosTokenId } = JSON.parse(report.trim().split('\n').pop()!);
  return { json: JSON.parse(readFileSync(out, 'utf8')), vocabSize, eosTokenId };
}
