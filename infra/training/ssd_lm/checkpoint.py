"""Reads an SSD-LM checkpoint in its published layout (github xhan77/ssd-lm, HF hub xhan77/ssdlm):

  DIR/config.json            RobertaForMaskedLM config
  DIR/pytorch_model.bin      its weights (or model.safetensors, with the safetensors package)
  DIR/vocab.json, merges.txt RoBERTa's byte-level BPE
  DIR/embed_sum_layer.pt     nn.Linear(vocab, hidden, bias=False) state dict
  DIR/timestep_layer.pt      nn.Linear(1, hidden) state dict
(state-dict keys may carry a `module.` prefix). Every problem is a CheckpointError naming the file.
"""
import json
import os

import torch

from .model import RobertaConfig, SSDLM, ours_from_published, strip_module

SUPPORTED = ("RobertaForMaskedLM",)


class CheckpointError(Exception):
    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = path


def _load_json(path):
    if not os.path.exists(path):
        raise CheckpointError(path, "not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as e:
        raise CheckpointError(path, f"not valid JSON: {e}")


def _load_state(path):
    if not os.path.exists(path):
        raise CheckpointError(path, "not found")
    try:
        sd = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the file's problem
        raise CheckpointError(path, f"not a PyTorch state dict: {e}")
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(path, "not a state dict (a mapping of names to tensors)")
    return strip_module(sd)


def read_config(directory) -> RobertaConfig:
    path = os.path.join(directory, "config.json")
    cfg = _load_json(path)
    arch = cfg.get("architectures") or [cfg.get("model_type", "?")]
    if cfg.get("model_type") != "roberta" or not any(a in SUPPORTED for a in arch):
        raise CheckpointError(path, f"architecture {arch} (model_type {cfg.get('model_type')!r}) is not supported; "
                                    f"an SSD-LM checkpoint is a RoBERTa masked LM ({', '.join(SUPPORTED)})")
    try:
        c = RobertaConfig.from_hf(cfg)
    except KeyError as e:
        raise CheckpointError(path, f"missing field {e.args[0]}")
    if c.hidden_act != "gelu":
        raise CheckpointError(path, f"hidden_act {c.hidden_act!r} is not supported (RoBERTa uses gelu)")
    if c.hidden % c.heads:
        raise CheckpointError(path, f"hidden_size {c.hidden} is not a multiple of num_attention_heads {c.heads}")
    return c


def read_vocab(directory):
    """vocab.json (token → id) and merges.txt (one merge per line, after a `#version` header)."""
    vocab = _load_json(os.path.join(directory, "vocab.json"))
    if not isinstance(vocab, dict) or not all(isinstance(i, int) for i in vocab.values()):
        raise CheckpointError(os.path.join(directory, "vocab.json"), "expected an object of token → integer id")
    merges_path = os.path.join(directory, "merges.txt")
    if not os.path.exists(merges_path):
        raise CheckpointError(merges_path, "not found")
    with open(merges_path, encoding="utf-8") as f:
        merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
    for i, m in enumerate(merges):
        if len(m.split(" ")) != 2:
            raise CheckpointError(merges_path, f"line {i + 1} is not a merge of two tokens: {m!r}")
    return vocab, merges


def _weights(directory):
    bin_path = os.path.join(directory, "pytorch_model.bin")
    st_path = os.path.join(directory, "model.safetensors")
    if os.path.exists(bin_path):
        return bin_path, _load_state(bin_path)
    if os.path.exists(st_path):
        try:
            from safetensors.torch import load_file
        except ImportError:
            raise CheckpointError(st_path, "reading safetensors needs the safetensors package (pip install safetensors)")
        return st_path, strip_module(load_file(st_path))
    raise CheckpointError(bin_path, "not found (nor model.safetensors)")


def load_checkpoint(directory):
    """The model with the checkpoint's weights, its config, vocabulary and merges."""
    if not os.path.isdir(directory):
        raise CheckpointError(directory, "not a directory")
    c = read_config(directory)
    vocab, merges = read_vocab(directory)
    weights_path, roberta = _weights(directory)
    embed_path = os.path.join(directory, "embed_sum_layer.pt")
    time_path = os.path.join(directory, "timestep_layer.pt")
    embed_sum, timestep = _load_state(embed_path), _load_state(time_path)

    # Shapes first, each against the file that holds it.
    words = roberta.get("roberta.embeddings.word_embeddings.weight")
    if words is None:
        raise CheckpointError(weights_path, "has no roberta.embeddings.word_embeddings.weight")
    if tuple(words.shape) != (c.vocab_size, c.hidden):
        raise CheckpointError(weights_path, f"word embeddings are {tuple(words.shape)}; config.json says vocab_size {c.vocab_size} x hidden {c.hidden}")
    w = embed_sum.get("weight")
    if w is None or set(embed_sum) != {"weight"}:
        raise CheckpointError(embed_path, f"expected one key 'weight' (nn.Linear(vocab, hidden, bias=False)), found {sorted(embed_sum)}")
    if tuple(w.shape) != (c.hidden, c.vocab_size):
        raise CheckpointError(embed_path, f"weight is {tuple(w.shape)}; expected (hidden {c.hidden}, vocab {c.vocab_size})")
    if set(timestep) != {"weight", "bias"} or tuple(timestep["weight"].shape) != (c.hidden, 1):
        raise CheckpointError(time_path, f"expected nn.Linear(1, {c.hidden}) (weight ({c.hidden}, 1) and bias), found "
                                         f"{ {k: tuple(v.shape) for k, v in timestep.items()} }")
    ids = sorted(set(vocab.values()))
    if len(vocab) > c.vocab_size or (ids and (ids[0] < 0 or ids[-1] >= c.vocab_size)):
        raise CheckpointError(os.path.join(directory, "vocab.json"),
                              f"{len(vocab)} tokens with ids {ids[0]}..{ids[-1]} do not fit the embedding's vocabulary of {c.vocab_size} "
                              f"(embed_sum_layer.pt and the word embeddings)")
    if c.eos_token_id not in vocab.values():
        raise CheckpointError(os.path.join(directory, "vocab.json"), f"has no token with id {c.eos_token_id} (config.json eos_token_id)")

    model = SSDLM(c)
    try:
        sd = ours_from_published(roberta)
    except KeyError as e:
        raise CheckpointError(weights_path, f"unexpected weight {e.args[0]} for a RobertaForMaskedLM")
    sd.update({f"embed_sum.{k}": v for k, v in embed_sum.items()})
    sd.update({f"timestep.{k}": v for k, v in timestep.items()})
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    if missing or unexpected:
        raise CheckpointError(weights_path, f"weights do not match config.json: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), c, vocab, merges


def tokenizer_json(vocab: dict, merges: list, special_ids) -> dict:
    """A Hugging Face tokenizer.json (byte-level BPE, as RoBERTa's) from vocab.json and merges.txt."""
    by_id = {i: t for t, i in vocab.items()}
    added = [{"id": i, "content": by_id[i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i in sorted(special_ids) if i in by_id]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": byte_level, "post_processor": None, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])), "merges": merges},
    }
