import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest } from '../../shared/bundle';
import type { BlockSchedule } from '../../shared/ssd2';

export interface LocalBundle {
  /** The bundle directory. */
  dir: string;
  name: string;
  version: string;
  /** Tokens per block the model was trained on. */
  blockSize: number;
  /** How a block's positions share the noise level (the default steps follow it). */
  blockSchedule: BlockSchedule;
  /** S3 key prefix of a core bundle: models/<name>/<version>/ */
  key: string;
  /** A core model the edge can serve on its own (role core, every timestep; not a timestep variant or a user model). */
  servable: boolean;
}

/** A bundle directory's name, version and block size from its manifest.json (validated by shared/bundle). */
export function readBundle(dir: string): LocalBundle {
  const path = join(dir, 'manifest.json');
  if (!existsSync(path)) throw new Error(`${dir} is not a model bundle (no manifest.json)`);
  const m = parseManifest(dir, readFileSync(path));
  const servable = m.role === 'core' && m.timestep_range[0] === 0 && m.timestep_range[1] === 1;
  return {
    dir,
    name: m.name,
    version: m.version,
    blockSize: m.block_size,
    blockSchedule: m.block_schedule,
    key: `models/${m.name}/${m.version}/`,
    servable,
  };
}

/** Every directory directly under `modelsDir` that holds a manifest.json (tiny-core, core, core-hi, user, …). */
export function findBundles(modelsDir: string): LocalBundle[] {
  if (!existsSync(modelsDir)) return [];
  return readdirSync(modelsDir, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(modelsDir, e.name, 'manifest.json')))
    .map((e) => readBundle(join(modelsDir, e.name)))
    .sort((a, b) => a.dir.localeCompare(b.dir));
}

/** `models/<preferred>` when it is a bundle, else `models/tiny-core`. */
export function defaultBundleDir(modelsDir: string, preferred: 'core' | 'user'): string {
  const dir = join(modelsDir, preferred);
  return existsSync(join(dir, 'manifest.json')) ? dir : join(modelsDir, 'tiny-core');
}
