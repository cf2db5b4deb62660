"""Simplex diffusion math (training side). The serving twin is shared/ssd2/schedule.ts + simplex.ts."""
import math
import torch


def alpha_bar(t, T, s=1e-4):
    """Cosine schedule abar_t = r(t)/r(0), r(t) = cos^2(((t/T)+s)/(1+s) * pi/2)."""
    def r(x):
        return torch.cos(((x / T) + s) / (1 + s) * math.pi / 2) ** 2
    t = torch.as_tensor(t, dtype=torch.float32)
    return r(t) / r(torch.zeros_like(t))


def token_simplex(ids, vocab_size, k):
    """Token ids -> {-K,+K}^V almost-one-hot logits."""
    onehot = torch.nn.functional.one_hot(ids, vocab_size).float()
    return 2 * k * onehot - k


def noisy_simplex(ids, t, T, vocab_size, k, generator=None):
    """w~_t = sqrt(abar_t) w~_0 + sqrt(1-abar_t) eps, eps ~ N(0, K^2 I). t broadcasts over ids' trailing dim."""
    w0 = token_simplex(ids, vocab_size, k)
    ab = alpha_bar(t, T).to(w0.device)
    while ab.dim() < w0.dim():
        ab = ab.unsqueeze(-1)
    eps = torch.randn(w0.shape, generator=generator, device=w0.device) * k
    return ab.sqrt() * w0 + (1 - ab).sqrt() * eps
