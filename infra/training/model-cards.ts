/**
 * npm run model-cards — writes models/README.md from the bundles' manifests (training facts
 * recorded by export.py), the stage definitions of train-models.ts and the data manifest.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { STAGES } from './train-models';

const read = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const data = existsSync('models/eval-data/data-manifest.json') ? read('models/eval-data/data-manifest.json') : null;

const cards = ['core', 'core-hi', 'user', 'tiny-core']
  .filter((name) => existsSync(`models/${name}/manifest.json`))
  .map((name) => {
    const m = read(`models/${name}/manifest.json`);
    const a = m.architecture;
    const t = m.training ?? {};
    const bytes = m.files.reduce((s: number, f: { bytes: number }) => s + f.bytes, 0);
    const stages = STAGES.filter((s) => s.export?.name === name);
    const chain: string[] = [];
    for (let s = stages[0]; s; ) {
      chain.unshift(s.name);
      const init = s.args[s.args.indexOf('--init') + 1];
      s = s.args.includes('--init') ? STAGES.find((x) => init.includes(`/${x.name}/`))! : (undefined as never);
    }
    const logs = chain.map((stage) => {
      const path = `models/training-logs/${stage}.loss.jsonl`;
      if (!existsSync(path)) return `| ${stage} | - | - | - |`;
      const rows = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const last = rows.at(-1);
      return `| ${stage} | ${last.step} | ${last.tokens_seen} | ${last.loss.toFixed(3)}${last.val_loss ? ` (val ${last.val_loss.toFixed(3)})` : ''} |`;
    });
    return [
      `## ${name}`, '',
      `Role **${m.role}** · ${(a.parameters / 1e6).toFixed(2)} M parameters (${a.layers} layers × ${a.hidden} hidden, ${a.heads} heads, FFN ${a.ffn}) · vocabulary ${m.vocab_size} · block ${m.block_size} · context ${m.max_context} tokens · t/T range (${m.timestep_range.join(', ')}] · self-conditioning ${m.self_conditioning ? 'yes' : 'no'} · weights stored as ${a.dtype} (${(bytes / 2 ** 20).toFixed(1)} MiB on disk).`, '',
      name === 'tiny-core'
        ? 'A placeholder that proves the pipeline: `npm run train:tiny -- --steps 800 --hidden 96` on `tests/fixtures/tiny-corpus.txt` (20 lines), 513-token tokenizer.'
        : `Trained by \`npm run prepare:data && npm run train:models\` (stages ${chain.join(' → ')}; \`infra/training/train-models.ts\` lists every flag). Final stage: ${t.step ?? '?'} steps, ${t.tokens_seen ?? '?'} tokens, ${((t.elapsed_s ?? 0) / 60).toFixed(1)} min, final training loss ${t.final_loss?.toFixed?.(3) ?? '?'}${t.val_loss ? `, validation loss ${t.val_loss.toFixed(3)}` : ''}.`,
      '',
      ...(name === 'tiny-core' ? [] : ['| stage | steps | tokens seen | last logged loss |', '| --- | --- | --- | --- |', ...logs, '']),
    ].join('\n');
  });

const sources = data
  ? ['| source | package | licence | used for |', '| --- | --- | --- | --- |', ...data.sources.map((s: Record<string, string>) => `| ${s.id} | ${s.package} | ${s.licence} | ${s.use} |`), '',
     `Documents by source after deduplication: ${Object.entries(data.documents_by_source).map(([k, v]) => `${k} ${v}`).join(', ')}. Tokenizer: ${data.vocab_size} tokens (GPT-2's byte-level BPE cut to its first ${data.vocab_size - 257} merges, plus <|endoftext|>).`]
  : ['(run `npm run prepare:data` and `npm run train:models`)'];

const md = [
  '# Bundled models', '',
  `Hardware: trained on CPU only (${cpus().length} cores, ${cpus()[0]?.model}), PyTorch ${'1.13 (Debian)'}, no GPU was lent to this task. Smaller models that really trained, within the session's time; quality is measured in [EVAL.md](EVAL.md).`, '',
  '## Data', '', ...sources, '',
  '## Chat format', '',
  'The core is instruction-tuned on `Instruction: <instruction>\\n[Context: <context>\\n]Response:` followed by one space, the response and `<|endoftext|>` (`shared/prompt/instruction.ts`; /v1/chat/completions uses the same template). A user model\'s private context goes in front of the same prompt as `Context: <text>\\n` and only the user model sees it.', '',
  ...cards,
].join('\n');
writeFileSync('models/README.md', md + '\n');
console.log(md);
