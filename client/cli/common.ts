/**
 * What `npm run generate` and `npm run client` share: text read from a flag, a file or stdin,
 * bundle checks before anything loads, and opening a bundle with a one-line error for a provider
 * that does not work here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { usageError } from '../../tools/cli/args';
import { InvalidArgumentError } from '../../shared/errors';
import { loadLocalModel, type LocalModel } from '../../worker-gpu/src/runtime/local-model';
import { parseProviders, type ProviderName } from '../../worker-gpu/src/runtime/providers';

let stdinTaken = '';
/**
 * The text of `--NAME TEXT` or `--NAME-file PATH` (at most one of them); `-` as either reads stdin
 * (once per run). Text from a file or stdin loses one trailing newline.
 */
export function textArg(name: string, text: string | undefined, file: string | undefined): string | undefined {
  if (text !== undefined && file !== undefined) usageError(`give --${name} or --${name}-file, not both`);
  const flag = file !== undefined ? `--${name}-file` : `--${name}`;
  const path = file ?? (text === '-' ? '-' : undefined);
  if (path === undefined) return text;
  if (path === '-') {
    if (stdinTaken) usageError(`${flag} -: stdin is already read for ${stdinTaken}`);
    stdinTaken = flag;
  } else if (!existsSync(path)) usageError(`${flag}: no such file: ${path}`);
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    usageError(`${flag}: cannot read ${path === '-' ? 'stdin' : path}: ${(err as Error).message}`);
  }
}

export interface BundleFacts {
  name: string;
  role: 'core' | 'user';
  timestep_range: [number, number];
  block_size: number;
}

/** The manifest of the bundle a flag names, read before any model loads; a usage error if there is none. */
export function bundleAt(flag: string, dir: string): BundleFacts {
  const path = join(dir, 'manifest.json');
  if (!existsSync(dir)) usageError(`--${flag}: model directory not found: ${dir}`);
  if (!existsSync(path)) usageError(`--${flag}: ${dir} is not a model bundle (no manifest.json)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as BundleFacts;
  } catch (err) {
    usageError(`--${flag}: ${path}: ${(err as Error).message}`);
  }
}

/** `--providers LIST` checked (names, not empty); whether they work here shows when a model opens. */
export function providersArg(list: string): ProviderName[] {
  try {
    return parseProviders(list);
  } catch (err) {
    if (err instanceof InvalidArgumentError) usageError(`--providers: ${err.message.slice('providers: '.length)}`);
    throw err;
  }
}

/**
 * Opens a bundle with the first provider of the list that works here. When none does: a usage
 * error naming --providers, why each failed and which of cuda and cpu work here (webgpu is only
 * tried when asked for: its probe prints native warnings).
 */
export async function openModel(dir: string, providers: readonly ProviderName[]): Promise<LocalModel> {
  // onnxruntime's own log would print a failed provider's native error beside ours.
  ort.env.logLevel = 'fatal';
  try {
    return await loadLocalModel(dir, providers);
  } catch (err) {
    const m = /^no execution provider from \[.*\] works here: (\{.*\})$/.exec((err as Error).message);
    if (!m) throw err;
    const reasons = Object.entries(JSON.parse(m[1]) as Record<string, string>).map(([p, why]) => `${p}: ${why}`);
    const works: string[] = [];
    for (const p of ['cuda', 'cpu'] as const) {
      if (providers.includes(p)) continue;
      if (
        await loadLocalModel(dir, [p]).then(
          () => true,
          () => false,
        )
      )
        works.push(p);
    }
    usageError(`--providers ${providers.join(',')}: none works here (${reasons.join('; ')}); works here: ${works.join(', ') || 'none'}`);
  }
}
