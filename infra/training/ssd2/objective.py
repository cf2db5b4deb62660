"""The SSD-2 training loss: simplex noising with an independent t per block (a staggered model: a
t per position, as its sampler visits them), optional self-conditioning (p=0.5, previous estimate
from a no-grad pass), cross-entropy on the noisy positions."""
import torch
import torch.nn.functional as F

from .diffusion import noisy_simplex


def block_targets(ids, block_start, block_size):
    """Positions [N,nb,B] of every block's tokens in ids [N,L] and those tokens [N,nb*B]."""
    n, nb = block_start.shape
    pos = (block_start.unsqueeze(-1) + torch.arange(block_size, device=ids.device)).clamp(max=ids.shape[1] - 1)
    return pos, torch.gather(ids, 1, pos.reshape(n, nb * block_size))


def staggered_state(block_size, window, steps, step):
    """t/T of each block position at loop step `step` of `steps` under the staggered schedule (the
    twin of positionNoise in shared/ssd2/schedule.ts) and whether it is inside its window then
    (started, not yet clean). steps and step: integer tensors of one shape S (steps >= window);
    returns two tensors of shape S + [B]. Position j's window starts at round(j · (steps - window) /
    (B - 1)), halves up as the engine's Math.round, computed exactly in integers."""
    j = torch.arange(block_size)
    steps, step = steps.unsqueeze(-1), step.unsqueeze(-1)
    start = (2 * j * (steps - window) + (block_size - 1)) // (2 * (block_size - 1)) if block_size > 1 else 0 * j
    local = step - start
    t = torch.where(local < 0, torch.full_like(local, window), torch.where(local >= window, torch.zeros_like(local), window - local))
    return t.double() / window, (local >= 0) & (local < window)


def staggered_fractions(block_size, window, steps, step):
    """staggered_state for one loop step, as lists."""
    fractions, inside = staggered_state(block_size, min(window, steps), torch.tensor(steps), torch.tensor(step))
    return fractions.tolist(), inside.tolist()


def staggered_timesteps(n, nb, block_size, window, strides, generator):
    """t/T [n, nb, B] of random states of the staggered sampler and which positions are inside
    their window then ([n, nb, B] bool): per block a stride r between window starts (so
    (B - 1)·r + window steps) and a loop step, both uniform."""
    r = torch.tensor(strides)[torch.randint(0, len(strides), (n, nb), generator=generator)]
    steps = (block_size - 1) * r + window
    step = torch.randint(0, 1 << 30, (n, nb), generator=generator) % steps
    fractions, inside = staggered_state(block_size, window, steps, step)
    return fractions.float(), inside


def diffusion_loss(model, batch, generator, t_range=(0.0, 1.0), self_cond_prob=0.5, lm_weight=0.0,
                   stagger_strides=None):
    """stagger_strides: a staggered model's strides between window starts to train on (default:
    its stagger_stride, else its window). lm_weight > 0 adds that times the next-token loss on the clean tokens (an auxiliary loss, free
    in this layout: the clean stream is computed anyway). It keeps the cached context predictive of
    what follows, which the noisy block needs at high noise, where its own input carries nothing."""
    cfg = model.cfg
    dev = next(model.parameters()).device
    ids, key_valid, block_start, block_valid, weight = (x.to(dev) for x in batch)
    n, nb = block_start.shape
    B, T = cfg.block_size, cfg.t_train
    pos, targets = block_targets(ids, block_start, B)
    lo = max(1, int(round(t_range[0] * T)) + 1)
    hi = max(lo, int(round(t_range[1] * T)))
    inside = None
    if cfg.stagger_window:
        strides = stagger_strides or (cfg.stagger_stride or cfg.stagger_window,)
        timestep, inside = staggered_timesteps(n, nb, B, cfg.stagger_window, strides, generator)
        timestep, inside = timestep.to(dev), inside.to(dev)
        t = timestep * T
    else:
        t = torch.randint(lo, hi + 1, (n, nb), generator=generator).to(dev).float()
        timestep = t / T
    w = noisy_simplex(targets.view(n, nb, B), t, T, cfg.vocab_size, cfg.simplex_k,
                      generator=generator if dev.type == "cpu" else None).view(n, nb * B, -1)
    self_cond = None
    if cfg.self_conditioning and self_cond_prob > 0:
        # Without self-conditioning the previous estimate equals the current input; the extra
        # no-grad pass runs only for the examples that use it.
        use = (torch.rand(n, generator=generator) < self_cond_prob).nonzero().flatten().to(dev)
        self_cond = w.clone()
        if use.numel():
            with torch.no_grad():
                self_cond[use] = model.forward_train(ids[use], key_valid[use], block_start[use], block_valid[use],
                                                     w[use], None, timestep[use]).to(self_cond.dtype)
    out = model.forward_train(ids, key_valid, block_start, block_valid, w, self_cond, timestep,
                              with_clean_logits=lm_weight > 0)
    logits = out[0] if lm_weight > 0 else out
    mask = block_valid.repeat_interleave(B, dim=1).float() * torch.gather(weight, 1, pos.reshape(n, nb * B))
    if inside is not None:
        # Only positions inside their window: before it a position's logits are never read, after
        # it the position is clean.
        mask = mask * inside.reshape(n, nb * B).float()
    ce = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1), reduction="none")
    loss = (ce * mask.reshape(-1)).sum() / mask.sum().clamp(min=1)
    if lm_weight > 0:
        loss = loss + lm_weight * next_token_loss(model, out[1], ids, key_valid, weight)
    return loss


def next_token_loss(model, logits, ids, key_valid, weight):
    """Next-token cross-entropy of causal logits [N,L,V] over the positions the diffusion loss
    trains (every token of a stream; an answer and its EOS)."""
    logits = logits[:, :-1]
    mask = (weight[:, 1:] >= 1).float() * key_valid[:, 1:].float()
    ce = F.cross_entropy(logits.reshape(-1, model.cfg.vocab_size), ids[:, 1:].reshape(-1), reduction="none")
    return (ce * mask.reshape(-1)).sum() / mask.sum().clamp(min=1)


def causal_lm_loss(model, batch):
    """The autoregressive baseline's loss: next-token cross-entropy over the same batches."""
    dev = next(model.parameters()).device
    ids, key_valid, _, _, weight = (x.to(dev) for x in batch)
    return next_token_loss(model, model.forward_causal(ids, key_valid), ids, key_valid, weight)
