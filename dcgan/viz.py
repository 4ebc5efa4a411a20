"""Pictures of a run: image grids, loss and D-output curves, real vs fake, the HTML progress animation."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch


# Figures are built with matplotlib.figure.Figure, not pyplot: no global state, no backend choice
# at import time, and they work the same in a notebook, a script and a headless test.


def grid_array(images: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> one uint8 picture (H', W', 3) or (H', W') for grey; RGBA over a checkerboard."""
    from torchvision.utils import make_grid

    images = images.detach().float().cpu()
    if images.shape[1] == 4:  # RGBA: drawn over a grey checkerboard, so transparency shows
        rgb, alpha = (images[:, :3] + 1) / 2, ((images[:, 3:] + 1) / 2).clamp(0, 1)
        h, w = images.shape[-2:]
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        board = torch.where(((yy // 4 + xx // 4) % 2) == 0, 0.8, 0.6).expand_as(rgb)
        images = (rgb * alpha + board * (1 - alpha)) * 2 - 1
    grid = make_grid(images, nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1))
    arr = grid.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return arr[..., 0] if images.shape[1] == 1 else arr


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8) -> Path:
    from PIL import Image

    from .diskio import replacing

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp:  # a grid cut short by a full disk never joins the animation
        Image.fromarray(grid_array(images, nrow)).save(tmp, format="PNG")
    return path


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over `window` points (1 = unchanged); the first points average fewer."""
    v = np.asarray(values, dtype=np.float64)
    if window <= 1 or len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def _figure(width=8.0, height=4.0):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="tight")


def _save(fig, path):
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    return fig


def plot_losses(history: dict[str, list], path=None, window: int = 25):
    """Loss_D and Loss_G per iteration, raw (faint) and smoothed."""
    fig = _figure()
    ax = fig.add_subplot()
    it = history["iteration"]
    for key, label, colour in (("loss_d", "D", "tab:blue"), ("loss_g", "G", "tab:orange")):
        ax.plot(it, history[key], color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(it, smooth(history[key], window), color=colour, label=f"{label} (avg of {window})")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("Generator and discriminator loss during training")
    ax.legend()
    return _save(fig, path)


def plot_d_outputs(history: dict[str, list], path=None, window: int = 25):
    """D(x) and D(G(z)) as probabilities: they meet near 0.5 when neither network wins."""
    fig = _figure()
    ax = fig.add_subplot()
    it = history["iteration"]
    for key, label in (("d_x", "D(x)"), ("d_g_z1", "D(G(z)) before D step"),
                       ("d_g_z2", "D(G(z)) after D step")):
        ax.plot(it, smooth(history[key], window), label=label)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("probability of 'real'")
    ax.set_title("Discriminator outputs")
    ax.legend()
    return _save(fig, path)


def labelled_grid(images: torch.Tensor, row_names: Sequence[str], path=None, title: str = ""):
    """A grid with one row per name (images row-major, len(images) / len(names) per row), each
    row labelled on the left: class-conditional samples, or one tag toggled per row."""
    rows = len(row_names)
    per_row = len(images) // rows
    arr = grid_array(images, nrow=per_row)
    fig = _figure(1.8 + 0.5 * per_row, 0.5 * rows + (0.4 if title else 0.1))
    ax = fig.add_subplot()
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, interpolation="nearest")
    cell = arr.shape[0] / rows
    ax.set_yticks([cell * (r + 0.5) for r in range(rows)], labels=list(row_names))
    ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def save_labelled_grid(images: torch.Tensor, row_names: Sequence[str], path) -> Path:
    labelled_grid(images, row_names, path)
    return Path(path)


def plot_grad_norms(history: dict[str, list], path=None, window: int = 25):
    """Gradient norms of G's and D's weights on a log scale, with the penalty and the logit gap
    (the Wasserstein estimate for a critic): vanishing or exploding gradients show here."""
    fig = _figure(10.0, 4.0)
    ax, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    it = history["iteration"]
    for key, label, colour in (("grad_norm_d", "D", "tab:blue"), ("grad_norm_g", "G", "tab:orange")):
        v = np.maximum(np.asarray(history[key], dtype=np.float64), 1e-12)
        ax.plot(it, v, color=colour, alpha=0.25, linewidth=0.8)
        ax.plot(it, smooth(v, window), color=colour, label=f"{label} (avg of {window})")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_title("gradient norm of the weights")
    ax.legend()
    ax2.plot(it, smooth(history["w_estimate"], window), label="mean D(x) - mean D(G(z)) (raw outputs)")
    if any(v != 0 for v in history["penalty"]):
        ax2.plot(it, smooth(history["penalty"], window), label="gradient penalty")
    ax2.set_xlabel("iteration")
    ax2.set_title("critic gap and penalty")
    ax2.legend()
    return _save(fig, path)


def plot_real_vs_fake(real: torch.Tensor, fake: torch.Tensor, path=None, nrow: int = 8):
    """Real images beside G's, titled. The figure is a little taller than two square grids and laid
    out by constrained layout, which reserves the titles' room (tight layout let square images push
    the titles off the top)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.5), dpi=100, layout="constrained")
    for i, (images, title) in enumerate(((real, "Real images"), (fake, "Fake images"))):
        ax = fig.add_subplot(1, 2, i + 1)
        arr = grid_array(images, nrow)
        ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(title, fontsize=14)
        ax.axis("off")
    return _save(fig, path)


# The standalone page starts playing by itself; the notebook's copy waits for the user's click.
def animation_html(frames: Sequence[str | Path | np.ndarray], path=None, *, titles=None,
                   interval_ms: int = 500, max_frames: int | None = None) -> str:
    """The snapshot grids as a self-contained player (dcgan/player.py: no network request, inline
    icons); written as a standalone page when `path` is given. Long runs keep at most `max_frames`
    (default 60): the first, the last and evenly spaced ones."""
    from .player import MAX_FRAMES, player_html, write_player_page

    player = player_html(frames, titles=titles, interval_ms=interval_ms, max_frames=max_frames or MAX_FRAMES)
    if path is not None:
        write_player_page(player, path)
    return player


def plot_evals(runs: dict[str, list[dict]], path=None, floor: float | None = None):
    """FID during training (evals.csv rows per run name), the best evaluation (best.pt) circled,
    and the real-vs-real floor when given."""
    fig = _figure(8.0, 3.5)
    ax = fig.add_subplot()
    for name, rows in runs.items():
        if not rows:
            continue
        key = next(k for k in rows[0] if k.startswith("fid_"))
        its, vals = [r["iteration"] for r in rows], [r[key] for r in rows]
        (line,) = ax.plot(its, vals, marker="o", label=f"{name} ({key})")
        best = int(np.argmin(vals))
        ax.scatter([its[best]], [vals[best]], s=150, facecolors="none", edgecolors=line.get_color())
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle=":", label="real vs real floor")
    ax.set_xlabel("iteration")
    ax.set_ylabel("FID")
    if any(runs.values()):
        ax.legend()
        ax.set_title("FID during training (circled: best.pt)")
    else:
        ax.set_title("no run here was trained with --eval-every")
    return _save(fig, path)
