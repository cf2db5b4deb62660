#!/usr/bin/env python3
"""Held-out denoising loss of a diffusion checkpoint by noise level and by position in the block.

The mean loss hides what matters for generation: at t/T = 1 the first token of a block can be
predicted from the context as well as an AR model predicts the next token, later ones less so. A
first-position loss near the unigram level says the block does not read its context.

  python3 block_loss.py --checkpoint runs/core/best.pt --data val.bin [--seq-len 200] [--sequences 16]
  python3 block_loss.py --write-counting DIR   # synthetic stream where x[i] = x[i-1] + 1 (mod 63):
                                               # every block token follows from the context exactly
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.config import ModelConfig  # noqa: E402
from ssd2.data import StreamBatches, load_stream  # noqa: E402
from ssd2.diffusion import noisy_simplex  # noqa: E402
from ssd2.model import SSD2Model  # noqa: E402
from ssd2.objective import block_targets  # noqa: E402

FRACTIONS = (1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2)
POSITIONS = (0, 1, 4, 12, 24)


def write_counting(out, tokens=2_000_000, seed=0):
    """Runs of 30-79 consecutive ids (mod 63) separated by EOS = 63; vocab 64."""
    rng = np.random.default_rng(seed)
    ids = []
    while len(ids) < tokens + 50_000:
        start, length = rng.integers(0, 63), rng.integers(30, 80)
        ids += [(start + i) % 63 for i in range(length)] + [63]
    os.makedirs(out, exist_ok=True)
    np.array(ids[:tokens], dtype="<u4").tofile(os.path.join(out, "train.bin"))
    np.array(ids[tokens:], dtype="<u4").tofile(os.path.join(out, "val.bin"))
    print(f"wrote {out}/train.bin ({tokens} tokens) and val.bin: --vocab-size 64 --eos-id 63")


@torch.no_grad()
def block_loss(model, batches, n):
    cfg, B, T = model.cfg, model.cfg.block_size, model.cfg.t_train
    g = torch.Generator().manual_seed(0)
    ids, key_valid, block_start, block_valid, _ = batches.sample(n)
    nb = block_start.shape[1]
    _, targets = block_targets(ids, block_start, B)
    rows = []
    for frac in FRACTIONS:
        t = torch.full((n, nb), float(round(frac * T)))
        w = noisy_simplex(targets.view(n, nb, B), t, T, cfg.vocab_size, cfg.simplex_k, generator=g).view(n, nb * B, -1)
        logits = model.forward_train(ids, key_valid, block_start, block_valid, w, None, t / T)
        if cfg.self_conditioning:  # decoding feeds the previous estimate back; one refinement here
            logits = model.forward_train(ids, key_valid, block_start, block_valid, w, logits, t / T)
        ce = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1), reduction="none").view(n, nb, B)
        ce = ce[block_valid.bool()]
        rows.append((frac, ce.mean().item(), [ce[:, p].mean().item() for p in POSITIONS if p < B]))
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint")
    p.add_argument("--data", help="uint32 token stream (held out)")
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--sequences", type=int, default=16)
    p.add_argument("--write-counting", metavar="DIR")
    args = p.parse_args()
    torch.set_num_threads(2)
    if args.write_counting:
        return write_counting(args.write_counting)
    if not (args.checkpoint and args.data):
        p.error("give --checkpoint and --data (or --write-counting DIR)")
    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = ModelConfig.from_dict(ckpt["config"])
    if cfg.objective != "diffusion":
        p.error(f"--checkpoint {args.checkpoint} is a {cfg.objective} model, not a diffusion one")
    model = SSD2Model(cfg)
    model.load_state_dict(ckpt["model"])
    model.eval()
    seq_len = min(args.seq_len, cfg.max_positions - cfg.block_size)
    rows = block_loss(model, StreamBatches(load_stream(args.data), seq_len, cfg.block_size, torch.Generator().manual_seed(1), min_context=int(cfg.shifted)),
                      args.sequences)
    shown = [p for p in POSITIONS if p < cfg.block_size]
    print("| t/T | mean | " + " | ".join(f"position {p}" for p in shown) + " |")
    print("| --- " * (2 + len(shown)) + "|")
    for frac, mean, per in rows:
        print(f"| {frac} | {mean:.2f} | " + " | ".join(f"{v:.2f}" for v in per) + " |")


if __name__ == "__main__":
    main()
