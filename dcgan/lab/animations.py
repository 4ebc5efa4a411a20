"""Animations people share: a run's snapshots and latent walks as GIF, WebP or (with ffmpeg) MP4."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..player import MAX_FRAMES, keep_frames
from ..settings.config import ConfigError


FORMATS = (".gif", ".webp", ".mp4")


def _ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def check_output(out: str | Path) -> Path:
    """The output file, refused up front when its format cannot be written here."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ConfigError(f"--out {out}: the animation's format comes from its suffix; use one of "
                          f"{', '.join(FORMATS)}")
    if out.suffix.lower() == ".mp4" and _ffmpeg() is None:
        raise ConfigError(f"--out {out}: writing .mp4 needs ffmpeg (pip install imageio-ffmpeg, or "
                          "apt-get install ffmpeg); .gif and .webp need nothing more")
    return out


def captioned(picture: np.ndarray, caption: str):
    """A grid (H, W) or (H, W, 3) uint8 with a caption strip under it, as an RGB PIL image."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(picture).convert("RGB")
    strip = 18
    canvas = Image.new("RGB", (img.width, img.height + strip), "white")
    canvas.paste(img, (0, 0))
    ImageDraw.Draw(canvas).text((4, img.height + 3), caption, fill="black")
    return canvas


def save_animation(pictures: list, out: str | Path, *, frame_ms: int = 500) -> Path:
    """PIL images as a looping GIF or WebP (Pillow), or an MP4 (ffmpeg)."""
    out = check_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".mp4":
        with tempfile.TemporaryDirectory() as tmp:
            for i, pic in enumerate(pictures):
                pic.save(Path(tmp) / f"{i:05d}.png")
            w, h = pictures[0].size
            subprocess.run([_ffmpeg(), "-y", "-loglevel", "error", "-framerate", f"{1000 / frame_ms:.3f}",
                            "-i", str(Path(tmp) / "%05d.png"), "-vf", f"scale={w + w % 2}:{h + h % 2}",
                            "-pix_fmt", "yuv420p", str(out)], check=True)
        return out
    pictures[0].save(out, save_all=True, append_images=pictures[1:], duration=frame_ms, loop=0,
                     **({"lossless": True} if out.suffix.lower() == ".webp" else {}))
    return out


def animate_run(run_dir: str | Path, out: str | Path, *, frame_ms: int = 500, max_frames: int = MAX_FRAMES,
                progress: bool = True) -> Path:
    """The run's fixed-noise snapshots, each captioned with its iteration, as one animation file."""
    from PIL import Image

    from .runs import snapshot_frames

    check_output(out)
    frames, titles = snapshot_frames(run_dir)
    if not frames:
        raise FileNotFoundError(f"{run_dir} has no snapshots in samples/ yet: train first (or point at a run folder)")
    chosen = keep_frames(len(frames), max_frames)
    pictures = [captioned(np.asarray(Image.open(frames[k])), titles[k])
                for k in _bar(chosen, "animation frames", progress)]
    return save_animation(pictures, out, frame_ms=frame_ms)


def _bar(items, desc: str, progress: bool):
    """A progress bar over `items` (a notebook cell that works for half a minute shows it is working)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, disable=not progress, leave=False)


@torch.no_grad()
def latent_walk(G, points: int, *, steps: int = 8, n: int = 16, seed: int = 0) -> list[tuple[torch.Tensor, str]]:
    """Frames of n parallel walks through `points` random latent points (slerp, looping back to the
    start); for a class-conditional G, then a walk across its classes with z fixed. Each frame is
    ((n, nc, S, S) in [-1, 1], caption)."""
    from ..sample import default_conditions, slerp

    if points < 2:
        raise ConfigError(f"--walk needs at least 2 points to walk between, got {points}")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(points, n, G.nz, 1, 1, generator=gen)
    cond = default_conditions(G, n)
    frames = []
    t = torch.linspace(0, 1, steps + 1)[:-1]  # the next leg starts where this one ends
    for p in range(points):
        a, b = z[p], z[(p + 1) % points]
        legs = torch.stack([slerp(a[i], b[i], t) for i in range(n)], 1)  # (steps, n, nz, 1, 1)
        for s in range(steps):
            frames.append((G(legs[s].to(device), None if cond is None else cond.to(device)).float().cpu(),
                           f"latent walk: point {p + 1} of {points}"))
    if G.n_cond and getattr(G, "condition", "class") == "class":  # z fixed, the class changes
        eye = torch.eye(G.n_cond)
        for k in range(G.n_cond):
            for s in range(steps):
                w = s / steps
                c = ((1 - w) * eye[k] + w * eye[(k + 1) % G.n_cond]).expand(n, -1)
                frames.append((G(z[0].to(device), c.to(device)).float().cpu(),
                               f"class walk: {G.cond_names[k] if G.cond_names else k}"))
    return frames


def save_walk(G, points: int, out: str | Path, *, seed: int = 0, nrow: int = 4, frame_ms: int = 80,
              progress: bool = True) -> Path:
    from ..viz import grid_array

    check_output(out)
    pictures = [captioned(grid_array(images, nrow=nrow), caption)
                for images, caption in _bar(latent_walk(G, points, seed=seed), "latent walk frames", progress)]
    return save_animation(pictures, out, frame_ms=frame_ms)
