"""SSD-2 transformer: clean tokens are causal (cacheable), noisy blocks attend to their clean prefix.

One set of weights serves three views that must agree exactly:
- `forward_train`: all blocks of a sequence in one pass under the block attention mask
  (layout [x_1..x_L | n_1..n_nb], see docs/model-bundle.md);
- `encode_context`: extends a key/value cache with clean tokens (exported as context_encoder.onnx);
- `denoise`: logits for a batch of noisy blocks against that cache (exported as denoiser.onnx).
Attention is written out by hand (no scaled_dot_product_attention) so it runs on PyTorch 1.13
and exports the same graph on 1.13 and 2.x.
"""
import math
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import ModelConfig
from .diffusion import alpha_bar

NEG = -1e9  # finite, so a fully masked row gives a uniform softmax instead of NaN


def rotary_tables(positions, head_dim):
    """RoPE's cos/sin [N,1,S,d/2] for positions [N,S]: pair (i, i + d/2) turns by position / 10000^(2i/d).
    Computed once per forward pass and shared by every layer's queries and keys."""
    half = head_dim // 2
    inv_freq = 1.0 / (10000 ** (torch.arange(0, half, dtype=torch.float32, device=positions.device) / half))
    angles = positions.float().unsqueeze(-1) * inv_freq
    return torch.cos(angles).unsqueeze(1), torch.sin(angles).unsqueeze(1)


def rotate(x, tables):
    """Applies rotary_tables' rotation to x [N,h,S,d]."""
    cos, sin = (t.to(x.dtype) for t in tables)
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.hidden, 3 * cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.hidden)

    def split(self, x):
        n, s, _ = x.shape
        return x.view(n, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x, bias, rope, past_k=None, past_v=None):
        """x [N,S,H]; bias [N,1,S,P+S] additive; rope: rotary_tables of the S positions, or None
        (learned positions); returns output and this call's keys/values [N,h,S,d] (keys already
        rotated, so a cache holds them as they are)."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        q, k, v = self.split(q), self.split(k), self.split(v)
        if rope is not None:
            q, k = rotate(q, rope), rotate(k, rope)
        keys = k if past_k is None else torch.cat([past_k, k], dim=2)
        values = v if past_v is None else torch.cat([past_v, v], dim=2)
        scores = torch.matmul(q, keys.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        y = torch.matmul(torch.softmax(scores, dim=-1), values)
        n, _, s, _ = y.shape
        return self.out(y.transpose(1, 2).reshape(n, s, -1)), k, v


class Layer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.hidden)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.hidden)
        self.mlp = nn.Sequential(nn.Linear(cfg.hidden, cfg.ffn), nn.GELU(), nn.Linear(cfg.ffn, cfg.hidden))

    def forward(self, x, bias, rope, past_k=None, past_v=None):
        a, k, v = self.attn(self.ln1(x), bias, rope, past_k, past_v)
        x = x + a
        return x + self.mlp(self.ln2(x)), k, v


class SSD2Model(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.hidden)
        self.pos_emb = nn.Embedding(cfg.max_positions, cfg.hidden)
        # SSD-LM: the noisy block enters through a bias-free Linear(V->H), initialised from the
        # word embeddings and trained untied; the timestep enters as Linear(1->H) on t/T.
        self.simplex_in = nn.Linear(cfg.vocab_size, cfg.hidden, bias=False)
        self.t_emb = nn.Linear(1, cfg.hidden)
        self.layers = nn.ModuleList([Layer(cfg) for _ in range(cfg.layers)])
        self.ln_f = nn.LayerNorm(cfg.hidden)
        self.head_bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.apply(self._init)
        with torch.no_grad():
            self.simplex_in.weight.copy_(self.tok_emb.weight.t())

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    # ---- pieces shared by all views -------------------------------------------------------
    def position_input(self, positions):
        """What the input adds for positions: learned embeddings, or nothing with rotary (applied in attention)."""
        if self.cfg.positions == "rotary":
            return 0
        return self.pos_emb(positions)

    def rope(self, positions):
        """The rotary tables the layers share, or None with learned positions."""
        return rotary_tables(positions, self.cfg.head_dim) if self.cfg.positions == "rotary" else None

    def block_input(self, simplex_logits, self_cond_logits, timestep):
        """Noisy simplex [N,S,V] (+ optional previous-step logits) and t/T [N,S,1] (broadcastable)
        -> block embeddings without positions."""
        p = torch.softmax(simplex_logits, dim=-1)
        if self.cfg.self_conditioning and self_cond_logits is not None:
            p = 0.5 * (p + torch.softmax(self_cond_logits, dim=-1))
        return self.simplex_in(p) + self.t_emb(timestep)

    def logits(self, h):
        return F.linear(self.ln_f(h), self.tok_emb.weight, self.head_bias)

    def block_logits(self, h, simplex_logits, timestep):
        """Logits of the noisy positions from their readout states h [N,S,H]; with ModelConfig.likelihood
        plus the log-likelihood of each position's noisy simplex [N,S,V] at t/T [N,S,1] (broadcastable)."""
        logits = self.logits(h)
        if not self.cfg.likelihood:
            return logits
        ab = alpha_bar(timestep, 1.0)
        # 1 - abar is floored so t/T -> 0 gives a large, finite weight (the evidence is then certain).
        weight = 2 * ab.sqrt() / (self.cfg.simplex_k * (1 - ab).clamp(min=1e-3))
        return logits + weight * simplex_logits

    # ---- training view ---------------------------------------------------------------------
    def forward_train(self, ids, key_valid, block_start, block_valid, simplex_logits, self_cond_logits, timestep,
                      with_clean_logits=False):
        """ids [N,L] clean tokens; key_valid [N,L]; block_start [N,nb]; block_valid [N,nb];
        simplex_logits [N,nb*B,V]; self_cond_logits same or None; timestep [N,nb] (t/T per block) or
        [N,nb,B] (per position: a staggered schedule).
        Returns logits [N,nb*B,V] for the noisy positions (and, with_clean_logits, the clean
        positions' next-token logits [N,L,V], which the auxiliary LM loss reads)."""
        n, L = ids.shape
        nb = block_start.shape[1]
        B = self.cfg.block_size
        dev = ids.device
        offs = torch.arange(B, device=dev)
        # A padded block's positions may run past the table; its loss is masked out.
        noisy_pos = (block_start.unsqueeze(-1) + offs).reshape(n, nb * B).clamp(max=self.cfg.max_positions - 1)
        clean_pos = torch.arange(L, device=dev).unsqueeze(0).expand(n, L)
        # The timestep differs per block: one t/T per noisy position.
        t_per_pos = (timestep if timestep.dim() == 3 else timestep.unsqueeze(-1).expand(n, nb, B)).reshape(n, nb * B, 1)
        noisy_x = self.block_input(simplex_logits, self_cond_logits, t_per_pos) + self.position_input(noisy_pos)
        clean_x = self.tok_emb(ids) + self.position_input(clean_pos)
        x = torch.cat([clean_x, noisy_x], dim=1)
        positions = torch.cat([clean_pos, noisy_pos], dim=1)
        bias = self.train_mask(key_valid, block_start, block_valid).unsqueeze(1)
        rope = self.rope(positions)
        for layer in self.layers:
            x, _, _ = layer(x, bias, rope)
        noisy_h = x[:, L:]
        if self.cfg.shifted:
            # The hidden state left of each block's first token is the clean one of its last context token.
            before = torch.gather(x[:, :L], 1, (block_start - 1).clamp(min=0).unsqueeze(-1).expand(n, nb, x.shape[-1]))
            noisy_h = self.shift_readout(noisy_h.reshape(n * nb, B, -1), before.reshape(n * nb, -1)).reshape(n, nb * B, -1)
        noisy_logits = self.block_logits(noisy_h, simplex_logits, t_per_pos)
        if with_clean_logits:
            return noisy_logits, self.logits(x[:, :L])
        return noisy_logits

    @staticmethod
    def shift_readout(block_h, before_h):
        """Shifted readout: block_h [N,B,H] and the hidden state before the block [N,H] -> the hidden
        states each block position is predicted from, [before, h_0 .. h_(B-2)]."""
        return torch.cat([before_h.unsqueeze(1), block_h[:, :-1]], dim=1)

    def train_mask(self, key_valid, block_start, block_valid):
        """Additive mask [N, L+nb*B, L+nb*B] for the layout [clean | noisy blocks]."""
        n, L = key_valid.shape
        nb = block_start.shape[1]
        B = self.cfg.block_size
        dev = key_valid.device
        kv = key_valid.bool()
        i = torch.arange(L, device=dev)
        clean_clean = (i.unsqueeze(1) >= i.unsqueeze(0)).unsqueeze(0) & kv.unsqueeze(1)  # [N,L,L]
        starts = block_start.unsqueeze(-1).expand(n, nb, B).reshape(n, nb * B)  # per noisy query
        noisy_clean = (i.view(1, 1, L) < starts.unsqueeze(-1)) & kv.unsqueeze(1)  # [N,nbB,L]
        blk = torch.arange(nb, device=dev).repeat_interleave(B)
        noisy_noisy = blk.unsqueeze(1) == blk.unsqueeze(0)
        if self.cfg.block_attention == "causal":
            within = torch.arange(nb * B, device=dev) % B
            noisy_noisy = noisy_noisy & (within.unsqueeze(1) >= within.unsqueeze(0))
        noisy_noisy = noisy_noisy.unsqueeze(0).expand(n, -1, -1)
        noisy_noisy = noisy_noisy & block_valid.bool().repeat_interleave(B, dim=1).unsqueeze(1)
        top = torch.cat([clean_clean, torch.zeros(n, L, nb * B, dtype=torch.bool, device=dev)], dim=2)
        bottom = torch.cat([noisy_clean, noisy_noisy], dim=2)
        allowed = torch.cat([top, bottom], dim=1)
        return (~allowed).float() * NEG

    # ---- inference views (exported) ----------------------------------------------------------
    def encode_context(self, input_ids, position_ids, past_keys, past_values, attention_mask):
        """Extend the cache. past_* [layers,N,heads,P,d]; attention_mask [N,P+S] (1 = real token).
        New token i sees every valid cached token and new tokens j <= i. A shifted model also
        returns the last new token's hidden state [N,H], which its denoiser reads out from."""
        x, present_keys, present_values = self._causal(input_ids, position_ids, past_keys, past_values, attention_mask)
        if self.cfg.shifted:
            return present_keys, present_values, x[:, -1]
        return present_keys, present_values

    def lm_step(self, input_ids, position_ids, past_keys, past_values, attention_mask):
        """The autoregressive baseline's view: encode_context plus next-token logits [N,S,V]."""
        x, present_keys, present_values = self._causal(input_ids, position_ids, past_keys, past_values, attention_mask)
        return self.logits(x), present_keys, present_values

    def forward_causal(self, ids, key_valid):
        """Training view of the autoregressive baseline: causal logits [N,L,V] over clean tokens."""
        n, L = ids.shape
        dev = ids.device
        i = torch.arange(L, device=dev)
        allowed = (i.unsqueeze(1) >= i.unsqueeze(0)).unsqueeze(0) & key_valid.bool().unsqueeze(1)
        positions = i.unsqueeze(0).expand(n, L)
        x = self.tok_emb(ids) + self.position_input(positions)
        bias = ((~allowed).float() * NEG).unsqueeze(1)
        rope = self.rope(positions)
        for layer in self.layers:
            x, _, _ = layer(x, bias, rope)
        return self.logits(x)

    def _causal(self, input_ids, position_ids, past_keys, past_values, attention_mask):
        s = input_ids.shape[1]
        total = attention_mask.shape[1]
        p = total - s
        key_idx = torch.arange(total, device=input_ids.device)
        query_idx = p + torch.arange(s, device=input_ids.device)
        allowed = (key_idx.unsqueeze(0) <= query_idx.unsqueeze(1)).unsqueeze(0) & attention_mask.bool().unsqueeze(1)
        bias = ((~allowed).float() * NEG).unsqueeze(1)
        x = self.tok_emb(input_ids) + self.position_input(position_ids)
        new_k, new_v = [], []
        rope = self.rope(position_ids)
        for li, layer in enumerate(self.layers):
            x, k, v = layer(x, bias, rope, past_keys[li], past_values[li])
            new_k.append(k)
            new_v.append(v)
        present_keys = torch.cat([past_keys, torch.stack(new_k)], dim=3)
        present_values = torch.cat([past_values, torch.stack(new_v)], dim=3)
        return x, present_keys, present_values

    def denoise(self, simplex_logits, self_cond_logits, timestep, position_ids, past_keys, past_values, past_mask,
                context_hidden=None):
        """simplex_logits/self_cond_logits [N,B,V]; timestep [N] (t/T of the block), or [N,B] (per position:
        a staggered schedule); position_ids [N,B]; past_mask [N,P]; context_hidden [N,H] (shifted models:
        encode_context's hidden state of the last context token). Block tokens see the valid cache and
        each other (bidirectional), or the block tokens up to themselves (causal). Returns logits [N,B,V]."""
        n, b, _ = simplex_logits.shape
        t = timestep.view(n, 1, 1) if timestep.dim() == 1 else timestep.unsqueeze(-1)
        x = self.block_input(simplex_logits, self_cond_logits, t) + self.position_input(position_ids)
        allowed = torch.cat([past_mask, torch.ones(n, b, dtype=past_mask.dtype, device=past_mask.device)], dim=1)
        if self.cfg.block_attention == "causal":
            total = allowed.shape[1]
            keys = torch.arange(total, device=allowed.device)
            queries = torch.arange(b, device=allowed.device) + (total - b)
            visible = (keys.unsqueeze(0) <= queries.unsqueeze(1)).to(allowed.dtype)  # [B, P+B]
            bias = ((1.0 - allowed.view(n, 1, 1, -1) * visible.view(1, 1, b, -1)) * NEG)
        else:
            bias = ((1.0 - allowed) * NEG).view(n, 1, 1, -1)
        rope = self.rope(position_ids)
        for li, layer in enumerate(self.layers):
            x, _, _ = layer(x, bias, rope, past_keys[li], past_values[li])
        if self.cfg.shifted:
            x = self.shift_readout(x, context_hidden)
        return self.block_logits(x, simplex_logits, t)

    def empty_cache(self, n, device=None):
        c = self.cfg
        shape = (c.layers, n, c.heads, 0, c.head_dim)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)
