"""The BCE objective: values, signs, and a D that learns to separate."""

import math

import torch

from dcgan.losses import bce_d_loss, bce_g_loss


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
