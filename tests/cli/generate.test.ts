import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { ROOT } from '../helpers/paths';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'client/cli/generate.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run generate', () => {
  const model = inject('tinyBundle');

  it('streams the prompt and each finished block, with progress and early-stop savings', () => {
    const r = cli('--model', model, '--prompt', 'The cat', '--steps', '8', '--max-tokens', '40', '--seed', '3');
    expect(r.stderr).toMatch(/core: tiny-core \(0-1\); provider cpu; prompt \d+ tokens/);
    expect(r.stderr).toMatch(/block 1\/2: \d+ steps, \d+ saved/);
    expect(r.stderr).toMatch(/\[(length|eos|context)\] \d+ tokens in \d+ blocks, \d+ steps run, \d+ saved by early stopping/);
    expect(r.stdout.startsWith('The cat')).toBe(true);
    expect(r.stdout.length).toBeGreaterThan('The cat'.length);
    expect(r.code).toBe(0);
  });

  it('collaborates with a user model given a private context', () => {
    const r = cli(
      '--model',
      model,
      '--user-model',
      model,
      '--private-context',
      'The bird sang.',
      '--lambda',
      '0.5',
      '--prompt',
      'The',
      '--steps',
      '4',
      '--max-tokens',
      '25',
    );
    expect(r.stderr).toMatch(/; user: tiny-core;/);
    expect(r.code).toBe(0);
  });

  it('the same seed prints the same text', () => {
    const a = cli('--model', model, '--prompt', 'A dog', '--steps', '6', '--max-tokens', '25', '--seed', '9');
    const b = cli('--model', model, '--prompt', 'A dog', '--steps', '6', '--max-tokens', '25', '--seed', '9');
    expect(a.stdout).toBe(b.stdout);
  });

  it('bad options get a clear error naming the option, exit code 2', () => {
    expect(cli('--model', model, '--prompt', 'x', '--top-p', '1.5')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/error: topP: /),
    });
    expect(cli('--model', model, '--prompt', 'x', '--steps=-1')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/error: steps: /),
    });
    expect(cli('--model', model, '--prompt', 'x', '--steps', 'many')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--steps: expected a number/),
    });
    expect(cli('--model', '/nonexistent/model', '--prompt', 'x')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/model directory not found: \/nonexistent\/model/),
    });
    expect(cli('--model', model, '--prompt', 'x', '--providers', 'tpu')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown execution provider "tpu"/),
    });
  });
});
