"""The BCE objective: values, signs, and a D that learns to separate."""

import math

import torch

from dcgan.training.losses import bce_fake, bce_g_loss, bce_real


def bce_d_loss(real_logits, fake_logits):
    """D maximises log D(x) + log(1 - D(G(z))): the BCE objective's two D terms."""
    return bce_real(real_logits) + bce_fake(fake_logits)


def test_bce_values():
    zero = torch.zeros(4)
    # D undecided (logit 0, p = 0.5): each term is log 2
    assert math.isclose(bce_d_loss(zero, zero).item(), 2 * math.log(2), rel_tol=1e-6)
    assert math.isclose(bce_g_loss(zero).item(), math.log(2), rel_tol=1e-6)
    # D right -> small D loss; D fooled -> small G loss
    assert bce_d_loss(torch.full((4,), 5.0), torch.full((4,), -5.0)) < 0.02
    assert bce_g_loss(torch.full((4,), 5.0)) < 0.01
    assert bce_g_loss(torch.full((4,), -5.0)) > 4.9


def test_d_loss_falls_when_d_learns():
    torch.manual_seed(0)
    D = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(D.parameters(), lr=0.05)
    real, fake = torch.randn(64, 2) + 2, torch.randn(64, 2) - 2
    losses = []
    for _ in range(50):
        opt.zero_grad()
        loss = bce_d_loss(D(real).flatten(), D(fake).flatten())
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


def test_bce_is_float32_under_half_logits():
    logits = torch.zeros(4, dtype=torch.bfloat16)
    assert bce_d_loss(logits, logits).dtype == torch.float32


def test_relativistic_pairing_judges_each_fake_against_one_real():
    from dcgan.training.losses import OBJECTIVES, rpgan_d_loss, rpgan_g_loss

    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 3.0])
    sp = lambda v: math.log1p(math.exp(v))  # noqa: E731
    assert math.isclose(rpgan_d_loss(real, fake).item(), (sp(1 - 2) + sp(3 - 0)) / 2, rel_tol=1e-6)
    assert math.isclose(rpgan_g_loss(fake, real).item(), (sp(2 - 1) + sp(0 - 3)) / 2, rel_tol=1e-6)
    # pairs, not the batch's mean: swapping the fakes changes the loss, which ragan's would not
    assert not math.isclose(rpgan_d_loss(real, fake.flip(0)).item(), rpgan_d_loss(real, fake).item())
    assert OBJECTIVES["rpgan"].d_loss(real, fake) == rpgan_d_loss(real, fake)


def test_r2_penalises_the_gradient_at_the_fakes():
    from dcgan.training.losses import r2_penalty

    w = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])  # D(x) = <w, x>: its input gradient is w everywhere
    fake = torch.randn(4, 1, 2, 2, requires_grad=True)
    penalty = r2_penalty(lambda x: (x * w).flatten(1).sum(1), fake * 3, weight=0.2)
    assert math.isclose(penalty.item(), 0.2 / 2 * (1 + 4 + 0.25), rel_tol=1e-6)
