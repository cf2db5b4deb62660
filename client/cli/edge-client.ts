/**
 * npm run client -- upload-user-model DIR --name NAME    (see upload-user-model.ts)
 * npm run client -- --prompt "..." --user-model models/user --private-context "..." [--lambda 0.5]
 *                   [--base-url http://127.0.0.1:8787] [--api-key sk-ssd2-... | env SSD2_API_KEY] [options]
 * Generates through the edge with a user model that runs on this machine (client SDK): the edge
 * mixes its logits with the core's at every step. The private context never leaves this process.
 * Streams each finished block to stdout; a summary goes to stderr.
 */
import { parseCli, usageError, usageText } from '../../tools/cli/args';
import { EdgeError, streamClientCompletion } from '../sdk';
import { bundleAt, openModel, providersArg, textArg } from './common';
import { UPLOAD_CLI, uploadCommand } from './upload-user-model';

const CLI = {
  usage: 'npm run client -- --prompt TEXT --user-model DIR [options]',
  flags: {
    'base-url': { type: 'string', arg: 'URL', help: 'the edge (default $SSD2_BASE_URL, else http://127.0.0.1:8787)' },
    'api-key': { type: 'string', arg: 'KEY', help: 'an API key with the generate scope (default $SSD2_API_KEY)' },
    model: { type: 'string', arg: 'ID', default: 'core', help: 'the core model the edge serves' },
    prompt: { type: 'string', arg: 'TEXT', empty: true, help: 'the prompt; - reads it from stdin' },
    'prompt-file': {
      type: 'string',
      arg: 'PATH',
      help: 'read the prompt from a file (- : stdin; one trailing newline is dropped);\nfor long prompts, which are not safe on the command line',
    },
    'user-model': { type: 'string', arg: 'DIR', help: 'user model bundle, run here with onnxruntime-node' },
    'private-context': { type: 'string', arg: 'TEXT', help: 'context only the local user model reads; - reads stdin' },
    'private-context-file': { type: 'string', arg: 'PATH', help: 'the private context from a file (- : stdin)' },
    lambda: { type: 'number', min: 0, max: 1, default: 0.5, help: 'user model weight in [0,1]' },
    steps: { type: 'int', min: 1, help: "denoising steps per block (default: the edge's for the model)" },
    'max-tokens': { type: 'int', min: 1, help: "length budget (default: the edge's)" },
    seed: { type: 'int', arg: 'S', min: 0, help: 'seed (default: the edge picks one and reports it)' },
    'top-p': { type: 'number', arg: 'P', above: 0, max: 1, help: 'nucleus for sampling, in (0,1]' },
    temperature: { type: 'number', arg: 'T', min: 0, max: 2, help: 'the nucleus is taken over logits / T, in [0,2]' },
    'block-size': { type: 'int', min: 1, help: "tokens per block, at most the model's" },
    'early-stop': { type: 'int', arg: 'K', min: 0, help: 'stop a block after K unchanged steps, 0 = off' },
    'deadline-ms': { type: 'int', min: 1, help: "per-step deadline for this client's answers" },
    'on-timeout': { type: 'string', arg: 'MODE', choices: ['fail', 'core_only'], help: 'past the deadline: fail | core_only' },
    providers: { type: 'string', arg: 'LIST', default: 'cpu', help: 'onnxruntime providers to try in order (cuda, webgpu, cpu)' },
  },
  footer: 'The prompt and the text of each finished block go to stdout, a summary line to stderr.\n\n' + usageText(UPLOAD_CLI),
} as const;

async function main() {
  if (process.argv[2] === 'upload-user-model') {
    process.exitCode = await uploadCommand(process.argv.slice(3));
    return;
  }
  const { values: v } = parseCli(CLI);
  const prompt = textArg('prompt', v.prompt, v['prompt-file']);
  if (prompt === undefined) usageError('give --prompt TEXT or --prompt-file PATH (--help lists the options)');
  const privateContext = textArg('private-context', v['private-context'], v['private-context-file']);
  if (!v['user-model']) usageError('give --user-model DIR: the user model this client runs (--help lists the options)');
  const apiKey = v['api-key'] ?? process.env.SSD2_API_KEY;
  if (!apiKey) usageError('give --api-key or set SSD2_API_KEY');
  const providers = providersArg(v.providers);
  bundleAt('user-model', v['user-model']);
  const model = await openModel(v['user-model'], providers);
  const started = performance.now();
  const run = streamClientCompletion({
    baseUrl: v['base-url'] ?? process.env.SSD2_BASE_URL ?? 'http://127.0.0.1:8787',
    apiKey,
    coreModel: v.model,
    prompt,
    model,
    privateContext,
    lambda: v.lambda,
    steps: v.steps,
    maxTokens: v['max-tokens'],
    seed: v.seed,
    topP: v['top-p'],
    temperature: v.temperature,
    blockSize: v['block-size'],
    earlyStop: v['early-stop'],
    deadlineMs: v['deadline-ms'],
    onTimeout: v['on-timeout'] as 'fail' | 'core_only' | undefined,
  });
  // The prompt is printed once the edge has accepted the request (an error comes alone).
  let printed = false;
  for await (const text of run) {
    if (!printed) process.stdout.write(prompt);
    printed = true;
    process.stdout.write(text);
  }
  process.stdout.write(`${printed ? '' : prompt}\n`);
  const r = await run.result;
  const secs = (performance.now() - started) / 1000;
  console.error(
    `[${r.finishReason}] generation ${r.generationId}, seed ${r.seed}, ${r.usage?.completion_tokens ?? '?'} tokens in ` +
      `${secs.toFixed(2)}s; ` +
      `local model answered ${r.client.stepsAnswered} steps (${r.client.modelMs.toFixed(0)} ms), ${r.client.bytesReceived} B in / ` +
      `${r.client.bytesSent} B out over the WebSocket; session: ${r.client.reason || 'open'}` +
      (r.client.errors.length > 0
        ? `; ${r.client.errors.length} error(s) from the edge, first ${r.client.errors[0].code}: ${r.client.errors[0].message}`
        : ''),
  );
}

main().catch((err) => {
  const cause = err?.cause?.message ?? err?.cause?.code;
  console.error(`\nerror: ${err instanceof Error ? err.message : String(err)}${cause ? ` (${cause})` : ''}`);
  process.exit(err instanceof EdgeError && err.status < 500 ? 2 : 1);
});
