"""Sample-quality metrics in a named feature space: FID, KID, precision/recall, class coverage, IS."""

from __future__ import annotations

import math

import torch
from torch import nn


class _Features(nn.Module):
    """Hands precomputed features to torchmetrics, whose FID/KID code then does the statistics."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d), via torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Features(real.shape[1]), normalize=True)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over subsets), polynomial kernel, via torchmetrics."""
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    import warnings

    with warnings.catch_warnings():  # its note about keeping features in memory: that is the point
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Features(real.shape[1]), subsets=subsets,
                                         subset_size=size, normalize=True)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    from .runtime import private_rng

    with private_rng():  # torchmetrics draws its subsets from the global RNG; the run's stays as it was
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def _kth_neighbour_radii(x: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    radii = []
    for part in x.split(chunk):
        d = torch.cdist(part, x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: each point is its own nearest neighbour
    return torch.cat(radii)


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor,
                     chunk: int = 2048) -> torch.Tensor:
    inside = []
    for part in points.split(chunk):
        inside.append((torch.cdist(part, centres) <= radii[None]).any(dim=1))
    return torch.cat(inside)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls around each sample.

    Precision: share of fakes inside the real manifold (quality); recall: share of reals inside the
    fake manifold (coverage of the data's variety).
    """
    real, fake = real.float(), fake.float()
    precision = _inside_manifold(fake, real, _kth_neighbour_radii(real, k)).float().mean().item()
    recall = _inside_manifold(real, fake, _kth_neighbour_radii(fake, k)).float().mean().item()
    return precision, recall


def class_stats(logits: torch.Tensor) -> dict[str, float]:
    """From a classifier's logits on generated images: class coverage, balance and an IS analogue.

    coverage: share of classes given at least half their fair share (1/2K) of the samples; a
    collapsed G covers few. balance: entropy of the predicted-class histogram / log K.
    inception_score: exp E_x KL(p(y|x) || p(y)), at most K.
    """
    p = logits.float().softmax(dim=1)
    k = p.shape[1]
    hist = torch.bincount(p.argmax(1), minlength=k).float() / len(p)
    coverage = (hist >= 0.5 / k).float().mean().item()
    nz = hist[hist > 0]
    balance = float(-(nz * nz.log()).sum() / math.log(k))
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    return {"coverage": coverage, "balance": balance, "inception_score": float(kl.exp())}
