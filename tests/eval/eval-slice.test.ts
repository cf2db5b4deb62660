import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { CACHE, ROOT } from '../helpers/paths';

/** CI runs a small slice of `npm run eval` (the full one takes minutes and the bundled models). */
describe('npm run eval -- --quick', () => {
  it('runs every section, the autoregressive baseline included, on the bundled models and writes the report and its data', () => {
    const out = join(CACHE, 'eval-slice', 'EVAL.md');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'bench/eval/run.ts', '--quick', '--data', 'tests/fixtures/eval-data', '--out', out],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
    );
    expect(r.stderr).toMatch(/steps sweep done/);
    expect(r.status).toBe(0);
    const md = readFileSync(out, 'utf8');
    for (const heading of [
      'Held-out denoising loss',
      'Fluency',
      'Collaboration on context QA',
      'Ablations',
      'Quality against denoising steps',
      'Quality against block size',
    ])
      expect(md).toContain(heading);
    const results = JSON.parse(readFileSync(join(CACHE, 'eval-slice', 'eval', 'eval.json'), 'utf8'));
    expect(results.loss[0]['t/T=0.5']).toBeGreaterThan(0);
    expect(results.fluency.map((r: { 'trigram ppl': number }) => r['trigram ppl']).every(Number.isFinite)).toBe(true);
    expect(results.f1ByLambda.map((p: { lambda: number }) => p.lambda)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(results.arF1ByLambda.map((p: { lambda: number }) => p.lambda)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(results.fluency.some((row: { text: string }) => row.text.includes('autoregressive baseline'))).toBe(true);
  });

  it('refuses an autoregressive baseline whose vocabulary differs from the core, naming the flag', () => {
    const model = inject('tinyBundle');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/eval/run.ts',
        '--quick',
        '--core',
        model,
        '--variant',
        model,
        '--user',
        model,
        '--data',
        'tests/fixtures/eval-data',
        '--out',
        join(CACHE, 'eval-slice-vocab', 'EVAL.md'),
      ],
      { cwd: ROOT, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--core-ar: vocabulary of 4096 tokens, the core's is 513/);
  });
});
