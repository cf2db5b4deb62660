"""Model and diffusion hyper-parameters, stored in checkpoints and in the bundle manifest."""
from dataclasses import dataclass, asdict, field
from typing import List


@dataclass
class ModelConfig:
    vocab_size: int
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    ffn: int = 512
    max_positions: int = 256  # max context + block, positions are absolute and learned
    block_size: int = 25
    simplex_k: float = 5.0
    t_train: int = 5000
    schedule: str = "cosine"
    self_conditioning: bool = True
    eos_token_id: int = 0
    timestep_range: List[float] = field(default_factory=lambda: [0.0, 1.0])
    # "learned": absolute position embeddings added to the input (the first bundled models);
    # "rotary": RoPE on queries and keys, so "the token just before me" is one learnable pattern
    # at every position, which the noisy block needs to read its context (a block token cannot see
    # its left neighbour's token in its own input, as an AR model's query can).
    positions: str = "learned"
    # Block position i is read out from the hidden state one position to its left (the last context
    # token for i = 0), where a causal LM predicts the same token: an AR model adapted into a
    # diffusion one keeps its next-token readout, and the first block token is predicted from the
    # clean context exactly as the AR model predicts it. The graphs then pass that last context
    # hidden state from the context encoder to the denoiser (docs/model-bundle.md).
    shifted: bool = False
    # Add the noisy block's own evidence to the logits: with w~_t = sqrt(abar) w~_0 + sqrt(1-abar) K eps,
    # log p(w~_t | token v) = 2 sqrt(abar) w~_t[v] / (K (1 - abar)) + const, so the network's logits
    # act as a prior and the sum is the posterior. A shifted readout cannot otherwise see its own
    # position's input except through attention; with the evidence a block settles as the noise
    # falls (the tokens stop changing) instead of being resampled from its neighbours at every step.
    likelihood: bool = False
    # How a block's positions share the noise level. 0: one t per step for the whole block (SSD-2).
    # W > 0, staggered: position j runs its own W steps from pure noise to clean, starting after the
    # positions before it (earlier positions denoise first, as in AR-Diffusion); the denoiser then
    # takes a timestep per position [n, B] (docs/model-bundle.md, "Block schedule").
    stagger_window: int = 0
    # Staggered schedules: steps between two positions' window starts at the default steps per
    # block (0: the window, so the windows follow one another; smaller: they overlap, for a model
    # trained on overlapping windows, train.py --stagger-strides).
    stagger_stride: int = 0
    # Attention among a block's positions: "bidirectional" (SSD-2), or "causal" (position i sees the
    # positions up to i: with the shifted readout, block position i + 1 is predicted as a causal LM
    # predicts the next token from the block's current estimates of the tokens before it).
    block_attention: str = "bidirectional"
    objective: str = "diffusion"  # or "causal-lm": the autoregressive baseline (same network, same data)

    def to_dict(self):
        return asdict(self)

    @staticmethod
    def from_dict(d):
        return ModelConfig(**d)

    @property
    def head_dim(self):
        return self.hidden // self.heads
