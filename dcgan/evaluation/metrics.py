"""Sample-quality metrics in a named feature space: FID, KID, precision/recall, class coverage, IS."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..extras import require


class _Features(nn.Module):
    """Hands precomputed features to torchmetrics, whose FID/KID code then does the statistics."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d), via torchmetrics."""
    require("eval", "FID")
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Features(real.shape[1]), normalize=True)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def kid(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 50, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std over subsets), polynomial kernel, via torchmetrics."""
    require("eval", "KID")
    from torchmetrics.image.kid import KernelInceptionDistance

    size = min(subset_size, len(real), len(fake))
    import warnings

    with warnings.catch_warnings():  # its note about keeping features in memory: that is the point
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=_Features(real.shape[1]), subsets=subsets,
                                         subset_size=size, normalize=True)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    from ..runtime import private_rng

    with private_rng():  # torchmetrics draws its subsets from the global RNG; the run's stays as it was
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls, via torch-fidelity.

    Precision: share of fakes inside the real manifold (quality); recall: share of reals inside the
    fake manifold (how much of the data's variety G reaches).
    """
    require("eval", "precision and recall")
    from torch_fidelity.metric_prc import calculate_precision_recall_part

    # its convention: generated first; in blocks of 2048 rows, so memory stays small at 50k samples
    return calculate_precision_recall_part(fake.float(), real.float(), neighborhood=k, batch_size=2048)


def class_stats(logits: torch.Tensor) -> dict[str, float]:
    """From a classifier's logits on generated images: class coverage, balance and an IS analogue.

    class_coverage: share of classes given at least half their fair share (1/2K) of the samples; a
    collapsed G covers few. balance: entropy of the predicted-class histogram / log K.
    inception_score: exp E_x KL(p(y|x) || p(y)), at most K.
    """
    p = logits.float().softmax(dim=1)
    k = p.shape[1]
    hist = torch.bincount(p.argmax(1), minlength=k).float() / len(p)
    class_coverage = (hist >= 0.5 / k).float().mean().item()
    nz = hist[hist > 0]
    balance = float(-(nz * nz.log()).sum() / math.log(k))
    marginal = p.mean(0)
    kl = (p * (p.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1).mean()
    return {"class_coverage": class_coverage, "balance": balance, "inception_score": float(kl.exp())}
