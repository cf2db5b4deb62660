/**
 * `npm start`: the whole serving stack on this machine — s3rver with the bundled models, a GPU
 * worker (best available execution provider) loading them from S3, the edge in `wrangler dev`
 * (local D1 + Durable Objects) — then a development API key, a ready curl command and one streamed
 * demo generation (core + a client-side user model with a private context). Ctrl-C stops it all.
 */
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadUserModel, streamClientCompletion, type UserModel } from '../client/sdk';
import { defaultStepsFor } from '../shared/ssd2/options';
import { defaultBundleDir, findBundles, LocalStack, readBundle, ROOT, StackStoppedError, workerProvider } from './stack';

const HELP = `npm start [-- options]   the local stack: s3rver + GPU worker(s) + wrangler dev, then a demo

  --no-demo                 just serve (no demo generation)
  --port N                  edge port (default 8787)
  --worker-port N           first GPU worker's port (default 8080; worker i gets N + i - 1)
  --workers N               GPU workers (default 1; the edge retries a failed request on the next)
  --s3-port N               s3rver port (default 4568)
  --state-dir DIR           state (bucket, worker disk caches, local D1) (default .cache/stack)
  --prompt TEXT             the demo's prompt
  --private-context TEXT    the demo's private context (stays in this process)
  --help

Environment: SSD2_PROVIDERS (default cuda,webgpu,cpu) and the other worker variables of
docs/worker.md are passed to the workers.`;

const TENANT = 'dev';
const started = performance.now();
const since = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const say = (line = ''): void => void process.stdout.write(`${line}\n`);

function options() {
  const { values } = parseArgs({
    options: {
      'no-demo': { type: 'boolean', default: false },
      port: { type: 'string', default: '8787' },
      'worker-port': { type: 'string', default: '8080' },
      workers: { type: 'string', default: '1' },
      's3-port': { type: 'string', default: '4568' },
      'state-dir': { type: 'string', default: '.cache/stack' },
      prompt: { type: 'string', default: 'The cat sat on the' },
      'private-context': { type: 'string', default: 'The bird sang in the old tree by the river.' },
      help: { type: 'boolean', default: false },
    },
  });
  const int = (name: 'port' | 'worker-port' | 'workers' | 's3-port', min: number, max: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max} (got ${values[name]})`);
    return n;
  };
  const workers = int('workers', 1, 8);
  const workerPort = int('worker-port', 0, 65535);
  return {
    help: values.help!,
    demo: !values['no-demo'],
    ports: {
      edge: int('port', 0, 65535),
      s3: int('s3-port', 0, 65535),
      workers: Array.from({ length: workers }, (_, i) => (workerPort ? workerPort + i : 0)),
    },
    stateDir: resolve(ROOT, values['state-dir']!),
    prompt: values.prompt!,
    privateContext: values['private-context']!,
  };
}

async function main(): Promise<void> {
  const opts = options();
  if (opts.help) return say(HELP);
  const modelsDir = join(ROOT, 'models');
  const bundles = findBundles(modelsDir);
  if (bundles.length === 0) throw new Error(`no model bundles (directories with a manifest.json) under ${modelsDir}`);
  const core = readBundle(defaultBundleDir(modelsDir, 'core'));
  // The default every path takes (two steps per token of a block, at least 10; a window per token when staggered).
  const demoSteps = defaultStepsFor(core.blockSize, core.blockSchedule);
  const userDir = defaultBundleDir(modelsDir, 'user');
  const userPath = basename(userDir);

  const stack = new LocalStack({
    stateDir: opts.stateDir,
    bundles,
    defaultModel: core,
    tenantBundles: [{ tenant: TENANT, path: userPath, dir: userDir }],
    ports: opts.ports,
    portHints: { edge: 'pass --port N', s3: 'pass --s3-port N', worker: 'pass --worker-port N' },
    log: (line) => say(`  ${since().padStart(7)}  ${line}`),
  });
  let demo: AbortController | undefined;
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return; // the terminal, npm and tsx may each deliver the same Ctrl-C
    stopping = true;
    demo?.abort();
    say(`\n${signal}: stopping the edge, the GPU worker(s) and s3rver…`);
    stack.stop().then(
      () => {
        say('stopped');
        process.exit(0);
      },
      (err) => {
        process.stderr.write(`npm start: while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGHUP', () => shutdown('SIGHUP'));

  say(
    `SSD-2 local stack: ${bundles.length} bundle(s) from models/, core ${core.name}@${core.version}, ${opts.ports.workers.length} GPU ` +
      `worker(s), state in ${opts.stateDir}`,
  );
  const userModel: Promise<UserModel> | undefined = opts.demo ? loadUserModel(userDir) : undefined;
  userModel?.catch(() => {});
  await stack.start();
  const apiKey = await stack.newKey(TENANT, undefined, 'npm start');
  const providers = await Promise.all(stack.workers.map((w) => workerProvider(w.url).catch(() => 'unknown')));
  const url = stack.edgeUrl;
  say();
  for (const [i, w] of stack.workers.entries()) say(`worker   ${w.url}  pid ${w.child.pid}  provider ${providers[i]}`);
  say(
    `metrics  token ${stack.metricsToken}  (GET <worker>/metrics with Authorization: Bearer <token>; every other worker route takes only ` +
      `the edge's signed requests)`,
  );
  say(`s3       ${stack.s3!.endpoint}  bucket models`);
  say(`admin    Authorization: Bearer ${stack.adminSecret}`);
  say(`api key  ${apiKey}  (tenant ${TENANT})`);
  say(`edge     ${url}`);
  say(`playground ${url}/playground  (paste the api key; docs/playground.md)`);
  say(`ready in ${since()}: ${url}  (Ctrl-C stops everything)`);
  say();
  say('try it:');
  say(`  curl -N ${url}/v1/completions -H 'Authorization: Bearer ${apiKey}' -H 'Content-Type: application/json' \\`);
  say(`    -d '${JSON.stringify({ model: core.name, prompt: opts.prompt, max_tokens: 50, steps: demoSteps, stream: true })}'`);
  say(`  # with the user model on the GPU worker: add "user_model": "${userPath}", "private_context": "...", "lambda": 0.5`);
  say();
  if (!userModel || stopping) return say('serving (--no-demo)');

  const served = (
    (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as { data: { id: string }[] }
  ).data.map((m) => m.id);
  const coreId = served.includes(core.name) ? core.name : served[0];
  if (coreId !== core.name) say(`note: the edge does not serve ${core.name} (edge/src/models/catalog.ts); the demo uses ${coreId}`);
  say(`demo: core ${coreId} on the GPU worker + user model ${userPath} in this process, λ = 0.5`);
  say(`  prompt           ${JSON.stringify(opts.prompt)}`);
  say(`  private context  ${JSON.stringify(opts.privateContext)} (never leaves this process)`);
  demo = new AbortController();
  const run = streamClientCompletion({
    baseUrl: url,
    apiKey,
    coreModel: coreId,
    prompt: opts.prompt,
    model: await userModel,
    privateContext: opts.privateContext,
    lambda: 0.5,
    maxTokens: 50,
    steps: demoSteps,
    seed: 7,
    deadlineMs: 30_000,
    signal: demo.signal,
  });
  let block = 0;
  try {
    for await (const text of run) say(`  block ${++block} at ${since().padStart(7)}  ${JSON.stringify(text)}`);
    const r = await run.result;
    say(`  done: ${JSON.stringify(opts.prompt + r.text)}`);
    say(
      `  ${r.usage?.completion_tokens ?? '?'} tokens, seed ${r.seed}, ${r.client.stepsAnswered} steps answered by the local user model ` +
        `(finish: ${r.finishReason})`,
    );
  } catch (err) {
    if (stopping) return;
    say(`  demo failed: ${(err as Error).message} (the stack keeps serving)`);
  }
  say();
  say(`serving on ${url} (Ctrl-C stops everything)`);
}

main().catch((err) => {
  if (err instanceof StackStoppedError) return;
  process.stderr.write(`npm start: ${(err as Error).message}\n`);
  process.exit(1);
});
