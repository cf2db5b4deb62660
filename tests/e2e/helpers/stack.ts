import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CACHE, ROOT } from '../../helpers/paths';
import { startS3, type TestS3 } from '../../worker-gpu/helpers/s3';
import { workerEnv } from '../../worker-gpu/helpers/worker';
import { freePort } from './free-port';
import { spawnGroup, waitFor, type GroupProcess } from './process-group';
import { startRecordingProxy, type RecordingProxy } from './recording-proxy';

const BIN = join(ROOT, 'node_modules/.bin');
const D1_NAME = 'ssd2-edge';

export interface EdgeStack {
  /** The edge (wrangler dev), e.g. http://127.0.0.1:41234 */
  edgeUrl: string;
  adminSecret: string;
  workerUrl: string;
  /** Between the edge and the worker: what the worker received. */
  proxy: RecordingProxy;
  s3: TestS3;
  worker: GroupProcess;
  wrangler: GroupProcess;
  /** Creates a tenant and an API key through the admin API. */
  newKey(tenant: string, scopes?: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface StackOptions {
  model?: string;
  /** Extra worker environment (e.g. WORKER_BATCH_WINDOW_MS). */
  workerEnv?: Record<string, string>;
  readyTimeoutMs?: number;
}

const env = { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_UPDATE_NOTIFIER: '1', CI: '1', FORCE_COLOR: '0' };

/**
 * The whole path for real, on loopback: s3rver with the bundled model, a GPU worker process that
 * loads it from S3, a recording proxy in front of the worker, and `wrangler dev` (workerd) with
 * local D1 under a per-run directory. Every process runs in its own process group; `stop()` kills
 * them all, and a failure half-way stops what was already started.
 */
export async function startEdgeStack(opts: StackOptions = {}): Promise<EdgeStack> {
  const model = opts.model ?? 'models/tiny-core';
  const manifest = JSON.parse(readFileSync(join(ROOT, model, 'manifest.json'), 'utf8')) as { name: string; version: string };
  const readyMs = opts.readyTimeoutMs ?? 120_000;
  mkdirSync(CACHE, { recursive: true });
  const stops: (() => Promise<unknown>)[] = [];
  const groups: GroupProcess[] = [];
  // Last resort if the test process exits without stop(): the process groups must not outlive it.
  const killSync = () => groups.forEach((g) => g.child.pid !== undefined && tryKill(-g.child.pid));
  process.once('exit', killSync);
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
    stops.length = 0;
    process.off('exit', killSync);
  };
  try {
    const s3 = await startS3();
    stops.push(() => s3.close());
    await s3.upload(join(ROOT, model), `models/${manifest.name}/${manifest.version}/`);

    const workerPort = await freePort();
    const worker = spawnGroup(join(BIN, 'tsx'), ['worker-gpu/src/main.ts'], {
      cwd: ROOT,
      env: { ...process.env, ...workerEnv(s3, { WORKER_PORT: String(workerPort), WORKER_DEFAULT_MODEL: `${manifest.name}@${manifest.version}`, WORKER_LOG: 'info', ...opts.workerEnv }) },
    });
    groups.push(worker);
    stops.push(() => worker.kill());
    const workerUrl = `http://127.0.0.1:${workerPort}`;
    await waitFor('GPU worker', async () => (await fetch(`${workerUrl}/readyz`)).ok, readyMs, worker.output, () => worker.child.exitCode !== null);

    const proxy = await startRecordingProxy(workerUrl);
    stops.push(() => proxy.close());

    const persist = mkdtempSync(join(CACHE, 'wrangler-'));
    stops.push(async () => rmSync(persist, { recursive: true, force: true }));
    await promisify(execFile)(join(BIN, 'wrangler'), ['d1', 'migrations', 'apply', D1_NAME, '--local', '--persist-to', persist], { cwd: ROOT, env, timeout: readyMs });

    const adminSecret = `admin-${crypto.randomUUID()}`;
    const [port, inspector] = [await freePort(), await freePort()];
    const wrangler = spawnGroup(join(BIN, 'wrangler'), [
      'dev', '--local', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector), '--persist-to', persist,
      '--show-interactive-dev-session=false', '--log-level', 'warn',
      '--var', `ADMIN_SECRET:${adminSecret}`, '--var', `GPU_WORKERS:${proxy.url}`, '--var', 'DEFAULT_RATE_LIMIT_PER_MINUTE:100000',
    ], { cwd: ROOT, env });
    groups.push(wrangler);
    stops.push(() => wrangler.kill());
    const edgeUrl = `http://127.0.0.1:${port}`;
    await waitFor('wrangler dev', async () => (await fetch(`${edgeUrl}/v1/models`)).status === 401, readyMs, wrangler.output, () => wrangler.child.exitCode !== null);

    const admin = async (path: string, body: unknown) => {
      const res = await fetch(`${edgeUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, unknown>>;
    };
    return {
      edgeUrl, adminSecret, workerUrl, proxy, s3, worker, wrangler, stop,
      async newKey(tenant, scopes = ['generate', 'models', 'generations']) {
        await admin('/admin/tenants', { id: tenant, name: tenant });
        const created = await admin(`/admin/tenants/${tenant}/keys`, { name: 'e2e', scopes });
        return String(created.key);
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}
