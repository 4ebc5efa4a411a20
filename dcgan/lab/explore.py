"""Exploring a trained G with sliders: a seed, the main directions of its latent space (GANSpace), truncation,
a class, and an interpolation between two seeds."""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch

from ..models import Generator


@torch.no_grad()
def latent_directions(G: Generator, k: int = 5, n: int = 2000, seed: int = 0, progress: bool = True) -> torch.Tensor:
    """The k main directions of G's latent space, (k, nz) unit vectors, as GANSpace finds them (Härkönen et
    al. 2020): principal components of G's first-layer activations over n random z, carried back to z by a
    least-squares fit. Moving z along direction 0 changes what G's first layer varies most with."""
    from tqdm.auto import tqdm

    device = next(G.parameters()).device
    z = torch.randn(n, G.nz, generator=torch.Generator().manual_seed(seed))
    chunks = z.split(250)
    acts = torch.cat([_first_activations(G, c.to(device)).flatten(1).double().cpu()  # (n, features)
                      for c in tqdm(chunks, desc="latent directions", disable=not progress, leave=False)])
    centred = acts - acts.mean(0)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # rows of v: the components, strongest first
    coeff = centred @ v[:k].T  # (n, k): each z's place along the components
    fit = torch.linalg.lstsq(coeff, z.double()).solution  # (k, nz): z ~ coeff @ fit
    return torch.nn.functional.normalize(fit, dim=1).float()


def _first_activations(G: Generator, z: torch.Tensor) -> torch.Tensor:
    """G's activations after its first block (the first ReLU), for z (n, nz); conditional Gs with the first
    class, since the directions are a property of the shared layers."""
    cond = None
    if G.n_cond:
        cond = torch.zeros(len(z), G.n_cond, device=z.device)
        cond[:, 0] = 1
    seen = {}

    def keep_and_stop(mod, inp, out):  # the rest of G (most of its cost) is not needed
        seen["out"] = out.detach()
        raise _Enough

    relu = next(m for m in G.main if isinstance(m, torch.nn.ReLU))
    handle = relu.register_forward_hook(keep_and_stop)
    was_training = G.training
    try:
        G.eval()
        G(z, cond)
    except _Enough:
        pass
    finally:
        G.train(was_training)
        handle.remove()
    return seen["out"]


class _Enough(Exception):
    """Raised from a hook once the first block's activations are in hand."""


@dataclass
class Point:
    """Where the explorer stands: a seed, steps along the directions, truncation, a class, and a second seed
    with the share of the way towards it."""

    seed: int = 0
    steps: tuple[float, ...] = ()
    truncation: float = 1.0  # 1: z as drawn; lower pulls z towards the mean (fidelity over variety)
    cls: int | None = None
    seed_b: int | None = None
    towards_b: float = 0.0


def latent(G: Generator, point: Point, directions: torch.Tensor) -> torch.Tensor:
    """The z (1, nz) for a point: the seed's z (slerped towards seed_b's), scaled by truncation, then moved
    along the directions by its steps (in standard deviations of z)."""
    from ..sample import slerp

    z = torch.randn(1, G.nz, generator=torch.Generator().manual_seed(point.seed))[0]
    if point.seed_b is not None and point.towards_b:
        b = torch.randn(1, G.nz, generator=torch.Generator().manual_seed(point.seed_b))[0]
        z = slerp(z, b, torch.tensor([float(point.towards_b)]))[0]
    z = z * point.truncation
    for step, direction in zip(point.steps, directions):
        z = z + step * direction
    return z[None]


@torch.no_grad()
def render(G: Generator, point: Point, directions: torch.Tensor, scale: int = 4) -> bytes:
    """The image at a point as PNG bytes, enlarged `scale` times (nearest) so a small G's output can be seen."""
    from PIL import Image

    from ..data.dataset import to_uint8

    device = next(G.parameters()).device
    cond = None
    if G.n_cond:
        cond = torch.zeros(1, G.n_cond, device=device)
        cond[0, point.cls or 0] = 1
    was_training = G.training
    G.eval()
    image = G(latent(G, point, directions).to(device), cond).float().cpu()
    G.train(was_training)
    array = to_uint8(image)[0].permute(1, 2, 0).numpy()
    picture = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def explorer(G: Generator, *, directions: int = 5, seed: int = 0, scale: int | None = None):
    """An ipywidgets panel over G: sliders for the seed, the main latent directions, truncation, a second
    seed and the way towards it, and a class menu for a class-conditional G; the image follows each move.
    The image is drawn square at `scale` times G's size (default: about 256 pixels), never stretched."""
    from ..extras import require

    require("notebooks", "the explorer")
    import ipywidgets as w

    dirs = latent_directions(G, directions)
    seed_s = w.IntSlider(value=seed, min=0, max=9999, description="seed")
    steps = [w.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=f"direction {i}")
             for i in range(len(dirs))]
    trunc = w.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="truncation")
    seed_b = w.IntSlider(value=seed + 1, min=0, max=9999, description="seed B")
    towards = w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="towards B")
    names = list(getattr(G, "cond_names", []) or [])
    is_class = names and getattr(G, "condition", "class") == "class"
    cls = w.Dropdown(options=[(n, i) for i, n in enumerate(names)], description="class") if is_class else None
    scale = scale or max(1, round(256 / G.image_size))
    side = f"{G.image_size * scale}px"  # its own size: a flex row would stretch it to the sliders' height
    image = w.Image(format="png", layout=w.Layout(width=side, height=side, min_width=side, flex="0 0 auto",
                                                  object_fit="contain"))

    def point() -> Point:
        return Point(seed_s.value, tuple(s.value for s in steps), trunc.value, cls.value if cls else None,
                     seed_b.value, towards.value)

    def redraw(_=None):
        image.value = render(G, point(), dirs, scale)

    controls = [seed_s, *steps, trunc, seed_b, towards] + ([cls] if cls else [])
    for c in controls:
        c.observe(redraw, names="value")
    redraw()
    panel = w.HBox([image, w.VBox(controls)], layout=w.Layout(align_items="flex-start"))
    panel.point, panel.redraw, panel.directions = point, redraw, dirs  # for scripts and tests
    return panel
