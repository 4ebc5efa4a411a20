"""Generator/Discriminator shapes, ranges and the paper's init."""

import pytest
import torch
from torch import nn

from dcgan.models import Discriminator, Generator, build_models, weights_init
from dcgan.sizes import size_plan, valid_sizes


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
    assert [size_plan(s)[1] for s in (32, 64, 128)] == [3, 4, 5]
    assert [size_plan(s) for s in (28, 48, 96, 160, 256)] == [(7, 2), (3, 4), (3, 5), (5, 5), (4, 6)]
    for bad in (8, 50, 100, 512):
        with pytest.raises(ValueError, match="nearest"):
            size_plan(bad)
    assert set(SIZES) <= set(valid_sizes())
    # 28: 4x4 as 32 px, a stride-1 layer to 7x7 (the Keras MNIST DCGAN has one at 7x7), then 14, then 28
    G, D = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=28)
    assert G.main[0].kernel_size == (4, 4) and G.main[3].kernel_size == (4, 4) and G.main[3].stride == (1, 1)
    assert D.head.kernel_size == (4, 4)
    assert D(G(torch.randn(2, 10)), with_features=True)[1].shape == (2, 32, 4, 4)
    G1, D1 = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=28, model_version=1)  # the older layout
    assert G1.main[0].kernel_size == (7, 7) and D1.head.kernel_size == (7, 7)
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
    from dcgan.evaluation.features import ClassifierNet

    c = torch.eye(10)[:3]
    for mode in ("projection", "concat"):
        G, D = build_models(nz=10, ngf=4, ndf=4, nc=3, image_size=size, n_cond=10, d_condition=mode, embed_dim=8)
        x = G(torch.randn(3, 10), c)
        assert x.shape == (3, 3, size, size) and D(x, c).shape == (3,)
    features, logits = ClassifierNet(nc=3, image_size=size).features_and_logits(x)
    assert features.shape == (3, 128) and logits.shape == (3, 10)


def _g_maps(G, nz):
    """(channels, side) after each of G's blocks (each convolution's normalised, activated output)."""
    x, maps = torch.randn(2, nz, 1, 1), []
    for layer in G.main:
        x = layer(x)
        if isinstance(layer, (nn.ReLU, nn.Tanh)):
            maps.append((x.shape[1], x.shape[-1]))
    return maps


def _d_maps(D, size, nc):
    x, maps = torch.randn(2, nc, size, size), []
    for layer in D.main:
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            maps.append((x.shape[1], x.shape[-1]))
    return maps


# G's maps (channels, side) with ngf = ndf = 8 for each size: start maps of 5 or 7 px start from 4 x 4
# as the power-of-two size above them does, and reach s0 by a stride-1 layer
G_MAPS = {
    28: [(32, 4), (16, 7), (8, 14), (1, 28)],
    32: [(32, 4), (16, 8), (8, 16), (1, 32)],
    40: [(64, 4), (32, 5), (16, 10), (8, 20), (1, 40)],
    48: [(64, 3), (32, 6), (16, 12), (8, 24), (1, 48)],
    56: [(64, 4), (32, 7), (16, 14), (8, 28), (1, 56)],
    64: [(64, 4), (32, 8), (16, 16), (8, 32), (1, 64)],
    96: [(128, 3), (64, 6), (32, 12), (16, 24), (8, 48), (1, 96)],
    112: [(128, 4), (64, 7), (32, 14), (16, 28), (8, 56), (1, 112)],
    160: [(256, 4), (128, 5), (64, 10), (32, 20), (16, 40), (8, 80), (1, 160)],
    224: [(256, 4), (128, 7), (64, 14), (32, 28), (16, 56), (8, 112), (1, 224)],
}


@pytest.mark.parametrize("size", sorted(G_MAPS))
def test_every_listed_size_has_its_shapes(size):
    G, D = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=size)
    assert _g_maps(G, 10) == G_MAPS[size]
    # D mirrors G: its maps are G's hidden maps in reverse, each with ndf where G has ngf
    assert _d_maps(D, size, 1) == G_MAPS[size][:-1][::-1]
    assert D.head.kernel_size == (G_MAPS[size][0][1],) * 2  # D ends where G starts
    assert D(G(torch.randn(3, 10))).shape == (3,)


@pytest.mark.parametrize("size", [28, 40, 56, 112])
def test_version_1_keeps_the_layout_without_the_start_block(size):
    from dcgan.sizes import has_start_block

    assert has_start_block(size) and not has_start_block(size, 1)
    G1, D1 = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=size, model_version=1)
    G2, _ = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=size)
    assert _g_maps(G1, 10) == G_MAPS[size][1:]  # the same ladder without the widest first map
    assert D1.head.kernel_size == (size_plan(size)[0],) * 2
    assert len(G1.state_dict()) < len(G2.state_dict())
    assert D1(G1(torch.randn(2, 10))).shape == (2,)


@pytest.mark.parametrize("size", [32, 48, 64, 96, 128])
def test_sizes_without_the_start_block_are_the_same_in_both_versions(size):
    G1, D1 = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=size, model_version=1)
    G2, D2 = build_models(nz=10, ngf=8, ndf=8, nc=1, image_size=size)
    assert [v.shape for v in G1.state_dict().values()] == [v.shape for v in G2.state_dict().values()]
    assert [v.shape for v in D1.state_dict().values()] == [v.shape for v in D2.state_dict().values()]
