"""Training stabilisers: EMA of G, DiffAugment, instance noise, label tricks, gradient norms.

Each is a no-op when its setting is off, and then draws no random numbers, so switching a
stabiliser off gives exactly the plain recipe.
"""

from __future__ import annotations

import copy
from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..models import memory_format_of


Tensor = torch.Tensor


class EMA:
    """An exponential moving average of G's weights: a smoothed generator for samples and scores.

    shadow <- d * shadow + (1 - d) * G after every G step, with the decay warmed up as
    d_t = min(decay, h / (1 + h)), h = rampup * (t + 1): the average spans about the last `rampup`
    share of the steps so far (as StyleGAN2-ADA's ema_rampup), so the first, random weights are
    forgotten quickly; rampup 1/9 gives (1 + t) / (10 + t), 0 the plain decay from the start.
    BatchNorm's running statistics are not averaged or copied: the live G's describe other
    weights (boschresearch/OASIS #21). `recalibrate` measures the averaged weights' own, and
    runs before every grid, evaluation and checkpoint.
    """

    def __init__(self, model: nn.Module, decay: float, rampup: float = 1 / 9):
        self.decay, self.rampup = decay, rampup
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        h = self.rampup * (1 + step)
        d = min(self.decay, h / (1 + h)) if self.rampup else self.decay
        torch._foreach_lerp_([s for s in self.shadow.parameters()],
                             [p.detach() for p in model.parameters()], 1 - d)

    def recalibrate(self, nz: int, *, cond: Tensor | None = None, batches: int = 8,
                    batch_size: int = 128, seed: int = 0) -> None:
        """Re-estimate the shadow's BatchNorm statistics from its own outputs on fresh noise."""
        recalibrate_batchnorm(self.shadow, nz, cond=cond, batches=batches, batch_size=batch_size, seed=seed)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, nz: int, *, cond: Tensor | None = None, batches: int = 8,
                          batch_size: int = 128, seed: int = 0) -> None:
    """Set G's BatchNorm running statistics to the plain average over `batches` batches of its own
    activations on noise (the statistics its weights produce), then leave it in eval mode.

    `cond` (M, K) is a pool of conditions to draw from for a conditional G. Uses its own random
    generator, so the training RNG is untouched.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    for _ in range(batches):
        z = torch.randn(batch_size, nz, 1, 1, generator=gen).to(device)
        c = None if cond is None else cond[torch.randint(len(cond), (batch_size,), generator=gen)].to(device)
        model(z, c)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()


def instance_noise(x: Tensor, std: float) -> Tensor:
    """x + N(0, std^2): blurs real and fake towards each other so their supports overlap
    (Sønderby et al. 2016); `std` is annealed to 0 by the caller."""
    return x if std == 0 else x + std * torch.randn_like(x)


def noise_std(start: float, step: int, total: int) -> float:
    """Linear anneal from `start` at step 0 to 0 at the last step."""
    return start * max(0.0, 1.0 - step / max(total, 1))


def d_targets(n: int, *, smoothing: float, flip: float, device) -> tuple[Tensor | float, Tensor | float]:
    """D's targets for real and fake: 1 - smoothing on real (one-sided smoothing, Salimans et al.),
    0 on fake, with a share `flip` of each swapped at random."""
    real, fake = 1.0 - smoothing, 0.0
    if flip == 0:
        return real, fake
    swap_real = torch.rand(n, device=device) < flip
    swap_fake = torch.rand(n, device=device) < flip
    # scalars, not tensors, for the two values: two device tensors per D step instead of six
    return torch.where(swap_real, fake, real), torch.where(swap_fake, real, fake)


def grad_norm_(parameters: Iterable[nn.Parameter], max_norm: float = 0.0) -> Tensor:
    """The total L2 norm of the gradients (a device tensor, no host sync), clipping them to
    `max_norm` first when it is > 0; the returned norm is the one before clipping."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return torch.zeros(())
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(params, max_norm)
    return torch.linalg.vector_norm(torch.stack([p.grad.detach().float().norm() for p in params]))


def clip_weights_(model: nn.Module, c: float) -> None:
    """The original WGAN's Lipschitz constraint: every weight clipped to [-c, c] after a step."""
    with torch.no_grad():
        for p in model.parameters():
            p.clamp_(-c, c)


# ---------------------------------------------------------------------------------------------
# DiffAugment (Zhao et al. 2020): differentiable augmentations applied to real *and* fake images
# before D, in both D's and G's steps, so D never sees an un-augmented image and G is not
# taught to produce augmented ones. Each sample gets its own random parameters.


def augment_color(x: Tensor) -> Tensor:
    n = x.shape[0]
    r = torch.rand(n, 3, 1, 1, device=x.device, dtype=x.dtype)
    x = x + (r[:, :1] - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (r[:, 1:2] * 2) + mean  # saturation (a no-op on one channel)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (r[:, 2:3] + 0.5) + mean  # contrast


def augment_translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift by up to `ratio` of the side in x and y, filling with zeros (mid-grey in [-1, 1])."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sx, sx + 1, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device).view(1, h, 1) + dy + 1  # +1: index into the padded image
    cols = torch.arange(w, device=x.device).view(1, 1, w) + dx + 1
    rows, cols = rows.clamp(0, h + 1).expand(n, h, w), cols.clamp(0, w + 1).expand(n, h, w)
    padded = F.pad(x, (1, 1, 1, 1))  # (n, c, h+2, w+2), a zero border to read from when shifted out
    batch = torch.arange(n, device=x.device).view(n, 1, 1).expand(n, h, w)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous(
        memory_format=memory_format_of(x))


def augment_cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero a square of `ratio` of the side centred at a random pixel (it may hang off the edge)."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h, (n, 1, 1), device=x.device) - ch // 2
    left = torch.randint(0, w, (n, 1, 1), device=x.device) - cw // 2
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)  # (n, h, w)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def consistency_transform(x: Tensor) -> Tensor:
    """bCR's T: each image flipped left-right with probability 1/2, then shifted by up to 1/8 of the side."""
    flip = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.5
    return augment_translation(torch.where(flip, x.flip(3), x))


AUGMENT_FUNCTIONS = {"color": augment_color, "translation": augment_translation, "cutout": augment_cutout}


def diff_augment(x: Tensor, policy: list[str]) -> Tensor:
    """Apply the policy's augmentations in order (an empty policy returns x itself)."""
    for name in policy:
        x = AUGMENT_FUNCTIONS[name](x)
    return x
