import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadBundle } from '../../shared/bundle';
import { PROTOCOL_VERSION } from '../../shared/protocol';
import { bundleCodec } from '../../shared/tokenizer';
import { directorySource } from '../../worker-gpu/src/bundle/directory-source';
import type { RunningWorker } from '../../worker-gpu/src/server';
import { startS3WithTinyCore, type TestS3 } from '../worker-gpu/helpers/s3';
import { postGenerate, startTestWorker } from '../worker-gpu/helpers/worker';
import { ROOT } from '../helpers/paths';

const CLI = ['--import', 'tsx', 'client/cli/generate.ts'];

function cli(...args: string[]) {
  return cliWith({}, ...args);
}

function cliWith(o: { input?: string }, ...args: string[]) {
  const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000, input: o.input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The text a reader sees when stdout and stderr are the same file (as on a terminal). */
function cliToOneFile(file: string, ...args: string[]) {
  const fd = openSync(file, 'w');
  try {
    const r = spawnSync(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ['ignore', fd, fd], timeout: 120_000 });
    return { code: r.status, output: readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

const hasScript = spawnSync('script', ['--version']).status === 0;

describe('npm run generate', () => {
  const model = inject('tinyBundle');
  const scratch = mkdtempSync(join(tmpdir(), 'generate-cli-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

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

  it('bad options get a clear error naming the flag, exit code 2, before any model loads or text is printed', () => {
    const bad = (args: string[], message: string) =>
      expect(cli('--model', model, '--prompt', 'x', ...args)).toMatchObject({ code: 2, stdout: '', stderr: `error: ${message}\n` });
    bad(['--top-p', '1.5'], '--top-p: Too big: expected number to be <=1');
    bad(['--steps=-1'], '--steps: Too small: expected number to be >=1');
    bad(['--steps', 'many'], '--steps: expected an integer, got "many"');
    bad(['--max-tokens', '0'], '--max-tokens: Too small: expected number to be >=1');
    bad(['--block-size', '0'], '--block-size: Too small: expected number to be >=1');
    bad(['--block-size', '26'], "--block-size: 26 exceeds the model's block size 25");
    bad(['--early-stop=-1'], '--early-stop: Too small: expected number to be >=0');
    bad(['--early-stop', '-1'], '--early-stop: a value that starts with - is given as --early-stop=VALUE');
    bad(['--seed', ''], '--seed: expected an integer, got ""');
    bad(['--providers', ''], '--providers: an empty value');
    bad(['--providers', 'tpu'], '--providers: unknown execution provider "tpu" (expected cuda, webgpu or cpu)');
    bad(['--projection', 'argmax'], '--projection: expected sample or greedy or multihot, got "argmax"');
    bad(['--lambda', '0.3'], '--lambda applies to a user model: give --user-model DIR too');
    bad(['--private-context', 'secret'], '--private-context applies to a user model: give --user-model DIR too');
    bad(['--context', 'c'], '--context is a line of the --chat format: give --chat too');
    bad(
      ['--variant', model],
      `--variant: ${model} serves t/T (0, 1], no narrower than --model's (0, 1], so it would never be used (a variant is timestep-specialised)`,
    );
    bad(['--bogus'], 'unknown option --bogus (--help lists the options)');
    expect(cli('--model', '/nonexistent/model', '--prompt', 'x')).toMatchObject({
      code: 2,
      stderr: 'error: --model: model directory not found: /nonexistent/model\n',
    });
    expect(cli('--model', model, '--prompt', 'x', '--user-model', model, '--lambda', '2')).toMatchObject({
      code: 2,
      stderr: 'error: --lambda: Too big: expected number to be <=1\n',
    });
    // Checked once the model is known: the prompt is not printed before the error.
    expect(cli('--model', model, '--prompt', 'The cat sat. '.repeat(60))).toMatchObject({
      code: 2,
      stdout: '',
      stderr: expect.stringMatching(/error: --prompt: \d+ tokens exceed the core model's context of \d+ tokens\n$/),
    });
  });

  it('a user-role bundle is refused as --model and --variant', () => {
    const user = join(scratch, 'user-role');
    spawnSync('cp', ['-r', model, user]);
    const manifest = JSON.parse(readFileSync(join(user, 'manifest.json'), 'utf8'));
    writeFileSync(join(user, 'manifest.json'), JSON.stringify({ ...manifest, role: 'user' }));
    expect(cli('--model', user, '--prompt', 'x')).toMatchObject({
      code: 2,
      stderr: `error: --model: ${user} is a user model; give it as --user-model\n`,
    });
    expect(cli('--model', model, '--variant', user, '--prompt', 'x')).toMatchObject({
      code: 2,
      stderr: `error: --variant: ${user} is a user model, not a core checkpoint\n`,
    });
  });

  it('reads the prompt and the private context from a file or stdin', () => {
    const args = ['--model', model, '--steps', '4', '--max-tokens', '10', '--seed', '5'];
    const direct = cli(...args, '--prompt', 'The cat');
    const file = join(scratch, 'prompt.txt');
    writeFileSync(file, 'The cat\n');
    expect(cli(...args, '--prompt-file', file).stdout).toBe(direct.stdout);
    expect(cliWith({ input: 'The cat\n' }, ...args, '--prompt', '-').stdout).toBe(direct.stdout);
    expect(cliWith({ input: 'The cat' }, ...args, '--prompt-file', '-').stdout).toBe(direct.stdout);
    const user = ['--user-model', model, '--lambda', '0.5'];
    const withContext = cli(...args, ...user, '--prompt', 'The cat', '--private-context', 'The bird sang.');
    expect(withContext.code).toBe(0);
    expect(cliWith({ input: 'The bird sang.\n' }, ...args, ...user, '--prompt', 'The cat', '--private-context-file', '-').stdout).toBe(
      withContext.stdout,
    );
    expect(cliWith({ input: 'x' }, ...args, '--prompt', '-', '--user-model', model, '--private-context', '-')).toMatchObject({
      code: 2,
      stderr: 'error: --private-context -: stdin is already read for --prompt\n',
    });
    expect(cli(...args, '--prompt', 'x', '--prompt-file', file)).toMatchObject({
      code: 2,
      stderr: 'error: give --prompt or --prompt-file, not both\n',
    });
    expect(cli(...args, '--prompt-file', join(scratch, 'absent.txt'))).toMatchObject({
      code: 2,
      stderr: `error: --prompt-file: no such file: ${join(scratch, 'absent.txt')}\n`,
    });
  });

  it('with stdout and stderr in one place, progress does not cut into the text', () => {
    const args = ['--model', model, '--prompt', 'The cat', '--steps', '6', '--max-tokens', '60', '--seed', '3'];
    const text = cli(...args).stdout;
    const r = cliToOneFile(join(scratch, 'both.txt'), ...args);
    expect(r.code).toBe(0);
    const lines = r.output.split('\n');
    expect(lines[0]).toMatch(/^core: tiny-core/);
    expect(`${lines[1]}\n`).toBe(text);
    expect(lines[2]).toMatch(/^\[(length|eos|context)\] \d+ tokens/);
    expect(lines).toHaveLength(4);
  });

  it.skipIf(!hasScript)('on a terminal the streamed text stays (no line erasing)', () => {
    const args = ['--model', model, '--prompt', 'The cat', '--steps', '6', '--max-tokens', '60', '--seed', '3'];
    const text = cli(...args).stdout.trimEnd();
    const command = [process.execPath, ...CLI, ...args].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qc', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).not.toContain('\x1b[2K');
    expect(r.stdout.replace(/\r/g, '')).toContain(`${text}\n`);
  });

  it('a reader that stops early ends the run quietly', () => {
    const command = `'${process.execPath}' ${CLI.join(' ')} --model '${model}' --prompt 'The cat' --steps 2 --max-tokens 200 | head -c 3`;
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', command], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout).toBe('The');
    expect(r.stderr).not.toMatch(/EPIPE|Error/);
    expect(r.status).toBe(0);
  });

  it('--help lists every flag and how progress is shown', () => {
    const r = cli('--help');
    expect(r.code).toBe(0);
    for (const flag of ['--prompt-file', '--private-context-file', '--variant', '--step-math']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/same terminal or file, nothing until the summary/);
  });
});

describe('npm run generate and the API', () => {
  let s3: TestS3;
  let worker: RunningWorker;
  beforeAll(async () => {
    s3 = await startS3WithTinyCore();
    worker = await startTestWorker(s3);
  });
  afterAll(async () => {
    await worker?.close();
    await s3?.close();
  });

  it("gives a GPU worker's sampled text for the same seed (both read each step's top-32 logits); --top-k 0 reads every logit", async () => {
    const prompt = 'The cat sat on the';
    const options = { seed: 11, steps: 8, maxTokens: 30, minTokens: 30 };
    const codec = bundleCodec(await loadBundle(directorySource('models/tiny-core')));
    const { status, events } = await postGenerate(worker.url, {
      v: PROTOCOL_VERSION,
      model: { name: 'tiny-core', version: '0.1.0' },
      prompt: codec.encode(prompt),
      options,
    });
    expect(status).toBe(200);
    const done = events.at(-1) as { type: 'done'; tokens: number[] };
    const served = codec.decode(done.tokens);
    const flags = [
      '--model',
      'models/tiny-core',
      '--prompt',
      prompt,
      '--seed',
      '11',
      '--steps',
      '8',
      '--max-tokens',
      '30',
      '--min-tokens',
      '30',
    ];
    const local = cli(...flags);
    expect(local.code, local.stderr).toBe(0);
    expect(local.stdout).toBe(`${prompt}${served}\n`);
    const full = cli(...flags, '--top-k', '0');
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).not.toBe(local.stdout);
  });
});
