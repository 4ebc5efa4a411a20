"""The mode-seeking term (MSGAN): its value, the paired conditions, and that it reaches G."""

import pytest
import torch

from dcgan.models import build_models
from dcgan.settings.config import Config, ConfigError
from dcgan.training.losses import mode_seeking_loss, paired_conditions
from dcgan.training.steps import Nets, StepRules, d_step, g_step


def test_value_by_hand():
    fake = torch.tensor([[0.0, 0.0], [1.0, 1.0], [0.5, -0.5], [1.0, 1.0]])  # pairs (0, 2) and (1, 3)
    noise = torch.tensor([[0.0], [0.0], [2.0], [1.0]])
    images = (0.5 + 0.5 + 0.0 + 0.0) / 4  # mean |fake[:2] - fake[2:]|
    codes = (2.0 + 1.0) / 2
    assert mode_seeking_loss(fake, noise).item() == pytest.approx(1 / (images / codes + 1e-5))
    # a collapsed G (one image for all noise) is what the term punishes most
    assert mode_seeking_loss(torch.ones(4, 2), noise) > 1e4


def test_paired_conditions_repeat_the_first_half():
    cond = torch.eye(5)  # an odd batch: the last row has no partner and keeps its own condition
    paired = paired_conditions(cond)
    assert paired.shape == cond.shape
    assert torch.equal(paired[:2], cond[:2]) and torch.equal(paired[2:4], cond[:2]) and torch.equal(paired[4], cond[4])
    assert paired_conditions(None) is None


def steps(mode_seeking: float, seed: int = 0):
    cfg = Config.from_flat(nz=8, ngf=8, ndf=8, condition="class", mode_seeking=mode_seeking, r1_weight=0.0,
                           grad_clip=0.0)
    torch.manual_seed(seed)
    G, D = build_models(nz=8, ngf=8, ndf=8, nc=1, image_size=32, n_cond=10)
    nets = Nets.plain(G, D)
    rules = StepRules(cfg.objective, nz=8, condition="class")
    real = torch.rand(8, 1, 32, 32) * 2 - 1
    cond = torch.nn.functional.one_hot(torch.arange(8) % 10, 10).float()
    opt_d = torch.optim.Adam(D.parameters(), 1e-4)
    opt_g = torch.optim.SGD(G.parameters(), 0.0)  # no step: the gradient is what we look at
    out = d_step(nets, opt_d, rules, real, cond)
    loss_g, _, _ = g_step(nets, opt_g, rules, out, cond)
    return out, loss_g, [p.grad.clone() for p in G.parameters() if p.grad is not None]


def test_fakes_pair_up_under_one_condition_and_the_term_reaches_g():
    out, loss_g, grads = steps(1.0)
    assert torch.equal(out.fake_cond[4:], out.fake_cond[:4])  # each pair (i, i + 4) shares a condition
    assert not torch.equal(out.noise[4:], out.noise[:4])
    plain_out, _, _ = steps(0.0)
    assert torch.equal(plain_out.fake_cond, torch.nn.functional.one_hot(torch.arange(8) % 10, 10).float())
    # the same pairs and noise with a vanishing weight: what differs is the term alone
    faint_out, faint_loss, faint_grads = steps(1e-12)
    assert torch.equal(faint_out.fake, out.fake)
    term = mode_seeking_loss(out.fake, out.noise)
    assert loss_g.item() == pytest.approx(faint_loss.item() + term.item(), rel=1e-5)
    assert any(not torch.allclose(a, b) for a, b in zip(grads, faint_grads))


def test_config_checks():
    with pytest.raises(ConfigError, match="--mode-seeking must be >= 0"):
        Config.from_flat(mode_seeking=-1.0)
    assert Config.from_flat(mode_seeking=1.0, feature_matching=True).objective.mode_seeking == 1.0  # adds to it
