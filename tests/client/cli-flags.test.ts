import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/paths';

/** Every npm-script entry point with an option table (package.json's script -> file). */
const SCRIPTS: Record<string, string> = {
  generate: 'client/cli/generate.ts',
  client: 'client/cli/edge-client.ts',
  eval: 'bench/eval/run.ts',
  'bench:engine': 'bench/engine.ts',
  'bench:step': 'bench/step.ts',
  'bench:worker': 'bench/worker.ts',
  'bench:edge': 'bench/edge.ts',
  'bench:ssd-lm': 'bench/ssd-lm.ts',
  'bench:batch': 'bench/batch.ts',
  'train:tiny': 'infra/training/train-tiny.ts',
  'train:models': 'infra/training/train-models.ts',
  'model-cards': 'infra/training/model-cards.ts',
};

function run(file: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm-script flags', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'cli-flags-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it.each(Object.entries(SCRIPTS))('%s: --help prints the usage text, an unknown flag is one error line (exit 2)', (script, file) => {
    const help = run(file, '--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout.startsWith(`usage: npm run ${script}`)).toBe(true);
    expect(run(file, '--no-such-flag')).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'error: unknown option --no-such-flag (--help lists the options)\n',
    });
  });

  it('model-cards --help leaves models/README.md alone', () => {
    const before = readFileSync(join(ROOT, 'models/README.md'), 'utf8');
    writeFileSync(join(ROOT, 'models/README.md'), 'placeholder\n');
    try {
      expect(run(SCRIPTS['model-cards'], '--help').code).toBe(0);
      expect(readFileSync(join(ROOT, 'models/README.md'), 'utf8')).toBe('placeholder\n');
    } finally {
      writeFileSync(join(ROOT, 'models/README.md'), before);
    }
  });

  it('bad values are one error line naming the flag', () => {
    expect(run(SCRIPTS['train:tiny'], '--steps', 'abc')).toMatchObject({
      code: 2,
      stderr: 'error: --steps: expected an integer, got "abc"\n',
    });
    expect(run(SCRIPTS['bench:engine'], '--contexts', '32,x')).toMatchObject({
      code: 2,
      stderr: 'error: --contexts: expected an integer, got "x"\n',
    });
    expect(run(SCRIPTS['bench:step'], '--step-graphs', 'off')).toMatchObject({
      code: 2,
      stderr: 'error: --step-graphs: expected on or auto, got "off"\n',
    });
    expect(run(SCRIPTS.eval, '--temperature', '3')).toMatchObject({ code: 2, stderr: 'error: --temperature: at most 2, got 3\n' });
    // A flag's value that looks like -h is not a call for the usage.
    expect(run(SCRIPTS['bench:engine'], '--contexts', '-h')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: --contexts: a value that starts with - is given as --contexts=VALUE/),
    });
    expect(run(SCRIPTS['train:models'], '--only', 'nope')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: --only: unknown stage nope/),
    });
    expect(run(SCRIPTS['bench:batch'], '--lines')).toMatchObject({ code: 2, stderr: 'error: --lines: a value is missing\n' });
  });

  it('train:tiny replaces only a model bundle or an empty directory, before it trains', () => {
    const dir = join(scratch, 'not-a-bundle');
    const work = join(scratch, 'work');
    writeFileSync(join(scratch, 'keep.txt'), 'mine');
    const r = run(SCRIPTS['train:tiny'], '--out', scratch, '--work', work, '--steps', '1');
    expect(r).toMatchObject({
      code: 2,
      stderr: `error: --out: ${scratch} is neither a model bundle (manifest.json) nor empty; not replacing it\n`,
    });
    expect(readFileSync(join(scratch, 'keep.txt'), 'utf8')).toBe('mine');
    expect(existsSync(work)).toBe(false);
    expect(run(SCRIPTS['train:tiny'], '--out', join(scratch, 'keep.txt'), '--work', work)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^error: --out: .*keep\.txt is a file/),
    });
    // The scratch directory is emptied first: only one train:tiny wrote.
    expect(run(SCRIPTS['train:tiny'], '--out', dir, '--work', scratch)).toMatchObject({
      code: 2,
      stderr: `error: --work: ${scratch} is neither a train:tiny scratch directory nor empty; not replacing it\n`,
    });
    expect(readFileSync(join(scratch, 'keep.txt'), 'utf8')).toBe('mine');
  });
});
