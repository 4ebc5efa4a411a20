"""Generator/Discriminator shapes, ranges and the paper's init."""

import pytest
import torch
from torch import nn

from dcgan.models import Discriminator, Generator, build_models, num_upsamplings, size_plan, valid_sizes, weights_init

# every size the seeds use: MNIST's own 28, the powers of two, 48, the anime cGAN's 96, 160, up to 256
SIZES = [28, 32, 48, 64, 96, 128, 160, 256]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("nc", [1, 3])
def test_shapes_and_ranges(size, nc):
    torch.manual_seed(0)
    G, D = build_models(nz=20, ngf=8, ndf=8, nc=nc, image_size=size)
    z = torch.randn(5, 20, 1, 1)
    x = G(z)
    assert x.shape == (5, nc, size, size)
    assert x.min() >= -1 and x.max() <= 1  # Tanh output
    logits = D(x)
    assert logits.shape == (5,)
    assert G(z.flatten(1)).shape == x.shape  # (N, nz) is accepted too


def test_depth_follows_size():
    assert [num_upsamplings(s) for s in (32, 64, 128)] == [3, 4, 5]
    assert [size_plan(s) for s in (28, 48, 96, 160, 256)] == [(7, 2), (3, 4), (3, 5), (5, 5), (4, 6)]
    for bad in (8, 50, 100, 512):
        with pytest.raises(ValueError, match="nearest"):
            size_plan(bad)
    assert set(SIZES) <= set(valid_sizes())
    # 28 as in the Keras MNIST DCGAN: 7x7, then 14, then 28
    G, D = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=28)
    assert G.main[0].kernel_size == (7, 7) and D.head.kernel_size == (7, 7)
    assert D(G(torch.randn(2, 10)), with_features=True)[1].shape == (2, 16, 7, 7)
    # the 64x64 G is the paper's: 4x4 block of ngf*8 channels
    G = Generator(nz=100, ngf=64, nc=3, image_size=64)
    assert G.main[0].out_channels == 512
    convs = [m for m in G.main if isinstance(m, nn.ConvTranspose2d)]
    assert len(convs) == 5 and convs[-1].out_channels == 3


def test_batchnorm_placement():
    """BatchNorm everywhere except G's output and D's input layer; ReLU/Tanh in G, LeakyReLU(0.2) in D."""
    G = Generator(nz=10, ngf=8, nc=1, image_size=32)
    D = Discriminator(ndf=8, nc=1, image_size=32)
    assert isinstance(G.main[-1], nn.Tanh) and isinstance(G.main[-2], nn.ConvTranspose2d)
    assert isinstance(D.main[0], nn.Conv2d) and isinstance(D.main[1], nn.LeakyReLU)
    assert D.main[1].negative_slope == 0.2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in G.main) == 3
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.main) == 2
    assert any(isinstance(m, nn.ReLU) for m in G.main)


def test_init_statistics():
    torch.manual_seed(0)
    G = Generator(nz=100, ngf=64, nc=3, image_size=64)
    G.apply(weights_init)
    conv_w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv_w.mean().item()) < 1e-3
    assert abs(conv_w.std().item() - 0.02) < 1e-3
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    gains = torch.cat([m.weight for m in bn])
    assert abs(gains.mean().item() - 1) < 0.01 and abs(gains.std().item() - 0.02) < 0.005
    assert all(torch.all(m.bias == 0) for m in bn)


@pytest.mark.parametrize("size", SIZES)
def test_conditional_heads_and_the_classifier_at_every_size(size):
    from dcgan.features import ClassifierNet

    c = torch.eye(10)[:3]
    for mode in ("projection", "concat"):
        G, D = build_models(nz=10, ngf=4, ndf=4, nc=3, image_size=size, n_cond=10, d_condition=mode, embed_dim=8)
        x = G(torch.randn(3, 10), c)
        assert x.shape == (3, 3, size, size) and D(x, c).shape == (3,)
    features, logits = ClassifierNet(nc=3, image_size=size).features_and_logits(x)
    assert features.shape == (3, 128) and logits.shape == (3, 10)
