#!/usr/bin/env python3
"""Export a checkpoint (or a randomly initialised model) to an SSD-2 bundle directory.

  python3 export.py --checkpoint runs/core/checkpoint.pt --tokenizer tok.json --name tiny-core --role core --out models/tiny-core
  python3 export.py --random-init '{"vocab_size":50257,"hidden":768,"layers":12,"heads":12}' --tokenizer gpt2.json ...
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.config import ModelConfig  # noqa: E402
from ssd2.export import export_bundle, export_causal_lm  # noqa: E402
from ssd2.model import SSD2Model  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--random-init", metavar="CONFIG_JSON", help="ModelConfig fields as JSON")
    p.add_argument("--tokenizer", required=True, help="Hugging Face tokenizer.json")
    p.add_argument("--name", required=True)
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--role", choices=["core", "user"], required=True)
    p.add_argument("--max-context", type=int)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights-dtype", choices=["float32", "float16"], default="float32",
                   help="float16 halves the bundle; arithmetic stays float32")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    if not os.path.exists(args.tokenizer):
        p.error(f"--tokenizer: file not found: {args.tokenizer}")
    training = None
    if args.checkpoint:
        if not os.path.exists(args.checkpoint):
            p.error(f"--checkpoint: file not found: {args.checkpoint}")
        ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
        model = SSD2Model(ModelConfig.from_dict(ckpt["config"]))
        model.load_state_dict(ckpt["model"])
        training = {k: ckpt.get(k) for k in ("step", "tokens_seen", "elapsed_s", "final_loss", "val_loss")}
    else:
        model = SSD2Model(ModelConfig(**json.loads(args.random_init)))
        training = {"random_init": True}
    with open(args.tokenizer) as f:
        tok_vocab = len(json.load(f)["model"]["vocab"])
    if tok_vocab > model.cfg.vocab_size:
        p.error(f"--tokenizer has {tok_vocab} tokens but the model's vocab_size is {model.cfg.vocab_size}")
    if model.cfg.objective == "causal-lm":
        manifest = export_causal_lm(model, args.out, args.tokenizer, args.name, training,
                                    weights_dtype=args.weights_dtype)
        print(f"exported the causal-LM baseline {args.name} ({manifest['architecture']['parameters']/1e6:.2f}M "
              f"params) to {args.out}")
        return
    manifest = export_bundle(model, args.out, args.tokenizer, args.name, args.role, args.max_context, training,
                             args.version,
                             weights_dtype=args.weights_dtype)
    total = sum(f["bytes"] for f in manifest["files"])
    print(f"exported {args.name} ({manifest['architecture']['parameters']/1e6:.2f}M params, {total/2**20:.1f} MiB) "
          f"to {args.out}")


if __name__ == "__main__":
    main()
