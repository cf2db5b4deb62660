/**
 * npm run convert -- --ssd-lm DIR --out BUNDLE [--name NAME] [--weights-dtype float16|float32] [...]
 * Converts a published SSD-LM checkpoint into a servable bundle (convert_ssd_lm.py, PyTorch):
 * docs/model-bundle.md, "Serving a published checkpoint".
 */
import { runTrainingScript } from './python';

const args = process.argv.slice(2);
if (!args.includes('--ssd-lm') || args.includes('--help') || args.includes('-h')) {
  console.log(`usage: npm run convert -- --ssd-lm DIR --out BUNDLE [options]
  --ssd-lm DIR           an SSD-LM checkpoint: config.json, pytorch_model.bin, vocab.json, merges.txt,
                         embed_sum_layer.pt, timestep_layer.pt
  --out BUNDLE           the bundle directory to write
  --name NAME            the model's name (default ssd-lm); --version V (default 1.0.0)
  --block-size N         tokens per block (default 25); --simplex-k K (default 5); --t-train T (default 5000)
  --max-context N        default: every position the block leaves
  --weights-dtype D      float16 (default) or float32; --external-data keeps weights beside the graph`);
  process.exit(args.includes('--help') || args.includes('-h') ? 0 : 2);
}
runTrainingScript('convert_ssd_lm.py', args, (line) => console.log(line)).catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
