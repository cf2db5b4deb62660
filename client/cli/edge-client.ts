/**
 * npm run client -- upload-user-model DIR --name NAME    (see upload-user-model.ts)
 * npm run client -- --prompt "..." --user-model models/tiny-core --private-context "..." [--lambda 0.5]
 *                   [--base-url http://127.0.0.1:8787] [--api-key sk-ssd2-... | env SSD2_API_KEY]
 * Generates through the edge with a user model that runs on this machine (client SDK): the edge
 * mixes its logits with the core's at every step. The private context never leaves this process.
 * Streams each finished block to stdout; a summary goes to stderr.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { EdgeError, loadUserModel, streamClientCompletion } from '../sdk';
import { parseProviders } from '../../worker-gpu/src/runtime/providers';
import { UPLOAD_HELP, uploadCommand } from './upload-user-model';

const HELP = `usage: npm run client -- --prompt TEXT --user-model DIR [options]
  --base-url URL         the edge (default $SSD2_BASE_URL or http://127.0.0.1:8787)
  --api-key KEY          an API key with the generate scope (default $SSD2_API_KEY)
  --model ID             the core model (default tiny-core)
  --user-model DIR       user model bundle, run here with onnxruntime-node
  --private-context TEXT context only the local user model reads
  --lambda X             user model weight in [0,1] (default 0.5)
  --steps N --max-tokens N --seed S --top-p P --temperature T --block-size N --early-stop K
  --deadline-ms N        per-step deadline for this client's answers
  --on-timeout MODE      fail | core_only
  --providers LIST       onnxruntime providers (default cpu)

${UPLOAD_HELP}`;

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

async function main() {
  if (process.argv[2] === 'upload-user-model') {
    process.exitCode = await uploadCommand(process.argv.slice(3));
    return;
  }
  const { values } = parseArgs({
    options: {
      prompt: { type: 'string' },
      'user-model': { type: 'string' },
      'private-context': { type: 'string' },
      'base-url': { type: 'string', default: process.env.SSD2_BASE_URL ?? 'http://127.0.0.1:8787' },
      'api-key': { type: 'string', default: process.env.SSD2_API_KEY },
      model: { type: 'string', default: 'tiny-core' },
      lambda: { type: 'string', default: '0.5' },
      steps: { type: 'string' },
      'max-tokens': { type: 'string' },
      seed: { type: 'string' },
      'top-p': { type: 'string' },
      temperature: { type: 'string' },
      'block-size': { type: 'string' },
      'early-stop': { type: 'string' },
      'deadline-ms': { type: 'string' },
      'on-timeout': { type: 'string' },
      providers: { type: 'string', default: 'cpu' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.prompt || !values['user-model']) {
    console.log(HELP);
    process.exit(values.help ? 0 : 2);
  }
  if (!values['api-key']) throw new Error('give --api-key or set SSD2_API_KEY');
  if (!existsSync(values['user-model'])) throw new Error(`model directory not found: ${values['user-model']}`);
  const model = await loadUserModel(values['user-model'], parseProviders(values.providers));
  const started = performance.now();
  const run = streamClientCompletion({
    baseUrl: values['base-url']!,
    apiKey: values['api-key'],
    coreModel: values.model!,
    prompt: values.prompt,
    model,
    privateContext: values['private-context'],
    lambda: num(values.lambda),
    steps: num(values.steps),
    maxTokens: num(values['max-tokens']),
    seed: num(values.seed),
    topP: num(values['top-p']),
    temperature: num(values.temperature),
    blockSize: num(values['block-size']),
    earlyStop: num(values['early-stop']),
    deadlineMs: num(values['deadline-ms']),
    onTimeout: values['on-timeout'] as 'fail' | undefined,
  });
  process.stdout.write(values.prompt);
  for await (const text of run) process.stdout.write(text);
  process.stdout.write('\n');
  const r = await run.result;
  const secs = (performance.now() - started) / 1000;
  console.error(
    `[${r.finishReason}] generation ${r.generationId}, seed ${r.seed}, ${r.usage?.completion_tokens ?? '?'} tokens in ` +
      `${secs.toFixed(2)}s; ` +
      `local model answered ${r.client.stepsAnswered} steps (${r.client.modelMs.toFixed(0)} ms), ${r.client.bytesReceived} B in / ` +
      `${r.client.bytesSent} B out over the WebSocket`,
  );
}

main().catch((err) => {
  const cause = err?.cause?.message ?? err?.cause?.code;
  console.error(`\nerror: ${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`);
  process.exit(err instanceof EdgeError && err.status < 500 ? 2 : 1);
});
