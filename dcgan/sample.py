"""Sampling from a trained generator: grids, one PNG per image, and latent interpolation."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .models import Generator
from .weights import read_exported


def load_generator(checkpoint: str | Path, device: str | torch.device = "auto", *,
                   eval_mode: bool = True, ema: bool = True) -> Generator:
    """The generator stored in a checkpoint, a run folder or an exported .safetensors file, ready to
    sample: its EMA twin when the run kept one (unless `ema=False`), else the trained weights. On
    `device`: auto (as the CLI) puts it on the GPU where there is one."""
    from .runtime import resolve_device

    device = resolve_device(device)
    if str(checkpoint).endswith(".safetensors"):  # an exported generator (dcgan export): its one set of weights
        G = read_exported(checkpoint)[0].to(device)
    else:
        G = Generator.from_state(load_checkpoint(checkpoint, map_location=device), ema=ema).to(device)
    return G.eval() if eval_mode else G.train()


def default_conditions(G: Generator, n: int) -> torch.Tensor | None:
    """Conditions for n samples when none are given: None for an unconditional G, every class in
    turn for a class-conditional one, the run's real tag sets (those of its snapshot grids) in turn
    for a tag-conditional one."""
    if not G.n_cond:
        return None
    if G.condition == "class":
        from .data.conditions import classes_in_turn

        return classes_in_turn(n, G.n_cond)
    examples = G.example_conds
    if examples is None:
        raise ValueError("this generator is conditioned on attribute tags and its checkpoint holds no example "
                         "tag sets: give them (--attrs NAME,...)")
    return examples[torch.arange(n) % len(examples)].float()


def describe_conditions(G: Generator) -> str:
    """What default_conditions samples with, in words (notebooks print it beside the grids)."""
    if not G.n_cond:
        return "unconditional generator"
    if G.condition == "class":
        return f"class-conditional generator: samples go through the {G.n_cond} classes in turn"
    return f"tag-conditional generator ({', '.join(G.cond_names)}): samples use real images' tag sets in turn"


@torch.no_grad()
def generate(G: Generator, n: int, *, seed: int | None = 0, batch_size: int = 500,
             device: str | torch.device | None = None, cond: torch.Tensor | None = None) -> torch.Tensor:
    """n images in [-1, 1] as a CPU tensor (n, nc, S, S); the same seed gives the same images.

    A conditional G takes `cond`, (n, K) or one (K,) vector for all; without it, default_conditions.
    """
    device = device or next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    z = torch.randn(n, G.nz, 1, 1, generator=gen)
    if cond is None:
        cond = default_conditions(G, n)
    if cond is not None and cond.dim() == 1:
        cond = cond.expand(n, -1)
    conds = cond.split(batch_size) if cond is not None else [None] * len(z.split(batch_size))
    return torch.cat([G(chunk.to(device), c if c is None else c.to(device)).float().cpu()
                      for chunk, c in zip(z.split(batch_size), conds)])


def write_image_files(images: torch.Tensor, folder: str | Path, prefix: str = "sample") -> list[Path]:
    """One PNG per image, the layout FID tools read."""
    from PIL import Image

    from .data.dataset import to_uint8

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images).permute(0, 2, 3, 1).numpy()
    paths = []
    width = max(5, len(str(len(arrays))))
    for i, arr in enumerate(arrays):
        path = folder / f"{prefix}_{i:0{width}d}.png"
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)
        paths.append(path)
    return paths


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latent vectors a and b (shape (nz,)) at fractions t (shape (k,)).

    Gaussian z lives near a sphere, where a straight line would pass through unlikely short vectors.
    """
    a_flat, b_flat = a.flatten(), b.flatten()
    omega = torch.arccos(torch.clamp(torch.dot(a_flat / a_flat.norm(), b_flat / b_flat.norm()), -1, 1))
    t = t.view(-1, 1)
    if omega.abs() < 1e-6:  # nearly parallel: the straight line is the same path
        out = (1 - t) * a_flat + t * b_flat
    else:
        so = torch.sin(omega)
        out = torch.sin((1 - t) * omega) / so * a_flat + torch.sin(t * omega) / so * b_flat
    return out.view(-1, *a.shape)


@torch.no_grad()
def interpolate(G: Generator, steps: int = 10, *, seed: int = 0, cond: torch.Tensor | None = None) -> torch.Tensor:
    """Images along the slerp path between two random z: (steps, nc, S, S) in [-1, 1]; a
    conditional G keeps one condition `cond` (K,) along the path (default: its first default one)."""
    if cond is None and G.n_cond:
        cond = default_conditions(G, 1)[0]
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, G.nz, 1, 1, generator=gen)
    z = slerp(a, b, torch.linspace(0, 1, steps))
    device = next(G.parameters()).device
    c = cond.expand(steps, -1).to(device) if cond is not None else None
    return G(z.to(device), c).float().cpu()


def per_class_grid(G: Generator, per_class: int, *, seed: int = 0) -> torch.Tensor:
    """(K * per_class, nc, S, S): row k holds class k, the same z in every row, for a labelled grid."""
    k = G.n_cond
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(per_class, G.nz, 1, 1, generator=gen).repeat(k, 1, 1, 1)
    cond = torch.eye(k).repeat_interleave(per_class, dim=0)
    device = next(G.parameters()).device
    with torch.no_grad():
        return G(z.to(device), cond.to(device)).float().cpu()
