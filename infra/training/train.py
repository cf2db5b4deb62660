#!/usr/bin/env python3
"""SSD-2 training: pretraining on a token stream, timestep-range fine-tuning, instruction tuning.

Examples (see infra/training/README.md):
  python3 train.py --out runs/core --data train.bin --val val.bin --vocab-size 4096 --eos-id 0 --steps 2000
  python3 train.py --out runs/core-hi --init runs/core/checkpoint.pt --data train.bin --t-range 0.8 1.0 --steps 500
  python3 train.py --out runs/core-sft --init runs/core/checkpoint.pt --sft sft.ids.jsonl --steps 500
Re-running with the same --out resumes from its checkpoint.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.config import ModelConfig  # noqa: E402
from ssd2.data import InstructionBatches, StreamBatches, load_stream  # noqa: E402
from ssd2.model import SSD2Model  # noqa: E402
from ssd2.objective import causal_lm_loss, diffusion_loss  # noqa: E402
from ssd2.stagger import rescale_block_input  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="run directory: checkpoint.pt, loss.jsonl")
    p.add_argument("--data", help="uint32 token stream for pretraining / range fine-tuning")
    p.add_argument("--val", help="uint32 token stream for validation loss")
    p.add_argument("--sft", help="instruction JSONL with prompt_ids/response_ids")
    p.add_argument("--init", help="start from this checkpoint's weights (fine-tuning); a run directory means its "
                                  "best.pt where one was kept, else its checkpoint.pt")
    p.add_argument("--vocab-size", type=int)
    p.add_argument("--eos-id", type=int, default=0)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int)
    p.add_argument("--max-positions", type=int, default=256)
    p.add_argument("--block-size", type=int, default=None,
                   help="tokens per noisy block (default 25; with --init, the checkpoint's unless given: the block "
                        "size is a training layout, not a weight shape)")
    p.add_argument("--positions", choices=["learned", "rotary"], default="learned",
                   help="position encoding: learned absolute embeddings, or rotary (RoPE) in attention")
    p.add_argument("--likelihood", action="store_true",
                   help="add each noisy position's own log-likelihood to its logits (ModelConfig.likelihood); "
                        "may be switched on when fine-tuning a checkpoint")
    p.add_argument("--shifted", action="store_true",
                   help="read block position i out from the hidden state one position to its left, as a causal LM "
                        "does (from scratch, or when adapting a causal-lm checkpoint; see ModelConfig.shifted)")
    p.add_argument("--no-self-cond", action="store_true")
    p.add_argument("--stagger", type=int, metavar="W",
                   help="train a one-token shifted --init in blocks of --block-size under a staggered schedule of W steps "
                        "per position: a t per position, as the sampler visits them (docs/model-bundle.md)")
    p.add_argument("--stagger-strides", type=lambda s: tuple(int(x) for x in s.split(",")), metavar="R,R,...",
                   help="with --stagger: the strides between window starts to train on (default: --stagger-stride)")
    p.add_argument("--stagger-stride", type=int, default=0, metavar="R",
                   help="with --stagger: the stride the bundle's default steps use (default: W, windows in turn)")
    p.add_argument("--block-attention", choices=["causal", "bidirectional"],
                   help="attention among a block's positions (with --stagger, default causal)")
    p.add_argument("--objective", choices=["diffusion", "causal-lm"],
                   help="causal-lm trains the autoregressive baseline (same network and data), from scratch; "
                        "diffusion with --init of a causal-lm checkpoint adapts that AR model into a diffusion one "
                        "(default: diffusion, or the --init checkpoint's objective)")
    p.add_argument("--mix-data", help="uint32 token stream mixed into instruction tuning (keeps general text)")
    p.add_argument("--mix-prob", type=float, default=0.0, help="fraction of --sft steps that train on --mix-data")
    p.add_argument("--lm-weight", type=float, default=0.0,
                   help="diffusion: add this times a next-token loss on the clean tokens (auxiliary; not used at inference)")
    p.add_argument("--pad-weight", type=float, default=0.1, help="loss weight of the EOS padding after an answer")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    p.add_argument("--keep-best", action="store_true",
                   help="also keep the weights with the lowest validation loss as best.pt (export prefers it)")
    p.add_argument("--t-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="train only on t/T in [LO,HI) (timestep-specialised variant)")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--max-minutes", type=float, default=0,
                   help="stop (and save) after this much training time; the learning-rate decay follows time then")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--val-every", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def fail(msg):
    print(f"train.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def build_config(args, init_ckpt):
    if init_ckpt is not None:
        cfg = ModelConfig.from_dict(init_ckpt["config"])
        adapting = bool(args.objective) and args.objective != cfg.objective
        if adapting:
            if (cfg.objective, args.objective) != ("causal-lm", "diffusion"):
                fail(f"--objective {args.objective}: a {cfg.objective} checkpoint can only be adapted into a diffusion model")
            cfg.objective = args.objective
        if args.shifted and not (adapting or cfg.shifted):
            fail("--shifted: a trained diffusion model keeps its readout; shift one trained from scratch or adapted "
                 "from a causal-lm checkpoint")
        cfg.shifted = cfg.shifted or args.shifted
        cfg.likelihood = cfg.likelihood or args.likelihood
        if args.stagger:
            if not (cfg.shifted and cfg.likelihood and cfg.self_conditioning):
                fail("--stagger: the --init model needs a shifted readout, the evidence (--likelihood) and self-conditioning")
            if cfg.block_size != 1 and not cfg.stagger_window:
                fail(f"--stagger: the --init model has blocks of {cfg.block_size}; it needs one-token blocks (a causal LM "
                     "read out shifted) or a staggered model to train further")
            if not args.block_size:
                fail("--stagger needs --block-size")
            if args.t_range:
                fail("--t-range: a staggered model is trained over its whole schedule (each position's t follows the sampler)")
            cfg.stagger_window = args.stagger
            cfg.stagger_stride = args.stagger_stride
            cfg.block_attention = args.block_attention or "causal"
        if args.block_size:
            cfg.block_size = args.block_size
        if args.block_attention:
            cfg.block_attention = args.block_attention
    else:
        if args.stagger:
            fail("--stagger needs --init: a trained one-token model with a shifted readout")
        if not args.vocab_size:
            fail("--vocab-size is required when training from scratch")
        cfg = ModelConfig(vocab_size=args.vocab_size, hidden=args.hidden, layers=args.layers, heads=args.heads,
                          ffn=args.ffn or 4 * args.hidden, max_positions=args.max_positions,
                          block_size=args.block_size or ModelConfig.block_size, self_conditioning=not args.no_self_cond,
                          eos_token_id=args.eos_id, positions=args.positions, objective=args.objective or "diffusion",
                          shifted=args.shifted, likelihood=args.likelihood,
                          block_attention=args.block_attention or "bidirectional")
    if (args.stagger_strides or args.stagger_stride) and not args.stagger:
        fail("--stagger-strides and --stagger-stride are for training in staggered blocks (--stagger)")
    if any(r < 1 for r in args.stagger_strides or ()) or args.stagger_stride < 0 or (args.stagger is not None and args.stagger < 1):
        fail("--stagger and --stagger-strides take positive integers, --stagger-stride a positive integer or 0 (the window)")
    trained = args.stagger_strides or (args.stagger_stride or args.stagger,)
    if args.stagger and (args.stagger_stride or args.stagger) not in trained:
        fail(f"--stagger-stride {args.stagger_stride or args.stagger}: the bundle's default steps would use a stride "
             f"--stagger-strides {','.join(map(str, trained))} does not train")
    if args.t_range:
        lo, hi = args.t_range
        if not (0 <= lo < hi <= 1):
            fail(f"--t-range must satisfy 0 <= LO < HI <= 1, got {lo} {hi}")
        cfg.timestep_range = [lo, hi]
    if cfg.hidden % cfg.heads:
        fail(f"--hidden {cfg.hidden} is not divisible by --heads {cfg.heads}")
    return cfg


def lr_at(step, args, elapsed_s=0.0):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    if args.max_minutes:
        progress = max(progress, elapsed_s / (60 * args.max_minutes))
    return args.lr * max(0.02, 1.0 - progress)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.data and not args.sft:
        fail("give --data (token stream) or --sft (instruction ids JSONL)")
    if args.init and os.path.isdir(args.init):
        best = os.path.join(args.init, "best.pt")
        args.init = best if os.path.exists(best) else os.path.join(args.init, "checkpoint.pt")
    for flag in ("data", "val", "sft", "init", "mix_data"):
        path = getattr(args, flag)
        if path and not os.path.exists(path):
            fail(f"--{flag.replace('_', '-')}: file not found: {path}")
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "checkpoint.pt")
    resume = torch.load(ckpt_path, map_location="cpu", weights_only=False) if os.path.exists(ckpt_path) else None
    init = torch.load(args.init, map_location="cpu", weights_only=False) if args.init and resume is None else None
    cfg = ModelConfig.from_dict(resume["config"]) if resume else build_config(args, init)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)  # the initial weights too: the same command trains the same model
    model = SSD2Model(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    g = torch.Generator().manual_seed(args.seed)
    step, tokens_seen, elapsed = 0, 0, 0.0
    if resume:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        g.set_state(resume["rng"])
        # A resumed run trains the strides it started with unless the command names others.
        args.stagger_strides = args.stagger_strides or resume.get("stagger_strides")
        step, tokens_seen, elapsed = resume["step"], resume["tokens_seen"], resume["elapsed_s"]
        print(f"resuming {ckpt_path} at step {step}", flush=True)
    elif init:
        model.load_state_dict(init["model"])
        print(f"initialised from {args.init}", flush=True)
        if init["config"].get("objective") == "causal-lm" and cfg.objective == "diffusion":
            # Adapting an AR model (as SSD-LM starts from RoBERTa): the simplex input starts as
            # the trained word embeddings, transposed, like a fresh model's does from its own.
            with torch.no_grad():
                model.simplex_in.weight.copy_(model.tok_emb.weight.t())
            print("adapting the causal LM into a diffusion model (simplex input from its word embeddings)", flush=True)
        if cfg.stagger_window and not init["config"].get("stagger_window"):
            # The block input becomes the token embeddings for a settled position (stagger_bundle.py).
            rescale_block_input(model)
            print(f"staggering: blocks of {cfg.block_size}, {cfg.stagger_window} steps per position, "
                  f"{cfg.block_attention} attention in the block", flush=True)
    def stream_batches(flag, path):
        stream = load_stream(path)
        if stream.numel() and int(stream.max()) >= cfg.vocab_size:
            fail(f"--{flag} {path} holds token id {int(stream.max())} >= vocab size {cfg.vocab_size}")
        return StreamBatches(stream, args.seq_len, cfg.block_size, g, min_context=int(cfg.shifted))

    if args.sft:
        batches = InstructionBatches(args.sft, args.seq_len, cfg.block_size, cfg.eos_token_id, g, args.pad_weight)
    else:
        batches = stream_batches("data", args.data)
    if args.mix_prob and not args.mix_data:
        fail("--mix-prob needs --mix-data")
    mixed = stream_batches("mix-data", args.mix_data) if args.mix_data else None
    objective = causal_lm_loss if cfg.objective == "causal-lm" else (lambda m, b: diffusion_loss(m, b, g, t_range, lm_weight=args.lm_weight, stagger_strides=args.stagger_strides))
    use_amp = args.amp and args.device.startswith("cuda")
    if args.device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = True
    val_batches = StreamBatches(load_stream(args.val), args.seq_len, cfg.block_size,
                                torch.Generator().manual_seed(1234), min_context=int(cfg.shifted)) if args.val else None
    if args.seq_len + cfg.block_size > cfg.max_positions:
        fail(f"--seq-len {args.seq_len} + block {cfg.block_size} exceeds max positions {cfg.max_positions}")
    t_range = tuple(cfg.timestep_range)
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params/1e6:.2f}M parameters, {cfg.layers} layers x {cfg.hidden} hidden, vocab {cfg.vocab_size}, "
          f"t-range {t_range}, device {device}", flush=True)

    log = open(os.path.join(args.out, "loss.jsonl"), "a")
    window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.time()
    final_loss, val_loss = None, None
    best_val = resume.get("best_val") if resume else None

    def trained_s():
        """Training time of the run so far, resumed runs included."""
        return elapsed + time.time() - run_start

    def save(path=ckpt_path, weights_only=False):
        state = {"config": cfg.to_dict(), "model": model.state_dict(), "step": step, "tokens_seen": tokens_seen,
                 "stagger_strides": args.stagger_strides,
                 "elapsed_s": trained_s(), "final_loss": final_loss, "val_loss": val_loss,
                 "best_val": best_val}
        if not weights_only:
            state.update(optimizer=opt.state_dict(), rng=g.get_state())
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)

    run_start = time.time()
    model.train()
    while step < args.steps:
        if args.max_minutes and trained_s() > 60 * args.max_minutes:
            print(f"time budget of {args.max_minutes} min reached at step {step}", flush=True)
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args, trained_s())
        source = mixed if mixed is not None and float(torch.rand(1, generator=g)) < args.mix_prob else batches
        batch = source.sample(args.batch)
        with torch.autocast("cuda", dtype=torch.bfloat16) if use_amp else contextlib.nullcontext():
            loss = objective(model, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        n_tok = int(batch[1].sum()) if cfg.objective == "causal-lm" else int(batch[3].sum()) * cfg.block_size
        tokens_seen += n_tok
        window_loss += loss.item()
        window_tokens += n_tok
        window_steps += 1
        final_loss = loss.item()
        if step % args.log_every == 0 or step == args.steps:
            dt = time.time() - window_start
            done = step - (resume["step"] if resume else 0)
            rate = (time.time() - run_start) / max(1, done)
            record = {"step": step, "loss": window_loss / max(1, window_steps),
                      "tokens_per_s": window_tokens / max(dt, 1e-9), "lr": opt.param_groups[0]["lr"],
                      "tokens_seen": tokens_seen, "device": device.type,
                      "elapsed_s": trained_s()}
            if val_batches and args.val_every and (step % args.val_every == 0 or step == args.steps):
                val_loss = evaluate(model, val_batches, t_range)
                record["val_loss"] = val_loss
                model.train()
                if args.keep_best and (best_val is None or val_loss < best_val):
                    best_val = val_loss
                    save(os.path.join(args.out, "best.pt"), weights_only=True)
            log.write(json.dumps(record) + "\n")
            log.flush()
            eta = rate * (args.steps - step)
            if args.max_minutes:
                eta = min(eta, max(0.0, 60 * args.max_minutes - trained_s()))
            extra = f" val {record['val_loss']:.3f}" if "val_loss" in record else ""
            print(f"step {step}/{args.steps} loss {record['loss']:.4f}{extra} {record['tokens_per_s']:.0f} tok/s "
                  f"eta {eta:.0f}s", flush=True)
            window_loss, window_tokens, window_steps, window_start = 0.0, 0, 0, time.time()
        if step % args.save_every == 0:
            save()
    if val_batches and val_loss is None:
        val_loss = evaluate(model, val_batches, t_range)
        print(f"validation loss {val_loss:.4f}", flush=True)
    if args.keep_best and (best_val is None or (val_loss is not None and val_loss < best_val)):
        best_val = val_loss
        save(os.path.join(args.out, "best.pt"), weights_only=True)
    save()
    print(f"saved {ckpt_path} (step {step}, {tokens_seen} tokens, {trained_s():.1f}s)", flush=True)


@torch.no_grad()
def evaluate(model, batches, t_range, n_batches=4, batch=16):
    model.eval()
    g = torch.Generator().manual_seed(99)
    batches.g = torch.Generator().manual_seed(1234)
    if model.cfg.objective == "causal-lm":
        losses = [causal_lm_loss(model, batches.sample(batch)).item() for _ in range(n_batches)]
    else:
        losses = [diffusion_loss(model, batches.sample(batch), g, t_range, self_cond_prob=0).item()
                  for _ in range(n_batches)]
    return sum(losses) / len(losses)


if __name__ == "__main__":
    main()
