"""GAN objectives on D's logits: each is a (D loss, G loss) pair of small functions."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bce_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D maximises log D(x) + log(1 - D(G(z))): BCE with target 1 on real, 0 on fake.

    Computed from logits (binary_cross_entropy_with_logits), which is stable and autocast-safe,
    in float32 whatever precision the networks ran in.
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def bce_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating G loss: maximise log D(G(z)) rather than minimise log(1 - D(G(z))),
    which gives G strong gradients early, when D rejects its samples easily."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
