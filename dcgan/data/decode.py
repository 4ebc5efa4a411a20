"""Raw pixels to the training size: decoding image files (in parallel) and resizing decoded arrays."""

from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..log import report
from .sources import RawDataset


# rows (k, C, S, S) uint8 go to a sink as they are ready: a list in memory, or the cache file on disk
Sink = Callable[[np.ndarray], None]


def resize_arrays(arrays: np.ndarray, size: int, channels: int, *, sink: Sink | None = None,
                  chunk: int = 4096) -> torch.Tensor | None:
    """N x H x W [x C] uint8 -> N x channels x size x size uint8 (antialiased bilinear, centre crop),
    returned whole, or chunk by chunk to `sink` (then None), so the result need never be in memory."""
    x = torch.from_numpy(np.ascontiguousarray(arrays))
    x = x[:, None] if x.dim() == 3 else x.permute(0, 3, 1, 2)
    out = []
    for part in x.split(chunk):
        part = _match_channels(part.float(), channels)
        h, w = part.shape[-2:]
        if (h, w) != (size, size):
            scale = size / min(h, w)
            nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
            part = F.interpolate(part, size=(nh, nw), mode="bilinear", antialias=True,
                                 align_corners=False)
            top, left = (nh - size) // 2, (nw - size) // 2
            part = part[:, :, top:top + size, left:left + size]
        part = part.round_().clamp_(0, 255).to(torch.uint8)
        if sink is None:
            out.append(part)
        else:
            sink(part.contiguous().numpy())
    return torch.cat(out) if sink is None else None


def _match_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """float (N, C, H, W) in [0, 255] with C of 1 or 3 -> `channels` (1 grey, 3 RGB, 4 RGBA)."""
    if x.shape[1] == channels:
        return x
    if channels == 4:  # no alpha in the data: opaque
        return torch.cat([_match_channels(x, 3), torch.full_like(x[:, :1], 255.0)], 1)
    if channels == 3:  # grey -> RGB by repetition
        return x.expand(-1, 3, -1, -1)
    # RGB -> grey with the ITU-R 601 luma weights PIL also uses
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)


def decode_image(path: Path, size: int, channels: int, *, with_size: bool = False):
    """One file -> uint8 (channels, size, size): EXIF-rotated, resized on the short side, centre-cropped;
    with `with_size`, also the file's own (width, height)."""
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # Pillow warns between 1x and 2x its pixel limit and refuses beyond: both are treated as
        # a bomb here (the limit is kept, never lifted), so a huge file cannot exhaust memory
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(path)
    with img:
        img = ImageOps.exif_transpose(img)
        original = img.size
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale to 8 bits, not clip
            arr = np.asarray(img, dtype=np.float64)
            img = Image.fromarray((arr * 255.0 / max(arr.max(), 1.0)).astype(np.uint8), "L")
        if channels == 4:  # --channels 4 keeps transparency (opaque where the file has none)
            img = img.convert("RGBA")
        elif img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, rgba)
        img = img.convert("L" if channels == 1 else "RGBA" if channels == 4 else "RGB")
        w, h = img.size
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = img.resize((nw, nh), Image.BILINEAR, reducing_gap=None)
        left, top = (nw - size) // 2, (nh - size) // 2
        img = img.crop((left, top, left + size, top + size))
        arr = np.asarray(img, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return (arr, original) if with_size else arr


def _decode_one(job: tuple[Path, int, int]) -> tuple[np.ndarray | None, tuple[int, int] | None, str]:
    """One file, opened once: (pixels, original size, "") or (None, None, why it failed). Runs in
    the worker processes of a parallel decode, so it returns failures instead of raising them."""
    from PIL import Image

    path, size, channels = job
    try:
        if path.stat().st_size == 0:
            raise ValueError("empty file (0 bytes)")
        return (*decode_image(path, size, channels, with_size=True), "")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        return None, None, f"{type(e).__name__}: {e}"


def decode_workers(n_files: int) -> int:
    """Processes for a first decode: one per core for folders big enough to repay starting them."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores if n_files >= 512 and cores > 1 else 1


def decode_files(raw: RawDataset, size: int, channels: int, progress: bool, strict: bool = False,
                 workers: int | None = None, sink: Sink | None = None):
    """Decode every file of `raw` -> (images (N, C, S, S) uint8, indices of the files kept, skip
    report). With `sink`, each image goes there as it is decoded and images is None: a folder
    larger than memory streams straight to its cache."""
    from tqdm.auto import tqdm

    workers = decode_workers(len(raw.files)) if workers is None else workers
    jobs = [(path, size, channels) for path in raw.files]
    images, keep, skipped, small = [], [], [], []
    with contextlib.ExitStack() as stack:
        if workers > 1:  # results come back in file order, so the cache is the same as a serial decode's
            from concurrent.futures import ProcessPoolExecutor

            pool = stack.enter_context(ProcessPoolExecutor(workers))
            stack.callback(pool.shutdown, cancel_futures=True)  # --strict stops without decoding the rest
            results = pool.map(_decode_one, jobs, chunksize=64)
        else:
            results = map(_decode_one, jobs)
        bar = tqdm(results, total=len(jobs), desc=f"decoding {raw.name}" + (f" ({workers} processes)" if workers > 1
                                                                               else ""), unit="img",
                   disable=not progress)
        for i, (arr, (w, h), why) in enumerate((r[0], r[1] or (0, 0), r[2]) for r in bar):
            path = raw.files[i]
            if arr is None:
                if strict:
                    raise ValueError(f"{path} cannot be used: {why}. Remove or fix it, "
                                     "or drop --strict to skip such files")
                skipped.append(f"{path}: {why}")
                continue
            if sink is None:
                images.append(arr)
            else:
                sink(arr[None])
            keep.append(i)
            if min(w, h) < size // 2:
                small.append(f"{path} ({w}x{h})")
    if small:
        report(f"{len(small)} images are less than half the target size {size}x{size} and were "
               f"upscaled (blurry), e.g. {small[0]}; use a smaller --image-size or larger images")
    if not keep:
        raise ValueError(f"none of the {len(raw.files)} files in {raw.source} could be decoded; "
                         f"first error: {skipped[0] if skipped else 'none'}")
    return (torch.from_numpy(np.stack(images)) if sink is None else None), keep, skipped
