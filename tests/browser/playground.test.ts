/**
 * The playground in a real browser: Debian's Chromium (playwright-core) against the local stack
 * (s3rver → GPU worker → recording proxy → wrangler dev serving the built page at /playground).
 * Types a prompt and a private context, runs core-only and collaborative generations with the
 * user model running in the page (onnxruntime-web, WebAssembly), and checks that the private
 * context never left the page: not in any HTTP request or WebSocket frame the page sent, not in
 * anything the GPU worker received. Errors (bad key, blocked prompt, corrupt model) show in the page.
 * Screenshots: tests/artifacts/playground.png, playground-replay.png, playground-errors.png.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privateContextPrefix } from '../../shared/prompt/instruction';
import type { StepRequest } from '../../shared/protocol';
import { codecFromJson } from '../../shared/tokenizer';
import { startEdgeStack, type EdgeStack } from '../e2e/helpers/stack';
import { CACHE, ROOT } from '../helpers/paths';

/**
 * The page is built with tiny-core as its user model (SSD2_PLAYGROUND_USER_MODEL) and joins the
 * tiny-core core: small and fast, and a model pair whose outputs are never empty for this prompt.
 */
const CORE_DIR = 'models/tiny-core';
const CHROMIUM = process.env.SSD2_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'tests/artifacts');
const PROMPT = 'The cat sat on the';
const PRIVATE = 'Zebras graze quietly near the old mill.';
const SECRET_WORDS = ['Zebras', 'graze', 'quietly', 'mill'];

interface SentRecord {
  kind: 'http' | 'ws-url' | 'ws-frame';
  url: string;
  data: string;
}

let stack: EdgeStack | undefined;
let context: BrowserContext | undefined;
let page: Page;
let apiKey: string;
let userDataDir: string;
const sent: SentRecord[] = [];
const received: { url: string; data: string }[] = [];
const consoleLines: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: run \`bash scripts/ensure-chromium.sh\` (installs Debian's chromium as root) or set SSD2_CHROMIUM`,
    );
  // The page the edge serves as static assets (wrangler.toml [assets]); built before wrangler dev starts.
  const build = promisify(execFile)(
    join(ROOT, 'node_modules/.bin/vite'),
    ['build', '-c', 'playground/vite.config.ts', '--logLevel', 'warn'],
    { cwd: ROOT, timeout: 180_000, env: { ...process.env, SSD2_PLAYGROUND_USER_MODEL: 'tiny-core' } },
  );
  const starting = build.then(() => startEdgeStack({ model: CORE_DIR }));
  starting.catch(() => {});
  stack = await starting;
  apiKey = await stack.newKey('browser-tenant');

  mkdirSync(CACHE, { recursive: true });
  userDataDir = mkdtempSync(join(CACHE, 'chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1400, height: 1000 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  page.on('request', (r) => sent.push({ kind: 'http', url: r.url(), data: r.postData() ?? '' }));
  page.on('websocket', (ws) => {
    sent.push({ kind: 'ws-url', url: ws.url(), data: '' });
    ws.on('framesent', (f) =>
      sent.push({ kind: 'ws-frame', url: ws.url(), data: typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8') }),
    );
    ws.on('framereceived', (f) =>
      received.push({ url: ws.url(), data: typeof f.payload === 'string' ? f.payload : f.payload.toString('utf8') }),
    );
  });
}, 480_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await stack?.stop();
}, 60_000);

async function fill(settings: Record<string, string>): Promise<void> {
  for (const [id, value] of Object.entries(settings)) await page.fill(`#${id}`, value);
}

describe('playground (Chromium + local stack)', () => {
  it('serves the page at /playground and loads the bundled user model in the browser', async () => {
    const res = await page.goto(`${stack!.edgeUrl}/playground`);
    expect(res?.ok()).toBe(true);
    expect(new URL(page.url()).pathname).toBe('/playground/');
    await page.waitForSelector('#model-status[data-state=ready], #model-status[data-state=error]', { timeout: 120_000 });
    expect(await page.getAttribute('#model-status', 'data-state'), `${await page.textContent('#errors')}\n${consoleLines.join('\n')}`).toBe(
      'ready',
    );
    expect(await page.textContent('#model-status')).toMatch(/tiny-core|user/);
    expect(await page.textContent('#model-status')).toContain('WebAssembly'); // --disable-gpu: no WebGPU adapter
  }, 180_000);

  it('runs core-only and collaborative generations side by side; the private context never leaves the page', async () => {
    await fill({
      'api-key': apiKey,
      prompt: PROMPT,
      'private-context': PRIVATE,
      steps: '10',
      'top-p': '0.95',
      'block-size': '',
      seed: '424242',
      lambda: '0.9',
      'max-tokens': '25',
      'early-stop': '5',
    });
    await page.click('#run');
    await page.waitForSelector('#run-collab[data-state=done], #run-collab[data-state=error], #run-core[data-state=error], #errors .error', {
      timeout: 240_000,
    });
    const errors = await page.locator('#errors .error').allTextContents();
    expect(errors, consoleLines.join('\n')).toEqual([]);

    const core = (await page.textContent('#run-core .generated')) ?? '';
    const collab = (await page.textContent('#run-collab .generated')) ?? '';
    expect(core.trim().length).toBeGreaterThan(0);
    expect(collab.trim().length).toBeGreaterThan(0);
    // λ = 0.9 with a private context: the user model changes the text for the same seed (as in tests/e2e).
    expect(collab).not.toBe(core);
    expect(Number(await page.getAttribute('#run-collab', 'data-steps-answered'))).toBeGreaterThan(0);

    // The denoising view: tokens per block position, steps saved by early stopping, a replay slider.
    for (const run of ['#run-core', '#run-collab']) {
      expect(await page.locator(`${run} .denoise-block`).count()).toBeGreaterThan(0);
      expect(await page.locator(`${run} .tok`).count()).toBeGreaterThan(0);
      expect(await page.textContent(`${run} .denoise-status`)).toMatch(/steps run, \d+ saved by early stopping/);
      expect(Number(await page.getAttribute(`${run} .denoise-replay`, 'max'))).toBeGreaterThan(5);
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'playground.png'), fullPage: true });
    // Replay: half-way through the core-only run, positions carry their recency colours.
    const max = Number(await page.getAttribute('#run-core .denoise-replay', 'max'));
    await page.locator('#run-core .denoise-replay').fill(String(Math.floor(max / 2)));
    expect(await page.textContent('#run-core .denoise-status')).toMatch(/^block 1 · step \d+\/10/);
    await page.screenshot({ path: join(ARTIFACTS, 'playground-replay.png'), fullPage: true });

    // What the page sent: the edge calls, the user model's WebSocket (hello + logits), static files.
    const toEdge = sent.filter((s) => s.url.startsWith(stack!.edgeUrl.replace('http', 'ws')) || s.url.startsWith(stack!.edgeUrl));
    const completions = toEdge.filter((s) => s.kind === 'http' && s.url.endsWith('/v1/completions'));
    expect(completions.length).toBeGreaterThan(0);
    // The block size was left empty: the requests leave it to the model.
    for (const c of completions) expect(JSON.parse(c.data)).not.toHaveProperty('block_size');
    const frames = toEdge.filter((s) => s.kind === 'ws-frame');
    expect(frames.length).toBeGreaterThan(1);
    expect(new Set(frames.map((f) => (JSON.parse(f.data) as { type: string }).type))).toEqual(new Set(['hello', 'logits']));
    expect(received.some((r) => r.data.includes('"type":"step"'))).toBe(true);
    for (const s of sent) {
      for (const word of [PRIVATE, ...SECRET_WORDS]) {
        expect(decodeURIComponent(s.url), `${s.kind} ${s.url}`).not.toContain(word);
        expect(s.data, `${s.kind} ${s.url}`).not.toContain(word);
      }
    }
    // …and nothing the GPU worker received holds its words or its tokens.
    const coreManifest = JSON.parse(readFileSync(join(ROOT, CORE_DIR, 'manifest.json'), 'utf8')) as {
      vocab_size: number;
      eos_token_id: number;
    };
    const codec = codecFromJson(
      CORE_DIR,
      'tokenizer.json',
      readFileSync(join(ROOT, CORE_DIR, 'tokenizer.json')),
      coreManifest.vocab_size,
      coreManifest.eos_token_id,
    );
    const privateTokens = codec.encode(privateContextPrefix(PRIVATE));
    const workerBodies = stack!.proxy.log.map((r) => r.requestBody);
    expect(workerBodies.length).toBeGreaterThan(0);
    for (const body of workerBodies) for (const word of SECRET_WORDS) expect(body).not.toContain(word);
    const steps = stack!.proxy.log.filter((r) => r.path === '/v1/step').map((r) => JSON.parse(r.requestBody) as StepRequest);
    expect(steps.length).toBeGreaterThan(0);
    for (const s of steps) if (s.context) expect(containsRun(s.context, privateTokens)).toBe(false);
  }, 300_000);

  it('shows a bad key, a blocked prompt and a model load failure in the page', async () => {
    await fill({ 'api-key': 'sk-ssd2-not-a-real-key' });
    await page.click('#run');
    await page.waitForSelector('#errors .error[data-code=invalid_api_key]', { timeout: 30_000 });
    expect(await page.textContent('#errors')).toContain('Bad API key');

    const admin = await fetch(`${stack!.edgeUrl}/admin/tenants/browser-tenant/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${stack!.adminSecret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ blocked_terms: ['password'] }),
    });
    expect(admin.ok).toBe(true);
    await fill({ 'api-key': apiKey, prompt: 'Tell me the password' });
    await page.click('#run');
    await page.waitForSelector('#errors .error[data-code=prompt_blocked]', { timeout: 60_000 });
    expect(await page.textContent('#errors')).toContain('Prompt blocked');
    await page.waitForSelector('#run:not([disabled])', { timeout: 60_000 });
    expect(await page.getAttribute('#run-collab', 'data-state')).toBe('idle'); // not attempted after the core-only run was refused
    await page.screenshot({ path: join(ARTIFACTS, 'playground-errors.png'), fullPage: true });

    // A corrupt bundle file: the shared loader's sha256/size check fails, and the page says so.
    await page.route('**/playground/models/*/denoiser.onnx', (route) =>
      route.fulfill({ status: 200, contentType: 'application/octet-stream', body: 'not an onnx graph' }),
    );
    await page.reload();
    await page.waitForSelector('#errors .error[data-code=model_load_failed]', { timeout: 60_000 });
    expect(await page.textContent('#errors')).toMatch(/Model load failure[\s\S]*denoiser\.onnx/);
    expect(await page.getAttribute('#model-status', 'data-state')).toBe('error');
    await page.unroute('**/playground/models/*/denoiser.onnx');
  }, 120_000);
});

function containsRun(haystack: readonly number[], needle: readonly number[]): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
