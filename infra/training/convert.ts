/**
 * npm run convert -- --ssd-lm DIR --out BUNDLE [--name NAME] [--weights-dtype float16|float32] [...]
 *   Converts a published SSD-LM checkpoint into a servable bundle (convert_ssd_lm.py, PyTorch):
 *   docs/model-bundle.md, "Serving a published checkpoint".
 * npm run convert -- --stagger BUNDLE --out BUNDLE [--block-size 8] [--window 2]
 *   Re-exports a shifted-readout bundle with multi-token blocks under a staggered schedule
 *   (stagger_bundle.py): docs/model-bundle.md, "Block schedule".
 */
import { runTrainingScript } from './python';

const args = process.argv.slice(2);
const help = args.includes('--help') || args.includes('-h');
const mode = args.includes('--ssd-lm') ? 'ssd-lm' : args.includes('--stagger') ? 'stagger' : null;
if (!mode || help) {
  console.log(`usage: npm run convert -- --ssd-lm DIR --out BUNDLE [options]
  --ssd-lm DIR           an SSD-LM checkpoint: config.json, pytorch_model.bin, vocab.json, merges.txt,
                         embed_sum_layer.pt, timestep_layer.pt
  --out BUNDLE           the bundle directory to write
  --name NAME            the model's name (default ssd-lm); --version V (default 1.0.0)
  --block-size N         tokens per block (default 25); --simplex-k K (default 5); --t-train T (default 5000)
  --max-context N        default: every position the block leaves
  --weights-dtype D      float16 (default) or float32; --external-data keeps weights beside the graph

       npm run convert -- --stagger BUNDLE --out BUNDLE [options]
  --stagger BUNDLE       a shifted-readout bundle with the noisy evidence (such as models/core at blocks of 1)
  --out BUNDLE           the bundle directory to write: the same weights, blocks of --block-size under a
                         staggered schedule with causal attention inside the block
  --block-size N         tokens per block (default 8); --window W denoising steps per position (default 2)
  --name NAME, --version V   default: the source bundle's`);
  process.exit(help ? 0 : 2);
}
const [script, scriptArgs] =
  mode === 'ssd-lm' ? ['convert_ssd_lm.py', args] : ['stagger_bundle.py', args.map((a) => (a === '--stagger' ? '--bundle' : a))];
runTrainingScript(script, scriptArgs, (line) => console.log(line)).catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
