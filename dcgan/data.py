"""Training images as one preprocessed uint8 tensor (cached on disk) and the batches drawn from it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoint import atomic_torch_save
from .config import DataConfig
from .runtime import report
from .sources import RawDataset, load_raw

CACHE_VERSION = 2  # 2: the kept files' names, to align attribute tags


@dataclass
class ImageDataset:
    """Images resized and cropped once: uint8 (N, C, S, S), with labels where the data has them."""

    images: torch.Tensor
    labels: torch.Tensor | None
    classes: list[str] = field(default_factory=list)
    source: str = ""  # where the raw files were found
    cache_path: str = ""
    skipped: list[str] = field(default_factory=list)  # files that could not be decoded
    files: list[str] = field(default_factory=list)  # each image's file, relative to `source` (folders)

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]


def to_model_range(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], done per batch so the stored data stays 4x smaller."""
    return batch.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float [-1, 1] -> uint8 [0, 255], for saving images."""
    return images.detach().float().add(1).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# preprocessing


def _resize_arrays(arrays: np.ndarray, size: int, channels: int, chunk: int = 4096) -> torch.Tensor:
    """N x H x W [x C] uint8 -> N x channels x size x size uint8 (antialiased bilinear, centre crop)."""
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
        out.append(part.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


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


def _decode_files(raw: RawDataset, size: int, channels: int, progress: bool, strict: bool = False,
                  workers: int | None = None):
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
            images.append(arr)
            keep.append(i)
            if min(w, h) < size // 2:
                small.append(f"{path} ({w}x{h})")
    if small:
        report(f"{len(small)} images are less than half the target size {size}x{size} and were "
               f"upscaled (blurry), e.g. {small[0]}; use a smaller --image-size or larger images")
    if not images:
        raise ValueError(f"none of the {len(raw.files)} files in {raw.source} could be decoded; "
                         f"first error: {skipped[0] if skipped else 'none'}")
    return torch.from_numpy(np.stack(images)), keep, skipped


# ---------------------------------------------------------------------------------------------
# cache


def cache_path(cfg: DataConfig, channels: int) -> Path:
    name = cfg.dataset
    if cfg.dataset == "folder":  # several folders can be cached side by side
        name += "-" + hashlib.sha1(str(Path(cfg.folder).resolve()).encode()).hexdigest()[:10]
    return Path(cfg.data_root) / "cache" / f"{name}-{cfg.split}-{cfg.image_size}px-{channels}ch.pt"


def load_dataset(cfg: DataConfig, *, progress: bool = True) -> ImageDataset:
    """The dataset as one uint8 tensor, decoded once and then read from data_root/cache/."""
    native = {"fashion-mnist": 1, "mnist": 1, "cifar10": 3, "celeba": 3, "folder": 3}[cfg.dataset]
    channels = cfg.channels or native
    path = cache_path(cfg, channels)
    if path.is_file():
        cached = None
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if blob.get("version") == CACHE_VERSION and (cfg.dataset != "folder"
                                                         or blob.get("n_files") == _count_files(cfg)):
                cached = ImageDataset(blob["images"], blob["labels"], list(blob["classes"]),
                                      blob["source"], str(path), list(blob["skipped"]), list(blob["files"]))
        except Exception as e:  # a damaged cache is rebuilt, never trusted
            report(f"cache {path} is unreadable ({e}); rebuilding it")
        else:
            if cached is not None:
                if cfg.strict and cached.skipped:
                    raise ValueError(f"--strict: {len(cached.skipped)} files could not be decoded, e.g. "
                                     f"{cached.skipped[0]}. Remove or fix them, or drop --strict")
                return cached

    raw = load_raw(cfg.dataset, cfg.data_root, cfg.split, folder=cfg.folder, download=cfg.download)
    skipped: list[str] = []
    files: list[str] = []
    labels = None if raw.labels is None else torch.from_numpy(raw.labels)
    if raw.arrays is not None:
        images = _resize_arrays(raw.arrays, cfg.image_size, channels)
    else:
        images, keep, skipped = _decode_files(raw, cfg.image_size, channels, progress, cfg.strict)
        files = [_relative(raw.files[i], raw.source) for i in keep]
        if labels is not None:
            labels = labels[keep]
        if skipped:
            report(f"skipped {len(skipped)} of {len(raw.files)} files that could not be "
                   f"decoded, e.g. {skipped[0]} (--strict stops at the first instead)")
    blob = {"version": CACHE_VERSION, "images": images.contiguous(), "labels": labels,
            "classes": raw.classes, "source": raw.source, "skipped": skipped,
            "n_files": len(raw.files), "files": files}
    atomic_torch_save(blob, path)  # a cache is never left half-written
    return ImageDataset(images, labels, raw.classes, raw.source, str(path), skipped, files)


def _relative(path: Path, source: str) -> str:
    try:
        return Path(path).relative_to(source).as_posix()
    except ValueError:
        return Path(path).name


def _count_files(cfg: DataConfig) -> int:
    from .sources import load_folder

    return len(load_folder(Path(cfg.folder)).files)


# ---------------------------------------------------------------------------------------------
# batches


def epoch_permutation(n: int, *, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The shuffled order of one epoch, a pure function of (seed, epoch) so resume can redo it.
    Drawn on `device` (where the data lives), so indexing never waits on a host-to-GPU copy; a
    GPU's generator gives another order than the CPU's, the same on every run."""
    g = torch.Generator(device=device).manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g, device=device)


def iterate_batches(images: torch.Tensor, batch_size: int, *, seed: int, epoch: int,
                    start: int = 0) -> Iterator[torch.Tensor]:
    """uint8 batches of one epoch, dropping the ragged last one; `start` skips batches already done."""
    order = epoch_permutation(images.shape[0], seed=seed, epoch=epoch).to(images.device)
    for b in range(start, images.shape[0] // batch_size):
        yield images[order[b * batch_size:(b + 1) * batch_size]]


def batch_stream(n: int, batch_size: int, *, seed: int, start: int = 0,
                 device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Endless index batches into a dataset of n items, epoch after epoch (the same order as
    iterate_batches); `start` counts batches already consumed, so a resumed run continues the
    same sequence (an iteration may take several: --d-steps)."""
    per_epoch = n // batch_size
    epoch, offset = divmod(start, per_epoch)
    while True:
        order = epoch_permutation(n, seed=seed, epoch=epoch, device=device)
        for b in range(offset, per_epoch):
            yield order[b * batch_size:(b + 1) * batch_size]
        epoch, offset = epoch + 1, 0
