import { BundleError, firstIssue } from '../errors';
import { sha256Hex } from '../hash/sha256';
import { ManifestSchema, type Manifest } from './manifest';
import { isNotFound, type BundleSource } from './source';

export interface LoadedBundle {
  readonly location: string;
  readonly manifest: Manifest;
  /** Verified file contents by bundle-relative path. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** sha256 of every file, and of the manifest itself (key 'manifest.json'). */
  readonly digests: ReadonlyMap<string, string>;
}

export { sha256Hex };

async function readFile(source: BundleSource, path: string): Promise<Uint8Array> {
  try {
    return await source.read(path);
  } catch (err) {
    if (isNotFound(err)) throw new BundleError(source.location, path, 'file not found', { cause: err });
    throw new BundleError(source.location, path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
}

/** Parses and validates manifest.json; errors name the field that is wrong. */
export function parseManifest(location: string, bytes: Uint8Array): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new BundleError(location, 'manifest.json', `not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new BundleError(location, 'manifest.json', `field ${firstIssue(parsed.error, '(root)').text}`);
  }
  return parsed.data;
}

/** Reads a bundle and verifies every listed file's size and sha256 against the manifest. */
export async function loadBundle(source: BundleSource): Promise<LoadedBundle> {
  const manifestBytes = await readFile(source, 'manifest.json');
  const manifest = parseManifest(source.location, manifestBytes);
  const files = new Map<string, Uint8Array>();
  const digests = new Map<string, string>([['manifest.json', await sha256Hex(manifestBytes)]]);
  for (const entry of manifest.files) {
    const bytes = await readFile(source, entry.path);
    if (bytes.byteLength !== entry.bytes) {
      throw new BundleError(source.location, entry.path, `size ${bytes.byteLength} bytes does not match the manifest's ${entry.bytes}`);
    }
    const digest = await sha256Hex(bytes);
    if (digest !== entry.sha256) {
      throw new BundleError(source.location, entry.path, `sha256 ${digest} does not match the manifest's ${entry.sha256}`);
    }
    files.set(entry.path, bytes);
    digests.set(entry.path, digest);
  }
  return { location: source.location, manifest, files, digests };
}

/** A graph file and the external-data file beside it (`<graph>.data`), as onnxruntime opens them. */
export interface GraphFiles {
  bytes: Uint8Array;
  /** Weights kept outside the graph (past ONNX's 2 GB protobuf limit), by their path relative to the graph. */
  externalData?: { path: string; data: Uint8Array }[];
}

export function graphFiles(bundle: LoadedBundle, file: string): GraphFiles {
  const external = bundle.files.get(`${file}.data`);
  return {
    bytes: bundle.files.get(file)!,
    ...(external ? { externalData: [{ path: `${file.split('/').pop()}.data`, data: external }] } : {}),
  };
}
