"""DCGAN Generator and Discriminator for every size s0 x 2^k (28, 32, 48, 64, 96, 128, 160, 256...), and their init."""

from __future__ import annotations

import torch
from torch import nn

from .settings.config import Config
from .sizes import MODEL_VERSION, UPSAMPLES, has_start_block, size_plan


class CondBatchNorm2d(nn.Module):
    """BatchNorm whose gain and bias come from the condition: gamma = 1 + W_g e, beta = W_b e.

    The maps start at zero, so a fresh conditional BN is a plain BN (de Vries et al. 2017).
    """

    def __init__(self, channels: int, embed_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Linear(embed_dim, channels, bias=False)
        self.bias = nn.Linear(embed_dim, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        gamma = 1 + self.gain(e)[:, :, None, None]  # (N, C, 1, 1)
        beta = self.bias(e)[:, :, None, None]
        return self.bn(x) * gamma + beta


class Generator(nn.Module):
    """z (N, nz, 1, 1) [and a condition (N, n_cond)] -> image (N, nc, S, S) in [-1, 1].

    For S = 64 this is the paper's G: (ngf*8) x 4 x 4 -> (ngf*4) x 8 x 8 -> (ngf*2) x 16 x 16
    -> ngf x 32 x 32 -> nc x 64 x 64. Other sizes add or drop a middle block, so the
    widest layer is always the first (s0 x s0) and the last hidden layer is always ngf wide;
    S = s0 * 2^k starts from s0 x s0, except that start maps of 5 or 7 px start from 4 x 4 and reach
    s0 by one stride-1 layer (28: 256 x 4 x 4 -> 128 x 7 x 7 -> 64 x 14 x 14 -> nc x 28 x 28, the widths and
    depth of 32 px; the Keras MNIST DCGAN also has a stride-1 layer at 7 x 7).
    With n_cond > 0 the condition is embedded (e, embed_dim wide), concatenated to z, and drives
    every BatchNorm's gain and bias (conditional BN).

    A conditional G carries what its condition vectors mean: `condition` (class or attrs), `cond_names` (the
    classes' or tags' names) and `example_conds` (a tag-conditional run's real tag sets, sampled when no
    condition is given); checkpoints and exported files keep them beside the weights.
    """

    def __init__(self, *, nz: int = 100, ngf: int = 64, nc: int = 1, image_size: int = 32,
                 n_cond: int = 0, embed_dim: int = 64, model_version: int = MODEL_VERSION,
                 upsample: str = "transposed", condition: str | None = None, cond_names: list[str] | None = None,
                 example_conds: torch.Tensor | None = None):
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {', '.join(UPSAMPLES)}, got {upsample!r}")
        self.nz, self.ngf, self.nc, self.image_size, self.n_cond = nz, ngf, nc, image_size, n_cond
        self.model_version, self.upsample, self.embed_dim = model_version, upsample, embed_dim
        self.condition = condition or ("class" if n_cond else "none")
        self.cond_names = list(cond_names or [])
        self.example_conds = example_conds  # (K_examples, n_cond) or None: not a parameter, not in state_dict
        s0, n = size_plan(image_size)
        start_block = has_start_block(image_size, model_version)
        width = ngf * 2 ** (n - 1 + start_block)
        e = embed_dim if n_cond else 0

        def norm(channels):
            return CondBatchNorm2d(channels, embed_dim) if n_cond else nn.BatchNorm2d(channels)

        def double(c_in, c_out) -> list[nn.Module]:
            """c_in x s x s -> c_out x 2s x 2s: the paper's 4x4 stride-2 transposed convolution, or nearest
            upsampling then a 3x3 convolution, whose kernel overlaps evenly everywhere, so it cannot draw the
            transposed convolution's checkerboard (Odena, Dumoulin & Olah 2016)."""
            if upsample == "nearest":
                return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)]
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]

        layers: list[nn.Module] = [
            # z (+ e): (nz + e) x 1 x 1 -> width x s0 x s0 (a kernel of s0; 4 for powers of two and, with the
            # start block, for s0 of 5 or 7)
            nn.ConvTranspose2d(nz + e, width, 4 if start_block else s0, 1, 0, bias=False),
            norm(width),
            nn.ReLU(True),
        ]
        if start_block:
            # width x 4 x 4 -> (width/2) x s0 x s0 by a stride-1 kernel of s0 - 3 (28: 256 x 4 x 4 -> 128 x 7 x 7)
            layers += [nn.ConvTranspose2d(width, width // 2, s0 - 3, 1, 0, bias=False), norm(width // 2),
                       nn.ReLU(True)]
            width //= 2
        for _ in range(n - 1):
            # width x s x s -> (width/2) x 2s x 2s
            layers += [*double(width, width // 2),
                       norm(width // 2),
                       nn.ReLU(True)]
            width //= 2
        # ngf x S/2 x S/2 -> nc x S x S; no BatchNorm on G's output (the paper's rule)
        layers += [*double(width, nc), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        if n_cond:
            self.embed = nn.Linear(n_cond, embed_dim, bias=False)  # (N, n_cond) -> (N, embed_dim)

    @classmethod
    def from_config(cls, cfg: Config, *, nc: int, cond_names: list[str] = (),
                    example_conds: torch.Tensor | None = None) -> Generator:
        """The generator a run's settings describe, for images of `nc` channels and the dataset's condition
        names (one per class or tag); its weights are PyTorch's fresh ones (`weights_init` gives the paper's)."""
        mc = cfg.model
        return cls(nz=mc.nz, ngf=mc.ngf, nc=nc, image_size=cfg.data.image_size, n_cond=len(cond_names),
                   embed_dim=mc.embed_dim, model_version=mc.model_version, upsample=mc.g_upsample,
                   condition=mc.condition, cond_names=list(cond_names), example_conds=example_conds)

    @classmethod
    def from_state(cls, state: dict, *, ema: bool = True) -> Generator:
        """The generator of a loaded checkpoint dict: its settings (as old versions wrote them, too), and its
        EMA weights when present and `ema`, else the trained ones."""
        weights = state["G_ema"] if ema and "G_ema" in state else state["G"]
        cfg = Config.from_dict(state["config"])
        # a ConvTranspose2d weight is (in, out, k, k), a Conv2d's (out, in, k, k): the last one says nc
        last = [v for k, v in weights.items() if k.endswith(".weight") and v.dim() == 4][-1]
        G = cls.from_config(cfg, nc=last.shape[0 if cfg.model.g_upsample == "nearest" else 1],
                            cond_names=list(state.get("cond_names", [])), example_conds=state.get("fixed_cond"))
        G.load_state_dict(weights)
        return G

    @property
    def settings(self) -> dict:
        """The arguments that rebuild this generator (exported weights carry them); `example_conds` travels as a
        tensor of its own."""
        return {"nz": self.nz, "ngf": self.ngf, "nc": self.nc, "image_size": self.image_size, "n_cond": self.n_cond,
                "embed_dim": self.embed_dim, "model_version": self.model_version, "upsample": self.upsample,
                "condition": self.condition, "cond_names": self.cond_names}

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if z.dim() == 2:  # accept (N, nz) as well as (N, nz, 1, 1)
            z = z[:, :, None, None]
        if not self.n_cond:
            return self.main(z)
        if cond is None:
            raise ValueError(f"this generator is conditional: pass a condition of shape (N, {self.n_cond})")
        e = self.embed(cond.to(self.embed.weight.dtype))
        x = torch.cat([z, e[:, :, None, None].to(z.dtype)], dim=1)
        for layer in self.main:
            x = layer(x, e) if isinstance(layer, CondBatchNorm2d) else layer(x)
        return x


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
    -> (ndf*8) x 4 x 4 -> 1 x 1 x 1; for S = 28: nc x 28 x 28 -> ndf x 14 x 14 -> (ndf*2) x 7 x 7
    -> (ndf*4) x 4 x 4 (the stride-1 block of start maps of 5 or 7 px) -> 1. Returning logits lets the loss use
    binary_cross_entropy_with_logits, which is stable and safe under autocast. `norm` picks the
    hidden layers' normalisation (batch, layer, instance, none); `spectral_norm` constrains each
    convolution's largest singular value to 1; `minibatch_std` adds a batch-spread channel
    before the last layer.
    """

    def __init__(self, *, ndf: int = 64, nc: int = 1, image_size: int = 32, norm: str = "batch",
                 spectral_norm: bool = False, minibatch_std: bool = False, n_cond: int = 0,
                 condition_mode: str = "projection", model_version: int = MODEL_VERSION):
        super().__init__()
        self.ndf, self.nc, self.image_size, self.n_cond = ndf, nc, image_size, n_cond
        self.model_version = model_version
        self.condition_mode = condition_mode if n_cond else "none"
        extra = int(self.condition_mode == "concat")  # the condition as one more input channel
        s0, n = size_plan(image_size)
        layers: list[nn.Module] = [
            # (nc [+1]) x S x S -> ndf x S/2 x S/2; no BatchNorm on D's input layer (the paper's rule)
            nn.Conv2d(nc + extra, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width, size = ndf, image_size // 2
        for _ in range(n - 1):
            # width x s x s -> (2 width) x s/2 x s/2
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                       _norm(norm, width * 2, size // 2),
                       nn.LeakyReLU(0.2, inplace=True)]
            width, size = width * 2, size // 2
        head = s0
        if has_start_block(image_size, model_version):
            # width x s0 x s0 -> (2 width) x 4 x 4 by a stride-1 kernel of s0 - 3 (28: 128 x 7 x 7 -> 256 x 4 x 4),
            # G's start block mirrored
            layers += [nn.Conv2d(width, width * 2, s0 - 3, 1, 0, bias=False),
                       _norm(norm, width * 2, 4),
                       nn.LeakyReLU(0.2, inplace=True)]
            width, head = width * 2, 4
        self.main = nn.Sequential(*layers)  # -> width x s0 x s0: the features feature matching uses
        self.minibatch_std = MinibatchStd() if minibatch_std else nn.Identity()
        # width (+1) x s0 x s0 -> 1 x 1 x 1
        self.head = nn.Conv2d(width + int(minibatch_std), 1, head, 1, 0, bias=False)
        if self.condition_mode == "projection":
            # Miyato & Koyama 2018: logit += <embed(y), sum of the 4x4 features>
            self.embed = nn.Linear(n_cond, width, bias=False)
        elif self.condition_mode == "concat":
            # a label map: the condition painted as an S x S input channel beside the image
            self.label_map = nn.Linear(n_cond, image_size * image_size, bias=False)
        if spectral_norm:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, with_features: bool = False):
        if self.n_cond and cond is None:
            raise ValueError(f"this discriminator is conditional: pass a condition of shape (N, {self.n_cond})")
        if self.condition_mode == "concat":
            s = self.image_size
            label_map = self.label_map(cond.to(self.label_map.weight.dtype)).view(-1, 1, s, s)
            x = torch.cat([x, label_map.to(x.dtype)], dim=1).contiguous(memory_format=memory_format_of(x))
        h = self.main(x)  # (N, width, s0, s0)
        logits = self.head(self.minibatch_std(h)).flatten()  # (N,)
        if self.condition_mode == "projection":
            logits = logits + (self.embed(cond.to(self.embed.weight.dtype)) * h.sum((2, 3))).sum(1)
        return (logits, h) if with_features else logits


def memory_format_of(x: torch.Tensor):
    """channels_last if x is stored that way (and has more than one channel), else contiguous."""
    return (torch.channels_last if x.dim() == 4 and x.shape[1] > 1
            and x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format)


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


def models_from_config(cfg: Config, *, nc: int, cond_names: list[str] = ()) -> tuple[Generator, Discriminator]:
    """A freshly initialised (G, D) pair as a run's settings describe it; conditional when `cond_names` is not
    empty. Built in this order (G, D, then G's init and D's), so a seed gives the same weights every time."""
    mc = cfg.model
    G = Generator.from_config(cfg, nc=nc, cond_names=cond_names)
    D = Discriminator(ndf=mc.ndf, nc=nc, image_size=cfg.data.image_size, norm=cfg.d_norm,
                      spectral_norm=mc.spectral_norm, minibatch_std=mc.minibatch_std, n_cond=len(cond_names),
                      condition_mode=mc.d_condition, model_version=mc.model_version)
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D


def build_models(*, nz: int, ngf: int, ndf: int, nc: int, image_size: int, d_norm: str = "batch",
                 spectral_norm: bool = False, minibatch_std: bool = False, n_cond: int = 0,
                 embed_dim: int = 64, d_condition: str = "projection", model_version: int = MODEL_VERSION,
                 g_upsample: str = "transposed"):
    """A freshly initialised (G, D) pair; n_cond > 0 makes both conditional."""
    G = Generator(nz=nz, ngf=ngf, nc=nc, image_size=image_size, n_cond=n_cond, embed_dim=embed_dim,
                  model_version=model_version, upsample=g_upsample)
    D = Discriminator(ndf=ndf, nc=nc, image_size=image_size, norm=d_norm, spectral_norm=spectral_norm,
                      minibatch_std=minibatch_std, n_cond=n_cond, condition_mode=d_condition,
                      model_version=model_version)
    G.apply(weights_init)
    D.apply(weights_init)
    return G, D
