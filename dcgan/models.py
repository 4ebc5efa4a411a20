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


class Discriminator(nn.Module):
    """image (N, nc, S, S) -> logits (N,); apply a sigmoid only to report D(x) as a probability.

    For S = 64: nc x 64 x 64 -> ndf x 32 x 32 -> (ndf*2) x 16 x 16 -> (ndf*4) x 8 x 8
    -> (ndf*8) x 4 x 4 -> 1 x 1 x 1. Returning logits lets the loss use
    binary_cross_entropy_with_logits, which is stable and safe under autocast.
    """

    def __init__(self, *, ndf: int = 64, nc: int = 1, image_size: int = 32):
        super().__init__()
        self.ndf, self.nc, self.image_size = ndf, nc, image_size
        n = num_upsamplings(image_size)
        layers: list[nn.Module] = [
            # nc x S x S -> ndf x S/2 x S/2; no BatchNorm on D's input layer (the paper's rule)
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = ndf
        for _ in range(n - 1):
            # width x s x s -> (2 width) x s/2 x s/2
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(width * 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            width *= 2
        # width x 4 x 4 -> 1 x 1 x 1
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).flatten()


def weights_init(m: nn.Module) -> None:
    """The paper's init: conv weights ~ N(0, 0.02); BatchNorm gain ~ N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(*, nz: int, ngf: int, ndf: int, nc: int, image_size: int):
    """A freshly initialised (G, D) pair."""
    G = Generator(nz=nz, ngf=ngf, nc=nc, image_size=image_size)
    D = Discriminator(ndf=ndf, nc=nc, image_size=image_size)
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D
