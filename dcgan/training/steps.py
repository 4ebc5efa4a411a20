"""One training iteration: the D step and the G step, each a function a test can call on its own."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from ..data.conditions import mismatched
from ..settings.config import ObjectiveConfig
from .compiled import new_graph_step
from .distributed import mean_over_ranks
from .losses import (OBJECTIVES, Objective, feature_matching_loss, gradient_penalty, matching_aware_d_loss,
                     mode_seeking_loss, no_penalty, paired_conditions, r1_penalty, r2_penalty)
from .stabilisers import EMA, clip_weights_, consistency_transform, d_targets, diff_augment, grad_norm_, instance_noise


Tensor = torch.Tensor


@dataclass(eq=False)
class Nets:
    """The handles the steps call. `G` and `D` are the plain modules (their weights are what is
    trained and saved); `G_trained` and `D_trained` are what D's step runs (compiled, and under
    torchrun wrapped in DDP, which averages gradients across ranks); `D_frozen` is what G's step
    judges with (compiled, no DDP: there are no D gradients to average); the gradient penalties
    call the eager `D` (compiled graphs lack the double backward they need)."""

    G: nn.Module
    D: nn.Module
    G_trained: nn.Module
    D_trained: nn.Module
    D_frozen: nn.Module

    @classmethod
    def plain(cls, G: nn.Module, D: nn.Module) -> "Nets":
        """No accelerators: every handle is the module itself."""
        return cls(G, D, G, D, D)


@dataclass(eq=False)
class StepRules:
    """How a step computes its losses, chosen once from the config: the objective, its penalty,
    the stabilisers' settings and the precision."""

    oc: ObjectiveConfig
    nz: int
    condition: str = "none"
    bf16: bool = False
    device_type: str = "cpu"
    cuda_graphs: bool = False  # each D step (with the G step after the last) is a step of CUDA graphs

    def __post_init__(self):
        self.objective: Objective = OBJECTIVES[self.oc.loss]
        self.penalty, self.penalty_weight = ((gradient_penalty, self.oc.gp_weight) if self.oc.loss == "wgan-gp"
                                             else (r1_penalty, self.oc.r1_weight) if self.oc.r1_weight
                                             else (no_penalty, 0.0))
        # lazy R1 (Karras et al. 2020): every N-th D step, N times the weight: the same pull on average
        self.penalty_every = self.oc.r1_every if self.penalty is r1_penalty or self.oc.r2_weight else 1
        self.penalty_weight *= self.penalty_every
        self.r2_weight = self.oc.r2_weight * self.penalty_every
        self.policy = self.oc.augmentations
        self.bcr_weight = self.oc.bcr_weight * self.oc.bcr_every  # lazy, as R1: N times the weight every N-th step

    def autocast(self):
        return torch.autocast(self.device_type, dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def d_input(self, x: Tensor, noise_level: float) -> Tensor:
        """What D sees: DiffAugment, then instance noise (both identity when off)."""
        return instance_noise(diff_augment(x, self.policy), noise_level)


@dataclass
class DStepOut:
    loss_d: Tensor
    penalty: Tensor
    real_logits: Tensor  # (b,)
    fake_logits: Tensor  # (b,) D's verdict on the fakes before its update
    real_features: Tensor  # (b, w, 4, 4): for feature matching
    real_in: Tensor  # (b, nc, S, S) the real batch as D saw it: a relativistic G loss judges against it
    fake: Tensor  # (b, nc, S, S) with G's graph when asked: G's step reuses it
    grad_norm: Tensor
    noise: Tensor  # (b, nz, 1, 1) the fakes' noise: the mode-seeking term compares it with the images
    fake_cond: Tensor | None  # (b, K) the fakes' conditions: the real batch's, or paired for mode seeking


def d_step(nets: Nets, opt_d: torch.optim.Optimizer, rules: StepRules, real: Tensor, cond: Tensor | None,
           noise_level: float = 0.0, *, keep_g_graph: bool = True, d_step_index: int = 0) -> DStepOut:
    """(1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen objective's version of
    "score real high, fake low") on one real batch (b, nc, S, S) and as many fakes. `d_step_index`
    counts D's steps over the run: a lazy penalty applies when it is a multiple of its interval."""
    oc, b = rules.oc, real.shape[0]
    new_graph_step(rules.cuda_graphs)  # the graphs' outputs of the step before may be overwritten from here on
    noise = torch.randn(b, rules.nz, 1, 1, device=real.device)
    # fakes get the real batch's conditions; with mode seeking, its halves pair up under one condition
    fake_cond = paired_conditions(cond) if oc.mode_seeking else cond
    with torch.set_grad_enabled(keep_g_graph), rules.autocast():
        fake = nets.G_trained(noise, fake_cond)  # (b, nc, S, S)
    real_in, fake_in = rules.d_input(real, noise_level), rules.d_input(fake.detach(), noise_level)
    opt_d.zero_grad(set_to_none=True)
    with rules.autocast():
        real_logits, real_features = nets.D_trained(real_in, cond, with_features=True)  # (b,), (b, w, 4, 4)
        fake_logits = nets.D_trained(fake_in, fake_cond)  # detached input: this step must not move G
    real_target, fake_target = d_targets(b, smoothing=oc.label_smoothing, flip=oc.label_flip, device=real.device)
    if oc.mismatch_weight:  # matching-aware D: a real image with the wrong condition is fake
        with rules.autocast():
            wrong_logits = nets.D_trained(real_in, mismatched(cond, rules.condition))
        loss_d = matching_aware_d_loss(rules.objective, real_logits, fake_logits, wrong_logits,
                                       oc.mismatch_weight, real_target, fake_target)
    else:
        loss_d = rules.objective.d_loss(real_logits, fake_logits, real_target, fake_target)
    if rules.bcr_weight and d_step_index % rules.oc.bcr_every == 0:  # bCR: D's verdict must not move under T
        with rules.autocast():
            real_t = nets.D_trained(consistency_transform(real_in), cond)  # (b,)
            fake_t = nets.D_trained(consistency_transform(fake_in), fake_cond)
        loss_d = loss_d + rules.bcr_weight * (consistency_loss(real_logits, real_t)
                                              + consistency_loss(fake_logits, fake_t))
    penalty = (rules.penalty(lambda x: nets.D(x, cond), real_in, fake_in, rules.penalty_weight)
               if d_step_index % rules.penalty_every == 0 else no_penalty(nets.D, real_in, fake_in))
    if rules.r2_weight and d_step_index % rules.penalty_every == 0:  # R2, at the fakes with their conditions
        penalty = penalty + r2_penalty(lambda x: nets.D(x, fake_cond), fake_in, rules.r2_weight)
    joint = oc.penalty_clip == "joint"  # one clip over both: a sharp D's lazy R1 step gets cut to the clip
    (loss_d + penalty if joint else loss_d).backward()
    grad_norm = grad_norm_(nets.D.parameters(), oc.grad_clip)
    if not joint and penalty.requires_grad:
        _add_penalty_gradient(nets.D, penalty, oc.grad_clip * rules.penalty_every)
    opt_d.step()
    if oc.loss == "wgan":  # the original WGAN's crude Lipschitz constraint
        clip_weights_(nets.D, oc.clip_value)
    return DStepOut(loss_d, penalty, real_logits, fake_logits, real_features, real_in, fake, grad_norm, noise,
                    fake_cond)


def consistency_loss(logits: Tensor, transformed_logits: Tensor) -> Tensor:
    """Mean squared difference of D's logits on images and on their transforms (bCR, Zhao et al. 2020)."""
    return (logits.float() - transformed_logits.float()).pow(2).mean()


def _add_penalty_gradient(D: nn.Module, penalty: Tensor, max_norm: float) -> None:
    """Add the penalty's gradient to D's, clipped on its own to max_norm (N x --grad-clip for a lazy
    R1 step, which stands for N steps; 0: unclipped). Clipped with the loss's, a lazy R1 step of a
    sharpening D is cut to --grad-clip and R1 stops holding D, so long runs stall (docs/long-runs.md);
    unclipped, the first R1 penalties of an untrained conditional D are large enough to swamp Adam's
    second moment."""
    params = [p for p in D.parameters() if p.requires_grad]
    grads = mean_over_ranks(torch.autograd.grad(penalty, params, allow_unused=True))  # DDP's hooks miss it
    if max_norm > 0:
        norm = torch.linalg.vector_norm(torch.stack([g.float().norm() for g in grads if g is not None]))
        scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
        grads = [None if g is None else g * scale for g in grads]
    for p, g in zip(params, grads):
        if g is not None:
            p.grad = g if p.grad is None else p.grad.add_(g)


def g_step(nets: Nets, opt_g: torch.optim.Optimizer, rules: StepRules, d_out: DStepOut, cond: Tensor | None,
           noise_level: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """(2) Update G: maximise log D(G(z)), judged by the D just updated, on the fakes of D's last
    step. D is frozen for this pass: gradients still flow through it to G, but the weight
    gradients of D's layers, which G's step would throw away, are never computed.

    Returns G's loss, D's logits on the fakes after its update (b,), and G's gradient norm."""
    opt_g.zero_grad(set_to_none=True)
    nets.D.requires_grad_(False)
    try:
        with rules.autocast():
            fake_logits, fake_features = nets.D_frozen(rules.d_input(d_out.fake, noise_level), d_out.fake_cond,
                                                       with_features=True)
        if rules.oc.feature_matching:  # match D's mean features on the last real batch instead
            loss_g = feature_matching_loss(d_out.real_features, fake_features)
        elif rules.objective.relativistic:  # the updated D's view of the same real batch (one more forward)
            with torch.no_grad():
                real_logits = nets.D_frozen(d_out.real_in, cond)
            loss_g = rules.objective.g_loss(fake_logits, real_logits)
        else:
            loss_g = rules.objective.g_loss(fake_logits)
        if rules.oc.mode_seeking:  # different noise, different images (MSGAN)
            loss_g = loss_g + rules.oc.mode_seeking * mode_seeking_loss(d_out.fake, d_out.noise)
        loss_g.backward()
    finally:
        nets.D.requires_grad_(True)
    grad_norm = grad_norm_(nets.G.parameters(), rules.oc.grad_clip)
    opt_g.step()
    return loss_g, fake_logits, grad_norm


class StepStats(NamedTuple):
    """One iteration's statistics (history.csv's columns after iteration and epoch), each a 0-d float tensor
    on the device: nothing is read back to the host until a flush stacks them."""

    loss_d: Tensor
    loss_g: Tensor
    d_x: Tensor  # mean D(x) on the last real batch
    d_g_z1: Tensor  # mean D(G(z)) before D's step
    d_g_z2: Tensor  # mean D(G(z)) after it: what G's step saw
    w_estimate: Tensor  # mean real logit minus mean fake logit (the critic's Wasserstein estimate)
    penalty: Tensor  # the gradient penalty of D's last step (R1 or WGAN-GP), 0 when none
    grad_norm_d: Tensor
    grad_norm_g: Tensor


def train_step(nets: Nets, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer, rules: StepRules,
               next_batch: Callable[[], tuple[Tensor, Tensor | None]], *, d_steps: int = 1,
               noise_level: float = 0.0, ema: EMA | None = None, step: int = 0) -> StepStats:
    """One iteration: D `d_steps` times on fresh real batches from `next_batch()`, then G once and
    the EMA. Returns the iteration's statistics, still on the device: no host sync."""
    for k in range(d_steps):
        real, cond = next_batch()
        # only the last D step's fakes keep G's graph: G's step reuses them
        d_out = d_step(nets, opt_d, rules, real, cond, noise_level, keep_g_graph=k == d_steps - 1,
                       d_step_index=step * d_steps + k)
    loss_g, fake_logits_after, grad_norm_g = g_step(nets, opt_g, rules, d_out, cond, noise_level)
    if ema is not None:
        ema.update(nets.G, step)
    with torch.no_grad():
        real_logits, fake_logits = d_out.real_logits.float(), d_out.fake_logits.float()
        device = real_logits.device
        return StepStats(
            loss_d=d_out.loss_d.detach().float(), loss_g=loss_g.detach().float(),
            d_x=torch.sigmoid(real_logits).mean(), d_g_z1=torch.sigmoid(fake_logits).mean(),
            d_g_z2=torch.sigmoid(fake_logits_after.float()).mean(),
            w_estimate=real_logits.mean() - fake_logits.mean(), penalty=d_out.penalty.detach().float(),
            grad_norm_d=d_out.grad_norm.float().to(device), grad_norm_g=grad_norm_g.float().to(device))
