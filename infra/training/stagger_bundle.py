"""A bundle re-exported with multi-token blocks under a staggered schedule, from its own weights.

    python3 infra/training/stagger_bundle.py --bundle models/core --block-size 8 --window 2 --out DIR

The source is a shifted-readout bundle (one-token blocks: the network is a causal LM plus the noisy
evidence). The result denoises blocks of --block-size tokens with no training:
- attention inside the block is causal, so with the shifted readout block position i + 1 is
  predicted exactly as the causal LM predicts the next token, from the block's current estimates
  of the positions before it;
- the schedule is staggered (docs/model-bundle.md, "Block schedule"): position j runs --window
  steps from pure noise to clean, starting after the positions before it, so each position is
  drawn after the positions it reads have settled;
- the block input (`simplex_in`, which one-token blocks never read) becomes the token embedding,
  rescaled so that a settled position's input, 0.5 · (softmax of its ±K simplex + its
  self-conditioning estimate), gives the embedding of its token, as the causal LM was trained on.

The weights are read back from the bundle's ONNX graphs (initializers by name, and the
MatMul weights in graph order, checked by shape and against the context encoder's copies).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.config import ModelConfig  # noqa: E402
from ssd2.export import export_bundle  # noqa: E402
from ssd2.model import SSD2Model  # noqa: E402
from ssd2.stagger import stagger  # noqa: E402


def fail(message):
    print(f"stagger_bundle: {message}", file=sys.stderr)
    sys.exit(2)


def initializers(path):
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    return [(i.name.replace("__fp16", ""), torch.tensor(numpy_helper.to_array(i).astype(np.float32))) for i in graph.initializer]


def read_bundle(bundle):
    """The bundle's manifest and its network as an SSD2Model (the config of its manifest)."""
    with open(os.path.join(bundle, "manifest.json")) as f:
        m = json.load(f)
    a = m["architecture"]
    if a.get("readout") != "shifted" or not a.get("likelihood"):
        fail(f"{bundle}/manifest.json: needs architecture.readout \"shifted\" and likelihood true "
             "(the causal LM view the staggered blocks read)")
    if not m["self_conditioning"]:
        fail(f"{bundle}/manifest.json: needs self_conditioning true (a settled position's input is rescaled for it)")
    if a.get("context", "cached") != "cached" or a.get("positions", "learned") != "learned":
        fail(f"{bundle}/manifest.json: needs a cached context and learned positions")
    cfg = ModelConfig(vocab_size=m["vocab_size"], hidden=a["hidden"], layers=a["layers"], heads=a["heads"],
                      ffn=a["ffn"], max_positions=a["max_positions"], block_size=m["block_size"],
                      simplex_k=m["simplex_k"], t_train=m["t_train"], schedule=m["schedule"],
                      self_conditioning=m["self_conditioning"], eos_token_id=m["eos_token_id"],
                      timestep_range=m["timestep_range"], positions="learned", shifted=True, likelihood=True)
    model = SSD2Model(cfg)
    den = initializers(os.path.join(bundle, m["graphs"]["denoiser"]))
    enc = initializers(os.path.join(bundle, m["graphs"]["context_encoder"]))
    state = {n[len("model."):]: t for n, t in den + enc if n.startswith("model.")}
    h, v, L = cfg.hidden, cfg.vocab_size, cfg.layers
    mats = [t for n, t in den if not n.startswith("model.")]
    shapes = [(v, h), (1, h)] + [(h, 3 * h), (h, h), (h, cfg.ffn), (cfg.ffn, h)] * L + [(h, v)]
    if [tuple(t.shape) for t in mats] != shapes:
        fail(f"{bundle}/{m['graphs']['denoiser']}: unexpected weight layout {[tuple(t.shape) for t in mats]}")
    enc_mats = [t for n, t in enc if not n.startswith("model.")]
    if len(enc_mats) != 4 * L or any(not torch.equal(a_, b_) for a_, b_ in zip(enc_mats, mats[2:2 + 4 * L])):
        fail(f"{bundle}: the context encoder's and the denoiser's layer weights differ")
    state["simplex_in.weight"], state["t_emb.weight"] = mats[0].t(), mats[1].t()
    for i in range(L):
        for j, name in enumerate(("attn.qkv", "attn.out", "mlp.0", "mlp.2")):
            state[f"layers.{i}.{name}.weight"] = mats[2 + 4 * i + j].t()
    missing = [k for k in model.state_dict() if k not in state]
    if missing:
        fail(f"{bundle}: weights not found in the graphs: {', '.join(missing)}")
    model.load_state_dict({k: state[k] for k in model.state_dict()})
    return m, model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", required=True, help="a shifted-readout bundle (one-token blocks)")
    ap.add_argument("--block-size", type=int, default=8)
    ap.add_argument("--window", type=int, default=2, help="denoising steps per position")
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", help="bundle name (default: the source's)")
    ap.add_argument("--version", help="bundle version (default: the source's)")
    args = ap.parse_args()
    if args.block_size < 1 or args.window < 1:
        fail("--block-size and --window must be at least 1")
    m, model = read_bundle(args.bundle)
    staggered = stagger(model, args.block_size, args.window)
    max_context = min(m["max_context"], m["architecture"]["max_positions"] - args.block_size)
    training = {**(m.get("training") or {}),
                "staggered_from": {"bundle": f"{m['name']}@{m['version']}", "block_size": args.block_size,
                                   "window": args.window, "training": "none (weights as they are, block input rescaled)"}}
    out = export_bundle(staggered, args.out, os.path.join(args.bundle, m["tokenizer"]), args.name or m["name"], m["role"],
                        max_context=max_context, training=training, version=args.version or m["version"],
                        weights_dtype=m["architecture"].get("dtype", "float32"))
    print(json.dumps({"out": args.out, "block_size": out["block_size"], "block_schedule": out["block_schedule"],
                      "max_context": out["max_context"]}))


if __name__ == "__main__":
    main()
