"""A one-token shifted-readout model served (or trained further) in blocks under a staggered
schedule: causal attention inside the block and the block input rescaled to the token embeddings
(docs/model-bundle.md, "Block schedule")."""
import math

import torch

from .config import ModelConfig
from .model import SSD2Model


def settled_weight(k, v):
    """The weight of a settled token in the block input: 0.5 · (its softmax share on a ±K simplex + 1)."""
    share = math.exp(k) / (math.exp(k) + (v - 1) * math.exp(-k))
    return 0.5 * (share + 1)


def rescale_block_input(model):
    """simplex_in(p) + t_emb(t) = (E^T p - (1 - a) · mean(E)) / a: the token's embedding when p is
    a on the token and (1 - a) spread evenly over the others (a settled position's input)."""
    c = model.cfg
    a = settled_weight(c.simplex_k, c.vocab_size)
    with torch.no_grad():
        e = model.tok_emb.weight
        model.simplex_in.weight.copy_(e.t() / a)
        model.t_emb.weight.zero_()
        model.t_emb.bias.copy_(-(1 - a) / a * e.mean(0))


def stagger(model, block_size, window, block_attention="causal", stride=0):
    """The same weights in blocks of `block_size` under a staggered schedule of `window` steps per
    position (a start every `stride` steps at the default steps per block; 0: the window)."""
    cfg = ModelConfig(**{**model.cfg.to_dict(), "block_size": block_size, "stagger_window": window,
                         "block_attention": block_attention, "stagger_stride": stride})
    out = SSD2Model(cfg)
    out.load_state_dict(model.state_dict())
    rescale_block_input(out)
    return out.eval()
