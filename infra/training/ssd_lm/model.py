"""SSD-LM (Han et al., ACL 2023; github xhan77/ssd-lm) as one module: a RoBERTa masked LM whose
input is [context embeddings ; softmax(noisy simplex) · embed_sum + timestep_layer(t/T)] under
full bidirectional attention, read out at the block positions by the MLM head.

This is the published forward pass (ssd_model_decode.py: `model(inputs_embeds=cat(context_embeds,
embed_sum(softmax(x_t)) + timestep(t/T)))`, RobertaForMaskedLM's embeddings, post-LayerNorm
encoder and tied MLM head), written out in plain PyTorch so no `transformers` package is needed.
Attention is written by hand (no scaled_dot_product_attention): it runs on PyTorch 1.13 and 2.x
and exports the same graph on both.
"""
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

NEG = -1e9


@dataclass
class RobertaConfig:
    vocab_size: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int  # RoBERTa's max_position_embeddings (514: 512 usable after the padding offset)
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_token_id: int = 1
    bos_token_id: int = 0
    eos_token_id: int = 2
    hidden_act: str = "gelu"

    @property
    def head_dim(self):
        return self.hidden // self.heads

    @property
    def position_offset(self):
        """RoBERTa numbers positions from padding_idx + 1."""
        return self.pad_token_id + 1

    @property
    def usable_positions(self):
        return self.max_positions - self.position_offset

    @staticmethod
    def from_hf(cfg: dict) -> "RobertaConfig":
        return RobertaConfig(
            vocab_size=cfg["vocab_size"], hidden=cfg["hidden_size"], layers=cfg["num_hidden_layers"],
            heads=cfg["num_attention_heads"], ffn=cfg["intermediate_size"], max_positions=cfg["max_position_embeddings"],
            type_vocab_size=cfg.get("type_vocab_size", 1), layer_norm_eps=cfg.get("layer_norm_eps", 1e-5),
            pad_token_id=cfg.get("pad_token_id", 1), bos_token_id=cfg.get("bos_token_id", 0),
            eos_token_id=cfg.get("eos_token_id", 2), hidden_act=cfg.get("hidden_act", "gelu"))

    def to_hf(self) -> dict:
        return {
            "architectures": ["RobertaForMaskedLM"], "model_type": "roberta", "vocab_size": self.vocab_size,
            "hidden_size": self.hidden, "num_hidden_layers": self.layers, "num_attention_heads": self.heads,
            "intermediate_size": self.ffn, "hidden_act": self.hidden_act, "max_position_embeddings": self.max_positions,
            "type_vocab_size": self.type_vocab_size, "layer_norm_eps": self.layer_norm_eps,
            "pad_token_id": self.pad_token_id, "bos_token_id": self.bos_token_id, "eos_token_id": self.eos_token_id,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        }


class Layer(nn.Module):
    """One post-LayerNorm BERT layer, parameter names as RobertaLayer's."""

    def __init__(self, c: RobertaConfig):
        super().__init__()
        self.heads, self.head_dim = c.heads, c.head_dim
        self.query, self.key, self.value = (nn.Linear(c.hidden, c.hidden) for _ in range(3))
        self.attention_out = nn.Linear(c.hidden, c.hidden)
        self.attention_ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.intermediate = nn.Linear(c.hidden, c.ffn)
        self.output = nn.Linear(c.ffn, c.hidden)
        self.output_ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)

    def split(self, x):
        n, s, _ = x.shape
        return x.view(n, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, bias):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        ctx = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(x.shape)
        a = self.attention_ln(self.attention_out(ctx) + x)
        return self.output_ln(self.output(F.gelu(self.intermediate(a))) + a)


class SSDLM(nn.Module):
    def __init__(self, c: RobertaConfig):
        super().__init__()
        if c.hidden_act != "gelu":
            raise ValueError(f"hidden_act {c.hidden_act!r} is not supported (RoBERTa uses gelu)")
        self.cfg = c
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden)
        self.position_embeddings = nn.Embedding(c.max_positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden)
        self.embeddings_ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.head_dense = nn.Linear(c.hidden, c.hidden)
        self.head_ln = nn.LayerNorm(c.hidden, eps=c.layer_norm_eps)
        self.head_bias = nn.Parameter(torch.zeros(c.vocab_size))
        # SSD-LM's two extra layers: embed_sum_layer.pt and timestep_layer.pt.
        self.embed_sum = nn.Linear(c.vocab_size, c.hidden, bias=False)
        self.timestep = nn.Linear(1, c.hidden)

    def forward(self, input_ids, simplex_logits, timestep, position_ids, attention_mask):
        """One denoising step over the whole sequence.

        input_ids [N,C] clean context; simplex_logits [N,B,V] the noisy simplex x_t (softmaxed here);
        timestep [N] t/T; position_ids [N,C+B] 0-based (the RoBERTa offset is added here);
        attention_mask [N,C+B] 1 for real positions, 0 for padding. Returns logits [N,B,V].
        """
        context = self.word_embeddings(input_ids)
        block = self.embed_sum(torch.softmax(simplex_logits, dim=-1)) + self.timestep(timestep.view(-1, 1, 1))
        x = torch.cat([context, block], dim=1)
        x = x + self.position_embeddings(position_ids + self.cfg.position_offset) + self.token_type_embeddings.weight[0]
        x = self.embeddings_ln(x)
        bias = ((1.0 - attention_mask) * NEG)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        h = x[:, input_ids.shape[1]:]
        h = self.head_ln(F.gelu(self.head_dense(h)))
        return torch.matmul(h, self.word_embeddings.weight.t()) + self.head_bias


# RobertaForMaskedLM's state-dict names → this module's.
_LAYER_NAMES = {
    "attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
    "attention.output.dense": "attention_out", "attention.output.LayerNorm": "attention_ln",
    "intermediate.dense": "intermediate", "output.dense": "output", "output.LayerNorm": "output_ln",
}
_TOP_NAMES = {
    "roberta.embeddings.word_embeddings.weight": "word_embeddings.weight",
    "roberta.embeddings.position_embeddings.weight": "position_embeddings.weight",
    "roberta.embeddings.token_type_embeddings.weight": "token_type_embeddings.weight",
    "roberta.embeddings.LayerNorm.weight": "embeddings_ln.weight",
    "roberta.embeddings.LayerNorm.bias": "embeddings_ln.bias",
    "lm_head.dense.weight": "head_dense.weight", "lm_head.dense.bias": "head_dense.bias",
    "lm_head.layer_norm.weight": "head_ln.weight", "lm_head.layer_norm.bias": "head_ln.bias",
    "lm_head.bias": "head_bias",
}
# Present in some checkpoints, not used by the forward pass (tied decoder, pooler, buffers).
_IGNORED = ("lm_head.decoder.weight", "lm_head.decoder.bias", "roberta.pooler.", "roberta.embeddings.position_ids")


def strip_module(sd: dict) -> dict:
    """Keys of a DataParallel / accelerate save carry a `module.` prefix."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}


def ours_from_published(roberta: dict) -> dict:
    """RobertaForMaskedLM state dict → SSDLM names (without embed_sum/timestep). Unknown keys raise KeyError naming them."""
    out = {}
    for k, v in strip_module(roberta).items():
        if k.startswith(_IGNORED):
            continue
        if k in _TOP_NAMES:
            out[_TOP_NAMES[k]] = v
            continue
        if k.startswith("roberta.encoder.layer."):
            i, rest = k[len("roberta.encoder.layer."):].split(".", 1)
            sub, _, param = rest.rpartition(".")
            if sub in _LAYER_NAMES:
                out[f"layers.{i}.{_LAYER_NAMES[sub]}.{param}"] = v
                continue
        raise KeyError(k)
    return out


def published_from_ours(sd: dict) -> dict:
    """The inverse (for writing checkpoints in the published layout): (roberta, embed_sum, timestep) state dicts."""
    top = {v: k for k, v in _TOP_NAMES.items()}
    layer = {v: k for k, v in _LAYER_NAMES.items()}
    roberta, embed_sum, timestep = {}, {}, {}
    for k, v in sd.items():
        if k.startswith("embed_sum."):
            embed_sum[k[len("embed_sum."):]] = v
        elif k.startswith("timestep."):
            timestep[k[len("timestep."):]] = v
        elif k in top:
            roberta[top[k]] = v
        else:
            _, i, sub, param = k.split(".")
            roberta[f"roberta.encoder.layer.{i}.{layer[sub]}.{param}"] = v
    roberta["lm_head.decoder.weight"] = sd["word_embeddings.weight"]
    roberta["lm_head.decoder.bias"] = sd["head_bias"]
    return roberta, embed_sum, timestep
