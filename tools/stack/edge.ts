import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bin, ROOT } from './paths';
import { spawnGroup, waitFor, type GroupProcess } from './process-group';

const D1_NAME = 'ssd2-edge';

/** wrangler's environment: no telemetry, no network look-ups, no prompts, no colours. */
export const WRANGLER_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: 'false',
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
  NO_UPDATE_NOTIFIER: '1',
  CI: '1',
  FORCE_COLOR: '0',
};

/** Applies edge/migrations to the local D1 under `persistTo` (idempotent). */
export async function applyMigrations(persistTo: string, timeoutMs: number): Promise<void> {
  try {
    await promisify(execFile)(bin('wrangler'), ['d1', 'migrations', 'apply', D1_NAME, '--local', '--persist-to', persistTo], {
      cwd: ROOT,
      env: WRANGLER_ENV,
      timeout: timeoutMs,
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`wrangler d1 migrations apply failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

/**
 * Bundles the edge Worker once into `outDir` (index.js), as `wrangler deploy --dry-run` would
 * upload it (no network). `wrangler dev` serving that file does not reload when a source changes.
 */
export async function bundleEdge(outDir: string, timeoutMs: number): Promise<void> {
  try {
    await promisify(execFile)(bin('wrangler'), ['deploy', '--dry-run', '--outdir', outDir], {
      cwd: ROOT,
      env: WRANGLER_ENV,
      timeout: timeoutMs,
    });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`wrangler deploy --dry-run (bundling the edge) failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

export interface EdgeOptions {
  port: number;
  inspectorPort: number;
  persistTo: string;
  /** Worker vars (ADMIN_SECRET, GPU_WORKERS, …), passed with --var. */
  vars: Record<string, string>;
  /**
   * Serve the bundle bundleEdge() wrote here (`--no-bundle`) instead of the watched sources: an
   * edit of any source the edge imports reloads `wrangler dev`, and a reload abandons the queue
   * delivery that is running, which stalls the local queue for good.
   */
  bundleDir?: string;
}

export interface EdgeProcess extends GroupProcess {
  url: string;
  /** Resolves once the edge answers (an unauthenticated /v1/models gets its 401). */
  ready(timeoutMs: number): Promise<void>;
}

/** `wrangler dev` (workerd, local D1 and Durable Objects under `persistTo`) in its own process group. */
export function startEdge(opts: EdgeOptions): EdgeProcess {
  const vars = Object.entries(opts.vars).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  const group = spawnGroup(
    'wrangler dev',
    bin('wrangler'),
    [
      'dev',
      ...(opts.bundleDir ? [join(opts.bundleDir, 'index.js'), '--no-bundle'] : []),
      '--local',
      '--ip',
      '127.0.0.1',
      '--port',
      String(opts.port),
      '--inspector-port',
      String(opts.inspectorPort),
      '--persist-to',
      opts.persistTo,
      '--show-interactive-dev-session=false',
      '--log-level',
      'warn',
      ...vars,
    ],
    { cwd: ROOT, env: WRANGLER_ENV },
  );
  const url = `http://127.0.0.1:${opts.port}`;
  return {
    ...group,
    url,
    ready: (timeoutMs) =>
      waitFor(
        'wrangler dev',
        async () => (await fetch(`${url}/v1/models`)).status === 401,
        timeoutMs,
        group.output,
        () => group.child.exitCode !== null,
      ),
  };
}

/** The admin API: creates (or updates) a tenant and a key for it; returns the key (shown once). */
export async function createApiKey(
  edgeUrl: string,
  adminSecret: string,
  tenant: string,
  keyName: string,
  scopes = ['generate', 'models', 'generations'],
): Promise<string> {
  const admin = async (path: string, body: unknown) => {
    const res = await fetch(`${edgeUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  await admin('/admin/tenants', { id: tenant, name: tenant });
  const created = await admin(`/admin/tenants/${tenant}/keys`, { name: keyName, scopes });
  return String(created.key);
}
