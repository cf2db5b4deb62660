import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

const ROOT = resolve(import.meta.dirname, '..');
/** Workers static assets: the edge serves `playground/site/` (wrangler.toml [assets]); the page lives under /playground/. */
const OUT_DIR = resolve(import.meta.dirname, 'site/playground');
/**
 * Vite writes here first; the finished build then replaces OUT_DIR with two renames, so a running
 * `wrangler dev` (another test, `npm start`) never serves a half-written page.
 */
const STAGING_DIR = resolve(import.meta.dirname, `site/.build-${process.pid}`);

/**
 * models/user when it is a bundle, else models/tiny-core (as `npm start` picks the user model);
 * SSD2_PLAYGROUND_USER_MODEL=<dir under models/> picks another (the browser test uses tiny-core).
 */
function defaultUserBundle(): { name: string; dir: string } {
  const preferred = process.env.SSD2_PLAYGROUND_USER_MODEL;
  for (const name of preferred ? [preferred] : ['user', 'tiny-core']) {
    const dir = join(ROOT, 'models', name);
    if (existsSync(join(dir, 'manifest.json'))) return { name, dir };
  }
  throw new Error('no user model bundle: neither models/user nor models/tiny-core has a manifest.json');
}

/**
 * Copies the default user model bundle next to the page (the browser fetches it from the edge's
 * static assets). onnxruntime-web's .wasm files need nothing here: Vite emits the ones its bundles
 * reference (`new URL(..., import.meta.url)`) as hashed assets — plain wasm (14 MB) and JSPI/WebGPU
 * (17 MB), each under Workers' 25 MiB per-asset limit.
 */
function staticFiles(): Plugin {
  return {
    name: 'ssd2-playground-static-files',
    apply: 'build',
    writeBundle() {
      const bundle = defaultUserBundle();
      const manifest = JSON.parse(readFileSync(join(bundle.dir, 'manifest.json'), 'utf8')) as {
        name: string;
        version: string;
        files: { path: string }[];
      };
      const target = join(STAGING_DIR, 'models', bundle.name);
      mkdirSync(target, { recursive: true });
      for (const f of ['manifest.json', ...manifest.files.map((e) => e.path)]) {
        mkdirSync(join(target, f, '..'), { recursive: true });
        copyFileSync(join(bundle.dir, f), join(target, f));
      }
      writeFileSync(
        join(STAGING_DIR, 'models', 'index.json'),
        JSON.stringify({ default: { path: `models/${bundle.name}/`, name: manifest.name, version: manifest.version } }, null, 2),
      );
    },
    closeBundle(error) {
      if (error || !existsSync(STAGING_DIR)) return void rmSync(STAGING_DIR, { recursive: true, force: true });
      const old = `${STAGING_DIR}-old`;
      if (existsSync(OUT_DIR)) renameSync(OUT_DIR, old);
      renameSync(STAGING_DIR, OUT_DIR);
      rmSync(old, { recursive: true, force: true });
    },
  };
}

export default defineConfig({
  root: import.meta.dirname,
  base: '/playground/',
  publicDir: false,
  plugins: [staticFiles()],
  build: {
    outDir: STAGING_DIR,
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 2048,
  },
  server: { fs: { allow: [ROOT] } },
});
