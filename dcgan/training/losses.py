"""GAN objectives on D's raw outputs, each a (D loss, G loss) pair, and D's gradient penalties.

Every D loss takes (real_logits, fake_logits, real_target, fake_target); the targets are 1 and 0
unless label smoothing or flipping changed them, and only the target-based losses (bce, minimax,
lsgan) read them. All losses are computed in float32 whatever precision the networks ran in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


Tensor = torch.Tensor


def _target(t: Tensor | float, like: Tensor) -> Tensor:
    return t.float() if isinstance(t, Tensor) else torch.full_like(like, t)


def bce_g_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating G loss: maximise log D(G(z)) rather than minimise log(1 - D(G(z))),
    which gives G strong gradients early, when D rejects its samples easily."""
    fake_logits = fake_logits.float()
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def minimax_g_loss(fake_logits: Tensor) -> Tensor:
    """The saturating form of the original game: G minimises log(1 - D(G(z))) = -softplus(logit).

    Its gradient with respect to the logit is -sigmoid(logit), which vanishes exactly when D
    rejects G's samples confidently (logit << 0): early training, when G needs it most.
    """
    return -F.softplus(fake_logits.float()).mean()


def wgan_g_loss(fake_logits: Tensor) -> Tensor:
    """G maximises the critic's score of its samples (also hinge's G loss)."""
    return -fake_logits.float().mean()


def lsgan_g_loss(fake_logits: Tensor) -> Tensor:
    return 0.5 * ((fake_logits.float() - 1) ** 2).mean()


def relativistic(real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
    """Relativistic average logits (Jolicoeur-Martineau 2018): each real judged against the mean
    fake, each fake against the mean real, so D scores how much more real x looks than G(z)."""
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    return real_logits - fake_logits.mean(), fake_logits - real_logits.mean()


def rpgan_d_loss(real_logits: Tensor, fake_logits: Tensor, real_target=1.0, fake_target=0.0) -> Tensor:
    """Relativistic pairing (Jolicoeur-Martineau 2018; the RpGAN of Huang et al. 2025): each fake is
    judged against one real, softplus(D(G(z_i)) - D(x_i)), not against the batch's mean as in ragan."""
    return F.softplus(fake_logits.float() - real_logits.float()).mean()


def rpgan_g_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """RpGAN's G loss, softplus(D(x_i) - D(G(z_i))): the pairs the other way round. `real_logits`
    are the updated D's on the same real batch, with no graph (they do not depend on G)."""
    return F.softplus(real_logits.detach().float() - fake_logits.float()).mean()


def ragan_g_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
    """RaSGAN's G loss: D's loss with the labels swapped, fakes as the more real. Both halves
    move G: the second through the fakes' mean. `real_logits` are the updated D's, no graph."""
    real_rel, fake_rel = relativistic(real_logits.detach(), fake_logits)
    return bce_real(fake_rel) + bce_fake(real_rel)


# D's loss of each objective as its two halves, real(logits, target) + fake(logits, target), so a
# third term (the matching-aware D's real-image-wrong-condition) can reuse the fake half.
def bce_real(logits, target=1.0):
    return F.binary_cross_entropy_with_logits(logits.float(), _target(target, logits.float()))


def bce_fake(logits, target=0.0):
    return F.binary_cross_entropy_with_logits(logits.float(), _target(target, logits.float()))


def wgan_real(logits, target=1.0):
    return -logits.float().mean()


def wgan_fake(logits, target=0.0):
    return logits.float().mean()


def hinge_real(logits, target=1.0):
    return F.relu(1 - logits.float()).mean()


def hinge_fake(logits, target=0.0):
    return F.relu(1 + logits.float()).mean()


def lsgan_real(logits, target=1.0):
    return 0.5 * ((logits.float() - target) ** 2).mean()


lsgan_fake = lsgan_real  # the same regression, towards the fake target


@dataclass(frozen=True)
class Objective:
    """D's loss as a real half plus a fake half, and G's loss. A relativistic objective's halves see
    relativistic logits, and its G loss also needs D's logits on a real batch (G's step computes them)."""

    d_real: Callable[..., Tensor]
    d_fake: Callable[..., Tensor]
    g_loss: Callable[..., Tensor]
    relativistic: bool = False
    paired: Callable[..., Tensor] | None = None  # a D loss over (real, fake) pairs that has no halves

    def d_loss(self, real_logits: Tensor, fake_logits: Tensor, real_target=1.0, fake_target=0.0) -> Tensor:
        if self.paired is not None:
            return self.paired(real_logits, fake_logits)
        if self.relativistic:
            real_logits, fake_logits = relativistic(real_logits, fake_logits)
        return self.d_real(real_logits, real_target) + self.d_fake(fake_logits, fake_target)


OBJECTIVES = {
    "bce": Objective(bce_real, bce_fake, bce_g_loss),
    "minimax": Objective(bce_real, bce_fake, minimax_g_loss),
    "wgan": Objective(wgan_real, wgan_fake, wgan_g_loss),
    "wgan-gp": Objective(wgan_real, wgan_fake, wgan_g_loss),
    "hinge": Objective(hinge_real, hinge_fake, wgan_g_loss),
    "lsgan": Objective(lsgan_real, lsgan_fake, lsgan_g_loss),
    "ragan": Objective(bce_real, bce_fake, ragan_g_loss, relativistic=True),
    "rpgan": Objective(bce_real, bce_fake, rpgan_g_loss, relativistic=True, paired=rpgan_d_loss),
}


def matching_aware_d_loss(objective: Objective, real_logits: Tensor, fake_logits: Tensor,
                          wrong_logits: Tensor, weight: float, real_target=1.0, fake_target=0.0) -> Tensor:
    """The matching-aware D loss (Reed et al. 2016) for conditional models: real images with their
    own conditions are real; fakes, and real images paired with wrong conditions, are fake:
    d_real(D(x, y)) + d_fake(D(G(z, y), y)) + weight * d_fake(D(x, y_wrong))."""
    return (objective.d_loss(real_logits, fake_logits, real_target, fake_target)
            + weight * objective.d_fake(wrong_logits, fake_target))


def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    """Salimans et al. 2016: G matches the mean of D's intermediate features on real data,
    a target that does not move with every D update the way fooling D does."""
    return F.mse_loss(fake_features.float().mean(0), real_features.float().detach().mean(0))


# ---------------------------------------------------------------------------------------------
# penalties on D's input gradient: each is (critic, real, fake, weight) -> scalar, where critic(x)
# gives D's raw outputs (with the batch's conditions bound in, for a conditional D)


def gradient_penalty(D, real: Tensor, fake: Tensor, weight: float) -> Tensor:
    """WGAN-GP: weight * E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates x_hat of real
    and fake images, a soft version of the 1-Lipschitz constraint that clipping enforced badly."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).float().sum(), x_hat, create_graph=True)
    return weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(D, real: Tensor, fake: Tensor, weight: float) -> Tensor:
    """R1 (Mescheder et al. 2018): weight/2 * E[||grad_x D(x)||^2] at real images only; D stops
    pushing up the real data's score once it sits on a flat spot."""
    x = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    return weight / 2 * grad.flatten(1).pow(2).sum(dim=1).mean()


def r2_penalty(D, fake: Tensor, weight: float) -> Tensor:
    """R2: weight/2 * E[||grad_x D(x)||^2] at G's samples, R1's twin on the fake side; with R1 it keeps
    D flat around both distributions (Huang et al. 2025 pair it with the relativistic pairing loss).
    In float32, as R1 on the real batch: G's output may be bf16 under autocast."""
    x = fake.detach().float().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    return weight / 2 * grad.flatten(1).pow(2).sum(dim=1).mean()


def mode_seeking_loss(fake: Tensor, noise: Tensor, eps: float = 1e-5) -> Tensor:
    """MSGAN (Mao et al. 2019): 1 / (mean |G(z1) - G(z2)| / mean |z1 - z2| + eps) over the pairs (first
    half, second half) of a batch of fakes (b, ...) made from noise (b, ...). G lowers it by making
    different noise give different images, which a collapsed mode cannot."""
    h = fake.shape[0] // 2
    images = (fake[:h] - fake[h:2 * h]).float().abs().mean()
    codes = (noise[:h] - noise[h:2 * h]).float().abs().mean()
    return 1 / (images / codes + eps)


def paired_conditions(cond: Tensor | None) -> Tensor | None:
    """The conditions for a batch of fakes whose halves pair up for the mode-seeking term: the
    second half repeats the first (both halves are random draws from the data, so the fakes'
    conditions keep the data's distribution)."""
    if cond is None:
        return None
    h = cond.shape[0] // 2
    return torch.cat([cond[:h], cond[:h], cond[2 * h:]])


def no_penalty(D, real: Tensor, fake: Tensor, weight: float = 0.0) -> Tensor:
    return torch.zeros((), device=real.device)
