#!/usr/bin/env python3
"""SSD-LM's published decoder (github xhan77/ssd-lm, ssd_model_decode.py) in PyTorch, as the
reference the converted bundle and the TypeScript engine are checked against
(tests/toolchain/ssd-lm.test.ts).

  logits   --ssd-lm DIR --out F.json          one step's logits for drawn inputs (batch of contexts of different lengths)
  decode   --ssd-lm DIR --noise F.json --out  greedy decoding of blocks with the given Gaussian noise
  schedule --T 1000 --out F.json              the cosine schedule and the re-noising coefficients

`--weights-dtype float16` rounds the weights through float16 first, as a float16 bundle stores them.
"""
import argparse
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd_lm.checkpoint import load_checkpoint  # noqa: E402


def get_time_variables(t, total_t):
    """ssd_model_decode.py: alpha_bar of t and t-1 under the cosine schedule with s = 1e-4."""
    def ft(small_t):
        return math.cos((small_t / total_t + 1e-4) / (1 + 1e-4) * math.pi / 2) ** 2
    alpha_t_bar = ft(t) / ft(0)
    alpha_t_minus_bar = ft(t - 1) / ft(0)
    return alpha_t_bar, alpha_t_minus_bar


def load(args):
    model, c, _, _ = load_checkpoint(args.ssd_lm)
    if args.weights_dtype == "float16":
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.half().float())
    return model, c


def step_logits(model, context, xt, t, total_t):
    """ssd_model_decode.py's forward at one timestep for one sequence: [context ; block] in one pass."""
    n, b, _ = xt.shape
    c = context.shape[1]
    positions = torch.arange(c + b).repeat(n, 1)
    return model(context, xt, torch.full((n,), t / total_t), positions, torch.ones(n, c + b))


def cmd_logits(args):
    model, c = load(args)
    g = torch.Generator().manual_seed(args.seed)
    lengths = [int(x) for x in args.contexts.split(",")]
    n, b, width = len(lengths), args.block, max(lengths)
    ids = torch.zeros(n, width, dtype=torch.long)
    positions = torch.zeros(n, width + b, dtype=torch.long)
    mask = torch.zeros(n, width + b)
    contexts = []
    for i, length in enumerate(lengths):
        ctx = torch.randint(3, c.vocab_size, (length,), generator=g)
        contexts.append(ctx.tolist())
        ids[i, :length] = ctx
        positions[i, :length] = torch.arange(length)
        positions[i, width:] = torch.arange(length, length + b)
        mask[i, :length] = 1
        mask[i, width:] = 1
    simplex = torch.randn(n, b, c.vocab_size, generator=g) * args.k
    timestep = torch.rand(n, generator=g)
    with torch.no_grad():
        logits = model(ids, simplex, timestep, positions, mask)
        # Each item alone, unpadded, as the published decoder runs it: padding must not change a thing.
        alone = [model(torch.tensor([ctx]), simplex[i:i + 1], timestep[i:i + 1], torch.arange(len(ctx) + b)[None],
                       torch.ones(1, len(ctx) + b)) for i, ctx in enumerate(contexts)]
    padding_effect = max(float((logits[i] - a[0]).abs().max()) for i, a in enumerate(alone))
    out = {"contexts": contexts, "block": b, "vocab": c.vocab_size, "simplex": simplex.flatten().tolist(),
           "timestep": timestep.tolist(), "logits": logits.flatten().tolist(), "padding_effect": padding_effect}
    with open(args.out, "w") as f:
        json.dump(out, f)


def cmd_decode(args):
    """The published loop, greedy: x_T = K·z; at each t the model sees softmax(x_t) and t/T; the
    projection is ±K at the argmax; x_{t-1} = √ᾱ_{t-1}·proj + √(1-ᾱ_{t-1})·K·z; the block is the
    argmax of the logits at t = 1, appended to the context for the next block."""
    model, c = load(args)
    with open(args.noise) as f:
        spec = json.load(f)
    k, total_t, b, v = spec["k"], spec["steps"], spec["block_size"], c.vocab_size
    context = torch.tensor([spec["context"]], dtype=torch.long)
    blocks = []
    for noise in spec["z"]:  # one [steps][b][v] array per block
        z = torch.tensor(noise, dtype=torch.float32).view(total_t, 1, b, v)
        xt = k * z[0]
        logits = None
        for s, t in enumerate(range(total_t, 0, -1)):
            with torch.no_grad():
                logits = step_logits(model, context, xt, t, total_t)
            if t > 1:
                proj = 2 * k * torch.nn.functional.one_hot(logits.argmax(-1), v).float() - k
                _, alpha_t_minus_bar = get_time_variables(t, total_t)
                xt = math.sqrt(alpha_t_minus_bar) * proj + math.sqrt(1 - alpha_t_minus_bar) * k * z[s + 1]
        tokens = logits.argmax(-1)
        blocks.append(tokens[0].tolist())
        context = torch.cat([context, tokens], dim=1)
    with open(args.out, "w") as f:
        json.dump({"blocks": blocks}, f)


def cmd_schedule(args):
    rows = []
    for t in range(args.T, 0, -1):
        abar, abar_prev = get_time_variables(t, args.T)
        rows.append({"t": t, "alpha_bar": abar, "signal": math.sqrt(abar_prev), "noise": math.sqrt(1 - abar_prev)})
    with open(args.out, "w") as f:
        json.dump(rows, f)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("logits", "decode"):
        s = sub.add_parser(name)
        s.add_argument("--ssd-lm", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--weights-dtype", choices=["float32", "float16"], default="float32")
    lg = sub.choices["logits"]
    lg.add_argument("--seed", type=int, default=0)
    lg.add_argument("--contexts", default="3,9", help="context lengths of the batch items")
    lg.add_argument("--block", type=int, default=25)
    lg.add_argument("--k", type=float, default=5.0)
    sub.choices["decode"].add_argument("--noise", required=True)
    sc = sub.add_parser("schedule")
    sc.add_argument("--T", type=int, default=1000)
    sc.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    {"logits": cmd_logits, "decode": cmd_decode, "schedule": cmd_schedule}[args.cmd](args)


if __name__ == "__main__":
    main()
