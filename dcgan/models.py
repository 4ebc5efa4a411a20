"""DCGAN Generator and Discriminator for any power-of-two image size, and their init."""

from __future__ import annotations

import math

import torch
from torch import nn


def num_upsamplings(image_size: int) -> int:
    """Stride-2 layers between a 4x4 map and the image: 3 for 32, 4 for 64, 5 for 128."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return int(math.log2(image_size)) - 2


class Generator(nn.Module):
    """z (N, nz, 1, 1) -> image (N, nc, S, S) in [-1, 1].

    For S = 64 this is the paper's G: (ngf*8) x 4 x 4 -> (ngf*4) x 8 x 8 -> (ngf*2) x 16 x 16
    -> ngf x 32 x 32 -> nc x 64 x 64. Other sizes add or drop a middle block, so the
    widest layer is always the 4x4 one and the last hidden layer is always ngf wide.
    """

    def __init__(self, *, nz: int = 100, ngf: int = 64, nc: int = 1, image_size: int = 32):
        super().__init__()
        self.nz, self.ngf, self.nc, self.image_size = nz, ngf, nc, image_size
        n = num_upsamplings(image_size)
        width = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            # z: nz x 1 x 1 -> width x 4 x 4
            nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            # width x s x s -> (width/2) x 2s x 2s
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        # ngf x S/2 x S/2 -> nc x S x S; no BatchNorm on G's output (the paper's rule)
        layers += [nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:  # accept (N, nz) as well as (N, nz, 1, 1)
            z = z[:, :, None, None]
        return self.main(z)


class MinibatchStd(nn.Module):
    """Appends one channel: the spread of the batch's features, averaged to a scalar.

    A collapsed G makes samples alike, so their spread is smaller than real data's; D can see
    that and push G back towards variety (Karras et al. 2018's simplification of Salimans et
    al.'s minibatch discrimination).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        std = x.float().std(dim=0, unbiased=False) if n > 1 else torch.zeros_like(x[0]).float()
        spread = std.mean().to(x.dtype).expand(n, 1, h, w)  # (n, 1, h, w)
        return torch.cat([x, spread], dim=1)


def _norm(kind: str, channels: int, size: int) -> nn.Module:
    """D's normalisation layer for a (channels, size, size) map."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":  # normalises each sample over (C, H, W): no batch mixing, as WGAN-GP needs
        return nn.GroupNorm(1, channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


class Discriminator(nn.Module):
    """image (N, nc, S, S) -> logits (N,); apply a sigmoid only to report D(x) as a probability.

    For S = 64: nc x 64 x 64 -> ndf x 32 x 32 -> (ndf*2) x 16 x 16 -> (ndf*4) x 8 x 8
    -> (ndf*8) x 4 x 4 -> 1 x 1 x 1. Returning logits lets the loss use
    binary_cross_entropy_with_logits, which is stable and safe under autocast. `norm` picks the
    hidden layers' normalisation (batch, layer, instance, none); `spectral_norm` constrains each
    convolution's largest singular value to 1; `minibatch_std` adds a batch-spread channel
    before the last layer.
    """

    def __init__(self, *, ndf: int = 64, nc: int = 1, image_size: int = 32, norm: str = "batch",
                 spectral_norm: bool = False, minibatch_std: bool = False):
        super().__init__()
        self.ndf, self.nc, self.image_size = ndf, nc, image_size
        n = num_upsamplings(image_size)
        layers: list[nn.Module] = [
            # nc x S x S -> ndf x S/2 x S/2; no BatchNorm on D's input layer (the paper's rule)
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width, size = ndf, image_size // 2
        for _ in range(n - 1):
            # width x s x s -> (2 width) x s/2 x s/2
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       _norm(norm, width * 2, size // 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            width, size = width * 2, size // 2
        self.main = nn.Sequential(*layers)  # -> width x 4 x 4: the features feature matching uses
        self.minibatch_std = MinibatchStd() if minibatch_std else nn.Identity()
        # width (+1) x 4 x 4 -> 1 x 1 x 1
        self.head = nn.Conv2d(width + int(minibatch_std), 1, 4, 1, 0, bias=False)
        if spectral_norm:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor, with_features: bool = False):
        h = self.main(x)  # (N, width, 4, 4)
        logits = self.head(self.minibatch_std(h)).flatten()  # (N,)
        return (logits, h) if with_features else logits


def weights_init(m: nn.Module) -> None:
    """The paper's init: conv weights ~ N(0, 0.02); normalisation gain ~ N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        # under spectral norm `weight` is computed; the stored tensor is `original`
        weight = (m.parametrizations.weight.original if nn.utils.parametrize.is_parametrized(m, "weight")
                  else m.weight)
        nn.init.normal_(weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(*, nz: int, ngf: int, ndf: int, nc: int, image_size: int, d_norm: str = "batch",
                 spectral_norm: bool = False, minibatch_std: bool = False):
    """A freshly initialised (G, D) pair."""
    G = Generator(nz=nz, ngf=ngf, nc=nc, image_size=image_size)
    D = Discriminator(ndf=ndf, nc=nc, image_size=image_size, norm=d_norm, spectral_norm=spectral_norm,
                      minibatch_std=minibatch_std)
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D
