#!/usr/bin/env python3
"""Convert a published SSD-LM checkpoint (ssd_lm/checkpoint.py) into a servable bundle with a
full-attention step graph (docs/model-bundle.md, "Serving a published checkpoint").

  python3 convert_ssd_lm.py --ssd-lm DIR --out BUNDLE [--name ssd-lm] [--weights-dtype float16]

SSD-LM's context attends to the noisy block, so the context cannot be cached: denoiser.onnx takes
the whole sequence (clean context ids and the noisy block) at every step, and the manifest says so
(`architecture.context: "full"`); a step's cost grows with the context. Graphs whose weights pass
2 GB keep them in an external-data file beside the graph (`denoiser.onnx.data`).
"""
import argparse
import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd2.export import FORMAT_VERSION, _export, sha256_file  # noqa: E402
from ssd_lm.checkpoint import CheckpointError, load_checkpoint, tokenizer_json  # noqa: E402

FULL_IO = (["input_ids", "simplex_logits", "timestep", "position_ids", "attention_mask"], ["logits"])
FULL_AXES = {"input_ids": {0: "batch", 1: "context"}, "simplex_logits": {0: "batch", 1: "block"},
             "timestep": {0: "batch"}, "position_ids": {0: "batch", 1: "total"},
             "attention_mask": {0: "batch", 1: "total"}, "logits": {0: "batch", 1: "block"}}
# The protobuf limit: a graph over it keeps its weights in an external-data file.
PROTO_LIMIT = 2 * 1024 ** 3 - 64 * 1024 ** 2


def example_inputs(c, block, n=2, context=3):
    total = context + block
    return (torch.randint(0, c.vocab_size, (n, context)), torch.randn(n, block, c.vocab_size), torch.rand(n),
            torch.arange(total).repeat(n, 1), torch.ones(n, total))


def finish_graph(tmp_path, out_dir, name, weights_dtype, external):
    """Loads the exported graph (with any external tensors torch wrote), stores large weights as
    float16 when asked, and saves it as `name` (+ `name.data` when it must or `external` says so)."""
    import onnx
    from ssd2.export import weights_fp16
    model = onnx.load(tmp_path)
    if weights_dtype == "float16":
        weights_fp16(model)
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    path = os.path.join(out_dir, name)
    files = [name]
    if external or size > PROTO_LIMIT:
        data = name + ".data"
        if os.path.exists(os.path.join(out_dir, data)):
            os.remove(os.path.join(out_dir, data))
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=data,
                        size_threshold=1024)
        files.append(data)
    else:
        onnx.save_model(model, path)
    return files


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ssd-lm", required=True, metavar="DIR", help="checkpoint directory in the published layout")
    p.add_argument("--out", required=True, metavar="BUNDLE")
    p.add_argument("--name", default="ssd-lm")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--block-size", type=int, default=25, help="tokens per block (SSD-LM: 25)")
    p.add_argument("--simplex-k", type=float, default=5.0, help="K of the ±K simplex (SSD-LM: 5)")
    p.add_argument("--t-train", type=int, default=5000, help="diffusion steps in training (SSD-LM: 5000)")
    p.add_argument("--max-context", type=int, help="default: every position the block leaves")
    p.add_argument("--weights-dtype", choices=["float32", "float16"], default="float16",
                   help="of the stored weights (arithmetic stays float32); float16 halves the bundle")
    p.add_argument("--external-data", action="store_true", help="weights in denoiser.onnx.data even under 2 GB")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        model, c, vocab, merges = load_checkpoint(args.ssd_lm)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    room = c.usable_positions - args.block_size
    if room < 1:
        p.error(f"--block-size {args.block_size} leaves no context in {c.usable_positions} positions")
    max_context = args.max_context if args.max_context is not None else room
    if not 1 <= max_context <= room:
        p.error(f"--max-context must be in 1..{room} (positions {c.usable_positions} - block {args.block_size})")

    os.makedirs(args.out, exist_ok=True)
    specials = [c.bos_token_id, c.pad_token_id, c.eos_token_id] + [i for t, i in vocab.items() if t in ("<unk>", "<mask>")]
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges, specials), f, ensure_ascii=False)
    print(f"tokenizer.json: {len(vocab)} tokens, {len(merges)} merges", flush=True)

    with tempfile.TemporaryDirectory(dir=args.out) as tmp, torch.no_grad():
        tmp_path = os.path.join(tmp, "denoiser.onnx")
        print(f"exporting denoiser.onnx ({sum(t.numel() for t in model.parameters()) / 1e6:.1f}M parameters)", flush=True)
        _export(model, example_inputs(c, args.block_size), tmp_path, FULL_IO, FULL_AXES, 17)
        graph_files = finish_graph(tmp_path, args.out, "denoiser.onnx", args.weights_dtype, args.external_data)

    files = [{"path": f, "bytes": os.path.getsize(os.path.join(args.out, f)), "sha256": sha256_file(os.path.join(args.out, f))}
             for f in ["tokenizer.json", *graph_files]]
    manifest = {
        "format": "ssd2-bundle",
        "format_version": FORMAT_VERSION,
        "name": args.name,
        "version": args.version,
        "role": "core",
        "tokenizer": "tokenizer.json",
        "vocab_size": c.vocab_size,
        "eos_token_id": c.eos_token_id,
        "simplex_k": args.simplex_k,
        "schedule": "cosine",
        "t_train": args.t_train,
        "block_size": args.block_size,
        "max_context": max_context,
        "timestep_range": [0.0, 1.0],
        "self_conditioning": False,
        "architecture": {
            "type": "roberta-ssd-lm",
            "layers": c.layers,
            "hidden": c.hidden,
            "heads": c.heads,
            "head_dim": c.head_dim,
            "ffn": c.ffn,
            "max_positions": c.usable_positions,
            "positions": "learned",
            "readout": "aligned",
            "likelihood": False,
            "context": "full",
            "parameters": sum(t.numel() for t in model.parameters()),
            "dtype": args.weights_dtype,
        },
        "graphs": {"denoiser": "denoiser.onnx"},
        "files": files,
        "training": {"source": "ssd-lm", "checkpoint": os.path.basename(os.path.abspath(args.ssd_lm))},
    }
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    total = sum(f["bytes"] for f in files)
    print(f"converted {args.ssd_lm} to {args.out}: {manifest['architecture']['parameters'] / 1e6:.1f}M parameters, "
          f"{total / 2 ** 20:.1f} MiB ({', '.join(f['path'] for f in files)}); the context is re-read at every step "
          f"(architecture.context = full)")


if __name__ == "__main__":
    main()
