/**
 * npm run client -- upload-user-model DIR --name NAME [--base-url URL] [--api-key KEY | env SSD2_API_KEY]
 * Uploads a user-model bundle directory as a new version of NAME and waits for its validation.
 * Progress goes to stderr; the version id (`legal@3`) goes to stdout once it is ready.
 */
import { parseCli, usageError } from '../../tools/cli/args';
import { uploadUserModel, type UploadProgress } from '../sdk/upload';

export const UPLOAD_CLI = {
  usage: 'npm run client -- upload-user-model DIR --name NAME [options]',
  about: 'DIR is a bundle directory (manifest.json and the files it lists).',
  flags: {
    name: { type: 'string', arg: 'NAME', help: 'the name requests use as user_model ([A-Za-z0-9][A-Za-z0-9_-]*)' },
    'base-url': { type: 'string', arg: 'URL', help: 'the edge (default $SSD2_BASE_URL, else http://127.0.0.1:8787)' },
    'api-key': { type: 'string', arg: 'KEY', help: 'an API key with the models scope (default $SSD2_API_KEY)' },
    'timeout-s': { type: 'int', min: 1, default: 600, help: 'how long to wait for validation, in seconds' },
  },
  positionals: true,
} as const;

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

/** One line per file, rewritten in place on a terminal, at most every 5 % of the file. */
function progressPrinter(): (p: UploadProgress) => void {
  let lastFile = '';
  let lastShown = -1;
  let waiting = false;
  return (p) => {
    if (p.phase === 'create') process.stderr.write('creating the version from manifest.json\n');
    if (p.phase === 'upload' && p.file && p.bytes !== undefined && p.sent !== undefined) {
      const pct = p.bytes === 0 ? 100 : Math.floor((100 * p.sent) / p.bytes);
      if (p.file !== lastFile) {
        lastFile = p.file;
        lastShown = -1;
      }
      if (pct < lastShown + 5 && pct !== 100) return;
      if (pct === lastShown) return;
      lastShown = pct;
      const line = `${p.id} ${p.file}: ${mb(p.sent)} / ${mb(p.bytes)} (${pct}%)`;
      process.stderr.write(process.stderr.isTTY ? `\r${line}${pct === 100 ? '\n' : ''}` : `${line}\n`);
    }
    if (p.phase === 'validating' && !waiting) {
      waiting = true;
      process.stderr.write(`${p.id}: validating on a GPU worker\n`);
    }
  };
}

export async function uploadCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseCli(UPLOAD_CLI, args);
  if (positionals.length !== 1) usageError(`give one bundle directory, got ${positionals.length} (--help lists the options)`);
  if (!values.name) usageError('give --name NAME');
  const apiKey = values['api-key'] ?? process.env.SSD2_API_KEY;
  if (!apiKey) usageError('give --api-key or set SSD2_API_KEY');
  const version = await uploadUserModel({
    baseUrl: values['base-url'] ?? process.env.SSD2_BASE_URL ?? 'http://127.0.0.1:8787',
    apiKey,
    dir: positionals[0],
    name: values.name,
    timeoutMs: values['timeout-s'] * 1000,
    onProgress: progressPrinter(),
  });
  if (version.status !== 'ready') {
    const e = version.error;
    console.error(`${version.id} failed validation: ${e?.param ? `${e.param}: ` : ''}${e?.message ?? 'no reason given'}`);
    return 1;
  }
  console.error(`${version.id} is ready; use it as "user_model": "${version.name}" with ${version.compatible_models.join(', ')}`);
  console.log(version.id);
  return 0;
}
