/**
 * The browser-side user model: a bundle fetched from the edge's static assets (or picked from
 * disk), verified by the shared loader, tokenized by the shared tokenizer, and run by the shared
 * onnxruntime adapter on onnxruntime-web (WebGPU when the browser has an adapter and JSPI, else
 * WebAssembly on the CPU).
 */
import type { InferenceSession } from 'onnxruntime-common';
import { loadBundle, type BundleSource, type LoadedBundle } from '../../shared/bundle';
import { OnnxDenoiser } from '../../shared/runtime/onnx-denoiser';
import { bundleCodec, type TextCodec } from '../../shared/tokenizer';
import type { UserModel } from '../../client/sdk/private-prefix';

export interface BrowserModel extends UserModel {
  bundle: LoadedBundle;
  codec: TextCodec;
  /** 'webgpu' or 'wasm'. */
  provider: string;
  /** Where it came from (URL or picked folder). */
  location: string;
}

/** An error reading a bundle file: `code` ENOENT makes the shared loader say "file not found". */
class SourceError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Bundle files over fetch(), relative to `baseUrl` (a directory URL ending in '/'). */
export function fetchSource(baseUrl: string): BundleSource {
  const base = new URL(baseUrl, location.href);
  return {
    location: base.href,
    async read(path) {
      const res = await fetch(new URL(path, base));
      if (res.status === 404) throw new SourceError(`${path}: 404`, 'ENOENT');
      if (!res.ok) throw new SourceError(`${path}: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/**
 * Bundle files from a folder the user picked (`<input type="file" webkitdirectory>`): paths are
 * relative to the folder that holds manifest.json. Nothing is uploaded; the files are read here.
 */
export function filesSource(files: readonly File[]): BundleSource {
  const manifest = files.find((f) => (f.webkitRelativePath || f.name).split('/').at(-1) === 'manifest.json');
  if (!manifest) throw new SourceError('the chosen folder has no manifest.json (pick the bundle directory itself)', 'ENOENT');
  const rel = manifest.webkitRelativePath || manifest.name;
  const root = rel.slice(0, rel.length - 'manifest.json'.length);
  const byPath = new Map(files.map((f) => [(f.webkitRelativePath || f.name).slice(root.length), f]));
  return {
    location: root.replace(/\/$/, '') || 'chosen folder',
    async read(path) {
      const file = byPath.get(path);
      if (!file) throw new SourceError(`${path} is not in the chosen folder`, 'ENOENT');
      return new Uint8Array(await file.arrayBuffer());
    },
  };
}

type Ort = typeof import('onnxruntime-web');

async function webgpuUsable(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  // The WebGPU build of onnxruntime-web that fits a Workers asset uses JSPI.
  if (!gpu || typeof (WebAssembly as unknown as { Suspending?: unknown }).Suspending !== 'function') return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

async function runtime(kind: 'webgpu' | 'wasm'): Promise<Ort> {
  const ort = (kind === 'webgpu' ? await import('onnxruntime-web/jspi') : await import('onnxruntime-web/wasm')) as Ort;
  // The .wasm comes from the Vite-emitted asset next to the bundle (no wasmPaths needed).
  // Threads need cross-origin isolation (COOP/COEP); one thread is plenty for a small user model.
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
  return ort;
}

async function open(bundle: LoadedBundle, kind: 'webgpu' | 'wasm'): Promise<OnnxDenoiser> {
  const ort = await runtime(kind);
  const createSession = (bytes: Uint8Array, _file: string, externalData?: readonly { path: string; data: Uint8Array }[]) =>
    ort.InferenceSession.create(bytes, {
      executionProviders: [kind],
      ...(externalData ? { externalData } : {}),
    }) as unknown as Promise<InferenceSession>;
  return OnnxDenoiser.create(bundle, ort, createSession, { provider: kind, cacheBytes: 64 * 2 ** 20 });
}

/** Loads, verifies and opens a user model bundle in this page. `prefer` 'auto' tries WebGPU first. */
export async function loadBrowserModel(
  source: BundleSource,
  prefer: 'auto' | 'wasm' = 'auto',
  log: (line: string) => void = () => {},
): Promise<BrowserModel> {
  const bundle = await loadBundle(source);
  const codec = bundleCodec(bundle);
  let denoiser: OnnxDenoiser | undefined;
  if (prefer === 'auto' && (await webgpuUsable())) {
    try {
      denoiser = await open(bundle, 'webgpu');
    } catch (err) {
      log(`WebGPU failed (${(err as Error).message}); using WebAssembly`);
    }
  }
  denoiser ??= await open(bundle, 'wasm');
  return { bundle, codec, denoiser, provider: denoiser.provider, location: source.location };
}

/** The bundled default user model the build copied next to the page (models/index.json). */
export async function defaultModelSource(): Promise<{ source: BundleSource; name: string }> {
  const base = new URL(import.meta.env.BASE_URL, location.href);
  const indexUrl = new URL('models/index.json', base);
  const res = await fetch(indexUrl);
  if (!res.ok) throw new SourceError(`${indexUrl.pathname}: HTTP ${res.status} (was the playground built with npm run build:playground?)`);
  const index = (await res.json()) as { default: { path: string; name: string; version: string } };
  return { source: fetchSource(new URL(index.default.path, base).href), name: `${index.default.name}@${index.default.version}` };
}
