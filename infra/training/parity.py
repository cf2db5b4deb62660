#!/usr/bin/env python3
"""Write PyTorch reference inputs/outputs for both bundle graphs, for the TypeScript parity test,
after checking in PyTorch that the three views of the model agree:
- the cache built in two incremental calls equals the cache built in one;
- `denoise` against the cache equals the training layout's logits for the same block.

  python3 parity.py --checkpoint runs/tiny/checkpoint.pt --out .cache/parity
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.config import ModelConfig  # noqa: E402
from ssd2.model import SSD2Model  # noqa: E402
from ssd2.diffusion import alpha_bar  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    model = SSD2Model(ModelConfig.from_dict(ckpt["config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    c = model.cfg
    g = torch.Generator().manual_seed(7)
    n, s1, s2, B = 2, 5, 4, c.block_size
    ids = torch.randint(0, c.vocab_size, (n, s1 + s2), generator=g)
    pos = torch.arange(s1 + s2).repeat(n, 1)
    tensors = {}
    with torch.no_grad():
        k0, v0 = model.empty_cache(n)
        k1, v1 = model.encode_context(ids[:, :s1], pos[:, :s1], k0, v0, torch.ones(n, s1))[:2]
        k2, v2, *hidden = model.encode_context(ids[:, s1:], pos[:, s1:], k1, v1, torch.ones(n, s1 + s2))
        kf, vf, *hidden_f = model.encode_context(ids, pos, k0, v0, torch.ones(n, s1 + s2))
        incr = max((k2 - kf).abs().max().item(), (v2 - vf).abs().max().item(),
                   *[(h - hf).abs().max().item() for h, hf in zip(hidden, hidden_f)])
        simplex = torch.randn(n, B, c.vocab_size, generator=g) * c.simplex_k
        self_cond = torch.randn(n, B, c.vocab_size, generator=g) * 3
        t = torch.rand(n, generator=g)
        bpos = torch.arange(s1 + s2, s1 + s2 + B).repeat(n, 1)
        logits = model.denoise(simplex, self_cond, t, bpos, k2, v2, torch.ones(n, s1 + s2), *hidden)
        # The same block in the training layout: context = ids, one block starting after it.
        full = torch.cat([ids, torch.zeros(n, B, dtype=torch.long)], dim=1)
        train_logits = model.forward_train(full, torch.cat([torch.ones(n, s1 + s2), torch.zeros(n, B)], 1).long(),
                                           torch.full((n, 1), s1 + s2), torch.ones(n, 1, dtype=torch.long),
                                           simplex, self_cond, t.unsqueeze(1))
        layout = (logits - train_logits).abs().max().item()
    report = {"incremental_cache_max_diff": incr, "train_vs_cached_max_diff": layout,
              # the serving engine's schedule is checked against these (T=100)
              "alpha_bar_T100": {str(t): alpha_bar(t, 100).item() for t in (1, 10, 50, 90, 99)}}
    print(json.dumps(report))
    if incr > 1e-4 or layout > 1e-3:
        print("parity.py: error: the model's views disagree", file=sys.stderr)
        sys.exit(1)
    os.makedirs(args.out, exist_ok=True)
    tensors = {
        "ctx.input_ids": ids[:, s1:], "ctx.position_ids": pos[:, s1:], "ctx.past_keys": k1, "ctx.past_values": v1,
        "ctx.attention_mask": torch.ones(n, s1 + s2), "ctx.present_keys": k2, "ctx.present_values": v2,
        "den.simplex_logits": simplex, "den.self_cond_logits": self_cond, "den.timestep": t,
        "den.position_ids": bpos, "den.past_keys": k2, "den.past_values": v2, "den.past_mask": torch.ones(n, s1 + s2),
        "den.logits": logits,
    }
    if c.shifted:  # the last context token's hidden state, handed from one graph to the other
        tensors.update({"ctx.last_hidden": hidden[0], "den.context_hidden": hidden[0]})
    index = {}
    for name, tensor in tensors.items():
        arr = tensor.numpy()
        dtype = "int64" if arr.dtype == np.int64 else "float32"
        arr = arr.astype(dtype)
        arr.tofile(os.path.join(args.out, name + ".bin"))
        index[name] = {"dtype": dtype, "shape": list(arr.shape), "file": name + ".bin"}
    with open(os.path.join(args.out, "parity.json"), "w") as f:
        json.dump({"report": report, "tensors": index}, f, indent=1)


if __name__ == "__main__":
    main()
